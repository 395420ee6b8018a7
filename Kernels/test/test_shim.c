/* The Swift engine's GPU door (Sources/CEaselCUDA) driven from C, for machines with a GPU but no Swift toolchain:
 * loads the CUDA runtime and libeasel_kernels.so through the shim, runs RMSNorm through it against a float64 CPU
 * reference, and checks that bad calls come back as messages (kernel argument errors, an impossible allocation).
 *
 *   cc -O2 -std=c11 -I Sources/CEaselCUDA/include Kernels/test/test_shim.c Sources/CEaselCUDA/easel_cuda.c -ldl -lm
 *   ./a.out build/kernels/libeasel_kernels.so        (EASEL_CUDART=/path/libcudart.so.N if not on the loader path)
 *
 * Exit status: 0 pass, 1 a check failed, 2 no usable GPU (the message says why). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "easel_cuda.h"

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static double from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int failures = 0;
static void check(int ok, const char *what, const char *detail) {
    printf("CHECK shim %-44s %s%s%s\n", what, ok ? "PASS" : "FAIL", detail ? "  " : "", detail ? detail : "");
    if (!ok) failures++;
}

int main(int argc, char **argv) {
    const char *lib = argc > 1 ? argv[1] : "build/kernels/libeasel_kernels.so";
    char err[1024] = "";
    easel_cuda *cuda = easel_cuda_open(NULL, lib, err, sizeof err);
    if (!cuda) {
        printf("shim: unavailable: %s\n", err);
        return 2;
    }
    easel_cuda_device_info info;
    if (easel_cuda_device_info_get(cuda, &info, err, sizeof err) != 0) {
        printf("shim: device info failed: %s\n", err);
        return 1;
    }
    printf("shim: %s, sm_%d%d, %d SMs, %.1f GiB, runtime %d, driver %d\n", info.name, info.compute_major,
           info.compute_minor, info.multiprocessors, info.total_bytes / 1073741824.0, info.runtime_version,
           info.driver_version);

    enum { ROWS = 257, DIM = 3072 };
    size_t n = (size_t)ROWS * DIM;
    uint16_t *x = malloc(n * 2), *w = malloc(DIM * 2), *y = malloc(n * 2);
    srand(7);
    for (size_t i = 0; i < n; i++) x[i] = to_bf16((float)(rand() / (double)RAND_MAX * 4 - 2));
    for (size_t i = 0; i < DIM; i++) w[i] = to_bf16((float)(0.5 + rand() / (double)RAND_MAX));
    void *dx = NULL, *dw = NULL, *dy = NULL;
    int rc = easel_cuda_malloc(cuda, &dx, n * 2, err, sizeof err) | easel_cuda_malloc(cuda, &dw, DIM * 2, err, sizeof err) |
             easel_cuda_malloc(cuda, &dy, n * 2, err, sizeof err);
    check(rc == 0, "cudaMalloc", rc ? err : NULL);
    if (rc) return 1;
    rc = easel_cuda_memcpy(cuda, dx, x, n * 2, EASEL_CUDA_H2D, err, sizeof err) |
         easel_cuda_memcpy(cuda, dw, w, DIM * 2, EASEL_CUDA_H2D, err, sizeof err);
    check(rc == 0, "upload", rc ? err : NULL);

    easel_rmsnorm_params p = {dx, dw, dy, ROWS, 1, DIM, DIM, 0, DIM, 0, 1e-6f, NULL};
    rc = easel_cuda_rmsnorm_bf16(cuda, &p, err, sizeof err);
    check(rc == 0, "easel_rmsnorm_bf16 via the shim", rc ? err : NULL);
    rc = easel_cuda_synchronize(cuda, err, sizeof err) | easel_cuda_memcpy(cuda, y, dy, n * 2, EASEL_CUDA_D2H, err, sizeof err);
    check(rc == 0, "synchronize + download", rc ? err : NULL);
    double worst = 0;
    for (int r = 0; r < ROWS; r++) {
        double ss = 0;
        for (int k = 0; k < DIM; k++) ss += from_bf16(x[(size_t)r * DIM + k]) * from_bf16(x[(size_t)r * DIM + k]);
        double inv = 1 / sqrt(ss / DIM + 1e-6);
        for (int k = 0; k < DIM; k++) {
            double ref = from_bf16(x[(size_t)r * DIM + k]) * inv * from_bf16(w[k]);
            double e = fabs(from_bf16(y[(size_t)r * DIM + k]) - ref) / fmax(fabs(ref), 1e-3);
            if (e > worst) worst = e;
        }
    }
    char detail[128];
    snprintf(detail, sizeof detail, "max rel err %.2e (bf16 output: <= 2^-8 = 3.9e-3)", worst);
    check(worst <= 0x1p-8, "RMSNorm matches the float64 reference", detail);

    easel_rmsnorm_params bad = p;
    bad.dim = 0;
    rc = easel_cuda_rmsnorm_bf16(cuda, &bad, err, sizeof err);
    check(rc != 0 && strstr(err, "easel_rmsnorm_bf16") && strstr(err, "invalid argument"), "bad arguments -> message",
          err);
    /* Every other wrapper reaches its kernel: invalid parameters come back as a message naming it. */
    {
        easel_attention_params a;
        easel_bias_act_params b;
        easel_rope_params r;
        easel_gated_residual_params g;
        easel_gemm_w8_params q;
        easel_quantize_fp8_params fq;
        easel_gemm_fp8_params f8;
        memset(&a, 0, sizeof a); memset(&b, 0, sizeof b); memset(&r, 0, sizeof r); memset(&g, 0, sizeof g);
        memset(&q, 0, sizeof q); memset(&fq, 0, sizeof fq); memset(&f8, 0, sizeof f8);
        /* non-empty sizes, NULL tensors */
        a.batch = a.heads = a.seq_q = a.seq_kv = 1; a.head_dim = 128;
        b.rows = 1; b.dim = 8; b.x_stride_row = b.y_stride_row = 8;
        r.batch = r.seq = r.heads = 1; r.head_dim = 128;
        g.batch = g.seq = 1; g.dim = 8;
        q.m = 1; q.n = 8; q.k = 16; q.x_stride_row = q.w_stride_row = 16; q.y_stride_row = 8;
        fq.m = 1; fq.k = 16; fq.x_stride_row = fq.q_stride_row = 16;
        f8.m = 1; f8.n = 8; f8.k = 16; f8.a_stride_row = f8.w_stride_row = 16; f8.y_stride_row = 8;
        struct { int rc; const char *name; } calls[9];
        char msgs[9][256];
        calls[0].rc = easel_cuda_attention_bf16(cuda, &a, msgs[0], 256); calls[0].name = "easel_attention_bf16";
        calls[1].rc = easel_cuda_bias_gelu_tanh_bf16(cuda, &b, msgs[1], 256); calls[1].name = "easel_bias_gelu_tanh_bf16";
        calls[2].rc = easel_cuda_bias_silu_bf16(cuda, &b, msgs[2], 256); calls[2].name = "easel_bias_silu_bf16";
        calls[3].rc = easel_cuda_rope_bf16(cuda, &r, msgs[3], 256); calls[3].name = "easel_rope_bf16";
        calls[4].rc = easel_cuda_rope_qk_bf16(cuda, &r, &r, msgs[4], 256); calls[4].name = "easel_rope_qk_bf16";
        calls[5].rc = easel_cuda_gated_residual_bf16(cuda, &g, msgs[5], 256); calls[5].name = "easel_gated_residual_bf16";
        calls[6].rc = easel_cuda_gemm_w8a16_bf16(cuda, &q, msgs[6], 256); calls[6].name = "easel_gemm_w8a16_bf16";
        calls[7].rc = easel_cuda_quantize_fp8_rowwise_bf16(cuda, &fq, msgs[7], 256);
        calls[7].name = "easel_quantize_fp8_rowwise_bf16";
        calls[8].rc = easel_cuda_gemm_fp8_e4m3(cuda, &f8, msgs[8], 256); calls[8].name = "easel_gemm_fp8_e4m3";
        for (int i = 0; i < 9; i++)
            check(calls[i].rc != 0 && strstr(msgs[i], calls[i].name) != NULL, calls[i].name, msgs[i]);
    }
    void *huge = NULL;
    rc = easel_cuda_malloc(cuda, &huge, (size_t)1 << 60, err, sizeof err);
    check(rc != 0 && strstr(err, "cudaMalloc"), "impossible allocation -> CUDA's message", err);

    easel_cuda_free(cuda, dx, err, sizeof err);
    easel_cuda_free(cuda, dw, err, sizeof err);
    easel_cuda_free(cuda, dy, err, sizeof err);
    easel_cuda_close(cuda);
    free(x); free(w); free(y);
    printf("shim: %s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
