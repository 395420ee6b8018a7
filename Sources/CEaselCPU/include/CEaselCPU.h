#ifndef CEASEL_BLAS_H
#define CEASEL_BLAS_H
// Our own prototypes for the CBLAS entry points Easel uses, so the build does not depend on
// where a distribution puts cblas.h. Enum values are the standard CBLAS ones.
enum { EASEL_CBLAS_ROW_MAJOR = 101, EASEL_CBLAS_NO_TRANS = 111, EASEL_CBLAS_TRANS = 112 };

void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

#include <stddef.h>
// Element-wise kernels of the CPU backend (Sources/CEaselCPU/kernels.c). Each picks an AVX2+FMA path at run
// time when the CPU has it, else a portable scalar path; both stay within a few ulp of libm.
void easel_softmax_rows(float *x, int rows, int cols, int valid_prefix_causal);
void easel_gelu_tanh(float *x, size_t n);
void easel_silu(float *x, size_t n);
void easel_exp(float *x, size_t n);
// Tests turn the AVX2 path off to check the scalar one too.
void easel_cpu_allow_simd(int allowed);
// Keeps freed memory in the process heap (glibc mallopt: no trimming, mmap only above 32 MiB) so buffers freed at
// the end of a denoising step are reused by the next one instead of going back to the kernel and faulting in again.
// Returns 1 if every setting was accepted.
int easel_cpu_retain_freed_memory(void);
#endif
