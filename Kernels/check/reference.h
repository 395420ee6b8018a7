// Plain C++ (no CUDA) reference code for the kernel checks: bf16 conversion, float64 references, error metrics.
// Shared by the check programs (check/*.cu, through common.h) and the CPU unit test (../test/test_reference.cpp).
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace easel_ref {

// ---- bf16 ------------------------------------------------------------------------------------------------
inline float bf16_to_f32(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// float -> bf16, round to nearest even (as __float2bfloat16_rn); NaN stays a (quiet) NaN.
inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

// double -> bf16 with a single rounding (round to nearest even). Going through float would round twice; rounding
// to float with round-to-odd first (float has 16 more significand bits than bf16) makes the second rounding exact.
inline uint16_t f64_to_bf16(double v) {
    if (std::isnan(v)) return 0x7fc0;
    float f = static_cast<float>(v);
    if (std::isinf(f) && !std::isinf(v)) f = std::copysign(FLT_MAX, static_cast<float>(v));
    if (static_cast<double>(f) != v) {
        if (std::fabs(static_cast<double>(f)) > std::fabs(v)) f = std::nextafter(f, 0.0f);  // truncate
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u |= 1u;  // sticky bit: round to odd
        std::memcpy(&f, &u, 4);
    }
    return f32_to_bf16(f);
}

inline double round_bf16(double v) { return bf16_to_f32(f64_to_bf16(v)); }

inline bool bf16_is_nan(uint16_t h) { return (h & 0x7fffu) > 0x7f80u; }

// Distance in representable bf16 values between two finite bf16 numbers (monotone integer mapping).
inline int64_t bf16_ulp_distance(uint16_t a, uint16_t b) {
    auto key = [](uint16_t h) -> int64_t { return (h & 0x8000u) ? -static_cast<int64_t>(h & 0x7fffu) : h; };
    int64_t d = key(a) - key(b);
    return d < 0 ? -d : d;
}

// ---- float64 references (dense rows; inputs are the exact values the kernel sees) ----------------------------

// y[r, k] = x[r, k] / sqrt(mean_k(x[r, :]^2) + eps) * w[k]
inline void rmsnorm_f64(const float *x, const float *w, double *y, int64_t rows, int64_t dim, double eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float *xr = x + r * dim;
        double ss = 0.0;
        for (int64_t k = 0; k < dim; ++k) ss += static_cast<double>(xr[k]) * xr[k];
        const double rs = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
        for (int64_t k = 0; k < dim; ++k) y[r * dim + k] = xr[k] * rs * w[k];
    }
}

// y[b, s, k] = (x - mean) / sqrt(var + eps) * (1 + scale[b, k]) + shift[b, k]; biased variance, two passes.
inline void layernorm_adaln_f64(const float *x, const float *shift, const float *scale, double *y, int64_t batch,
                                int64_t seq, int64_t dim, double eps) {
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t s = 0; s < seq; ++s) {
            const int64_t r = b * seq + s;
            const float *xr = x + r * dim;
            double sum = 0.0;
            for (int64_t k = 0; k < dim; ++k) sum += xr[k];
            const double mean = sum / static_cast<double>(dim);
            double sq = 0.0;
            for (int64_t k = 0; k < dim; ++k) sq += (xr[k] - mean) * (xr[k] - mean);
            const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(dim) + eps);
            for (int64_t k = 0; k < dim; ++k)
                y[r * dim + k] = (xr[k] - mean) * rstd * (1.0 + scale[b * dim + k]) + shift[b * dim + k];
        }
    }
}

// Attention, one query row: ref[d] = sum_j p_j v[j, d] / sum_j p_j with p_j = exp(scale * q.k_j - max_j), lse =
// max + log(sum_j p_j) (scaled scores, natural log). k, v: dense [skv][dim]. emu (optional): the same with each p_j
// rounded to bf16 in the numerator only, which is what a flash-attention kernel feeds its bf16 P.V tensor-core
// product (its row sum is accumulated from the unrounded f32 p); bf16(emu) is the same-precision reference of the
// attention check (see attention_within_tolerance).
inline void attention_row_f64(const float *q, const float *k, const float *v, int64_t skv, int64_t dim, double scale,
                              double *ref, double *emu, double *lse, std::vector<double> &scratch) {
    scratch.resize(static_cast<size_t>(skv));
    double mx = -INFINITY;
    for (int64_t j = 0; j < skv; ++j) {
        const float *kr = k + j * dim;
        double dot = 0.0;
        for (int64_t d = 0; d < dim; ++d) dot += static_cast<double>(q[d]) * kr[d];
        scratch[j] = scale * dot;
        mx = std::max(mx, scratch[j]);
    }
    double l = 0.0;
    for (int64_t d = 0; d < dim; ++d) {
        ref[d] = 0.0;
        if (emu) emu[d] = 0.0;
    }
    for (int64_t j = 0; j < skv; ++j) {
        const double p = std::exp(scratch[j] - mx), pb = round_bf16(p);
        l += p;
        const float *vr = v + j * dim;
        for (int64_t d = 0; d < dim; ++d) ref[d] += p * vr[d];
        if (emu)
            for (int64_t d = 0; d < dim; ++d) emu[d] += pb * vr[d];
    }
    for (int64_t d = 0; d < dim; ++d) {
        ref[d] /= l;
        if (emu) emu[d] /= l;
    }
    if (lse) *lse = mx + std::log(l);
}

// ---- error metrics --------------------------------------------------------------------------------------------

struct ErrorStats {
    double rel_l2 = 0;          // ||out - ref|| / ||ref||
    double max_abs = 0;         // max |out - ref|
    double rel_l2_bf16ref = 0;  // the same for the same-precision reference bf16(ref): the floor of bf16 output
    double mismatch_frac = 0;   // fraction of elements where out != bf16(ref) bit for bit
    int64_t max_ulp = 0;        // max distance from bf16(ref) in bf16 ulps
    int64_t n = 0;
};

// out: the kernel's bf16 outputs (dense, same order as ref).
inline ErrorStats compare_bf16(const uint16_t *out, const double *ref, int64_t n) {
    ErrorStats e;
    e.n = n;
    double num = 0, den = 0, num_bf = 0;
    int64_t mismatches = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double o = bf16_to_f32(out[i]);
        const uint16_t rb = f64_to_bf16(ref[i]);
        const double d = o - ref[i], dbf = bf16_to_f32(rb) - ref[i];
        num += d * d;
        num_bf += dbf * dbf;
        den += ref[i] * ref[i];
        if (std::fabs(d) > e.max_abs || std::isnan(d)) e.max_abs = std::isnan(d) ? INFINITY : std::fabs(d);
        if (out[i] != rb) {
            ++mismatches;
            const int64_t u = bf16_is_nan(out[i]) ? INT64_MAX : bf16_ulp_distance(out[i], rb);
            if (u > e.max_ulp) e.max_ulp = u;
        }
    }
    e.rel_l2 = std::sqrt(num / den);
    e.rel_l2_bf16ref = std::sqrt(num_bf / den);
    e.mismatch_frac = n ? static_cast<double>(mismatches) / static_cast<double>(n) : 0.0;
    return e;
}

// The acceptance rule of every check (explained in Kernels/README.md): a kernel that computes in f32 and rounds
// once to bf16 differs from the float64 reference by its bf16 output rounding (rel_l2_bf16ref) plus f32 noise,
// which only flips the rounding of values that lie within ~1e-6 relative of a rounding midpoint. So:
//   rel_l2 <= kRelErrFactor * rel_l2_bf16ref   (the error is the bf16 floor, not a multiple of it), and
//   mismatch_frac <= kMaxMismatchFrac          (catches small systematic errors, e.g. dividing by dim - 1, that
//                                               hide below the rounding floor in rel_l2).
constexpr double kRelErrFactor = 1.25;
constexpr double kMaxMismatchFrac = 0.01;

inline bool within_tolerance(const ErrorStats &e) {
    return std::isfinite(e.rel_l2) && e.rel_l2 <= kRelErrFactor * e.rel_l2_bf16ref &&
           e.mismatch_frac <= kMaxMismatchFrac;
}

// Attention: a flash-attention kernel rounds the softmax probabilities P to bf16 for the P.V tensor-core product
// (as FlashAttention-2 and PyTorch's kernels do), an error the output rounding alone doesn't explain. Its
// same-precision reference is bf16(emu) (attention_row_f64: float64 with P rounded to bf16, then the output
// rounded once). The kernel rounds p = exp(s - running max) rather than exp(s - final max), so its rounding errors
// are a different draw from the same distribution: it must be as close to ref64 as bf16(emu) is, with the same
// 1.25 margin, and its mismatch rate vs bf16(ref64) within 1.25 x that of bf16(emu) + 1 %.
inline bool attention_within_tolerance(const ErrorStats &e, const ErrorStats &emu) {
    return std::isfinite(e.rel_l2) && e.rel_l2 <= kRelErrFactor * emu.rel_l2 &&
           e.mismatch_frac <= kRelErrFactor * emu.mismatch_frac + kMaxMismatchFrac;
}

// ---- deterministic random numbers (splitmix64 + Box-Muller) -------------------------------------------------
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return (next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double normal() {  // Box-Muller, both values used
        if (have_spare) {
            have_spare = false;
            return spare;
        }
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        const double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
        spare = r * std::sin(a);
        have_spare = true;
        return r * std::cos(a);
    }
    double spare = 0;
    bool have_spare = false;
};

// ---- float64 references of the element-wise fusions (bias_act.cu, rope.cu, gated_residual.cu) ----------------
// Inputs are the exact values the kernel sees (bf16 or f32 converted to float), outputs dense float64.

// torch F.gelu(v, approximate="tanh"): 0.5 v (1 + tanh(u)), u = sqrt(2/pi) (v + 0.044715 v^3), evaluated as the
// identical v / (1 + exp(-2u)): even in float64, 1 + tanh(u) cancels to 0 for v < -6.5 (true value ~1e-16 v).
inline double gelu_tanh_f64(double v) {
    const double k = 0.79788456080286535588;  // sqrt(2 / pi)
    return v / (1.0 + std::exp(-2.0 * k * (v + 0.044715 * v * v * v)));
}
inline double silu_f64(double v) { return v / (1.0 + std::exp(-v)); }

// y[r, k] = act(x[r, k] + bias[k]); bias may be null. x dense [rows, dim].
template <class Act>
inline void bias_act_f64(const float *x, const float *bias, double *y, int64_t rows, int64_t dim, Act act) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < dim; ++k)
            y[r * dim + k] = act(static_cast<double>(x[r * dim + k]) + (bias ? static_cast<double>(bias[k]) : 0.0));
}

// diffusers apply_rotary_emb(use_real=True, use_real_unbind_dim=-1) on dense x [B, S, H, D], tables [S, D]:
//   y[2i] = x[2i] cos[s, 2i] - x[2i+1] sin[s, 2i];  y[2i+1] = x[2i+1] cos[s, 2i+1] + x[2i] sin[s, 2i+1]
inline void rope_f64(const float *x, const float *cos, const float *sin, double *y, int64_t batch, int64_t seq,
                     int64_t heads, int64_t dim) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s)
            for (int64_t h = 0; h < heads; ++h) {
                const int64_t o = ((b * seq + s) * heads + h) * dim;
                const float *c = cos + s * dim, *sn = sin + s * dim;
                for (int64_t k = 0; k < dim; k += 2) {
                    const double x0 = x[o + k], x1 = x[o + k + 1];
                    y[o + k] = x0 * c[k] - x1 * static_cast<double>(sn[k]);
                    y[o + k + 1] = x1 * c[k + 1] + x0 * static_cast<double>(sn[k + 1]);
                }
            }
}

// out[b, s, k] = x[b, s, k] + gate[b, k] * y[b, s, k]; dense x / y [B, S, D], gate [B, D].
inline void gated_residual_f64(const float *x, const float *y, const float *gate, double *out, int64_t batch,
                               int64_t seq, int64_t dim) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s)
            for (int64_t k = 0; k < dim; ++k) {
                const int64_t i = (b * seq + s) * dim + k;
                out[i] = x[i] + static_cast<double>(gate[b * dim + k]) * y[i];
            }
}


// ---- int8 weight-only GEMM (w8_gemm.cu) ------------------------------------------------------------------------
// y[m, n] = (sum_k x[m, k] * w[n, k]) * scale[n] (+ bias[n]), all in float64; x dense [M, K], w dense [N, K] int8,
// y dense [M, N]. Only the output columns n with cols[n] != 0 are computed (cols may be null: all).
inline void gemm_w8_f64(const float *x, const int8_t *w, const float *scale, const float *bias, double *y, int64_t M,
                        int64_t N, int64_t K, const uint8_t *cols = nullptr) {
    for (int64_t n = 0; n < N; ++n) {
        if (cols && !cols[n]) continue;
        const int8_t *wr = w + n * K;
        for (int64_t m = 0; m < M; ++m) {
            const float *xr = x + m * K;
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += static_cast<double>(xr[k]) * wr[k];
            y[m * N + n] = s * scale[n] + (bias ? static_cast<double>(bias[n]) : 0.0);
        }
    }
}


// ---- FP8 e4m3 GEMM and its row-wise quantization (fp8_gemm.cu) ------------------------------------------------
// e4m3 "fn" (torch.float8_e4m3fn, __nv_fp8_e4m3): 1 sign bit, 4 exponent bits with bias 7, 3 mantissa bits; exponent
// field 0 holds the subnormals m * 2^-9; 0x7F / 0xFF are NaN; no infinities; the largest finite value is 448 (0x7E).
inline float e4m3_to_f32(uint8_t b) {
    const int e = (b >> 3) & 15, m = b & 7;
    if (e == 15 && m == 7) return NAN;
    const float mag = e ? std::ldexp(1.0f + m / 8.0f, e - 7) : std::ldexp(static_cast<float>(m), -9);
    return (b & 0x80) ? -mag : mag;
}

// float -> e4m3 as cvt.rn.satfinite.e4m3x2.f32 (__nv_cvt_float2_to_fp8x2(.., __NV_SATFINITE, __NV_E4M3)): round to
// nearest, ties to even; magnitudes above 448 saturate to 448; NaN -> 0x7F with the sign; the sign of a result that
// rounds to zero is kept (0x80 for negative inputs).
inline uint8_t f32_to_e4m3(float f) {
    const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
    if (std::isnan(f)) return sign | 0x7F;
    const double a = std::fabs(static_cast<double>(f));
    if (a >= 448.0) return sign | 0x7E;  // (448, 464]: nearest or tie-to-even is 448; above: 480 is not finite
    int e2 = 0;
    (void)std::frexp(a, &e2);            // a = frac * 2^e2, frac in [0.5, 1): a's binade starts at 2^(e2 - 1)
    const int e = std::max(e2 - 1, -6);  // below 2^-6 the subnormal step 2^-9 applies
    const double step = std::ldexp(1.0, e - 3);
    const double q = std::nearbyint(a / step);  // exact quotient (power-of-two step), round to nearest even
    if (q == 0) return sign;
    if (q >= 16) return sign | static_cast<uint8_t>((e + 1 + 7) << 3);  // rounded up to the next binade
    if (e == -6 && q < 8) return sign | static_cast<uint8_t>(q);       // subnormal
    return sign | static_cast<uint8_t>(((e + 7) << 3) | (static_cast<int>(q) - 8));
}

// Row-wise quantization as easel_quantize_fp8_rowwise_bf16: scale = max(amax / 448, 2^-126) (f32 division),
// inv = 1 / scale (f32), q[i] = e4m3(f32(x[i] * inv)). x: k bf16 bit patterns.
inline float quantize_fp8_row(const uint16_t *x, int64_t k, uint8_t *q) {
    uint16_t mb = 0;
    for (int64_t i = 0; i < k; ++i) mb = std::max<uint16_t>(mb, x[i] & 0x7fffu);
    const float amax = bf16_to_f32(mb);
    volatile float s = std::max(amax / 448.0f, FLT_MIN);  // volatile: no contraction or reassociation, ever
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < k; ++i) {
        volatile float v = bf16_to_f32(x[i]) * inv;
        q[i] = f32_to_e4m3(v);
    }
    return s;
}

// One output of the fp8 GEMM in float64: (sum_k a[k] w[k]) * a_scale * w_scale + bias; a, w: k decoded e4m3 values.
inline double gemm_fp8_dot_f64(const float *a, const float *w, int64_t k, double a_scale, double w_scale,
                               double bias) {
    double s = 0;
    for (int64_t i = 0; i < k; ++i) s += static_cast<double>(a[i]) * w[i];
    return s * a_scale * w_scale + bias;
}

// The relative gain error of out against ref, [rows, cols] dense: the mean over rows of the least-squares g in
// out_row ~ (1 + g) ref_row. Per row, so rows of very different magnitudes weigh the same. A wrong scale shifts it;
// the bf16 output rounding and accumulation-order noise do not (to ~floor / sqrt(rows * cols)).
inline double gain_error(const uint16_t *out, const double *ref, int64_t rows, int64_t cols) {
    double sum = 0;
    int64_t used = 0;
    for (int64_t r = 0; r < rows; ++r) {
        double num = 0, den = 0;
        for (int64_t i = r * cols; i < (r + 1) * cols; ++i) {
            num += (bf16_to_f32(out[i]) - ref[i]) * ref[i];
            den += ref[i] * ref[i];
        }
        if (den > 0) {
            sum += num / den;
            ++used;
        }
    }
    return used ? sum / static_cast<double>(used) : 0.0;
}

// The fp8 GEMM rule (Kernels/README.md, "The fp8 GEMM tolerance"). Both paths must be as close to ref64 as the
// rule of the other kernels asks (rel_l2 <= 1.25 x the bf16 rounding floor) and show no gain error above 2e-4
// (a tenth of a bf16 half-ulp; a wrong scale factor). The CUDA-core path sums exact products in f32, so its
// roundings must also agree with bf16(ref64) as the other kernels' (<= 1 % mismatches). Hopper's fp8 tensor cores
// align the 32 products of one k32 step and the incoming accumulator to the largest exponent and keep ~13-14 bits
// below it (truncation); summing 4 steps in the tensor core before each f32 add leaves a relative error of ~1e-4,
// which moves 2-7 % of the bf16 roundings in a simulation of that hardware model (test_reference.cpp): the
// tensor-core path may have up to 12 % mismatches.
constexpr double kFp8MaxGainErr = 2e-4;
constexpr double kFp8TensorCoreMaxMismatchFrac = 0.12;

inline bool fp8_gemm_within_tolerance(const ErrorStats &e, double gain, bool tensor_core) {
    return std::isfinite(e.rel_l2) && e.rel_l2 <= kRelErrFactor * e.rel_l2_bf16ref &&
           std::fabs(gain) <= kFp8MaxGainErr &&
           e.mismatch_frac <= (tensor_core ? kFp8TensorCoreMaxMismatchFrac : kMaxMismatchFrac);
}

}  // namespace easel_ref
