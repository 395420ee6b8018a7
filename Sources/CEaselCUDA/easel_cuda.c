#define _GNU_SOURCE
#include "easel_cuda.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CUDA runtime API used here, declared by hand (cudaError_t is an int enum; streams are opaque pointers).
 * These entry points have been ABI-stable across CUDA 11, 12 and 13. */
typedef int cuda_error;
typedef cuda_error (*fn_get_device_count)(int *);
typedef cuda_error (*fn_set_device)(int);
typedef const char *(*fn_get_error_string)(cuda_error);
typedef const char *(*fn_get_error_name)(cuda_error);
typedef cuda_error (*fn_malloc)(void **, size_t);
typedef cuda_error (*fn_free)(void *);
typedef cuda_error (*fn_memcpy)(void *, const void *, size_t, int);
typedef cuda_error (*fn_device_synchronize)(void);
typedef cuda_error (*fn_get_last_error)(void);
typedef cuda_error (*fn_version)(int *);
typedef cuda_error (*fn_device_get_attribute)(int *, int, int);
typedef cuda_error (*fn_mem_get_info)(size_t *, size_t *);
typedef cuda_error (*fn_get_device_properties)(void *, int);

enum { ATTR_MULTIPROCESSORS = 16, ATTR_COMPUTE_MAJOR = 75, ATTR_COMPUTE_MINOR = 76 };

struct easel_cuda {
    void *runtime;
    void *kernels;
    fn_get_device_count get_device_count;
    fn_set_device set_device;
    fn_get_error_string get_error_string;
    fn_get_error_name get_error_name;
    fn_malloc malloc_;
    fn_free free_;
    fn_memcpy memcpy_;
    fn_device_synchronize device_synchronize;
    fn_get_last_error get_last_error;
    fn_version runtime_get_version;
    fn_version driver_get_version;
    fn_device_get_attribute device_get_attribute;
    fn_mem_get_info mem_get_info;
    fn_get_device_properties get_device_properties; /* optional: only the name (the struct's first field) is read */
    const char *(*status_string)(easel_status);
    int device_count;
    struct blas *blas; /* cuBLASLt, loaded by easel_cuda_blas_open */
};

static void blas_close(struct easel_cuda *c);

static int fail(char *err, size_t len, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int cuda_fail(const easel_cuda *c, cuda_error e, const char *what, char *err, size_t len) {
    const char *name = c->get_error_name ? c->get_error_name(e) : NULL;
    return fail(err, len, "%s: %s (%s, CUDA error %d)", what, c->get_error_string(e), name ? name : "?", e);
}

static void *need(void *lib, const char *lib_name, const char *symbol, char *err, size_t len) {
    void *p = dlsym(lib, symbol);
    if (!p) fail(err, len, "%s does not export %s", lib_name, symbol);
    return p;
}

easel_cuda *easel_cuda_open(const char *runtime_path, const char *kernels_path, char *err, size_t err_len) {
    easel_cuda *c = calloc(1, sizeof *c);
    if (!c) { fail(err, err_len, "out of memory"); return NULL; }
    const char *tried[8];
    size_t n_tried = 0;
    char first_error[512] = "";
    const char *env = getenv("EASEL_CUDART");
    const char *candidates[] = {runtime_path, runtime_path ? NULL : env, "libcudart.so", "libcudart.so.13",
                                "libcudart.so.12", "libcudart.so.11.0"};
    const char *loaded = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !c->runtime; i++) {
        if (!candidates[i] || !candidates[i][0]) continue;
        if (runtime_path && i > 0) break; /* an explicit path is the only one tried */
        tried[n_tried++] = candidates[i];
        c->runtime = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (c->runtime) loaded = candidates[i];
        else if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", dlerror());
    }
    if (!c->runtime) {
        char list[512] = "";
        for (size_t i = 0; i < n_tried; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, tried[i], sizeof list - strlen(list) - 1);
        }
        fail(err, err_len, "no CUDA runtime: could not load %s (%s)", list, first_error);
        free(c);
        return NULL;
    }
#define RESOLVE(field, type, symbol)                                                  \
    if (!(c->field = (type)need(c->runtime, loaded, symbol, err, err_len))) goto failed;
    RESOLVE(get_device_count, fn_get_device_count, "cudaGetDeviceCount")
    RESOLVE(set_device, fn_set_device, "cudaSetDevice")
    RESOLVE(get_error_string, fn_get_error_string, "cudaGetErrorString")
    RESOLVE(malloc_, fn_malloc, "cudaMalloc")
    RESOLVE(free_, fn_free, "cudaFree")
    RESOLVE(memcpy_, fn_memcpy, "cudaMemcpy")
    RESOLVE(device_synchronize, fn_device_synchronize, "cudaDeviceSynchronize")
    RESOLVE(get_last_error, fn_get_last_error, "cudaGetLastError")
    RESOLVE(runtime_get_version, fn_version, "cudaRuntimeGetVersion")
    RESOLVE(driver_get_version, fn_version, "cudaDriverGetVersion")
    RESOLVE(device_get_attribute, fn_device_get_attribute, "cudaDeviceGetAttribute")
    RESOLVE(mem_get_info, fn_mem_get_info, "cudaMemGetInfo")
#undef RESOLVE
    c->get_error_name = (fn_get_error_name)dlsym(c->runtime, "cudaGetErrorName");
    c->get_device_properties = (fn_get_device_properties)dlsym(c->runtime, "cudaGetDeviceProperties_v2");
    if (!c->get_device_properties)
        c->get_device_properties = (fn_get_device_properties)dlsym(c->runtime, "cudaGetDeviceProperties");

    cuda_error e = c->get_device_count(&c->device_count);
    if (e != 0) { cuda_fail(c, e, "cudaGetDeviceCount", err, err_len); goto failed; }
    if (c->device_count < 1) { fail(err, err_len, "no CUDA device (cudaGetDeviceCount reports 0)"); goto failed; }
    if ((e = c->set_device(0)) != 0) { cuda_fail(c, e, "cudaSetDevice(0)", err, err_len); goto failed; }

    if (kernels_path) {
        c->kernels = dlopen(kernels_path, RTLD_NOW | RTLD_LOCAL);
        if (!c->kernels) { fail(err, err_len, "could not load the kernel library: %s", dlerror()); goto failed; }
        c->status_string = (const char *(*)(easel_status))need(c->kernels, kernels_path, "easel_status_string", err,
                                                               err_len);
        if (!c->status_string) goto failed;
    }
    return c;
failed:
    easel_cuda_close(c);
    return NULL;
}

void easel_cuda_close(easel_cuda *c) {
    if (!c) return;
    if (c->kernels) dlclose(c->kernels);
    blas_close(c);
    /* The runtime stays loaded: unloading libcudart while the process keeps a context is not supported. */
    free(c);
}

int easel_cuda_device_info_get(easel_cuda *c, easel_cuda_device_info *out, char *err, size_t len) {
    memset(out, 0, sizeof *out);
    out->device_count = c->device_count;
    cuda_error e;
    if ((e = c->device_get_attribute(&out->compute_major, ATTR_COMPUTE_MAJOR, 0)) ||
        (e = c->device_get_attribute(&out->compute_minor, ATTR_COMPUTE_MINOR, 0)) ||
        (e = c->device_get_attribute(&out->multiprocessors, ATTR_MULTIPROCESSORS, 0)))
        return cuda_fail(c, e, "cudaDeviceGetAttribute", err, len);
    if ((e = c->mem_get_info(&out->free_bytes, &out->total_bytes))) return cuda_fail(c, e, "cudaMemGetInfo", err, len);
    if ((e = c->runtime_get_version(&out->runtime_version))) return cuda_fail(c, e, "cudaRuntimeGetVersion", err, len);
    if ((e = c->driver_get_version(&out->driver_version))) return cuda_fail(c, e, "cudaDriverGetVersion", err, len);
    if (c->get_device_properties) {
        /* cudaDeviceProp begins with char name[256] in every CUDA version; the buffer outsizes the whole struct. */
        char *props = calloc(1, 16384);
        if (props && c->get_device_properties(props, 0) == 0) memcpy(out->name, props, sizeof out->name - 1);
        free(props);
    }
    if (!out->name[0]) snprintf(out->name, sizeof out->name, "CUDA device 0 (sm_%d%d)", out->compute_major,
                                out->compute_minor);
    return 0;
}

int easel_cuda_malloc(easel_cuda *c, void **ptr, size_t bytes, char *err, size_t len) {
    cuda_error e = c->malloc_(ptr, bytes);
    if (e) {
        char what[64];
        snprintf(what, sizeof what, "cudaMalloc(%zu bytes)", bytes);
        return cuda_fail(c, e, what, err, len);
    }
    return 0;
}

int easel_cuda_free(easel_cuda *c, void *ptr, char *err, size_t len) {
    cuda_error e = c->free_(ptr);
    return e ? cuda_fail(c, e, "cudaFree", err, len) : 0;
}

int easel_cuda_memcpy(easel_cuda *c, void *dst, const void *src, size_t bytes, int kind, char *err, size_t len) {
    if (kind < EASEL_CUDA_H2D || kind > EASEL_CUDA_D2D) return fail(err, len, "cudaMemcpy: bad direction %d", kind);
    cuda_error e = c->memcpy_(dst, src, bytes, kind);
    return e ? cuda_fail(c, e, "cudaMemcpy", err, len) : 0;
}

int easel_cuda_synchronize(easel_cuda *c, char *err, size_t len) {
    cuda_error e = c->device_synchronize();
    return e ? cuda_fail(c, e, "cudaDeviceSynchronize", err, len) : 0;
}

static void *kernel_symbol(easel_cuda *c, const char *symbol, char *err, size_t len) {
    if (!c->kernels) { fail(err, len, "%s: no kernel library loaded", symbol); return NULL; }
    void *f = dlsym(c->kernels, symbol);
    if (!f) fail(err, len, "%s: not in the loaded kernel library (rebuild it with Scripts/build-kernels)", symbol);
    return f;
}

static int kernel_status(easel_cuda *c, const char *symbol, easel_status s, char *err, size_t len) {
    if (s == EASEL_OK) return 0;
    if (s == EASEL_ERR_LAUNCH) {
        int (*last)(void) = (int (*)(void))dlsym(c->kernels, "easel_last_cuda_error");
        int e = last ? last() : 0;
        return fail(err, len, "%s: %s (CUDA error %d: %s)", symbol, c->status_string(s), e,
                    e ? c->get_error_string(e) : "unknown");
    }
    return fail(err, len, "%s: %s", symbol, c->status_string(s));
}

/* One typed wrapper per kernel: resolve, call, translate the status. */
#define EASEL_CUDA_KERNEL(name, params_type)                                                          \
    int easel_cuda_##name(easel_cuda *c, const params_type *p, char *err, size_t len) {               \
        typedef easel_status (*kernel_fn)(const params_type *);                                       \
        kernel_fn f = (kernel_fn)kernel_symbol(c, "easel_" #name, err, len);                          \
        if (!f) return -1;                                                                            \
        return kernel_status(c, "easel_" #name, f(p), err, len);                                      \
    }

EASEL_CUDA_KERNEL(rmsnorm_bf16, easel_rmsnorm_params)
EASEL_CUDA_KERNEL(layernorm_adaln_bf16, easel_layernorm_adaln_params)
EASEL_CUDA_KERNEL(attention_bf16, easel_attention_params)
EASEL_CUDA_KERNEL(bias_gelu_tanh_bf16, easel_bias_act_params)
EASEL_CUDA_KERNEL(bias_silu_bf16, easel_bias_act_params)
EASEL_CUDA_KERNEL(rope_bf16, easel_rope_params)
EASEL_CUDA_KERNEL(gated_residual_bf16, easel_gated_residual_params)
EASEL_CUDA_KERNEL(gemm_w8a16_bf16, easel_gemm_w8_params)
EASEL_CUDA_KERNEL(quantize_fp8_rowwise_bf16, easel_quantize_fp8_params)
EASEL_CUDA_KERNEL(gemm_fp8_e4m3, easel_gemm_fp8_params)

int easel_cuda_rope_qk_bf16(easel_cuda *c, const easel_rope_params *q, const easel_rope_params *k, char *err,
                            size_t len) {
    typedef easel_status (*kernel_fn)(const easel_rope_params *, const easel_rope_params *);
    kernel_fn f = (kernel_fn)kernel_symbol(c, "easel_rope_qk_bf16", err, len);
    if (!f) return -1;
    return kernel_status(c, "easel_rope_qk_bf16", f(q, k), err, len);
}

/* ---------------------------------------------------------------------------------------------------------
 * cuBLASLt, declared by hand like the runtime: handles and descriptors are opaque pointers, the enums are ints
 * (values from cublasLt.h / library_types.h, stable since CUDA 11). */
typedef int lt_status;
typedef void *lt_handle, *lt_desc, *lt_layout, *lt_pref;
typedef struct { uint64_t data[8]; } lt_algo;
typedef struct { lt_algo algo; size_t workspace_size; lt_status state; float waves; int reserved[4]; } lt_heuristic;

enum {
    CUDA_R_32F_ = 0, CUDA_R_16BF_ = 14, CUBLAS_COMPUTE_32F_ = 68, CUBLAS_OP_N_ = 0, CUBLAS_OP_T_ = 1,
    LT_DESC_TRANSA = 3, LT_DESC_TRANSB = 4, LT_DESC_EPILOGUE = 7, LT_DESC_BIAS_POINTER = 8, LT_DESC_BIAS_DATA_TYPE = 26,
    LT_LAYOUT_BATCH_COUNT = 5, LT_LAYOUT_STRIDED_BATCH_OFFSET = 6,
    LT_PREF_MAX_WORKSPACE_BYTES = 1,
    LT_EPILOGUE_DEFAULT = 1, LT_EPILOGUE_BIAS = 4, LT_EPILOGUE_GELU = 32, LT_EPILOGUE_GELU_BIAS = 36
};

#define BLAS_WORKSPACE_BYTES ((size_t)32 << 20)
#define BLAS_PLANS 128

typedef struct {
    int64_t key[11];
    lt_desc desc;
    lt_layout a, b, d;
    lt_algo algo;
    size_t workspace;
} blas_plan;

struct blas {
    void *lib;
    lt_status (*create)(lt_handle *);
    lt_status (*destroy)(lt_handle);
    lt_status (*desc_create)(lt_desc *, int compute, int scale_type);
    lt_status (*desc_destroy)(lt_desc);
    lt_status (*desc_set)(lt_desc, int attr, const void *buf, size_t size);
    lt_status (*layout_create)(lt_layout *, int type, uint64_t rows, uint64_t cols, int64_t ld);
    lt_status (*layout_destroy)(lt_layout);
    lt_status (*layout_set)(lt_layout, int attr, const void *buf, size_t size);
    lt_status (*pref_create)(lt_pref *);
    lt_status (*pref_destroy)(lt_pref);
    lt_status (*pref_set)(lt_pref, int attr, const void *buf, size_t size);
    lt_status (*heuristic)(lt_handle, lt_desc, lt_layout, lt_layout, lt_layout, lt_layout, lt_pref, int,
                           lt_heuristic *, int *);
    lt_status (*matmul)(lt_handle, lt_desc, const void *alpha, const void *a, lt_layout, const void *b, lt_layout,
                        const void *beta, const void *c, lt_layout, void *d, lt_layout, const lt_algo *, void *ws,
                        size_t ws_size, void *stream);
    const char *(*status_name)(lt_status);
    lt_handle handle;
    lt_pref pref;
    void *workspace;
    blas_plan plans[BLAS_PLANS];
    int n_plans;
};

static int blas_fail(struct blas *b, lt_status s, const char *what, char *err, size_t len) {
    const char *name = b->status_name ? b->status_name(s) : NULL;
    return fail(err, len, "%s: cuBLASLt status %d (%s)", what, s, name ? name : "?");
}

static void plan_release(struct blas *b, blas_plan *p) {
    if (p->a) b->layout_destroy(p->a);
    if (p->b) b->layout_destroy(p->b);
    if (p->d) b->layout_destroy(p->d);
    if (p->desc) b->desc_destroy(p->desc);
    memset(p, 0, sizeof *p);
}

static void blas_close(easel_cuda *c) {
    struct blas *b = c->blas;
    if (!b) return;
    for (int i = 0; i < b->n_plans; i++) plan_release(b, &b->plans[i]);
    if (b->pref) b->pref_destroy(b->pref);
    if (b->handle) b->destroy(b->handle);
    if (b->workspace) c->free_(b->workspace);
    /* Like the runtime, the library stays loaded. */
    free(b);
    c->blas = NULL;
}

int easel_cuda_blas_open(easel_cuda *c, const char *blas_path, char *err, size_t len) {
    if (c->blas) return 0;
    struct blas *b = calloc(1, sizeof *b);
    if (!b) return fail(err, len, "out of memory");
    const char *env = getenv("EASEL_CUBLASLT");
    const char *candidates[] = {blas_path, blas_path ? NULL : env, "libcublasLt.so", "libcublasLt.so.13",
                                "libcublasLt.so.12", "libcublasLt.so.11"};
    const char *loaded = NULL;
    char first_error[512] = "";
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !b->lib; i++) {
        if (!candidates[i] || !candidates[i][0]) continue;
        if (blas_path && i > 0) break;
        b->lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (b->lib) loaded = candidates[i];
        else if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", dlerror());
    }
    if (!b->lib) {
        free(b);
        return fail(err, len, "no cuBLASLt: %s (set EASEL_CUBLASLT to libcublasLt.so)", first_error);
    }
#define RESOLVE(field, symbol) \
    if (!(*(void **)&b->field = need(b->lib, loaded, symbol, err, len))) goto failed;
    RESOLVE(create, "cublasLtCreate")
    RESOLVE(destroy, "cublasLtDestroy")
    RESOLVE(desc_create, "cublasLtMatmulDescCreate")
    RESOLVE(desc_destroy, "cublasLtMatmulDescDestroy")
    RESOLVE(desc_set, "cublasLtMatmulDescSetAttribute")
    RESOLVE(layout_create, "cublasLtMatrixLayoutCreate")
    RESOLVE(layout_destroy, "cublasLtMatrixLayoutDestroy")
    RESOLVE(layout_set, "cublasLtMatrixLayoutSetAttribute")
    RESOLVE(pref_create, "cublasLtMatmulPreferenceCreate")
    RESOLVE(pref_destroy, "cublasLtMatmulPreferenceDestroy")
    RESOLVE(pref_set, "cublasLtMatmulPreferenceSetAttribute")
    RESOLVE(heuristic, "cublasLtMatmulAlgoGetHeuristic")
    RESOLVE(matmul, "cublasLtMatmul")
#undef RESOLVE
    *(void **)&b->status_name = dlsym(b->lib, "cublasLtGetStatusName");
    lt_status s;
    if ((s = b->create(&b->handle))) { blas_fail(b, s, "cublasLtCreate", err, len); goto failed; }
    if ((s = b->pref_create(&b->pref))) { blas_fail(b, s, "cublasLtMatmulPreferenceCreate", err, len); goto failed; }
    size_t ws = BLAS_WORKSPACE_BYTES;
    if ((s = b->pref_set(b->pref, LT_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws))) {
        blas_fail(b, s, "cublasLtMatmulPreferenceSetAttribute", err, len);
        goto failed;
    }
    cuda_error e = c->malloc_(&b->workspace, ws);
    if (e) { b->workspace = NULL; cuda_fail(c, e, "cudaMalloc(cuBLASLt workspace)", err, len); goto failed; }
    c->blas = b;
    return 0;
failed:
    c->blas = b;
    blas_close(c);
    return -1;
}

/* Descriptors for one GEMM shape. Row-major y = x . w^T is column-major y^T = w . x^T: A = w viewed as a
 * column-major [k, n] matrix (transposed by the op), B = x^T as column-major [k, m], D = y^T as [n, m]. */
static int plan_make(easel_cuda *c, blas_plan *p, const easel_cuda_gemm_params *q, char *err, size_t len) {
    struct blas *b = c->blas;
    lt_status s;
    if ((s = b->desc_create(&p->desc, CUBLAS_COMPUTE_32F_, CUDA_R_32F_))) return blas_fail(b, s, "cublasLtMatmulDescCreate", err, len);
    int32_t ta = CUBLAS_OP_T_, tb = CUBLAS_OP_N_;
    uint32_t epi = q->epilogue == EASEL_GEMM_GELU_TANH ? (q->bias ? LT_EPILOGUE_GELU_BIAS : LT_EPILOGUE_GELU)
                                                       : (q->bias ? LT_EPILOGUE_BIAS : LT_EPILOGUE_DEFAULT);
    int32_t bias_type = CUDA_R_16BF_;
    if ((s = b->desc_set(p->desc, LT_DESC_TRANSA, &ta, sizeof ta)) ||
        (s = b->desc_set(p->desc, LT_DESC_TRANSB, &tb, sizeof tb)) ||
        (s = b->desc_set(p->desc, LT_DESC_EPILOGUE, &epi, sizeof epi)) ||
        (q->bias && (s = b->desc_set(p->desc, LT_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type))))
        return blas_fail(b, s, "cublasLtMatmulDescSetAttribute", err, len);
    if ((s = b->layout_create(&p->a, CUDA_R_16BF_, (uint64_t)q->k, (uint64_t)q->n, q->w_stride_row)) ||
        (s = b->layout_create(&p->b, CUDA_R_16BF_, (uint64_t)q->k, (uint64_t)q->m, q->x_stride_row)) ||
        (s = b->layout_create(&p->d, CUDA_R_16BF_, (uint64_t)q->n, (uint64_t)q->m, q->y_stride_row)))
        return blas_fail(b, s, "cublasLtMatrixLayoutCreate", err, len);
    if (q->batch > 1) {
        int32_t count = (int32_t)q->batch;
        int64_t zero = 0;
        if ((s = b->layout_set(p->a, LT_LAYOUT_BATCH_COUNT, &count, sizeof count)) ||
            (s = b->layout_set(p->a, LT_LAYOUT_STRIDED_BATCH_OFFSET, &zero, sizeof zero)) ||
            (s = b->layout_set(p->b, LT_LAYOUT_BATCH_COUNT, &count, sizeof count)) ||
            (s = b->layout_set(p->b, LT_LAYOUT_STRIDED_BATCH_OFFSET, &q->x_stride_batch, sizeof(int64_t))) ||
            (s = b->layout_set(p->d, LT_LAYOUT_BATCH_COUNT, &count, sizeof count)) ||
            (s = b->layout_set(p->d, LT_LAYOUT_STRIDED_BATCH_OFFSET, &q->y_stride_batch, sizeof(int64_t))))
            return blas_fail(b, s, "cublasLtMatrixLayoutSetAttribute", err, len);
    }
    lt_heuristic h[1];
    int found = 0;
    /* The bias pointer matters to the heuristic only through its alignment (16 bytes, checked by the caller). */
    if (q->bias && (s = b->desc_set(p->desc, LT_DESC_BIAS_POINTER, &q->bias, sizeof q->bias)))
        return blas_fail(b, s, "cublasLtMatmulDescSetAttribute(bias)", err, len);
    s = b->heuristic(b->handle, p->desc, p->a, p->b, p->d, p->d, b->pref, 1, h, &found);
    if (s || found < 1) {
        if (s) return blas_fail(b, s, "cublasLtMatmulAlgoGetHeuristic", err, len);
        return fail(err, len, "cublasLtMatmulAlgoGetHeuristic: no algorithm for m %lld n %lld k %lld",
                    (long long)q->m, (long long)q->n, (long long)q->k);
    }
    p->algo = h[0].algo;
    p->workspace = h[0].workspace_size;
    return 0;
}

int easel_cuda_gemm_bf16(easel_cuda *c, const easel_cuda_gemm_params *q, char *err, size_t len) {
    if (!q || !q->x || !q->w || !q->y) return fail(err, len, "gemm: NULL x, w or y");
    if (q->batch < 1 || q->m < 1 || q->n < 1 || q->k < 1 || q->m > INT32_MAX || q->n > INT32_MAX ||
        q->k > INT32_MAX || q->batch > INT32_MAX)
        return fail(err, len, "gemm: bad size batch %lld m %lld n %lld k %lld", (long long)q->batch,
                    (long long)q->m, (long long)q->n, (long long)q->k);
    if (q->x_stride_row < q->k || q->w_stride_row < q->k || q->y_stride_row < q->n || q->x_stride_batch < 0 ||
        q->y_stride_batch < 0)
        return fail(err, len, "gemm: a row stride shorter than its row");
    int64_t strides[] = {q->x_stride_row, q->w_stride_row, q->y_stride_row, q->x_stride_batch, q->y_stride_batch};
    for (size_t i = 0; i < 5; i++)
        if (strides[i] % 8) return fail(err, len, "gemm: strides must be multiples of 8 elements");
    const void *ptrs[] = {q->x, q->w, q->y, q->bias};
    for (size_t i = 0; i < 4; i++)
        if ((uintptr_t)ptrs[i] % 16) return fail(err, len, "gemm: pointers must be 16-byte aligned");
    if (q->epilogue != EASEL_GEMM_PLAIN && q->epilogue != EASEL_GEMM_GELU_TANH)
        return fail(err, len, "gemm: unknown epilogue %d", q->epilogue);
    if (!c->blas && easel_cuda_blas_open(c, NULL, err, len)) return -1;
    struct blas *b = c->blas;
    int64_t key[11] = {q->batch, q->m, q->n, q->k, q->x_stride_row, q->w_stride_row, q->y_stride_row,
                       q->x_stride_batch, q->y_stride_batch, q->epilogue, q->bias != NULL};
    blas_plan *p = NULL;
    for (int i = 0; i < b->n_plans && !p; i++)
        if (!memcmp(b->plans[i].key, key, sizeof key)) p = &b->plans[i];
    if (!p) {
        if (b->n_plans == BLAS_PLANS) { /* forget them all: shapes repeat every step, so this is rare */
            for (int i = 0; i < b->n_plans; i++) plan_release(b, &b->plans[i]);
            b->n_plans = 0;
        }
        p = &b->plans[b->n_plans];
        memset(p, 0, sizeof *p);
        if (plan_make(c, p, q, err, len)) { plan_release(b, p); return -1; }
        memcpy(p->key, key, sizeof key);
        b->n_plans++;
    }
    lt_status s;
    if (q->bias && (s = b->desc_set(p->desc, LT_DESC_BIAS_POINTER, &q->bias, sizeof q->bias)))
        return blas_fail(b, s, "cublasLtMatmulDescSetAttribute(bias)", err, len);
    float alpha = 1.0f, beta = 0.0f;
    s = b->matmul(b->handle, p->desc, &alpha, q->w, p->a, q->x, p->b, &beta, q->y, p->d, q->y, p->d, &p->algo,
                  b->workspace, p->workspace, NULL);
    return s ? blas_fail(b, s, "cublasLtMatmul", err, len) : 0;
}
