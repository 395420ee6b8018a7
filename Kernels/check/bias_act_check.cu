// Check + bench of easel_bias_gelu_tanh_bf16 and easel_bias_silu_bf16 (llm.c dev/cuda style), same protocol as
// rmsnorm_check.cu: fresh random bf16 inputs (rows of different magnitudes up to ~5, so GELU's negative tail and
// SiLU's saturation are exercised; bias N(0, 0.5^2); never zero), the output buffer NaN-poisoned, every output
// element written and every gap untouched, error vs the float64 reference under the acceptance rule of
// reference.h, timing (median, L2 flushed) and a bit-exact re-check after the timing runs.
//   build/kernels/bias_act_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "elementwise_check.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

enum ActKind { GELU, SILU };

struct ActCase {
    std::string name;
    ActKind act;
    int64_t rows, dim, xs, ys;
    bool bias = true;
    int64_t x_off = 0, y_off = 0, bias_off = 0;
    bool in_place = false;
    bool bench = false;
};

const char *op_name(ActKind a) { return a == GELU ? "bias_gelu_tanh" : "bias_silu"; }
easel_status call(ActKind a, const easel_bias_act_params *p) {
    return a == GELU ? easel_bias_gelu_tanh_bf16(p) : easel_bias_silu_bf16(p);
}

void run_case(const ActCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2, double copy_gbps) {
    const char *op = op_name(c.act);
    Strided xt{{c.rows}, {c.xs}, c.dim, c.x_off};
    Strided yt = c.in_place ? xt : Strided{{c.rows}, {c.ys}, c.dim, c.y_off};
    RowScale sc(rng, c.rows, -1.0, 0.7);
    std::vector<float> xd;
    std::vector<uint16_t> xh = make_input(xt, rng, xd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sc.sd[r]); });
    std::vector<uint16_t> bh(c.bias_off + c.dim);
    for (auto &v : bh) v = nonzero_bf16(rng, 0, 0.5);
    std::vector<float> bd(c.dim);
    for (int64_t k = 0; k < c.dim; ++k) bd[k] = easel_ref::bf16_to_f32(bh[c.bias_off + k]);

    std::vector<double> ref(c.rows * c.dim);
    if (c.act == GELU) easel_ref::bias_act_f64(xd.data(), c.bias ? bd.data() : nullptr, ref.data(), c.rows, c.dim, easel_ref::gelu_tanh_f64);
    else easel_ref::bias_act_f64(xd.data(), c.bias ? bd.data() : nullptr, ref.data(), c.rows, c.dim, easel_ref::silu_f64);

    DevBuf dx(xh.size() * 2), db(bh.size() * 2), dy_own(c.in_place ? 0 : yt.elems() * 2);
    const DevBuf &dy = c.in_place ? dx : dy_own;
    upload(dx, xh);
    upload(db, bh);
    if (!c.in_place) poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_bias_act_params p{};
    p.x = dx.as<uint16_t>(c.x_off);
    p.bias = c.bias ? db.as<uint16_t>(c.bias_off) : nullptr;
    p.y = dy.as<uint16_t>(yt.off);
    p.rows = c.rows;
    p.dim = c.dim;
    p.x_stride_row = c.xs;
    p.y_stride_row = c.in_place ? c.xs : c.ys;
    p.stream = nullptr;
    EASEL_CHECK(call(c.act, &p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh, out;
    download(yh, dy);
    int64_t unwritten, clobbered;
    scan_output(yt, y_before, yh, out, unwritten, clobbered);
    std::vector<uint16_t> b_after;
    download(b_after, db);
    const bool bias_intact = b_after == bh;
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), c.rows * c.dim);

    char shape[256];
    std::snprintf(shape, sizeof shape, "rows=%lld dim=%lld bias=%d", static_cast<long long>(c.rows),
                  static_cast<long long>(c.dim), c.bias ? 1 : 0);
    if (c.bench && o.bench && !c.in_place) {
        const Timing t = time_kernel([&] { EASEL_CHECK(call(c.act, &p)); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dy);
        const bool same = again == yh;
        print_check(tally, op, c.name, e, unwritten, clobbered, same && bias_intact,
                    !bias_intact ? " BIAS_CHANGED" : same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = 2.0 * c.rows * c.dim * 2 + (c.bias ? 2.0 * c.dim : 0.0);
        print_result(op, c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, op, c.name, e, unwritten, clobbered, bias_intact, bias_intact ? "" : " BIAS_CHANGED");
    }
}

void api_checks(Tally &t) {
    DevBuf buf(4096 * 2);
    easel_bias_act_params p{};
    p.x = p.bias = buf.p;
    p.y = buf.as<uint16_t>(2048);  // rows of 64 at stride 64: outputs in the second half, apart from x
    p.rows = 4;
    p.dim = 64;
    p.x_stride_row = p.y_stride_row = 64;
    for (ActKind a : {GELU, SILU}) {
        std::string n = op_name(a);
        check_status(t, (n + " null params").c_str(), call(a, nullptr), EASEL_ERR_INVALID_ARGUMENT);
        easel_bias_act_params q = p;
        q.x = nullptr;
        check_status(t, (n + " null x").c_str(), call(a, &q), EASEL_ERR_INVALID_ARGUMENT);
        q = p;
        q.dim = 0;
        check_status(t, (n + " dim 0").c_str(), call(a, &q), EASEL_ERR_INVALID_ARGUMENT);
        q = p;
        q.x_stride_row = -64;
        check_status(t, (n + " negative stride").c_str(), call(a, &q), EASEL_ERR_INVALID_ARGUMENT);
        q = p;
        q.y_stride_row = 32;
        check_status(t, (n + " overlapping output rows").c_str(), call(a, &q), EASEL_ERR_INVALID_ARGUMENT);
        q = p;
        q.rows = 0;
        check_status(t, (n + " zero rows is a no-op").c_str(), call(a, &q), EASEL_OK);
        q = p;
        q.bias = nullptr;
        q.x_stride_row = 0;  // every row reads the same x row (broadcast input): allowed
        check_status(t, (n + " no bias, broadcast x row").c_str(), call(a, &q), EASEL_OK);
    }
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("bias_act_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    const int64_t T = 4608, D = 3072, M = 12288;  // FLUX: tokens, hidden, MLP hidden (4 x 3072)
    std::vector<ActCase> cases = {
        // FLUX shapes (timed)
        {"flux_mlp_gelu", GELU, T, M, M, M, true, 0, 0, 0, false, true},
        {"flux_temb_silu", SILU, 1, D, D, D, false, 0, 0, 0, false, true},
        {"large_silu", SILU, T, M, M, M, false, 0, 0, 0, false, true},
        // partial blocks, strides, no bias, in place, the scalar fallback
        {"gelu_partial_block", GELU, 77, 1000, 1000, 1000},
        {"gelu_dim8", GELU, 301, 8, 8, 8},
        {"gelu_no_bias", GELU, 53, D, D, D, false},
        {"gelu_strided", GELU, 29, D, D + 64, D + 8},
        {"gelu_in_place", GELU, 31, D, D + 16, D + 16, true, 0, 0, 0, true},
        {"silu_bias_strided", SILU, 37, 1024, 1536, 1032},
        {"silu_b2_temb", SILU, 2, D, D, D, false},
        {"silu_in_place", SILU, 19, 2048, 2048, 2048, true, 0, 0, 0, true},
        {"fallback_gelu_dim100", GELU, 53, 100, 100, 100},
        {"fallback_gelu_misaligned_x", GELU, 29, D, D, D, true, 1, 0, 0},
        {"fallback_gelu_misaligned_y", GELU, 29, D, D, D, true, 0, 3, 0},
        {"fallback_gelu_misaligned_bias", GELU, 29, D, D, D, true, 0, 0, 5},
        {"fallback_gelu_odd_stride", GELU, 29, D, D + 3, D},
        {"fallback_silu_dim3001", SILU, 17, 3001, 3001, 3001},
        {"fallback_silu_in_place_odd", SILU, 17, 3000, 3001, 3001, true, 1, 0, 0, true},
    };
    for (const ActCase &c : cases) run_case(c, o, rng, tally, l2, copy_gbps);
    return finish("bias_act_check", tally);
}
