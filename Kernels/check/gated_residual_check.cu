// Check + bench of easel_gated_residual_bf16 (llm.c dev/cuda style), same protocol as rmsnorm_check.cu: fresh
// random bf16 inputs (x and y rows of different magnitudes, never zero), the gate taken as in FLUX from a
// [B, 6 * D] modulation tensor (chunk 2, gate_msa; batch stride 6 * D) in bf16 or f32, the output buffer
// NaN-poisoned (or, in place, x itself), every output element written and every gap untouched, x / y / modulation
// unchanged when not the output, error vs the float64 reference under the acceptance rule of reference.h, timing
// (median, L2 flushed) and a bit-exact re-check after the timing runs.
//   build/kernels/gated_residual_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "elementwise_check.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

enum OutMode { SEPARATE, INTO_X, INTO_Y };

struct GrCase {
    std::string name;
    easel_dtype gate;
    int64_t B, S, D;
    int64_t xsb, xss, ysb, yss, osb, oss;  // o*: only for SEPARATE
    OutMode mode = SEPARATE;
    bool bench = false;
    int64_t mod_chunks = 6, mod_pad = 0;  // gate batch stride = mod_chunks * D + mod_pad
    int64_t x_off = 0, y_off = 0, o_off = 0, mod_off = 0;
};

template <class GateT> void run_case(const GrCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2,
                                     double copy_gbps) {
    const int64_t B = c.B, S = c.S, D = c.D, rows = B * S;
    Strided xt{{B, S}, {c.xsb, c.xss}, D, c.x_off}, yt{{B, S}, {c.ysb, c.yss}, D, c.y_off};
    Strided ot = c.mode == INTO_X ? xt : c.mode == INTO_Y ? yt : Strided{{B, S}, {c.osb, c.oss}, D, c.o_off};
    RowScale sx(rng, rows, -1.0, 1.0), sy(rng, rows, -1.0, 1.0);
    std::vector<float> xd, yd;
    std::vector<uint16_t> xh = make_input(xt, rng, xd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sx.sd[r]); });
    std::vector<uint16_t> yh = make_input(yt, rng, yd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sy.sd[r]); });

    const int64_t gstride = c.mod_chunks * D + c.mod_pad, gate_at = c.mod_off + (c.mod_chunks > 2 ? 2 * D : 0);
    std::vector<GateT> modh(c.mod_off + B * gstride + D);
    std::vector<float> gd(B * D);
    auto gate_value = [&]() -> GateT {
        if constexpr (sizeof(GateT) == 2) return nonzero_bf16(rng, 0, 0.5);
        else {
            float f = 0;
            while (f == 0) f = static_cast<float>(0.5 * rng.normal());
            return f;
        }
    };
    auto gate_float = [](GateT v) -> float {
        if constexpr (sizeof(GateT) == 2) return easel_ref::bf16_to_f32(v);
        else return v;
    };
    for (auto &v : modh) v = gate_value();
    for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < D; ++k) gd[b * D + k] = gate_float(modh[gate_at + b * gstride + k]);
    std::vector<double> ref(rows * D);
    easel_ref::gated_residual_f64(xd.data(), yd.data(), gd.data(), ref.data(), B, S, D);

    DevBuf dx(xh.size() * 2), dy(yh.size() * 2), dmod(modh.size() * sizeof(GateT)),
        do_own(c.mode == SEPARATE ? ot.elems() * 2 : 0);
    const DevBuf &dout = c.mode == INTO_X ? dx : c.mode == INTO_Y ? dy : do_own;
    upload(dx, xh);
    upload(dy, yh);
    upload(dmod, modh);
    if (c.mode == SEPARATE) poison(dout);
    std::vector<uint16_t> o_before;
    download(o_before, dout);

    easel_gated_residual_params p{};
    p.x = dx.as<uint16_t>(c.x_off);
    p.y = dy.as<uint16_t>(c.y_off);
    p.gate = dmod.as<GateT>(gate_at);
    p.out = dout.as<uint16_t>(ot.off);
    p.gate_dtype = c.gate;
    p.batch = B;
    p.seq = S;
    p.dim = D;
    p.x_stride_batch = c.xsb;
    p.x_stride_seq = c.xss;
    p.y_stride_batch = c.ysb;
    p.y_stride_seq = c.yss;
    p.out_stride_batch = ot.stride[0];
    p.out_stride_seq = ot.stride[1];
    p.gate_stride_batch = gstride;
    p.stream = nullptr;
    EASEL_CHECK(easel_gated_residual_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> oh, out, x_after, y_after;
    download(oh, dout);
    int64_t unwritten, clobbered;
    scan_output(ot, o_before, oh, out, unwritten, clobbered);
    download(x_after, dx);
    download(y_after, dy);
    std::vector<GateT> mod_after;
    download(mod_after, dmod);
    const bool inputs_intact = std::memcmp(mod_after.data(), modh.data(), modh.size() * sizeof(GateT)) == 0 &&
                               (c.mode == INTO_X || x_after == xh) && (c.mode == INTO_Y || y_after == yh);
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), rows * D);

    char shape[256];
    std::snprintf(shape, sizeof shape, "batch=%lld seq=%lld dim=%lld gate=%s", static_cast<long long>(B),
                  static_cast<long long>(S), static_cast<long long>(D), sizeof(GateT) == 2 ? "bf16" : "f32");
    if (c.bench && o.bench && c.mode == SEPARATE) {
        const Timing t = time_kernel([&] { EASEL_CHECK(easel_gated_residual_bf16(&p)); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dout);
        const bool same = again == oh;
        print_check(tally, "gated_residual", c.name, e, unwritten, clobbered, same && inputs_intact,
                    !inputs_intact ? " INPUT_CHANGED" : same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = 3.0 * rows * D * 2 + 1.0 * B * D * sizeof(GateT);  // read x, y; write out; gate once
        print_result("gated_residual", c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, "gated_residual", c.name, e, unwritten, clobbered, inputs_intact,
                    inputs_intact ? "" : " INPUT_CHANGED");
    }
}

void api_checks(Tally &t) {
    DevBuf buf(1 << 16);
    easel_gated_residual_params p{};
    p.x = buf.p;
    p.y = buf.as<uint16_t>(4096);
    p.gate = buf.as<uint16_t>(8192);
    p.out = buf.as<uint16_t>(12288);
    p.gate_dtype = EASEL_DTYPE_BF16;
    p.batch = 2;
    p.seq = 4;
    p.dim = 64;
    p.x_stride_batch = p.y_stride_batch = p.out_stride_batch = 256;
    p.x_stride_seq = p.y_stride_seq = p.out_stride_seq = 64;
    p.gate_stride_batch = 6 * 64;
    check_status(t, "gated_residual null params", easel_gated_residual_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_gated_residual_params q = p;
    q.gate = nullptr;
    check_status(t, "gated_residual null gate", easel_gated_residual_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.gate_dtype = static_cast<easel_dtype>(5);
    check_status(t, "gated_residual bad gate dtype", easel_gated_residual_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.dim = 0;
    check_status(t, "gated_residual dim 0", easel_gated_residual_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.out_stride_seq = 32;
    check_status(t, "gated_residual overlapping output rows", easel_gated_residual_bf16(&q),
                 EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.gate_stride_batch = -1;
    check_status(t, "gated_residual negative gate stride", easel_gated_residual_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.batch = 0;
    check_status(t, "gated_residual zero batch is a no-op", easel_gated_residual_bf16(&q), EASEL_OK);
    q = p;
    q.gate_stride_batch = 0;  // one gate row for every batch: allowed
    check_status(t, "gated_residual broadcast gate", easel_gated_residual_bf16(&q), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("gated_residual_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    const int64_t T = 4608, TT = 4608 + 512, D = 3072;  // FLUX tokens (image; + text), hidden 3072
    const easel_dtype BF = EASEL_DTYPE_BF16, F32 = EASEL_DTYPE_F32;
    std::vector<GrCase> cases = {
        // FLUX shapes (timed)
        {"flux_4608_bf16gate", BF, 1, T, D, T * D, D, T * D, D, T * D, D, SEPARATE, true},
        {"flux_5120_bf16gate", BF, 1, TT, D, TT * D, D, TT * D, D, TT * D, D, SEPARATE, true},
        {"flux_5120_f32gate", F32, 1, TT, D, TT * D, D, TT * D, D, TT * D, D, SEPARATE, true},
        // in place, layouts, partial blocks, gate layouts, the scalar fallback
        {"in_place_x_b2", BF, 2, 37, D, 37 * D, D, 37 * D, D, 0, 0, INTO_X},
        {"in_place_x_f32", F32, 2, 29, D, 29 * D, D, 29 * D, D, 0, 0, INTO_X},
        {"into_y_b2", BF, 2, 23, 1024, 23 * 1024, 1024, 23 * 1024, 1024, 0, 0, INTO_Y},
        {"strided_rows", BF, 2, 19, D, 20 * (D + 64), D + 64, 19 * D, D, 19 * (D + 8), D + 8},
        {"dim8_partial", F32, 3, 101, 8, 101 * 8, 8, 101 * 8, 8, 101 * 8, 8},
        {"dense_gate_b3", BF, 3, 17, 512, 17 * 512, 512, 17 * 512, 512, 17 * 512, 512, SEPARATE, false, 1},
        {"f32_gate_stride_pad4", F32, 2, 13, 256, 13 * 256, 256, 13 * 256, 256, 13 * 256, 256, SEPARATE, false, 6, 4},
        {"fallback_dim100", BF, 2, 13, 100, 13 * 100, 100, 13 * 100, 100, 13 * 100, 100},
        {"fallback_misaligned_x_in_place", BF, 2, 11, D, 11 * D, D, 11 * D, D, 0, 0, INTO_X, false, 6, 0, 3},
        {"fallback_misaligned_y", F32, 2, 11, D, 11 * D, D, 11 * D, D, 11 * D, D, SEPARATE, false, 6, 0, 0, 1},
        {"fallback_misaligned_out", BF, 2, 11, D, 11 * D, D, 11 * D, D, 11 * D, D, SEPARATE, false, 6, 0, 0, 0, 5},
        {"fallback_gate_stride_odd_bf16", BF, 2, 11, D, 11 * D, D, 11 * D, D, 11 * D, D, SEPARATE, false, 6, 4},
        {"fallback_misaligned_gate_f32", F32, 2, 11, D, 11 * D, D, 11 * D, D, 11 * D, D, SEPARATE, false, 6, 0, 0, 0,
         0, 1},
        {"fallback_odd_seq_stride", BF, 2, 7, 3000, 7 * 3001, 3001, 7 * 3000, 3000, 7 * 3000, 3000},
    };
    for (const GrCase &c : cases) {
        if (c.gate == BF) run_case<uint16_t>(c, o, rng, tally, l2, copy_gbps);
        else run_case<float>(c, o, rng, tally, l2, copy_gbps);
    }
    return finish("gated_residual_check", tally);
}
