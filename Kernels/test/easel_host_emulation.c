/* A host-memory stand-in for the GPU, for tests on machines without one.
 *
 * Built as one shared library that exports the slice of the CUDA runtime, of cuBLASLt and of Easel's kernel API
 * (Kernels/include/easel_kernels.h) that the engine's CUDA backend calls. "Device" memory is host memory; every
 * kernel is a plain loop with the documented semantics: bf16 storage, f32 math, one rounding to bf16 per output.
 * The engine loads it through the same shim (Sources/CEaselCUDA) as the real libraries, so a CPU-only test runs the
 * backend's whole orchestration (weight upload, fused layouts, strides, batching, the order of the ops) and compares
 * it with the CPU backend. What it cannot show is that the CUDA kernels match these loops: each kernel's check
 * program does that on a GPU against a float64 reference (Scripts/gpu-check).
 *
 *   cc -O2 -shared -fPIC -o libeasel_host_emulation.so Kernels/test/easel_host_emulation.c -lm
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../include/easel_kernels.h"

#define EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------------ bf16 */
static float bf(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t to_bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                            /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float load(const void *p, int64_t i) { return bf(((const uint16_t *)p)[i]); }
static void store(void *p, int64_t i, float v) { ((uint16_t *)p)[i] = to_bf(v); }
static float load_mod(const void *p, easel_dtype t, int64_t i) {
    return t == EASEL_DTYPE_F32 ? ((const float *)p)[i] : load(p, i);
}

/* ------------------------------------------------------------------ CUDA runtime */
EXPORT int cudaGetDeviceCount(int *n) { *n = 1; return 0; }
EXPORT int cudaSetDevice(int d) { return d == 0 ? 0 : 101; }
EXPORT const char *cudaGetErrorString(int e) { return e ? "host emulation error" : "no error"; }
EXPORT const char *cudaGetErrorName(int e) { return e ? "cudaErrorEmulation" : "cudaSuccess"; }
EXPORT int cudaMalloc(void **p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    return *p ? 0 : 2; /* cudaErrorMemoryAllocation */
}
EXPORT int cudaFree(void *p) { free(p); return 0; }
EXPORT int cudaMemcpy(void *dst, const void *src, size_t bytes, int kind) {
    (void)kind;
    memmove(dst, src, bytes);
    return 0;
}
EXPORT int cudaDeviceSynchronize(void) { return 0; }
EXPORT int cudaGetLastError(void) { return 0; }
EXPORT int cudaRuntimeGetVersion(int *v) { *v = 0; return 0; }
EXPORT int cudaDriverGetVersion(int *v) { *v = 0; return 0; }
EXPORT int cudaDeviceGetAttribute(int *v, int attr, int dev) {
    (void)dev;
    *v = attr == 16 ? 1 : 0; /* one "multiprocessor", compute capability 0.0 */
    return 0;
}
EXPORT int cudaMemGetInfo(size_t *free_bytes, size_t *total) {
    *free_bytes = *total = (size_t)1 << 30;
    return 0;
}
EXPORT int cudaGetDeviceProperties(void *props, int dev) {
    (void)dev;
    strcpy((char *)props, "Easel host emulation (no GPU)");
    return 0;
}

/* ------------------------------------------------------------------ cuBLASLt */
typedef struct { int transa, transb; uint32_t epilogue; const void *bias; } lt_desc;
typedef struct { uint64_t rows, cols; int64_t ld; int32_t batch; int64_t batch_stride; } lt_layout;

EXPORT int cublasLtCreate(void **h) { *h = malloc(1); return 0; }
EXPORT int cublasLtDestroy(void *h) { free(h); return 0; }
EXPORT int cublasLtMatmulDescCreate(lt_desc **d, int compute, int scale) {
    if (compute != 68 || scale != 0) return 15; /* CUBLAS_STATUS_NOT_SUPPORTED: only f32 compute */
    *d = calloc(1, sizeof **d);
    (*d)->epilogue = 1;
    return 0;
}
EXPORT int cublasLtMatmulDescDestroy(lt_desc *d) { free(d); return 0; }
EXPORT int cublasLtMatmulDescSetAttribute(lt_desc *d, int attr, const void *buf, size_t size) {
    switch (attr) {
    case 3: memcpy(&d->transa, buf, 4); return 0;
    case 4: memcpy(&d->transb, buf, 4); return 0;
    case 7: memcpy(&d->epilogue, buf, 4); return 0;
    case 8: memcpy(&d->bias, buf, sizeof(void *)); return size == sizeof(void *) ? 0 : 7;
    case 26: { int32_t t; memcpy(&t, buf, 4); return t == 14 ? 0 : 15; }
    default: return 15;
    }
}
EXPORT int cublasLtMatrixLayoutCreate(lt_layout **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (type != 14) return 15; /* bf16 only */
    *l = calloc(1, sizeof **l);
    (*l)->rows = rows, (*l)->cols = cols, (*l)->ld = ld, (*l)->batch = 1;
    return 0;
}
EXPORT int cublasLtMatrixLayoutDestroy(lt_layout *l) { free(l); return 0; }
EXPORT int cublasLtMatrixLayoutSetAttribute(lt_layout *l, int attr, const void *buf, size_t size) {
    (void)size;
    if (attr == 5) { memcpy(&l->batch, buf, 4); return 0; }
    if (attr == 6) { memcpy(&l->batch_stride, buf, 8); return 0; }
    return 15;
}
EXPORT int cublasLtMatmulPreferenceCreate(void **p) { *p = malloc(1); return 0; }
EXPORT int cublasLtMatmulPreferenceDestroy(void *p) { free(p); return 0; }
EXPORT int cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t size) {
    (void)p, (void)attr, (void)buf, (void)size;
    return 0;
}
typedef struct { uint64_t data[8]; size_t workspace; int state; float waves; int reserved[4]; } lt_heuristic;
EXPORT int cublasLtMatmulAlgoGetHeuristic(void *h, lt_desc *d, lt_layout *a, lt_layout *b, lt_layout *c,
                                          lt_layout *dd, void *pref, int n, lt_heuristic *out, int *found) {
    (void)h, (void)d, (void)a, (void)b, (void)c, (void)dd, (void)pref, (void)n;
    memset(out, 0, sizeof *out);
    *found = 1;
    return 0;
}

static float gelu_tanh(float v) {
    return v / (1.0f + expf(-2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

/* Column-major D = op(A) . op(B) with the engine's use: op(A) = A^T (A is [k, n]), op(B) = B ([k, m]). */
EXPORT int cublasLtMatmul(void *h, lt_desc *d, const float *alpha, const void *A, lt_layout *la, const void *B,
                          lt_layout *lb, const float *beta, const void *C, lt_layout *lc, void *D, lt_layout *ld,
                          const void *algo, void *ws, size_t ws_size, void *stream) {
    (void)h, (void)C, (void)lc, (void)algo, (void)ws, (void)ws_size, (void)stream;
    if (d->transa != 1 || d->transb != 0 || *beta != 0.0f) return 15;
    int64_t k = (int64_t)la->rows, n = (int64_t)la->cols, m = (int64_t)lb->cols;
    if ((int64_t)lb->rows != k || (int64_t)ld->rows != n || (int64_t)ld->cols != m) return 7;
    int gelu = d->epilogue == 32 || d->epilogue == 36, bias = d->epilogue == 4 || d->epilogue == 36;
    float *acc = malloc(sizeof(float) * (size_t)k);
    for (int32_t bi = 0; bi < ld->batch; bi++) {
        const uint16_t *a = (const uint16_t *)A + bi * la->batch_stride;
        const uint16_t *x = (const uint16_t *)B + bi * lb->batch_stride;
        uint16_t *y = (uint16_t *)D + bi * ld->batch_stride;
        for (int64_t j = 0; j < m; j++) {
            for (int64_t t = 0; t < k; t++) acc[t] = bf(x[j * lb->ld + t]);
            for (int64_t i = 0; i < n; i++) {
                const uint16_t *w = a + i * la->ld;
                float s = 0;
                for (int64_t t = 0; t < k; t++) s += bf(w[t]) * acc[t];
                s *= *alpha;
                if (bias) s += load(d->bias, i);
                if (gelu) s = gelu_tanh(s);
                y[j * ld->ld + i] = to_bf(s);
            }
        }
    }
    free(acc);
    return 0;
}
EXPORT const char *cublasLtGetStatusName(int s) { return s ? "CUBLAS_STATUS_EMULATION" : "CUBLAS_STATUS_SUCCESS"; }

/* ------------------------------------------------------------------ Easel kernels */
EXPORT const char *easel_status_string(easel_status s) {
    switch (s) {
    case EASEL_OK: return "ok";
    case EASEL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case EASEL_ERR_UNSUPPORTED: return "unsupported";
    default: return "launch failed";
    }
}
EXPORT int easel_last_cuda_error(void) { return 0; }

EXPORT easel_status easel_rmsnorm_bf16(const easel_rmsnorm_params *p) {
    if (!p || !p->x || !p->y || !p->weight || p->dim < 1 || p->n_inner < 1) return EASEL_ERR_INVALID_ARGUMENT;
    for (int64_t o = 0; o < p->n_outer; o++)
        for (int64_t i = 0; i < p->n_inner; i++) {
            int64_t xs = o * p->x_stride_outer + i * p->x_stride_inner, ys = o * p->y_stride_outer + i * p->y_stride_inner;
            float ss = 0;
            for (int64_t k = 0; k < p->dim; k++) { float v = load(p->x, xs + k); ss += v * v; }
            float r = 1.0f / sqrtf(ss / (float)p->dim + p->eps);
            for (int64_t k = 0; k < p->dim; k++) store(p->y, ys + k, load(p->x, xs + k) * r * load(p->weight, k));
        }
    return EASEL_OK;
}

EXPORT easel_status easel_layernorm_adaln_bf16(const easel_layernorm_adaln_params *p) {
    if (!p || !p->x || !p->y || !p->shift || !p->scale || p->dim < 1) return EASEL_ERR_INVALID_ARGUMENT;
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t s = 0; s < p->seq; s++) {
            int64_t xs = b * p->x_stride_batch + s * p->x_stride_seq, ys = b * p->y_stride_batch + s * p->y_stride_seq;
            float mean = 0, var = 0;
            for (int64_t k = 0; k < p->dim; k++) mean += load(p->x, xs + k);
            mean /= (float)p->dim;
            for (int64_t k = 0; k < p->dim; k++) { float d = load(p->x, xs + k) - mean; var += d * d; }
            float r = 1.0f / sqrtf(var / (float)p->dim + p->eps);
            for (int64_t k = 0; k < p->dim; k++) {
                float sh = load_mod(p->shift, p->mod_dtype, b * p->shift_stride_batch + k);
                float sc = load_mod(p->scale, p->mod_dtype, b * p->scale_stride_batch + k);
                store(p->y, ys + k, (load(p->x, xs + k) - mean) * r * (1.0f + sc) + sh);
            }
        }
    return EASEL_OK;
}

EXPORT easel_status easel_attention_bf16(const easel_attention_params *p) {
    if (!p || !p->q || !p->k || !p->v || !p->o) return EASEL_ERR_INVALID_ARGUMENT;
    /* The GPU kernel's limits, so the backend is held to them here too. */
    if (p->head_dim != 64 && p->head_dim != 128) return EASEL_ERR_UNSUPPORTED;
    const void *ptrs[] = {p->q, p->k, p->v, p->o};
    for (int i = 0; i < 4; i++)
        if ((uintptr_t)ptrs[i] % 16) return EASEL_ERR_UNSUPPORTED;
    int64_t strides[] = {p->q_stride_batch, p->q_stride_head, p->q_stride_seq, p->k_stride_batch, p->k_stride_head,
                         p->k_stride_seq, p->v_stride_batch, p->v_stride_head, p->v_stride_seq, p->o_stride_batch,
                         p->o_stride_head, p->o_stride_seq};
    for (int i = 0; i < 12; i++)
        if (strides[i] < 0 || strides[i] % 8) return EASEL_ERR_UNSUPPORTED;
    int64_t D = p->head_dim, skv = p->seq_kv;
    float scale = p->scale > 0 ? p->scale : 1.0f / sqrtf((float)D);
    float *s = malloc(sizeof(float) * (size_t)skv), *acc = malloc(sizeof(float) * (size_t)D);
    float *qrow = malloc(sizeof(float) * (size_t)D);
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t h = 0; h < p->heads; h++)
            for (int64_t i = 0; i < p->seq_q; i++) {
                int64_t qo = b * p->q_stride_batch + h * p->q_stride_head + i * p->q_stride_seq;
                for (int64_t d = 0; d < D; d++) qrow[d] = load(p->q, qo + d);
                float mx = -INFINITY;
                for (int64_t j = 0; j < skv; j++) {
                    int64_t ko = b * p->k_stride_batch + h * p->k_stride_head + j * p->k_stride_seq;
                    float dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += qrow[d] * load(p->k, ko + d);
                    s[j] = dot * scale;
                    if (s[j] > mx) mx = s[j];
                }
                float sum = 0;
                for (int64_t d = 0; d < D; d++) acc[d] = 0;
                for (int64_t j = 0; j < skv; j++) {
                    float e = expf(s[j] - mx);
                    sum += e;
                    int64_t vo = b * p->v_stride_batch + h * p->v_stride_head + j * p->v_stride_seq;
                    for (int64_t d = 0; d < D; d++) acc[d] += e * load(p->v, vo + d);
                }
                int64_t oo = b * p->o_stride_batch + h * p->o_stride_head + i * p->o_stride_seq;
                for (int64_t d = 0; d < D; d++) store(p->o, oo + d, acc[d] / sum);
                if (p->lse) p->lse[(b * p->heads + h) * p->seq_q + i] = mx + logf(sum);
            }
    free(s), free(acc), free(qrow);
    return EASEL_OK;
}

static easel_status bias_act(const easel_bias_act_params *p, int gelu) {
    if (!p || !p->x || !p->y) return EASEL_ERR_INVALID_ARGUMENT;
    for (int64_t r = 0; r < p->rows; r++)
        for (int64_t k = 0; k < p->dim; k++) {
            float v = load(p->x, r * p->x_stride_row + k) + (p->bias ? load(p->bias, k) : 0.0f);
            store(p->y, r * p->y_stride_row + k, gelu ? gelu_tanh(v) : v / (1.0f + expf(-v)));
        }
    return EASEL_OK;
}
EXPORT easel_status easel_bias_gelu_tanh_bf16(const easel_bias_act_params *p) { return bias_act(p, 1); }
EXPORT easel_status easel_bias_silu_bf16(const easel_bias_act_params *p) { return bias_act(p, 0); }

EXPORT easel_status easel_rope_bf16(const easel_rope_params *p) {
    if (!p || !p->x || !p->y || !p->cos || !p->sin || p->head_dim % 2) return EASEL_ERR_INVALID_ARGUMENT;
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t s = 0; s < p->seq; s++)
            for (int64_t h = 0; h < p->heads; h++) {
                int64_t xo = b * p->x_stride_batch + s * p->x_stride_seq + h * p->x_stride_head;
                int64_t yo = b * p->y_stride_batch + s * p->y_stride_seq + h * p->y_stride_head;
                const float *c = p->cos + s * p->cos_stride_seq, *sn = p->sin + s * p->sin_stride_seq;
                for (int64_t i = 0; i < p->head_dim; i += 2) {
                    float a = load(p->x, xo + i), bb = load(p->x, xo + i + 1);
                    store(p->y, yo + i, a * c[i] - bb * sn[i]);
                    store(p->y, yo + i + 1, bb * c[i + 1] + a * sn[i + 1]);
                }
            }
    return EASEL_OK;
}
EXPORT easel_status easel_rope_qk_bf16(const easel_rope_params *q, const easel_rope_params *k) {
    easel_status s = easel_rope_bf16(q);
    return s ? s : easel_rope_bf16(k);
}

EXPORT easel_status easel_gated_residual_bf16(const easel_gated_residual_params *p) {
    if (!p || !p->x || !p->y || !p->gate || !p->out) return EASEL_ERR_INVALID_ARGUMENT;
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t s = 0; s < p->seq; s++)
            for (int64_t k = 0; k < p->dim; k++) {
                float g = load_mod(p->gate, p->gate_dtype, b * p->gate_stride_batch + k);
                float v = load(p->x, b * p->x_stride_batch + s * p->x_stride_seq + k) +
                          g * load(p->y, b * p->y_stride_batch + s * p->y_stride_seq + k);
                store(p->out, b * p->out_stride_batch + s * p->out_stride_seq + k, v);
            }
    return EASEL_OK;
}
