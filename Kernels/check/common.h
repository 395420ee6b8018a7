// Shared host harness of the check+bench programs (Kernels/check/*.cu), in the style of llm.c's dev/cuda/common.h:
// every CUDA call checked, NaN-poisoned outputs, CUDA-event timing after warm-up with the L2 flushed before every
// timed run, median of the repeats, and machine-readable RESULT lines that Scripts/gpu-check collects.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "easel_kernels.h"
#include "reference.h"

#define CUDA_CHECK(call)                                                                                   \
    do {                                                                                                   \
        cudaError_t err_ = (call);                                                                         \
        if (err_ != cudaSuccess) {                                                                         \
            std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorName(err_), __FILE__, __LINE__, \
                         cudaGetErrorString(err_));                                                        \
            std::exit(2);                                                                                  \
        }                                                                                                  \
    } while (0)

// An easel_* call that must succeed; then the launch is also checked on the CUDA side.
#define EASEL_CHECK(call)                                                                                  \
    do {                                                                                                   \
        easel_status st_ = (call);                                                                         \
        if (st_ != EASEL_OK) {                                                                             \
            std::fprintf(stderr, "easel error '%s' (cuda %d) at %s:%d: %s\n", easel_status_string(st_),    \
                         easel_last_cuda_error(), __FILE__, __LINE__, #call);                             \
            std::exit(2);                                                                                  \
        }                                                                                                  \
        CUDA_CHECK(cudaGetLastError());                                                                    \
    } while (0)

namespace easel_check {

struct Options {
    uint64_t seed = 0;  // 0: fresh (from the clock), printed so a failure can be replayed with --seed
    int warmup = 10;
    int reps = 50;
    bool bench = true;
};

inline Options parse_options(int argc, char **argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line-buffered even into a log file: nothing lost on a crash
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--seed" && i + 1 < argc) o.seed = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--reps" && i + 1 < argc) o.reps = std::max(1, std::atoi(argv[++i]));
        else if (a == "--warmup" && i + 1 < argc) o.warmup = std::max(0, std::atoi(argv[++i]));
        else if (a == "--no-bench") o.bench = false;
        else {
            std::fprintf(stderr, "usage: %s [--seed N] [--reps N] [--warmup N] [--no-bench]\n", argv[0]);
            std::exit(2);
        }
    }
    if (o.seed == 0)
        o.seed = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count()) | 1u;
    return o;
}

inline void print_device() {
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    int runtime = 0, driver = 0;
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    std::printf("device: %s, sm_%d%d, %d SMs, L2 %.1f MiB, %.1f GiB; runtime %d, driver %d\n", prop.name,
                prop.major, prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0,
                prop.totalGlobalMem / 1073741824.0, runtime, driver);
}

// Device buffer that frees itself.
struct DevBuf {
    void *p = nullptr;
    size_t bytes = 0;
    explicit DevBuf(size_t n) : bytes(n) { CUDA_CHECK(cudaMalloc(&p, n ? n : 1)); }
    ~DevBuf() { cudaFree(p); }
    DevBuf(const DevBuf &) = delete;
    DevBuf &operator=(const DevBuf &) = delete;
    template <class T> T *as(size_t elem_offset = 0) const { return static_cast<T *>(p) + elem_offset; }
};

// 0xFF bytes: every bf16 becomes 0xFFFF and every f32 0xFFFFFFFF, both NaN, so an element the kernel did not
// write is a NaN in the output (inputs are finite, so a correct kernel never produces one).
inline void poison(const DevBuf &b) { CUDA_CHECK(cudaMemset(b.p, 0xFF, b.bytes)); }

template <class T> inline void upload(const DevBuf &d, const std::vector<T> &h) {
    CUDA_CHECK(cudaMemcpy(d.p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
}
template <class T> inline void download(std::vector<T> &h, const DevBuf &d) {
    h.resize(d.bytes / sizeof(T));
    CUDA_CHECK(cudaMemcpy(h.data(), d.p, h.size() * sizeof(T), cudaMemcpyDeviceToHost));
}

// ---- L2 flush: a read-only pass over a buffer several times the L2 (>= 256 MiB). Reading (rather than writing,
// e.g. cudaMemset) leaves the L2 full of clean lines, so the timed kernel does not also pay for writing back the
// flush buffer's dirty lines.
__global__ void flush_read_kernel(const uint4 *p, size_t n, unsigned *sink) {
    unsigned acc = 0;
    for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<size_t>(gridDim.x) * blockDim.x) {
        const uint4 v = p[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads alive; practically never taken
}

struct L2Flusher {
    DevBuf buf;
    DevBuf sink{sizeof(unsigned)};
    int blocks = 0;
    static size_t flush_bytes() {
        int dev = 0, l2 = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
        return std::max<size_t>(size_t(256) << 20, size_t(4) * static_cast<size_t>(l2));
    }
    L2Flusher() : buf(flush_bytes()) {
        CUDA_CHECK(cudaMemset(buf.p, 0x5a, buf.bytes));
        int dev = 0, sms = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        blocks = sms * 8;
    }
    void flush(cudaStream_t s) {
        flush_read_kernel<<<blocks, 256, 0, s>>>(buf.as<const uint4>(), buf.bytes / sizeof(uint4), sink.as<unsigned>());
        CUDA_CHECK(cudaGetLastError());
    }
};

struct Timing {
    double median_ms = 0, min_ms = 0;
};

// Median over `reps` event-timed runs of `launch` (after `warmup` untimed runs), the L2 flushed before each.
template <class F> Timing time_kernel(F launch, const Options &o, L2Flusher &l2, cudaStream_t s = nullptr) {
    for (int i = 0; i < o.warmup; ++i) launch();
    CUDA_CHECK(cudaStreamSynchronize(s));
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    std::vector<double> ms(o.reps);
    for (int i = 0; i < o.reps; ++i) {
        l2.flush(s);
        CUDA_CHECK(cudaEventRecord(start, s));
        launch();
        CUDA_CHECK(cudaEventRecord(stop, s));
        CUDA_CHECK(cudaEventSynchronize(stop));
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
        ms[i] = t;
    }
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
    std::sort(ms.begin(), ms.end());
    Timing r;
    r.min_ms = ms.front();
    r.median_ms = o.reps % 2 ? ms[o.reps / 2] : 0.5 * (ms[o.reps / 2 - 1] + ms[o.reps / 2]);
    return r;
}

// Device-to-device copy bandwidth (cudaMemcpyAsync of 1 GiB; bytes read + written), GB/s = 1e9 B/s.
inline double copy_bandwidth_gbps(const Options &o, L2Flusher &l2) {
    const size_t n = size_t(1) << 30;
    DevBuf a(n), b(n);
    CUDA_CHECK(cudaMemset(a.p, 1, n));
    Options q = o;
    q.warmup = 2;
    q.reps = std::min(o.reps, 10);
    Timing t = time_kernel([&] { CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice, nullptr)); },
                           q, l2);
    return 2.0 * n / (t.median_ms * 1e-3) / 1e9;
}

// ---- random inputs ------------------------------------------------------------------------------------------------
// bf16(N(mean, sd^2)), resampled if it rounds to zero: inputs are never zero.
inline uint16_t nonzero_bf16(easel_ref::Rng &rng, double mean, double sd) {
    for (;;) {
        const uint16_t h = easel_ref::f64_to_bf16(mean + sd * rng.normal());
        if ((h & 0x7fffu) != 0) return h;
    }
}
// Cheap filler for the gaps between strided rows: a random bf16 in +-[0.5, 1).
inline uint16_t gap_bf16(easel_ref::Rng &rng) { return static_cast<uint16_t>(0x3f00u | (rng.next() & 0x80ffu)); }

// ---- results ---------------------------------------------------------------------------------------------------
struct Tally {
    int checks = 0, failures = 0;
};

inline void print_check(Tally &tally, const char *op, const std::string &name, const easel_ref::ErrorStats &e,
                        int64_t unwritten, int64_t clobbered, bool extra_ok = true, const char *extra = "") {
    const bool ok = unwritten == 0 && clobbered == 0 && extra_ok && easel_ref::within_tolerance(e);
    ++tally.checks;
    if (!ok) ++tally.failures;
    std::printf("CHECK op=%s case=%s n=%lld rel_err=%.3e bf16_floor=%.3e ratio=%.3f tol_ratio=%.2f "
                "mismatch=%.4f%% max_ulp=%lld max_abs=%.3e unwritten=%lld clobbered=%lld%s %s\n",
                op, name.c_str(), static_cast<long long>(e.n), e.rel_l2, e.rel_l2_bf16ref,
                e.rel_l2 / e.rel_l2_bf16ref, easel_ref::kRelErrFactor, 100 * e.mismatch_frac,
                static_cast<long long>(e.max_ulp), e.max_abs, static_cast<long long>(unwritten),
                static_cast<long long>(clobbered), extra, ok ? "PASS" : "FAIL");
}

inline void print_result(const char *op, const std::string &name, const std::string &shape_kv, double bytes,
                         const Timing &t, double copy_gbps) {
    const double gbps = bytes / (t.median_ms * 1e-3) / 1e9;
    std::printf("RESULT op=%s case=%s %s bytes=%.0f median_us=%.2f min_us=%.2f GBps=%.1f copy_GBps=%.1f "
                "pct_copy=%.1f\n",
                op, name.c_str(), shape_kv.c_str(), bytes, t.median_ms * 1e3, t.min_ms * 1e3, gbps, copy_gbps,
                100.0 * gbps / copy_gbps);
}

inline void check_status(Tally &tally, const char *what, easel_status got, easel_status want) {
    ++tally.checks;
    const bool ok = got == want;
    if (!ok) ++tally.failures;
    std::printf("CHECK api %s: got '%s', want '%s' %s\n", what, easel_status_string(got), easel_status_string(want),
                ok ? "PASS" : "FAIL");
}

inline int finish(const char *prog, const Tally &t) {
    std::printf("%s: %d checks, %d failed -> %s\n", prog, t.checks, t.failures, t.failures ? "FAIL" : "PASS");
    return t.failures ? 1 : 0;
}

// What every check program's main() starts with: the options, the device and seed lines, the RNG, the tally, the L2
// flusher and, when timing and asked for, the copy-bandwidth yardstick (printed as a RESULT line). Use as
//     CheckRun run("x_check", argc, argv);
//     auto &[o, rng, tally, l2, copy_gbps] = run;
struct CheckRun {
    Options o;
    easel_ref::Rng rng;
    Tally tally;
    L2Flusher l2;
    double copy_gbps = 0.0;

    CheckRun(const char *prog, int argc, char **argv, bool measure_copy = true)
        : o(parse_options(argc, argv)), rng(o.seed) {
        print_device();
        std::printf("%s: seed %llu, warmup %d, reps %d\n", prog, static_cast<unsigned long long>(o.seed), o.warmup,
                    o.reps);
        if (measure_copy && o.bench) {
            copy_gbps = copy_bandwidth_gbps(o, l2);
            std::printf("RESULT op=copy case=d2d_1GiB GBps=%.1f\n", copy_gbps);
        }
    }
};

}  // namespace easel_check
