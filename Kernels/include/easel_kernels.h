/* Easel CUDA kernels: exported C API.
 *
 * Every entry point takes a pointer to a plain parameter struct (device pointers, element strides, sizes, a
 * CUDA stream) and returns an easel_status. Nothing here needs the CUDA headers: streams are passed as void*
 * (a cudaStream_t / CUstream; NULL is the legacy default stream), so Swift and plain C can include this file.
 * Launches are asynchronous on the given stream; a launch failure is reported as EASEL_ERR_LAUNCH (the CUDA
 * error is then available from cudaGetLastError in the caller's runtime, and easel_last_cuda_error() here).
 *
 * Tensors are row-major; strides are in ELEMENTS, not bytes. bf16 data is passed as void* (raw 16-bit
 * bfloat16, the layout of __nv_bfloat16 / torch.bfloat16).
 */
#ifndef EASEL_KERNELS_H
#define EASEL_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum easel_status {
    EASEL_OK = 0,
    EASEL_ERR_INVALID_ARGUMENT = 1, /* null pointer, non-positive size, stride shorter than the row, ... */
    EASEL_ERR_UNSUPPORTED = 2,      /* a size no kernel handles (e.g. a grid larger than CUDA allows) */
    EASEL_ERR_LAUNCH = 3            /* the kernel launch itself failed (see easel_last_cuda_error) */
} easel_status;

typedef enum easel_dtype {
    EASEL_DTYPE_BF16 = 0,
    EASEL_DTYPE_F32 = 1
} easel_dtype;

/* Short English name of a status ("ok", "invalid argument", ...). Never NULL. */
const char *easel_status_string(easel_status status);

/* The cudaError_t (as int) of the last failed launch in this library on this thread; 0 if none. */
int easel_last_cuda_error(void);

/* ---------------------------------------------------------------------------------------------------------
 * RMSNorm, bf16 in/out, f32 math:
 *     y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:]
 *
 * Rows are addressed on two levels so a strided view needs no copy: row r = (o, i) with o in [0, n_outer),
 * i in [0, n_inner), and x[r, k] = x[o * x_stride_outer + i * x_stride_inner + k]. A plain [rows, dim] matrix is
 * n_outer = rows, n_inner = 1, x_stride_outer = dim (x_stride_inner is then unused). FLUX's per-head QK-norm on a
 * fused qkv [tokens, 3 * heads * 128] is n_outer = tokens, n_inner = heads, dim = 128, x_stride_outer =
 * 3 * heads * 128, x_stride_inner = 128.
 *
 * Fast path (16-byte loads/stores): dim % 8 == 0, dim <= 8192, x / y / weight 16-byte aligned, and every stride a
 * multiple of 8. Anything else valid runs a slower scalar kernel with the same results up to f32 rounding order.
 * x and y may be the same buffer (in place) when their strides are equal; partial overlap is not allowed.
 */
typedef struct easel_rmsnorm_params {
    const void *x;          /* bf16 */
    const void *weight;     /* bf16 [dim], required */
    void *y;                /* bf16 */
    int64_t n_outer;
    int64_t n_inner;        /* >= 1 */
    int64_t dim;
    int64_t x_stride_outer, x_stride_inner;
    int64_t y_stride_outer, y_stride_inner;
    float eps;              /* FLUX: 1e-6 */
    void *stream;           /* cudaStream_t */
} easel_rmsnorm_params;

easel_status easel_rmsnorm_bf16(const easel_rmsnorm_params *params);

/* ---------------------------------------------------------------------------------------------------------
 * LayerNorm without affine, fused with AdaLN modulation, bf16 in/out, f32 statistics:
 *     y[b, s, :] = (x[b, s, :] - mean) / sqrt(var + eps) * (1 + scale[b, :]) + shift[b, :]
 * mean and (biased) var over the last dim, as torch.nn.functional.layer_norm.
 *
 * x row (b, s) starts at x + b * x_stride_batch + s * x_stride_seq (likewise y); shift[b, :] at
 * shift + b * shift_stride_batch, so shift / scale can be chunks of FLUX's [B, 6 * D] modulation output
 * (stride 6 * D). shift and scale have the same dtype, mod_dtype (bf16 or f32).
 *
 * Fast path: dim % 8 == 0, dim <= 8192, all pointers 16-byte aligned, every stride a multiple of 8. Otherwise a
 * scalar kernel. In place (x == y with equal strides) is allowed.
 */
typedef struct easel_layernorm_adaln_params {
    const void *x;          /* bf16 */
    const void *shift;      /* mod_dtype */
    const void *scale;      /* mod_dtype */
    void *y;                /* bf16 */
    easel_dtype mod_dtype;
    int64_t batch, seq, dim;
    int64_t x_stride_batch, x_stride_seq;
    int64_t y_stride_batch, y_stride_seq;
    int64_t shift_stride_batch, scale_stride_batch;
    float eps;              /* FLUX: 1e-6 */
    void *stream;           /* cudaStream_t */
} easel_layernorm_adaln_params;

easel_status easel_layernorm_adaln_bf16(const easel_layernorm_adaln_params *params);

/* ---------------------------------------------------------------------------------------------------------
 * Attention forward (flash attention), bf16 q/k/v/o, f32 accumulation and softmax statistics, non-causal:
 *     o[b, h, i, :] = sum_j softmax_j(scale * q[b, h, i, :] . k[b, h, j, :]) * v[b, h, j, :]
 * over j in [0, seq_kv), for i in [0, seq_q). Same number of heads for q, k and v (no GQA), no mask.
 *
 * Every tensor is addressed by element strides for batch, head and token; the head_dim elements of one token of
 * one head are contiguous. So q/k/v as [B, H, S, D] (stride_batch = H*S*D, stride_head = S*D, stride_seq = D),
 * as [B, S, H, D] (H*S*D, D, H*D), or straight out of FLUX's fused qkv [B, S, 3, H, D] (q = qkv, k = qkv + H*D,
 * v = qkv + 2*H*D; strides 3*H*S*D, D, 3*H*D) need no copy. The output rows (b, h, i) must not overlap each other
 * (checked) and must not overlap k or v (not checked; o == q with the same strides is allowed).
 *
 * scale: the softmax scale; 0 means 1/sqrt(head_dim). Must be finite and >= 0.
 * lse: optional (NULL: not written): f32 [batch, heads, seq_q] dense, lse[b, h, i] = log(sum_j exp(scale * q.k)),
 *      natural log.
 *
 * Returns EASEL_ERR_INVALID_ARGUMENT for a NULL params/q/k/v/o, a size < 1, a negative stride, a non-finite or
 * negative scale, overlapping output rows, or an lse pointer not 4-byte aligned; EASEL_ERR_UNSUPPORTED for
 * head_dim other than 64 or 128, q/k/v/o not 16-byte aligned or a stride not a multiple of 8 (there is no
 * scalar fallback), seq_q or seq_kv >= 2^31 - 128, or batch or heads > 65535. All checks happen before any CUDA
 * call. Sequences of any length >= 1 are handled (no multiple-of-tile requirement).
 */
typedef struct easel_attention_params {
    const void *q;          /* bf16 */
    const void *k;          /* bf16 */
    const void *v;          /* bf16 */
    void *o;                /* bf16 */
    float *lse;             /* optional f32 [batch, heads, seq_q], or NULL */
    int64_t batch, heads, seq_q, seq_kv, head_dim;
    int64_t q_stride_batch, q_stride_head, q_stride_seq;
    int64_t k_stride_batch, k_stride_head, k_stride_seq;
    int64_t v_stride_batch, v_stride_head, v_stride_seq;
    int64_t o_stride_batch, o_stride_head, o_stride_seq;
    float scale;            /* 0: 1/sqrt(head_dim) */
    void *stream;           /* cudaStream_t */
} easel_attention_params;

easel_status easel_attention_bf16(const easel_attention_params *params);
/* =========================================================================================================
 * Element-wise fusions for the FLUX DiT blocks (bias + GELU-tanh / SiLU, RoPE, gated residual add).
 * All bf16 in/out with f32 math and a single rounding to bf16 per output element. Each is memory-bound; the fast
 * path moves every bf16 tensor with 16-byte loads/stores (8 elements) and needs: the row length a multiple of 8,
 * all data pointers 16-byte aligned and every element stride a multiple of 8 (f32 tables: of 4). Anything else
 * that is valid runs a scalar kernel with the same results (the math per element is identical).
 * Argument errors (NULL data pointer, negative size or stride, overlapping output rows, ...) return
 * EASEL_ERR_INVALID_ARGUMENT before any CUDA call; an empty tensor (rows / batch == 0) is a no-op returning
 * EASEL_OK. The kernels index with 32-bit arithmetic: more than 2^31 - 1 rows (RoPE: tokens batch * seq) in one
 * call returns EASEL_ERR_UNSUPPORTED; more than 2^31 - 1 16-byte vectors (32 GiB of bf16) runs the scalar kernel.
 * --------------------------------------------------------------------------------------------------------- */

/* Bias + activation, in place allowed (x == y with equal strides):
 *     y[r, k] = act(x[r, k] + bias[k])        (bias may be NULL: y = act(x))
 * x row r at x + r * x_stride_row, y row r at y + r * y_stride_row, rows of dim elements.
 * The sum x + bias is formed in f32 (not rounded to bf16 first, unlike eager torch's x + b in bf16).
 *
 * easel_bias_gelu_tanh_bf16: act(v) = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), torch
 *     F.gelu(v, approximate="tanh") (FLUX: after the MLP's first linear, the bias add fused here). Evaluated as the
 *     identical v / (1 + exp(-2 sqrt(2/pi) (v + 0.044715 v^3))), which has no cancellation for v < 0.
 * easel_bias_silu_bf16: act(v) = v / (1 + exp(-v)), torch F.silu (FLUX: on the timestep/modulation embedding).
 */
typedef struct easel_bias_act_params {
    const void *x;          /* bf16 [rows, dim] (row stride x_stride_row) */
    const void *bias;       /* bf16 [dim], or NULL for no bias */
    void *y;                /* bf16 [rows, dim] (row stride y_stride_row); may be x */
    int64_t rows, dim;
    int64_t x_stride_row, y_stride_row;  /* >= dim when rows > 1 for y; x rows may overlap (read only) */
    void *stream;           /* cudaStream_t */
} easel_bias_act_params;

easel_status easel_bias_gelu_tanh_bf16(const easel_bias_act_params *params);
easel_status easel_bias_silu_bf16(const easel_bias_act_params *params);

/* Rotary position embedding, FLUX / diffusers convention: apply_rotary_emb(x, (cos, sin), use_real=True,
 * use_real_unbind_dim=-1) on x laid out [batch, seq, heads, head_dim] (diffusers' sequence_dim=1), i.e. adjacent
 * elements (2i, 2i+1) of a head form one complex pair (interleaved, NOT the rotate-half layout):
 *     y[.., 2i]   = x[.., 2i]   * cos[s, 2i]   - x[.., 2i+1] * sin[s, 2i]
 *     y[.., 2i+1] = x[.., 2i+1] * cos[s, 2i+1] + x[.., 2i]   * sin[s, 2i+1]
 * in f32, rounded once to bf16 (as diffusers: (x.float() * cos + x_rotated.float() * sin).to(bf16)).
 * cos / sin are f32 [seq, head_dim] tables shared by every batch and head; diffusers' FluxPosEmbed builds them
 * with repeat_interleave(2), so cos[s, 2i] == cos[s, 2i+1], but the kernel reads both entries and so also takes
 * tables without that repetition. Row (b, s, h) of x starts at x + b * x_stride_batch + s * x_stride_seq +
 * h * x_stride_head (likewise y); cos row s at cos + s * cos_stride_seq. So q and k can be read straight out of a
 * fused qkv [B, S, 3 * H * D]: q = qkv, k = qkv + H * D, x_stride_seq = 3 * H * D, x_stride_head = D.
 * head_dim must be even. In place (y == x with equal strides) is allowed. Fast path: head_dim % 8 == 0, x / y /
 * cos / sin 16-byte aligned, x / y strides multiples of 8, cos / sin strides multiples of 4.
 */
typedef struct easel_rope_params {
    const void *x;          /* bf16 */
    void *y;                /* bf16; may be x */
    const float *cos;       /* f32 [seq, head_dim] */
    const float *sin;       /* f32 [seq, head_dim] */
    int64_t batch, seq, heads, head_dim;
    int64_t x_stride_batch, x_stride_seq, x_stride_head;
    int64_t y_stride_batch, y_stride_seq, y_stride_head;
    int64_t cos_stride_seq, sin_stride_seq;
    void *stream;           /* cudaStream_t */
} easel_rope_params;

easel_status easel_rope_bf16(const easel_rope_params *params);

/* The same on two tensors (FLUX: q and k) in one launch; the two parameter sets are independent (shapes,
 * strides, tables) except that q->stream is used for the launch (k->stream is ignored). Each set is validated as
 * by easel_rope_bf16; if either set does not qualify for the fast path, both run the scalar kernel. */
easel_status easel_rope_qk_bf16(const easel_rope_params *q, const easel_rope_params *k);

/* Gated residual add (FLUX: hidden_states + gate_msa.unsqueeze(1) * attn_output):
 *     out[b, s, :] = x[b, s, :] + gate[b, :] * y[b, s, :]
 * in f32, rounded once (eager torch rounds gate * y to bf16 first). gate is bf16 or f32 (gate_dtype), row b at
 * gate + b * gate_stride_batch, so it can be a chunk of FLUX's [B, 6 * D] modulation (stride 6 * D). Row (b, s) of
 * x at x + b * x_stride_batch + s * x_stride_seq (likewise y, out). out may be x (the usual in-place residual
 * update) or y, with equal strides. Fast path: dim % 8 == 0, all pointers 16-byte aligned, x / y / out strides
 * multiples of 8, gate stride a multiple of 8 (bf16) or 4 (f32).
 */
typedef struct easel_gated_residual_params {
    const void *x;          /* bf16 residual stream */
    const void *y;          /* bf16 branch output (attention / MLP) */
    const void *gate;       /* gate_dtype [batch, dim] */
    void *out;              /* bf16; may be x */
    easel_dtype gate_dtype;
    int64_t batch, seq, dim;
    int64_t x_stride_batch, x_stride_seq;
    int64_t y_stride_batch, y_stride_seq;
    int64_t out_stride_batch, out_stride_seq;
    int64_t gate_stride_batch;
    void *stream;           /* cudaStream_t */
} easel_gated_residual_params;

easel_status easel_gated_residual_bf16(const easel_gated_residual_params *params);

/* =========================================================================================================
 * Quantized matrix multiply: int8 weight-only (per-output-channel scales), bf16 activations, small batches.
 *     y[m, n] = (sum_k x[m, k] * w[n, k]) * scale[n] (+ bias[n])
 * x bf16 [m, k] (row stride x_stride_row), w int8 [n, k] row-major (one output channel per row: the layout of a
 * torch Linear weight; row stride w_stride_row), scale f32 [n] (symmetric: real weight = w * scale[n]), bias bf16
 * [n] or NULL, y bf16 [m, n] (row stride y_stride_row). Products and sums in f32 (the int8 weights are exact in
 * f32), the per-channel scale applied to the f32 sum, bias added in f32, one rounding to bf16.
 * Meant for m = 1..16 (FLUX's AdaLN modulation linears, decode-like batches): memory-bound, the weights are read
 * once. y must not overlap x, w, scale or bias (not checked).
 *
 * Returns EASEL_ERR_INVALID_ARGUMENT for a NULL params/x/w/scale/y, m, n or k < 1, a negative stride, a stride
 * shorter than its row where the tensor has more than one row (x: k when m > 1, w: k when n > 1, y: n when m > 1),
 * or a misaligned element pointer (scale not 4-byte, y / bias not 2-byte aligned); EASEL_ERR_UNSUPPORTED for
 * m > 16 (a tensor-core GEMM's job), k not a multiple of 16, x or w not 16-byte aligned, x_stride_row not a
 * multiple of 8 (when m > 1) or w_stride_row not a multiple of 16 (when n > 1), or n or k >= 2^31 - 4. All checks
 * happen before any CUDA call. (There is no scalar fallback.)
 */
typedef struct easel_gemm_w8_params {
    const void *x;          /* bf16 [m, k] */
    const int8_t *w;        /* int8 [n, k] */
    const float *scale;     /* f32 [n] */
    const void *bias;       /* bf16 [n], or NULL for no bias */
    void *y;                /* bf16 [m, n] */
    int64_t m, n, k;
    int64_t x_stride_row, w_stride_row, y_stride_row;  /* elements */
    void *stream;           /* cudaStream_t */
} easel_gemm_w8_params;

easel_status easel_gemm_w8a16_bf16(const easel_gemm_w8_params *params);

/* =========================================================================================================
 * FP8 (e4m3) matrix multiply with per-token activation scales and per-channel weight scales, and the per-token
 * bf16 -> fp8 quantization that produces its activations. fp8 data is passed as raw bytes (void*): the e4m3 "fn"
 * encoding of __nv_fp8_e4m3 / torch.float8_e4m3fn (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; no
 * infinities, 0x7F / 0xFF are NaN, largest finite value 448).
 *
 * Row-wise quantization, one scale per row:
 *     scale[r] = max(amax_k |x[r, k]| / 448, 2^-126)          (f32, correctly rounded division)
 *     q[r, k]  = e4m3(x[r, k] * (1 / scale[r]))                (1 / scale[r] correctly rounded in f32, the product
 *                                                               rounded to f32, then round-to-nearest-even to e4m3,
 *                                                               saturating to +-448)
 * so that x[r, k] ~= q[r, k] * scale[r]. x bf16 [m, k] (row stride x_stride_row), q fp8 [m, k] (row stride
 * q_stride_row), scale f32 [m] dense. Inputs must be finite (a NaN / inf in a row makes that row's scale NaN / inf).
 * Used on activations (per token) and, offline, on a Linear weight [n, k] (per output channel): the same op.
 * Fast path (each row in registers, 16-byte loads and stores): k % 16 == 0, k <= 65536, x and q 16-byte aligned,
 * x_stride_row % 8 == 0, q_stride_row % 16 == 0; anything else valid runs a two-pass kernel with identical results.
 *
 * Returns EASEL_ERR_INVALID_ARGUMENT for a NULL params/x/q/scale, m or k < 1, a negative stride, a stride shorter
 * than k when m > 1 (q rows would overlap), x not 2-byte or scale not 4-byte aligned; EASEL_ERR_UNSUPPORTED for
 * m or k >= 2^31. All checks happen before any CUDA call.
 */
typedef struct easel_quantize_fp8_params {
    const void *x;          /* bf16 [m, k] */
    void *q;                /* fp8 e4m3 [m, k] */
    float *scale;           /* f32 [m] */
    int64_t m, k;
    int64_t x_stride_row, q_stride_row;  /* elements */
    void *stream;           /* cudaStream_t */
} easel_quantize_fp8_params;

easel_status easel_quantize_fp8_rowwise_bf16(const easel_quantize_fp8_params *params);

/* FP8 GEMM, f32 accumulation, one rounding to bf16:
 *     y[m, n] = (sum_k a[m, k] * w[n, k]) * a_scale[m] * w_scale[n] (+ bias[n])
 * a fp8 e4m3 [m, k] (row stride a_stride_row; activations, e.g. from easel_quantize_fp8_rowwise_bf16), w fp8 e4m3
 * [n, k] (row stride w_stride_row; the layout of a torch Linear weight, one output channel per row), both K-major
 * (row-major with k contiguous); a_scale f32 [m], w_scale f32 [n], bias bf16 [n] or NULL, y bf16 [m, n] (row stride
 * y_stride_row). The scales and the bias are applied to the f32 sum in f32 (y = fma(sum, a_scale * w_scale, bias)),
 * then rounded once to bf16. y must not overlap a, w, the scales or the bias (not checked).
 *
 * On compute capability 9.x (Hopper) the fast path is a warpgroup tensor-core kernel (wgmma, TMA, fp8 products
 * summed in the tensor core over 128 k and added in f32 on the CUDA cores); it needs a and w 16-byte aligned and
 * a_stride_row, w_stride_row multiples of 16. Any other valid call (other GPUs, unaligned operands) runs a CUDA-core
 * kernel with exact fp8 products and f32 sums. Bring-up knob: the environment variable EASEL_FP8_GEMM_PATH =
 * "fallback" forces the CUDA-core kernel, "nocluster" the tensor-core kernel without 2-CTA clusters (read per call).
 *
 * Returns EASEL_ERR_INVALID_ARGUMENT for a NULL params/a/w/a_scale/w_scale/y, m, n or k < 1, a negative stride, a
 * stride shorter than its row where the tensor has more than one row (a, w: k; y: n), a_scale / w_scale not 4-byte
 * or y / bias not 2-byte aligned; EASEL_ERR_UNSUPPORTED for k not a multiple of 16, or m, n or k >= 2^31. All
 * checks happen before any CUDA call. Any m, n >= 1 (no multiple-of-tile requirement).
 */
typedef struct easel_gemm_fp8_params {
    const void *a;          /* fp8 e4m3 [m, k] */
    const void *w;          /* fp8 e4m3 [n, k] */
    const float *a_scale;   /* f32 [m] */
    const float *w_scale;   /* f32 [n] */
    const void *bias;       /* bf16 [n], or NULL for no bias */
    void *y;                /* bf16 [m, n] */
    int64_t m, n, k;
    int64_t a_stride_row, w_stride_row, y_stride_row;  /* elements */
    void *stream;           /* cudaStream_t */
} easel_gemm_fp8_params;

easel_status easel_gemm_fp8_e4m3(const easel_gemm_fp8_params *params);

#ifdef __cplusplus
}
#endif

#endif /* EASEL_KERNELS_H */
