// Check + bench of easel_quantize_fp8_rowwise_bf16 (bf16 -> e4m3 per row) and easel_gemm_fp8_e4m3 (fp8 GEMM with
// per-token / per-channel scales), llm.c dev/cuda style, same protocol as the other check programs:
//   * fresh random inputs every run (seed printed, --seed replays): bf16 rows N(0, sd^2) with sd = 10^U(-1, 1) for
//     activations and 0.02 * 10^U(-0.3, 0.3) for weights, never zero; the GEMM operands are row-quantized e4m3;
//   * outputs poisoned (0xFF: bf16 / f32 / e4m3 NaN) before each run; every output must be written, nothing between
//     strided output rows touched (the bytes between fp8 input rows are NaN codes, so reading them would show);
//   * quantize: bit-exact against reference.h (scales to the bit, every e4m3 byte);
//   * GEMM: float64 reference of the quantized operands (exact e4m3 values x scales), so the only errors left are
//     the accumulation and the final bf16 rounding, under fp8_gemm_within_tolerance (reference.h; the tensor-core
//     path gets a wider mismatch bound, see Kernels/README.md); large shapes on sampled rows (all columns) and
//     sampled columns (all rows);
//   * FLUX shapes timed (median, L2 flushed): the GEMM alone, the quantize alone and quantize + GEMM, then re-checked
//     bit for bit. RESULT lines carry TFLOP/s (2 M N K) or GB/s.
//   build/kernels/fp8_gemm_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include <cuda_bf16.h>

#include <cstdlib>
#include <memory>

#include "elementwise_check.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

int cc_major() {
    static int major = -1;
    if (major < 0) {
        int dev = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    }
    return major;
}

// The library reads EASEL_FP8_GEMM_PATH on every call: "fallback" (CUDA cores), "nocluster" (wgmma, 1-CTA clusters).
struct PathEnv {
    explicit PathEnv(const char *path) {
        if (path) setenv("EASEL_FP8_GEMM_PATH", path, 1);
        else unsetenv("EASEL_FP8_GEMM_PATH");
    }
    ~PathEnv() { unsetenv("EASEL_FP8_GEMM_PATH"); }
    PathEnv(const PathEnv &) = delete;
    PathEnv &operator=(const PathEnv &) = delete;
};

double g_copy_gbps = 0.0;  // the copy yardstick of this run (RESULT lines of the quantize)
float g_e4m3[256];          // decode table
void init_e4m3_table() {
    for (int i = 0; i < 256; ++i) g_e4m3[i] = easel_ref::e4m3_to_f32(static_cast<uint8_t>(i));
}

__host__ __device__ inline uint64_t splitmix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Device-side random bf16 [rows, cols] (dense): row r has sd = 10^(lo + (hi - lo) U_r); elements N(0, sd^2) from a
// counter-based hash of (seed, index), never zero. For the large operands (up to 57 M elements), which the host would
// take seconds to draw.
__global__ void fill_normal_bf16_kernel(uint16_t *x, int64_t rows, int64_t cols, uint64_t seed, float lo, float hi) {
    const int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = i / cols;
        const uint64_t hr = splitmix(seed ^ (0x5bd1e995ull * static_cast<uint64_t>(r + 1)));
        const float sd = exp10f(lo + (hi - lo) * static_cast<float>(hr >> 40) * 0x1p-24f);
        const uint64_t h = splitmix(seed + 0x632be59bd9b4e019ull * static_cast<uint64_t>(i + 1));
        const float u1 = (static_cast<float>(h >> 40) + 0.5f) * 0x1p-24f;
        const float u2 = static_cast<float>(h & 0xffffffu) * 0x1p-24f;
        const float v = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2) * sd;
        uint16_t b = __bfloat16_as_ushort(__float2bfloat16_rn(v));
        if ((b & 0x7fffu) == 0) b = __bfloat16_as_ushort(__float2bfloat16_rn(sd));
        x[i] = b;
    }
}

// ---- an e4m3 operand: rows at off + r * stride bytes of a device buffer, its f32 scales, host copies -------------
struct Fp8Matrix {
    int64_t rows = 0, k = 0, stride = 0, off = 0;
    std::unique_ptr<DevBuf> q, scale, x;  // x: the bf16 source (dense), large operands only
    std::vector<uint8_t> hq;              // the whole device buffer
    std::vector<float> hscale, dec;       // dec: decoded values, dense [rows, k], built on demand
    const uint8_t *dptr() const { return q->as<uint8_t>(off); }
    const float *row(int64_t r) {
        if (dec.empty()) {
            dec.resize(static_cast<size_t>(rows * k));
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < k; ++j) dec[i * k + j] = g_e4m3[hq[off + i * stride + j]];
        }
        return &dec[r * k];
    }
    bool tma_ok() const { return off % 16 == 0 && (rows == 1 || stride % 16 == 0); }
};

// Host-made operand: bf16 rows quantized by the host reference, NaN bytes (0x7F) between rows and before `off`.
std::unique_ptr<Fp8Matrix> host_fp8(Rng &rng, int64_t rows, int64_t k, int64_t stride, int64_t off, double lg_lo,
                                    double lg_hi, double sd0) {
    auto m = std::make_unique<Fp8Matrix>();
    m->rows = rows;
    m->k = k;
    m->stride = stride;
    m->off = off;
    m->hq.assign(static_cast<size_t>(off + (rows - 1) * stride + k), 0x7F);
    m->hscale.resize(rows);
    std::vector<uint16_t> xb(k);
    for (int64_t r = 0; r < rows; ++r) {
        const double sd = sd0 * std::pow(10.0, lg_lo + (lg_hi - lg_lo) * rng.uniform());
        for (auto &v : xb) v = nonzero_bf16(rng, 0, sd);
        m->hscale[r] = easel_ref::quantize_fp8_row(xb.data(), k, &m->hq[off + r * stride]);
    }
    m->q = std::make_unique<DevBuf>(m->hq.size());
    m->scale = std::make_unique<DevBuf>(rows * sizeof(float));
    upload(*m->q, m->hq);
    upload(*m->scale, m->hscale);
    return m;
}

// ---- quantize checks -------------------------------------------------------------------------------------------
struct QuantResult {
    int64_t q_bad = 0, zero_sign = 0, scale_bad = 0, unwritten = 0, clobbered = 0;
};

// Rows `rows_to_check` of the downloaded q / scale against the host reference of the bf16 source xh (row stride xs).
void compare_quant_rows(const std::vector<uint16_t> &xh, int64_t xs, int64_t x_off, int64_t k,
                        const std::vector<uint8_t> &qh, int64_t qs, int64_t q_off, const std::vector<float> &sh,
                        const std::vector<int64_t> &rows_to_check, QuantResult &res) {
    std::vector<uint8_t> ref(k);
    for (int64_t r : rows_to_check) {
        const float s = easel_ref::quantize_fp8_row(&xh[x_off + r * xs], k, ref.data());
        uint32_t a, b;
        std::memcpy(&a, &s, 4);
        std::memcpy(&b, &sh[r], 4);
        if (a != b) ++res.scale_bad;
        const uint8_t *got = &qh[q_off + r * qs];
        for (int64_t i = 0; i < k; ++i) {
            if (got[i] == ref[i]) continue;
            if ((got[i] & 0x7f) == 0 && (ref[i] & 0x7f) == 0) ++res.zero_sign;  // +0 vs -0
            else ++res.q_bad;
        }
    }
}

void print_quant_check(Tally &tally, const std::string &name, int64_t rows_checked, int64_t k, const QuantResult &r,
                       bool intact, const char *extra = "") {
    // a +0 / -0 difference does not change any product; counted, reported, not a failure
    const bool ok = r.q_bad == 0 && r.scale_bad == 0 && r.unwritten == 0 && r.clobbered == 0 && intact;
    ++tally.checks;
    if (!ok) ++tally.failures;
    std::printf("CHECK op=quantize_fp8 case=%s rows=%lld k=%lld q_mismatch=%lld zero_sign=%lld scale_mismatch=%lld "
                "unwritten=%lld clobbered=%lld%s%s %s\n",
                name.c_str(), static_cast<long long>(rows_checked), static_cast<long long>(k),
                static_cast<long long>(r.q_bad), static_cast<long long>(r.zero_sign),
                static_cast<long long>(r.scale_bad), static_cast<long long>(r.unwritten),
                static_cast<long long>(r.clobbered), intact ? "" : " INPUT_CHANGED", extra, ok ? "PASS" : "FAIL");
}

struct QuantCase {
    std::string name;
    int64_t m, k;
    int64_t xs = 0, qs = 0;      // 0: dense
    int64_t x_off = 0, q_off = 0;  // elements (bf16) / bytes
    bool special_rows = false;   // an all-zero row, a row with one huge outlier, a row of tiny values (m >= 4)
};

void run_quant_case(QuantCase c, Rng &rng, Tally &tally) {
    if (c.xs == 0) c.xs = c.k;
    if (c.qs == 0) c.qs = c.k;
    Strided xt{{c.m}, {c.xs}, c.k, c.x_off};
    RowScale sc(rng, c.m, -2.0, 2.0);
    std::vector<float> xd;
    std::vector<uint16_t> xh = make_input(xt, rng, xd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sc.sd[r]); });
    if (c.special_rows && c.m >= 4) {
        for (int64_t i = 0; i < c.k; ++i) xh[c.x_off + 0 * c.xs + i] = (i % 3) ? 0x0000 : 0x8000;  // zeros (+-)
        xh[c.x_off + 1 * c.xs + c.k / 2] = easel_ref::f32_to_bf16(3.0e4f);                        // outlier
        for (int64_t i = 0; i < c.k; ++i)  // tiny: amax / 448 below 2^-126, the scale clamps
            xh[c.x_off + 2 * c.xs + i] = nonzero_bf16(rng, 0, 1e-36);
    }
    const int64_t q_bytes = c.q_off + (c.m - 1) * c.qs + c.k;
    DevBuf dx(xh.size() * 2), dq(static_cast<size_t>(q_bytes)), ds(c.m * 4);
    upload(dx, xh);
    poison(dq);
    poison(ds);
    easel_quantize_fp8_params p{};
    p.x = dx.as<uint16_t>();
    p.q = dq.as<uint8_t>(c.q_off);
    p.scale = ds.as<float>();
    p.m = c.m;
    p.k = c.k;
    p.x_stride_row = c.xs;
    p.q_stride_row = c.qs;
    EASEL_CHECK(easel_quantize_fp8_rowwise_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint8_t> qh;
    std::vector<float> sh;
    std::vector<uint16_t> x_after;
    download(qh, dq);
    download(sh, ds);
    download(x_after, dx);
    QuantResult res;
    std::vector<int64_t> rows(c.m);
    for (int64_t r = 0; r < c.m; ++r) rows[r] = r;
    compare_quant_rows(xh, c.xs, c.x_off, c.k, qh, c.qs, c.q_off, sh, rows, res);
    std::vector<uint8_t> is_row(qh.size(), 0);
    for (int64_t r = 0; r < c.m; ++r)
        for (int64_t i = 0; i < c.k; ++i) {
            is_row[c.q_off + r * c.qs + i] = 1;
            if (qh[c.q_off + r * c.qs + i] == 0xFF) ++res.unwritten;  // -NaN: never produced from finite x
        }
    for (size_t i = 0; i < qh.size(); ++i)
        if (!is_row[i] && qh[i] != 0xFF) ++res.clobbered;
    for (float s : sh) res.unwritten += std::isnan(s) ? 1 : 0;
    print_quant_check(tally, c.name, c.m, c.k, res, x_after == xh);
}

// ---- GEMM checks ---------------------------------------------------------------------------------------------------
struct GemmCase {
    std::string name;
    int64_t m, n, k;
    bool bias = false;
    int64_t a_pad = 0, w_pad = 0, y_pad = 0;  // row stride = row length + pad
    int64_t a_off = 0, w_off = 0, y_off = 0;  // bytes (fp8) / elements (bf16 y)
    const char *path = nullptr;               // nullptr (auto), "fallback", "nocluster"
    bool sampled = false;                     // reference on sampled rows / columns only
    bool bench = false;
    bool time_quant = false;                  // also time quantize alone and quantize + GEMM (large operands)
};

const char *expected_path(const GemmCase &c, bool tma_ok) {
    if (c.path && std::strcmp(c.path, "fallback") == 0) return "fallback";
    if (cc_major() != 9 || !tma_ok) return "fallback";
    if (c.path && std::strcmp(c.path, "nocluster") == 0) return "wgmma_c1";
    return c.m > 128 ? "wgmma_c2" : "wgmma_c1";
}

// A and W for one case: their own (host-made, with the case's strides / offsets) or prefixes of shared large ones.
void run_gemm_case(const GemmCase &c, Fp8Matrix &A, Fp8Matrix &W, const Options &o, Rng &rng, Tally &tally,
                   L2Flusher &l2) {
    const char *op = "gemm_fp8";
    const int64_t ys = c.n + c.y_pad;
    const bool tma_ok = A.tma_ok() && W.tma_ok();
    const char *path = expected_path(c, tma_ok);
    const bool tensor_core = std::strncmp(path, "wgmma", 5) == 0;

    std::vector<uint16_t> bh(c.n);
    std::vector<float> bd(c.n, 0.0f);
    for (int64_t i = 0; i < c.n; ++i) {  // ~0.1 of the typical |y| of these data, so a lost bias shows
        bh[i] = nonzero_bf16(rng, 0, 0.5);
        bd[i] = c.bias ? easel_ref::bf16_to_f32(bh[i]) : 0.0f;
    }
    Strided yt{{c.m}, {ys}, c.n, c.y_off};
    DevBuf db(bh.size() * 2), dy(yt.elems() * 2);
    upload(db, bh);
    poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_gemm_fp8_params p{};
    p.a = A.dptr();
    p.w = W.dptr();
    p.a_scale = A.scale->as<float>();
    p.w_scale = W.scale->as<float>();
    p.bias = c.bias ? db.p : nullptr;
    p.y = dy.as<uint16_t>(c.y_off);
    p.m = c.m;
    p.n = c.n;
    p.k = c.k;
    p.a_stride_row = A.stride;
    p.w_stride_row = W.stride;
    p.y_stride_row = ys;
    PathEnv env(c.path);
    EASEL_CHECK(easel_gemm_fp8_e4m3(&p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh, out_all;
    download(yh, dy);
    int64_t unwritten, clobbered;
    scan_output(yt, y_before, yh, out_all, unwritten, clobbered);
    bool intact = true;
    if (!c.bench) {  // inputs unchanged (the large shared ones: not re-read, 10-40 MB each)
        std::vector<uint8_t> a_after, w_after;
        download(a_after, *A.q);
        download(w_after, *W.q);
        intact = a_after == A.hq && w_after == W.hq;
    }

    // reference: every output, or sampled rows (all columns) + sampled columns (all rows)
    std::vector<int64_t> rows, cols;
    if (!c.sampled) {
        for (int64_t r = 0; r < c.m; ++r) rows.push_back(r);
    } else {
        rows = {0, c.m - 1};
        while (static_cast<int64_t>(rows.size()) < std::min<int64_t>(24, c.m))
            rows.push_back(static_cast<int64_t>(rng.uniform() * static_cast<double>(c.m)));
        cols = {0, c.n - 1};
        while (static_cast<int64_t>(cols.size()) < std::min<int64_t>(16, c.n))
            cols.push_back(static_cast<int64_t>(rng.uniform() * static_cast<double>(c.n)));
    }
    std::vector<uint16_t> out;
    std::vector<double> ref;
    for (int64_t r : rows) {
        const float *ar = A.row(r);
        for (int64_t j = 0; j < c.n; ++j) {
            ref.push_back(easel_ref::gemm_fp8_dot_f64(ar, W.row(j), c.k, A.hscale[r], W.hscale[j], bd[j]));
            out.push_back(out_all[r * c.n + j]);
        }
    }
    const double gain = easel_ref::gain_error(out.data(), ref.data(), static_cast<int64_t>(rows.size()), c.n);
    for (int64_t j : cols)
        for (int64_t r = 0; r < c.m; ++r) {
            ref.push_back(easel_ref::gemm_fp8_dot_f64(A.row(r), W.row(j), c.k, A.hscale[r], W.hscale[j], bd[j]));
            out.push_back(out_all[r * c.n + j]);
        }
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), static_cast<int64_t>(out.size()));

    auto report = [&](bool extra_ok, const char *extra) {
        const bool ok = unwritten == 0 && clobbered == 0 && intact && extra_ok &&
                        easel_ref::fp8_gemm_within_tolerance(e, gain, tensor_core);
        ++tally.checks;
        if (!ok) ++tally.failures;
        std::printf("CHECK op=%s case=%s path=%s n=%lld rel_err=%.3e bf16_floor=%.3e ratio=%.3f tol_ratio=%.2f "
                    "mismatch=%.3f%% max_mismatch=%.0f%% gain=%+.2e max_gain=%.0e max_ulp=%lld unwritten=%lld "
                    "clobbered=%lld%s%s %s\n",
                    op, c.name.c_str(), path, static_cast<long long>(e.n), e.rel_l2, e.rel_l2_bf16ref,
                    e.rel_l2 / e.rel_l2_bf16ref, easel_ref::kRelErrFactor, 100 * e.mismatch_frac,
                    100 * (tensor_core ? easel_ref::kFp8TensorCoreMaxMismatchFrac : easel_ref::kMaxMismatchFrac), gain,
                    easel_ref::kFp8MaxGainErr, static_cast<long long>(e.max_ulp), static_cast<long long>(unwritten),
                    static_cast<long long>(clobbered), intact ? "" : " INPUT_CHANGED", extra, ok ? "PASS" : "FAIL");
    };
    if (!(c.bench && o.bench)) {
        report(true, "");
        return;
    }
    const double flops = 2.0 * c.m * c.n * c.k;
    char shape[256];
    std::snprintf(shape, sizeof shape, "M=%lld N=%lld K=%lld bias=%d path=%s", static_cast<long long>(c.m),
                  static_cast<long long>(c.n), static_cast<long long>(c.k), c.bias ? 1 : 0, path);
    auto result = [&](const char *rop, const Timing &t) {
        std::printf("RESULT op=%s case=%s %s flops=%.0f median_us=%.2f min_us=%.2f TFLOPs=%.1f\n", rop, c.name.c_str(),
                    shape, flops, t.median_ms * 1e3, t.min_ms * 1e3, flops / (t.median_ms * 1e-3) / 1e12);
    };
    const Timing tg = time_kernel([&] { EASEL_CHECK(easel_gemm_fp8_e4m3(&p)); }, o, l2);
    std::vector<uint16_t> again;
    download(again, dy);
    bool same = again == yh;
    result(op, tg);
    if (c.time_quant && A.x) {  // the activations from bf16: quantize alone, then quantize + GEMM
        easel_quantize_fp8_params qp{};
        qp.x = A.x->p;
        qp.q = A.q->as<uint8_t>(A.off);
        qp.scale = A.scale->as<float>();
        qp.m = c.m;
        qp.k = c.k;
        qp.x_stride_row = c.k;
        qp.q_stride_row = A.stride;
        const Timing tq = time_kernel([&] { EASEL_CHECK(easel_quantize_fp8_rowwise_bf16(&qp)); }, o, l2);
        const Timing tqg = time_kernel(
            [&] {
                EASEL_CHECK(easel_quantize_fp8_rowwise_bf16(&qp));
                EASEL_CHECK(easel_gemm_fp8_e4m3(&p));
            },
            o, l2);
        download(again, dy);
        same = same && again == yh;
        const double qbytes = 3.0 * c.m * c.k + 4.0 * c.m;  // bf16 read, e4m3 written, scales
        char qshape[128];
        std::snprintf(qshape, sizeof qshape, "M=%lld K=%lld", static_cast<long long>(c.m), static_cast<long long>(c.k));
        print_result("quantize_fp8", c.name, qshape, qbytes, tq, g_copy_gbps);
        result("quant_gemm_fp8", tqg);
    }
    report(same, same ? " rerun=identical" : " rerun=DIFFERENT");
}

// ---- the large shared operands (device-made, quantized on the GPU, checked against the host reference) --------
struct Large {
    std::unique_ptr<Fp8Matrix> x3072, w3072, x12288, w12288;  // [4608, 3072], [12288, 3072], [4608, 12288], [3072, 12288]
};

std::unique_ptr<Fp8Matrix> device_fp8(const std::string &name, int64_t rows, int64_t k, uint64_t seed, float lo,
                                      float hi, int64_t check_rows, Rng &rng, Tally &tally) {
    auto m = std::make_unique<Fp8Matrix>();
    m->rows = rows;
    m->k = k;
    m->stride = k;
    m->x = std::make_unique<DevBuf>(static_cast<size_t>(rows * k * 2));
    m->q = std::make_unique<DevBuf>(static_cast<size_t>(rows * k));
    m->scale = std::make_unique<DevBuf>(static_cast<size_t>(rows * 4));
    fill_normal_bf16_kernel<<<1024, 256>>>(m->x->as<uint16_t>(), rows, k, seed, lo, hi);
    CUDA_CHECK(cudaGetLastError());
    poison(*m->q);
    poison(*m->scale);
    easel_quantize_fp8_params p{};
    p.x = m->x->p;
    p.q = m->q->p;
    p.scale = m->scale->as<float>();
    p.m = rows;
    p.k = k;
    p.x_stride_row = k;
    p.q_stride_row = k;
    EASEL_CHECK(easel_quantize_fp8_rowwise_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());
    download(m->hq, *m->q);
    download(m->hscale, *m->scale);
    std::vector<uint16_t> xh;
    download(xh, *m->x);
    QuantResult res;
    std::vector<int64_t> rs;
    if (check_rows >= rows) {
        for (int64_t r = 0; r < rows; ++r) rs.push_back(r);
    } else {
        rs = {0, rows - 1};
        while (static_cast<int64_t>(rs.size()) < check_rows)
            rs.push_back(static_cast<int64_t>(rng.uniform() * static_cast<double>(rows)));
    }
    compare_quant_rows(xh, k, 0, k, m->hq, k, 0, m->hscale, rs, res);
    for (const uint8_t b : m->hq) res.unwritten += b == 0xFF ? 1 : 0;
    for (const float s : m->hscale) res.unwritten += std::isnan(s) ? 1 : 0;
    print_quant_check(tally, name, static_cast<int64_t>(rs.size()), k, res, true);
    return m;
}

void api_checks(Tally &t) {
    DevBuf buf(1 << 16);
    char *base = buf.as<char>();
    easel_gemm_fp8_params p{};
    p.a = base;
    p.w = base + 4096;
    p.a_scale = reinterpret_cast<const float *>(base + 8192);
    p.w_scale = reinterpret_cast<const float *>(base + 8448);
    p.y = base + 16384;
    p.m = 2;
    p.n = 8;
    p.k = 64;
    p.a_stride_row = p.w_stride_row = 64;
    p.y_stride_row = 8;
    auto chk = [&](const char *what, const easel_gemm_fp8_params &q, easel_status want) {
        check_status(t, (std::string("gemm_fp8 ") + what).c_str(), easel_gemm_fp8_e4m3(&q), want);
    };
    check_status(t, "gemm_fp8 null params", easel_gemm_fp8_e4m3(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_gemm_fp8_params q = p;
    q.w = nullptr;
    chk("null w", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.n = 0;
    chk("n 0", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_row = 7;
    chk("overlapping output rows", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.w_stride_row = 48;
    chk("w stride shorter than k", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.w_scale = reinterpret_cast<const float *>(base + 8450);
    chk("misaligned w_scale", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.k = 40;
    chk("k not a multiple of 16", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.m = 1;
    q.a_stride_row = 0;  // one row: its stride is never used
    q.y_stride_row = 0;
    chk("m 1, strides unused", q, EASEL_OK);
    q = p;
    q.a = base + 1;  // misaligned a: the CUDA-core kernel takes it
    q.a_stride_row = 65;
    chk("a misaligned (fallback kernel)", q, EASEL_OK);

    easel_quantize_fp8_params qp{};
    qp.x = base;
    qp.q = base + 8192;
    qp.scale = reinterpret_cast<float *>(base + 16384);
    qp.m = 2;
    qp.k = 64;
    qp.x_stride_row = qp.q_stride_row = 64;
    check_status(t, "quantize_fp8 null params", easel_quantize_fp8_rowwise_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_quantize_fp8_params qq = qp;
    qq.q_stride_row = 32;
    check_status(t, "quantize_fp8 overlapping q rows", easel_quantize_fp8_rowwise_bf16(&qq), EASEL_ERR_INVALID_ARGUMENT);
    qq = qp;
    qq.scale = reinterpret_cast<float *>(base + 16386);
    check_status(t, "quantize_fp8 misaligned scale", easel_quantize_fp8_rowwise_bf16(&qq), EASEL_ERR_INVALID_ARGUMENT);
    qq = qp;
    qq.k = 61;  // any k: the two-pass kernel
    check_status(t, "quantize_fp8 k 61", easel_quantize_fp8_rowwise_bf16(&qq), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("fp8_gemm_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;
    g_copy_gbps = copy_gbps;
    init_e4m3_table();
    std::printf("fp8_gemm_check: compute capability %d.x: the tensor-core (wgmma) path %s\n", cc_major(),
                cc_major() == 9 ? "runs" : "does not exist here, every case runs the CUDA-core kernel");

    api_checks(tally);

    // ---- quantize: register path (k % 16 == 0, k <= 65536, aligned) for each vectors-per-thread instantiation,
    // and the two-pass kernel for everything else
    const std::vector<QuantCase> qcases = {
        {"q_k16", 5, 16, 0, 0, 0, 0, true},
        {"q_k3072_special", 64, 3072, 0, 0, 0, 0, true},     // V = 1 (192 threads)
        {"q_k8192", 9, 8192, 0, 0, 0, 0, true},              // V = 2
        {"q_k12288", 7, 12288, 0, 0, 0, 0, false},           // V = 4
        {"q_k24576", 3, 24576, 0, 0, 0, 0, false},           // V = 8
        {"q_k65536", 2, 65536, 0, 0, 0, 0, false},           // V = 16
        {"q_k65552_twopass", 2, 65552, 0, 0, 0, 0, false},   // above the register path
        {"q_k100_twopass", 33, 100, 0, 0, 0, 0, true},       // k % 16 != 0
        {"q_strided", 17, 1024, 1024 + 40, 1024 + 48, 8, 16, true},
        {"q_x_misaligned_twopass", 6, 512, 520, 512, 3, 0, false},  // x offset by 3 bf16: not 16-byte aligned
        {"q_q_misaligned_twopass", 6, 512, 0, 515, 0, 5, false},    // q stride 515
    };
    for (const QuantCase &c : qcases) run_quant_case(c, rng, tally);

    // ---- GEMM on host-made operands (every output checked against float64, except the sampled one)
    const std::vector<GemmCase> small = {
        // name, m, n, k, bias, a_pad, w_pad, y_pad, a_off, w_off, y_off, path, sampled
        // ordered from the least to the most machinery (CUDA cores, 1-CTA wgmma, 2-CTA clusters): a kernel that
        // traps (a pipeline hang turns into a trap after seconds) ends the program, so the simpler paths report first
        {"m300_n520_k1040_fallback", 300, 520, 1040, true, 0, 0, 0, 0, 0, 0, "fallback"},
        {"m1_n8_k16", 1, 8, 16, true},
        {"m3_n24_k32", 3, 24, 32, false},
        {"m77_n129_k144", 77, 129, 144, true},  // odd n (scalar stores), a partial second k-block
        {"m300_n520_k1040_nocluster", 300, 520, 1040, true, 0, 0, 0, 0, 0, 0, "nocluster"},
        {"m300_n520_k1040", 300, 520, 1040, true},  // 3 tile rows (the 2-CTA cluster pads a 4th), partial tiles
        {"m129_n256_k256", 129, 256, 256, false},
        {"m256_n512_k3072", 256, 512, 3072, false},
        {"strided", 200, 264, 512, true, 48, 16, 7, 0, 0, 1},  // odd y stride + y offset: scalar stores
        {"a_misaligned", 130, 136, 512, true, 8, 0, 0, 8, 0, 0},  // a offset / stride not 16-byte: CUDA-core kernel
        {"w_stride_8", 64, 72, 256, false, 0, 8, 0, 0, 0, 0},     // w stride % 16 != 0: CUDA-core kernel
        {"persistent_m2304_n2048_k256", 2304, 2048, 256, true, 0, 0, 0, 0, 0, 0, nullptr, true},  // > 1 tile per CTA
    };
    for (const GemmCase &c : small) {
        auto A = host_fp8(rng, c.m, c.k, c.k + c.a_pad, c.a_off, -1.0, 1.0, 1.0);
        auto W = host_fp8(rng, c.n, c.k, c.k + c.w_pad, c.w_off, -0.3, 0.3, 0.02);
        run_gemm_case(c, *A, *W, o, rng, tally, l2);
    }

    // ---- FLUX shapes (1024 x 1024 image: 4096 + 512 text tokens, hidden 3072, MLP 12288), timed
    const uint64_t seed = rng.next();
    auto x3072 = device_fp8("flux_x_4608x3072", 4608, 3072, seed ^ 1, -1.0f, 1.0f, 4608, rng, tally);
    auto w12288 = device_fp8("flux_w_12288x3072", 12288, 3072, seed ^ 2, std::log10(0.02f) - 0.3f,
                             std::log10(0.02f) + 0.3f, 512, rng, tally);
    const std::vector<GemmCase> flux = {
        {"flux_proj_m4608_n3072_k3072_fallback", 4608, 3072, 3072, true, 0, 0, 0, 0, 0, 0, "fallback", true, true},
        {"flux_proj_m4608_n3072_k3072_nocluster", 4608, 3072, 3072, true, 0, 0, 0, 0, 0, 0, "nocluster", true, true},
        {"flux_proj_m4608_n3072_k3072", 4608, 3072, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, true, true, true},
        {"flux_mlp_up_m4608_n12288_k3072", 4608, 12288, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, true, true, true},
        {"m1_n3072_k3072", 1, 3072, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, false, true, true},
        {"m16_n3072_k3072", 16, 3072, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, false, true, true},
        {"m1_n12288_k3072", 1, 12288, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, false, true, true},
        {"m16_n12288_k3072", 16, 12288, 3072, true, 0, 0, 0, 0, 0, 0, nullptr, false, true, true},
    };
    for (const GemmCase &c : flux)  // the GEMM reads the first c.m rows of x and c.n rows of w
        run_gemm_case(c, *x3072, *w12288, o, rng, tally, l2);
    x3072.reset();
    w12288.reset();
    auto x12288 = device_fp8("flux_x_4608x12288", 4608, 12288, seed ^ 3, -1.0f, 1.0f, 4608, rng, tally);
    auto w3072 = device_fp8("flux_w_3072x12288", 3072, 12288, seed ^ 4, std::log10(0.02f) - 0.3f,
                            std::log10(0.02f) + 0.3f, 256, rng, tally);
    run_gemm_case({"flux_mlp_down_m4608_n3072_k12288", 4608, 3072, 12288, true, 0, 0, 0, 0, 0, 0, nullptr, true,
                   true, true},
                  *x12288, *w3072, o, rng, tally, l2);
    return finish("fp8_gemm_check", tally);
}
