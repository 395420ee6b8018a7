// Check + bench of easel_layernorm_adaln_bf16 (llm.c dev/cuda style); same protocol as rmsnorm_check.cu: fresh
// random inputs (x with a non-zero mean and per-row magnitudes, so the variance pass matters), NaN-poisoned
// output buffer, every output element written and every gap untouched, error vs the float64 reference under the
// acceptance rule of reference.h, timing (median, L2 flushed) and a bit-exact re-check after the timing runs.
// shift/scale are taken, as in FLUX, from one [B, 6 * D] modulation tensor (chunks 0 and 1, batch stride 6 * D)
// unless a case says otherwise.
//   build/kernels/layernorm_adaln_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "common.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

struct LnCase {
    std::string name;
    easel_dtype mod;
    int64_t batch, seq, dim;
    int64_t xsb, xss, ysb, yss;  // x / y strides (batch, seq)
    int64_t mod_chunks = 6;      // shift / scale batch stride = mod_chunks * dim (+ mod_pad)
    int64_t mod_pad = 0;
    int64_t x_off = 0, y_off = 0, mod_off = 0;
    bool in_place = false;
    bool bench = false;
};

template <class ModT> void run_case(const LnCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2,
                                    double copy_gbps) {
    const int64_t B = c.batch, S = c.seq, D = c.dim, rows = B * S;
    auto span = [&](int64_t sb, int64_t ss) { return (B - 1) * sb + (S - 1) * ss + D; };
    const int64_t x_elems = c.x_off + span(c.xsb, c.xss);
    const int64_t y_off = c.in_place ? c.x_off : c.y_off;
    const int64_t ysb = c.in_place ? c.xsb : c.ysb, yss = c.in_place ? c.xss : c.yss;
    const int64_t y_elems = c.in_place ? x_elems : c.y_off + span(ysb, yss);
    const int64_t mod_stride = c.mod_chunks * D + c.mod_pad;
    const int64_t mod_elems = c.mod_off + B * mod_stride;
    const int64_t shift_at = c.mod_off, scale_at = c.mod_off + (c.mod_chunks > 1 ? D : B * mod_stride);
    const int64_t mod_total = c.mod_chunks > 1 ? mod_elems : mod_elems * 2;  // chunks 1: scale after all shifts

    std::vector<uint16_t> xh(x_elems);
    for (auto &v : xh) v = gap_bf16(rng);
    std::vector<float> xd(rows * D);
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = c.x_off + (r / S) * c.xsb + (r % S) * c.xss;
        const double sd = std::pow(10.0, 2 * rng.uniform() - 1), mean = sd * (rng.uniform() - 0.5) * 4;
        for (int64_t k = 0; k < D; ++k) {
            xh[base + k] = nonzero_bf16(rng, mean, sd);
            xd[r * D + k] = easel_ref::bf16_to_f32(xh[base + k]);
        }
    }
    // modulation: shift ~ N(0, 0.5^2), scale ~ N(0, 0.3^2); exact values the kernel sees (bf16 or f32)
    std::vector<ModT> modh(mod_total);
    auto mod_value = [&](double sd) -> ModT {
        if constexpr (sizeof(ModT) == 2) return nonzero_bf16(rng, 0, sd);
        else {
            float f = 0;
            while (f == 0) f = static_cast<float>(sd * rng.normal());
            return f;
        }
    };
    auto mod_float = [](ModT v) -> float {
        if constexpr (sizeof(ModT) == 2) return easel_ref::bf16_to_f32(v);
        else return v;
    };
    for (auto &v : modh) v = mod_value(0.1);
    std::vector<float> shd(B * D), scd(B * D);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < D; ++k) {
            ModT &sh = modh[shift_at + b * mod_stride + k];
            ModT &sc = modh[scale_at + b * mod_stride + k];
            sh = mod_value(0.5);
            sc = mod_value(0.3);
            shd[b * D + k] = mod_float(sh);
            scd[b * D + k] = mod_float(sc);
        }
    const float eps = 1e-6f;
    std::vector<double> ref(rows * D);
    easel_ref::layernorm_adaln_f64(xd.data(), shd.data(), scd.data(), ref.data(), B, S, D, eps);

    DevBuf dx(x_elems * 2), dmod(mod_total * sizeof(ModT)), dy_own(c.in_place ? 0 : y_elems * 2);
    const DevBuf &dy = c.in_place ? dx : dy_own;
    upload(dx, xh);
    upload(dmod, modh);
    if (!c.in_place) poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_layernorm_adaln_params p{};
    p.x = dx.as<uint16_t>(c.x_off);
    p.shift = dmod.as<ModT>(shift_at);
    p.scale = dmod.as<ModT>(scale_at);
    p.y = dy.as<uint16_t>(y_off);
    p.mod_dtype = c.mod;
    p.batch = B;
    p.seq = S;
    p.dim = D;
    p.x_stride_batch = c.xsb;
    p.x_stride_seq = c.xss;
    p.y_stride_batch = ysb;
    p.y_stride_seq = yss;
    p.shift_stride_batch = p.scale_stride_batch = mod_stride;
    p.eps = eps;
    p.stream = nullptr;
    EASEL_CHECK(easel_layernorm_adaln_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh;
    download(yh, dy);
    std::vector<uint8_t> is_out(y_elems, 0);
    std::vector<uint16_t> out(rows * D);
    int64_t unwritten = 0, clobbered = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = y_off + (r / S) * ysb + (r % S) * yss;
        for (int64_t k = 0; k < D; ++k) {
            is_out[base + k] = 1;
            out[r * D + k] = yh[base + k];
            if (easel_ref::bf16_is_nan(yh[base + k])) ++unwritten;
        }
    }
    for (int64_t i = 0; i < y_elems; ++i)
        if (!is_out[i] && yh[i] != y_before[i]) ++clobbered;
    std::vector<ModT> mod_after;
    download(mod_after, dmod);
    const bool mod_intact = std::memcmp(mod_after.data(), modh.data(), modh.size() * sizeof(ModT)) == 0;
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), rows * D);

    char shape[256];
    std::snprintf(shape, sizeof shape, "batch=%lld seq=%lld dim=%lld mod=%s", static_cast<long long>(B),
                  static_cast<long long>(S), static_cast<long long>(D), sizeof(ModT) == 2 ? "bf16" : "f32");
    if (c.bench && o.bench && !c.in_place) {
        const Timing t = time_kernel([&] { EASEL_CHECK(easel_layernorm_adaln_bf16(&p)); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dy);
        const bool same = again == yh;
        print_check(tally, "layernorm_adaln", c.name, e, unwritten, clobbered, same && mod_intact,
                    !mod_intact ? " MODULATION_CHANGED" : same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = 2.0 * rows * D * 2 + 2.0 * B * D * sizeof(ModT);
        print_result("layernorm_adaln", c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, "layernorm_adaln", c.name, e, unwritten, clobbered, mod_intact,
                    mod_intact ? "" : " MODULATION_CHANGED");
    }
}

void api_checks(Tally &t) {
    DevBuf buf(8192 * 4);
    easel_layernorm_adaln_params p{};
    p.x = p.shift = p.scale = buf.p;
    p.y = buf.p;
    p.mod_dtype = EASEL_DTYPE_BF16;
    p.batch = 2;
    p.seq = 4;
    p.dim = 64;
    p.x_stride_batch = p.y_stride_batch = 256;
    p.x_stride_seq = p.y_stride_seq = 64;
    p.shift_stride_batch = p.scale_stride_batch = 64;
    p.eps = 1e-6f;
    check_status(t, "layernorm_adaln null params", easel_layernorm_adaln_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_layernorm_adaln_params q = p;
    q.scale = nullptr;
    check_status(t, "layernorm_adaln null scale", easel_layernorm_adaln_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.mod_dtype = static_cast<easel_dtype>(7);
    check_status(t, "layernorm_adaln bad mod dtype", easel_layernorm_adaln_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.seq = 0;
    check_status(t, "layernorm_adaln seq 0", easel_layernorm_adaln_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_seq = 32;
    check_status(t, "layernorm_adaln overlapping output rows", easel_layernorm_adaln_bf16(&q),
                 EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.batch = 0;
    check_status(t, "layernorm_adaln zero batch is a no-op", easel_layernorm_adaln_bf16(&q), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("layernorm_adaln_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    const int64_t S = 4608, D = 3072;  // FLUX at 1024x1024, hidden size 3072
    const easel_dtype BF = EASEL_DTYPE_BF16, F32 = EASEL_DTYPE_F32;
    std::vector<LnCase> cases = {
        // FLUX shapes (timed)
        {"flux_b1_bf16mod", BF, 1, S, D, S * D, D, S * D, D, 6, 0, 0, 0, 0, false, true},
        {"flux_b1_f32mod", F32, 1, S, D, S * D, D, S * D, D, 6, 0, 0, 0, 0, false, true},
        {"flux_b2_bf16mod", BF, 2, S, D, S * D, D, S * D, D, 6, 0, 0, 0, 0, false, true},
        // launch shapes, strides, in place, fallback
        {"b3_d3072_dense_mod", BF, 3, 17, D, 17 * D, D, 17 * D, D, 1},
        {"b3_d3072_dense_mod_f32", F32, 3, 17, D, 17 * D, D, 17 * D, D, 1},
        {"b2_d128_tpr16_partial", BF, 2, 37, 128, 37 * 128, 128, 40 * 128, 128},
        {"b2_d64_f32", F32, 2, 19, 64, 19 * 64, 64, 19 * 64, 64},
        {"b2_d1024_tpr32x4", BF, 2, 9, 1024, 9 * 1024, 1024, 9 * 1024, 1024},
        {"b2_d8192_tpr128x8", F32, 2, 5, 8192, 5 * 8192, 8192, 5 * 8192, 8192},
        {"b2_strided_rows", BF, 2, 9, D, 10 * (D + 64), D + 64, 9 * D, D},
        {"in_place_b2", BF, 2, 11, D, 11 * D, D, 11 * D, D, 6, 0, 0, 0, 0, true},
        {"fallback_d100_bf16", BF, 2, 13, 100, 13 * 100, 100, 13 * 100, 100},
        {"fallback_d100_f32", F32, 2, 13, 100, 13 * 100, 100, 13 * 100, 100},
        {"fallback_misaligned_x", BF, 2, 7, D, 7 * D, D, 7 * D, D, 6, 0, 3, 0, 0},
        {"fallback_mod_stride_odd", F32, 2, 7, D, 7 * D, D, 7 * D, D, 6, 1},
        {"fallback_misaligned_mod_f32", F32, 2, 7, D, 7 * D, D, 7 * D, D, 6, 0, 0, 0, 2},
        {"fallback_d9000", BF, 2, 3, 9000, 3 * 9000, 9000, 3 * 9000, 9000},
    };
    for (const LnCase &c : cases) {
        if (c.mod == BF) run_case<uint16_t>(c, o, rng, tally, l2, copy_gbps);
        else run_case<float>(c, o, rng, tally, l2, copy_gbps);
    }
    return finish("layernorm_adaln_check", tally);
}
