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
};

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
