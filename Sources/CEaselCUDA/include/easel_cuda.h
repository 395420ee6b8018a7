/* CEaselCUDA: the engine's door to the GPU, loaded at run time.
 *
 * Nothing here links against CUDA. easel_cuda_open dlopens the CUDA runtime (libcudart) and Easel's kernel library
 * (libeasel_kernels.so, built by Scripts/build-kernels), resolves what it needs, and checks that a device is there.
 * Every call returns 0 on success or -1 with a message in err (the CUDA runtime's own text where CUDA failed), so a
 * machine without a GPU, a driver or the library gets an explanation instead of a crash or a link error.
 *
 * The kernel parameter structs are those of Kernels/include/easel_kernels.h.
 */
#ifndef EASEL_CUDA_H
#define EASEL_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "../../../Kernels/include/easel_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct easel_cuda easel_cuda;

typedef struct easel_cuda_device_info {
    char name[256];
    int compute_major, compute_minor;
    int multiprocessors;
    size_t total_bytes, free_bytes;
    int runtime_version, driver_version; /* 12080 = 12.8 */
    int device_count;
} easel_cuda_device_info;

enum { EASEL_CUDA_H2D = 1, EASEL_CUDA_D2H = 2, EASEL_CUDA_D2D = 3 };

/* runtime_path: a libcudart to load, or NULL to search (EASEL_CUDART, then libcudart.so, .so.13, .so.12, .so.11).
 * kernels_path: libeasel_kernels.so, or NULL to skip loading kernels (device queries and memory only).
 * Selects device 0. NULL with a message in err when anything is missing. */
easel_cuda *easel_cuda_open(const char *runtime_path, const char *kernels_path, char *err, size_t err_len);
void easel_cuda_close(easel_cuda *cuda);

int easel_cuda_device_info_get(easel_cuda *cuda, easel_cuda_device_info *out, char *err, size_t err_len);
int easel_cuda_malloc(easel_cuda *cuda, void **ptr, size_t bytes, char *err, size_t err_len);
int easel_cuda_free(easel_cuda *cuda, void *ptr, char *err, size_t err_len);
/* kind: EASEL_CUDA_H2D, EASEL_CUDA_D2H or EASEL_CUDA_D2D; synchronous with respect to the host. */
int easel_cuda_memcpy(easel_cuda *cuda, void *dst, const void *src, size_t bytes, int kind, char *err, size_t err_len);
/* Waits for all work on the device; reports asynchronous kernel faults. */
int easel_cuda_synchronize(easel_cuda *cuda, char *err, size_t err_len);

/* Kernel calls: the easel_kernels.h entry point of the same name, its status and any launch error as a message.
 * A kernel the loaded library does not export fails with a message naming it. */
int easel_cuda_rmsnorm_bf16(easel_cuda *cuda, const easel_rmsnorm_params *p, char *err, size_t err_len);
int easel_cuda_layernorm_adaln_bf16(easel_cuda *cuda, const easel_layernorm_adaln_params *p, char *err,
                                    size_t err_len);
int easel_cuda_attention_bf16(easel_cuda *cuda, const easel_attention_params *p, char *err, size_t err_len);
int easel_cuda_bias_gelu_tanh_bf16(easel_cuda *cuda, const easel_bias_act_params *p, char *err, size_t err_len);
int easel_cuda_bias_silu_bf16(easel_cuda *cuda, const easel_bias_act_params *p, char *err, size_t err_len);
int easel_cuda_rope_bf16(easel_cuda *cuda, const easel_rope_params *p, char *err, size_t err_len);
int easel_cuda_rope_qk_bf16(easel_cuda *cuda, const easel_rope_params *q, const easel_rope_params *k, char *err,
                            size_t err_len);
int easel_cuda_gated_residual_bf16(easel_cuda *cuda, const easel_gated_residual_params *p, char *err,
                                   size_t err_len);
int easel_cuda_gemm_w8a16_bf16(easel_cuda *cuda, const easel_gemm_w8_params *p, char *err, size_t err_len);
int easel_cuda_quantize_fp8_rowwise_bf16(easel_cuda *cuda, const easel_quantize_fp8_params *p, char *err,
                                         size_t err_len);
int easel_cuda_gemm_fp8_e4m3(easel_cuda *cuda, const easel_gemm_fp8_params *p, char *err, size_t err_len);

/* ---------------------------------------------------------------------------------------------------------
 * Dense bf16 GEMM through cuBLASLt (f32 accumulation), the engine's Linear layers:
 *     y[b, r, :] = epilogue(x[b, r, :] . w^T + bias)      x [batch, m, k], w [n, k] (a torch Linear weight), y [batch, m, n]
 * Row-major with row strides in elements; item b of x / y starts at b * x_stride_batch / b * y_stride_batch (w and
 * bias are shared by every item). epilogue: EASEL_GEMM_PLAIN, or EASEL_GEMM_GELU_TANH (cuBLASLt's GELU, the tanh
 * approximation, applied after the bias). bias: bf16 [n] or NULL. Every pointer must be 16-byte aligned and every
 * stride a multiple of 8. y must not overlap x or w.
 * cuBLASLt is loaded on first use (blas_path, else $EASEL_CUBLASLT, else libcublasLt.so, .so.13, .so.12). The plan
 * for each shape (descriptors and the heuristic's algorithm) is cached in the handle.
 */
enum { EASEL_GEMM_PLAIN = 0, EASEL_GEMM_GELU_TANH = 1 };

typedef struct easel_cuda_gemm_params {
    const void *x;          /* bf16 */
    const void *w;          /* bf16 [n, k] */
    const void *bias;       /* bf16 [n] or NULL */
    void *y;                /* bf16 */
    int64_t batch, m, n, k;
    int64_t x_stride_row, w_stride_row, y_stride_row;
    int64_t x_stride_batch, y_stride_batch;
    int epilogue;
} easel_cuda_gemm_params;

int easel_cuda_blas_open(easel_cuda *cuda, const char *blas_path, char *err, size_t err_len);
int easel_cuda_gemm_bf16(easel_cuda *cuda, const easel_cuda_gemm_params *p, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* EASEL_CUDA_H */
