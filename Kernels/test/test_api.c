/* Plain-C test of the exported API (no GPU needed): easel_kernels.h compiles as strict C99, libeasel_kernels.so
 * links and exports the easel_ symbols, and argument validation answers before any CUDA call.
 * Built and run by Scripts/build-kernels. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "easel_kernels.h"

static int failures = 0;
#define EXPECT(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); ++failures; } } while (0)

int main(void) {
    char dummy[64];
    easel_rmsnorm_params r;
    easel_layernorm_adaln_params l;
    easel_attention_params a, a0;

    EXPECT(strcmp(easel_status_string(EASEL_OK), "ok") == 0);
    EXPECT(strcmp(easel_status_string(EASEL_ERR_LAUNCH), "launch failed") == 0);
    EXPECT(strcmp(easel_status_string((easel_status)42), "unknown status") == 0);
    EXPECT(easel_last_cuda_error() == 0);

    EXPECT(easel_rmsnorm_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
    memset(&r, 0, sizeof r);
    r.x = dummy; r.weight = dummy; r.y = dummy;
    r.n_outer = 4; r.n_inner = 1; r.dim = 8; r.x_stride_outer = 8; r.y_stride_outer = 8; r.eps = 1e-6f;
    r.n_inner = 0;
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_INVALID_ARGUMENT);
    r.n_inner = 1; r.y_stride_outer = 4;  /* output rows overlap */
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_INVALID_ARGUMENT);
    r.y_stride_outer = 8; r.n_outer = 0;  /* nothing to do: no CUDA call */
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_OK);
    r.n_outer = (int64_t)1 << 31;         /* rows >= 2^31 */
    r.x_stride_outer = r.y_stride_outer = 8;
    EXPECT(easel_rmsnorm_bf16(&r) == EASEL_ERR_UNSUPPORTED);

    EXPECT(easel_layernorm_adaln_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
    memset(&l, 0, sizeof l);
    l.x = dummy; l.shift = dummy; l.scale = dummy; l.y = dummy;
    l.mod_dtype = EASEL_DTYPE_F32; l.batch = 1; l.seq = 2; l.dim = 8;
    l.x_stride_batch = l.y_stride_batch = 16; l.x_stride_seq = l.y_stride_seq = 8; l.eps = 1e-6f;
    l.mod_dtype = (easel_dtype)3;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_ERR_INVALID_ARGUMENT);
    l.mod_dtype = EASEL_DTYPE_BF16; l.eps = -1.0f;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_ERR_INVALID_ARGUMENT);
    l.eps = 1e-6f; l.batch = 0;
    EXPECT(easel_layernorm_adaln_bf16(&l) == EASEL_OK);

    /* attention: every rejection happens before any CUDA call (dummy is host memory) */
    EXPECT(easel_attention_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
    memset(&a0, 0, sizeof a0);
    a0.q = a0.k = a0.v = a0.o = (void *)(((uintptr_t)dummy + 15) & ~(uintptr_t)15);
    a0.batch = 1; a0.heads = 2; a0.seq_q = 3; a0.seq_kv = 5; a0.head_dim = 64;
    a0.q_stride_batch = a0.k_stride_batch = a0.v_stride_batch = a0.o_stride_batch = 2 * 5 * 64;
    a0.q_stride_head = a0.k_stride_head = a0.v_stride_head = a0.o_stride_head = 5 * 64;
    a0.q_stride_seq = a0.k_stride_seq = a0.v_stride_seq = a0.o_stride_seq = 64;
    a = a0; a.q = NULL;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.k = NULL;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.v = NULL;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.o = NULL;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.head_dim = 96;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_UNSUPPORTED);
    a = a0; a.head_dim = 256;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_UNSUPPORTED);
    a = a0; a.head_dim = 0;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.seq_q = 0;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.seq_kv = -1;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.batch = 0;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.heads = 0;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.k_stride_seq = -64;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.scale = -1.0f;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.o_stride_seq = 32;  /* output rows overlap */
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.o_stride_head = 64;  /* heads overlap tokens */
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.q = (const char *)a0.q + 2;  /* misaligned: no fallback kernel */
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_UNSUPPORTED);
    a = a0; a.v_stride_seq = 68;  /* stride not a multiple of 8 */
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_UNSUPPORTED);
    a = a0; a.lse = (float *)((char *)dummy + 2);
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
    a = a0; a.heads = 70000; a.q_stride_batch = a.k_stride_batch = a.v_stride_batch = a.o_stride_batch = 70000 * 5 * 64;
    EXPECT(easel_attention_bf16(&a) == EASEL_ERR_UNSUPPORTED);
    EXPECT(easel_last_cuda_error() == 0);
    /* ---- element-wise fusions (bias_act.cu, rope.cu, gated_residual.cu): validation, no CUDA call ---- */
    {
        easel_bias_act_params a;
        easel_rope_params q, k;
        easel_gated_residual_params g;

        EXPECT(easel_bias_gelu_tanh_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        EXPECT(easel_bias_silu_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&a, 0, sizeof a);
        a.x = dummy; a.y = dummy; a.bias = NULL; a.rows = 4; a.dim = 8; a.x_stride_row = 8; a.y_stride_row = 8;
        a.y = NULL;
        EXPECT(easel_bias_gelu_tanh_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
        a.y = dummy; a.dim = 0;
        EXPECT(easel_bias_silu_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
        a.dim = 8; a.y_stride_row = 4;        /* output rows overlap */
        EXPECT(easel_bias_gelu_tanh_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
        a.y_stride_row = 8; a.x_stride_row = -8;
        EXPECT(easel_bias_silu_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
        a.x_stride_row = 8; a.rows = -1;
        EXPECT(easel_bias_gelu_tanh_bf16(&a) == EASEL_ERR_INVALID_ARGUMENT);
        a.rows = 0;                            /* nothing to do */
        EXPECT(easel_bias_gelu_tanh_bf16(&a) == EASEL_OK);
        EXPECT(easel_bias_silu_bf16(&a) == EASEL_OK);
        a.rows = (int64_t)1 << 31;             /* rows >= 2^31 */
        EXPECT(easel_bias_silu_bf16(&a) == EASEL_ERR_UNSUPPORTED);

        EXPECT(easel_rope_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&q, 0, sizeof q);
        q.x = dummy; q.y = dummy; q.cos = (const float *)dummy; q.sin = (const float *)dummy;
        q.batch = 1; q.seq = 2; q.heads = 2; q.head_dim = 8;
        q.x_stride_batch = q.y_stride_batch = 32; q.x_stride_seq = q.y_stride_seq = 16;
        q.x_stride_head = q.y_stride_head = 8; q.cos_stride_seq = q.sin_stride_seq = 8;
        k = q;
        q.head_dim = 7;                        /* odd */
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q.head_dim = 8; q.cos = NULL;
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q.cos = (const float *)dummy; q.y_stride_head = 4;   /* heads overlap */
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q.y_stride_head = 8; q.y_stride_seq = 8;             /* tokens overlap */
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q.y_stride_seq = 16; q.seq = 0;
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q.seq = 2; q.batch = 0;                /* nothing to do */
        EXPECT(easel_rope_bf16(&q) == EASEL_OK);
        k.batch = 0;
        EXPECT(easel_rope_qk_bf16(&q, &k) == EASEL_OK);
        EXPECT(easel_rope_qk_bf16(&q, NULL) == EASEL_ERR_INVALID_ARGUMENT);
        k.sin_stride_seq = -1;
        EXPECT(easel_rope_qk_bf16(&q, &k) == EASEL_ERR_INVALID_ARGUMENT);
        q.batch = (int64_t)1 << 20; q.seq = (int64_t)1 << 12;  /* tokens >= 2^31 */
        q.x_stride_seq = q.y_stride_seq = 16; q.x_stride_batch = q.y_stride_batch = (int64_t)1 << 16;
        EXPECT(easel_rope_bf16(&q) == EASEL_ERR_UNSUPPORTED);

        EXPECT(easel_gated_residual_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&g, 0, sizeof g);
        g.x = dummy; g.y = dummy; g.gate = dummy; g.out = dummy; g.gate_dtype = EASEL_DTYPE_BF16;
        g.batch = 1; g.seq = 2; g.dim = 8;
        g.x_stride_batch = g.y_stride_batch = g.out_stride_batch = 16;
        g.x_stride_seq = g.y_stride_seq = g.out_stride_seq = 8; g.gate_stride_batch = 48;
        g.gate_dtype = (easel_dtype)2;
        EXPECT(easel_gated_residual_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g.gate_dtype = EASEL_DTYPE_F32; g.out = NULL;
        EXPECT(easel_gated_residual_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g.out = dummy; g.out_stride_seq = 4;   /* output rows overlap */
        EXPECT(easel_gated_residual_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g.out_stride_seq = 8; g.gate_stride_batch = -48;
        EXPECT(easel_gated_residual_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g.gate_stride_batch = 48; g.batch = 0; /* nothing to do */
        EXPECT(easel_gated_residual_bf16(&g) == EASEL_OK);
    }

    /* ---- int8 weight-only GEMM (w8_gemm.cu): validation, no CUDA call ---- */
    {
        easel_gemm_w8_params g0, g;
        char *al = (char *)(((uintptr_t)dummy + 15) & ~(uintptr_t)15);
        EXPECT(easel_gemm_w8a16_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&g0, 0, sizeof g0);
        g0.x = al; g0.w = (const int8_t *)al; g0.scale = (const float *)al; g0.bias = NULL; g0.y = al;
        g0.m = 2; g0.n = 4; g0.k = 16; g0.x_stride_row = 16; g0.w_stride_row = 16; g0.y_stride_row = 4;
        g = g0; g.x = NULL;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.w = NULL;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.scale = NULL;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.y = NULL;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.m = 0;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.n = -1;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.k = 0;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.x_stride_row = 8;            /* x rows shorter than k */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.w_stride_row = 0;            /* w rows shorter than k */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.y_stride_row = 3;            /* output rows overlap */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.y_stride_row = -4;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.scale = (const float *)(al + 2);  /* scale not 4-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.bias = al + 1;               /* bias not 2-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT);
        g = g0; g.m = 17; g.y_stride_row = 4;  /* larger batches: a tensor-core GEMM's job */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.k = 24; g.x_stride_row = g.w_stride_row = 32;  /* k not a multiple of 16 */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.x = al + 2;                  /* x not 16-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.w = (const int8_t *)(al + 8);  /* w not 16-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.x_stride_row = 20;           /* x rows not 16-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.w_stride_row = 24;           /* w rows not 16-byte aligned */
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);
        g = g0; g.n = (int64_t)1 << 31; g.w_stride_row = 16;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_INVALID_ARGUMENT); /* y rows (stride 4) shorter than n */
        g.y_stride_row = g.n;
        EXPECT(easel_gemm_w8a16_bf16(&g) == EASEL_ERR_UNSUPPORTED);      /* n >= 2^31 - 4 */
        EXPECT(easel_last_cuda_error() == 0);
    }

    /* ---- fp8 quantize + GEMM (fp8_gemm.cu): validation, no CUDA call ---- */
    {
        easel_quantize_fp8_params q0, q;
        easel_gemm_fp8_params f0, f;
        char *al = (char *)(((uintptr_t)dummy + 15) & ~(uintptr_t)15);
        EXPECT(easel_quantize_fp8_rowwise_bf16(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&q0, 0, sizeof q0);
        q0.x = al; q0.q = al; q0.scale = (float *)al; q0.m = 2; q0.k = 16; q0.x_stride_row = 16; q0.q_stride_row = 16;
        q = q0; q.x = NULL;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.q = NULL;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.scale = NULL;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.m = 0;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.k = -16;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.x_stride_row = 8;            /* x rows shorter than k */
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.q_stride_row = 15;           /* q rows overlap */
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.q_stride_row = -16;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.x = al + 1;                  /* bf16 x not 2-byte aligned */
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.scale = (float *)(al + 2);   /* scale not 4-byte aligned */
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_INVALID_ARGUMENT);
        q = q0; q.m = (int64_t)1 << 31;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_UNSUPPORTED);
        q = q0; q.k = (int64_t)1 << 31; q.x_stride_row = q.q_stride_row = q.k;
        EXPECT(easel_quantize_fp8_rowwise_bf16(&q) == EASEL_ERR_UNSUPPORTED);

        EXPECT(easel_gemm_fp8_e4m3(NULL) == EASEL_ERR_INVALID_ARGUMENT);
        memset(&f0, 0, sizeof f0);
        f0.a = al; f0.w = al; f0.a_scale = (const float *)al; f0.w_scale = (const float *)al; f0.bias = NULL;
        f0.y = al; f0.m = 2; f0.n = 8; f0.k = 32; f0.a_stride_row = 32; f0.w_stride_row = 32; f0.y_stride_row = 8;
        f = f0; f.a = NULL;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.w = NULL;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.a_scale = NULL;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.w_scale = NULL;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.y = NULL;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.m = 0;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.n = -8;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.k = 0;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.a_stride_row = 16;           /* a rows shorter than k */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.w_stride_row = 0;            /* w rows shorter than k */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.y_stride_row = 7;            /* output rows overlap */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.y_stride_row = -8;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.a_scale = (const float *)(al + 1);
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.w_scale = (const float *)(al + 2);
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.bias = al + 1;               /* bias not 2-byte aligned */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.y = al + 1;                  /* y not 2-byte aligned */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        f = f0; f.k = 24; f.a_stride_row = f.w_stride_row = 32;  /* k not a multiple of 16 */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_UNSUPPORTED);
        f = f0; f.m = (int64_t)1 << 31; f.y_stride_row = 8;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_UNSUPPORTED);
        f = f0; f.n = (int64_t)1 << 31; f.y_stride_row = f.n;
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_UNSUPPORTED);
        f = f0; f.n = (int64_t)1 << 31;        /* checked before size limits: y rows (stride 8) shorter than n */
        EXPECT(easel_gemm_fp8_e4m3(&f) == EASEL_ERR_INVALID_ARGUMENT);
        EXPECT(easel_last_cuda_error() == 0);
    }

    if (failures) { fprintf(stderr, "test_api: %d failure(s)\n", failures); return 1; }
    printf("test_api: all passed\n");
    return 0;
}
