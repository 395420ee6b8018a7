// Check + bench of easel_rmsnorm_bf16 (llm.c dev/cuda style). Every case: fresh random bf16 inputs (rows of
// different magnitudes, no zeros), the whole output buffer NaN-poisoned before the run, then every output element
// must be written and finite, every element outside the output rows untouched, and the error vs the float64
// reference must meet the acceptance rule of reference.h. Bench cases are then timed (median of --reps runs, L2
// flushed before each) and re-checked bit for bit after the timing runs.
//   build/kernels/rmsnorm_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "common.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

struct RmsCase {
    std::string name;
    int64_t n_outer, n_inner, dim;
    int64_t xso, xsi, yso, ysi;
    int64_t x_off = 0, y_off = 0;  // element offsets into the buffers (misalignment)
    bool in_place = false;
    bool bench = false;
};

void run_case(const RmsCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2, double copy_gbps) {
    const int64_t rows = c.n_outer * c.n_inner, dim = c.dim;
    auto span = [&](int64_t so, int64_t si) { return (c.n_outer - 1) * so + (c.n_inner - 1) * si + dim; };
    const int64_t x_elems = c.x_off + span(c.xso, c.xsi);
    const int64_t y_elems = c.in_place ? x_elems : c.y_off + span(c.yso, c.ysi);
    const int64_t y_off = c.in_place ? c.x_off : c.y_off;
    const int64_t yso = c.in_place ? c.xso : c.yso, ysi = c.in_place ? c.xsi : c.ysi;

    // inputs: rows N(0, s^2) with s = 10^U(-1, 1); gaps between rows random non-zero too
    std::vector<uint16_t> xh(x_elems), wh(dim);
    for (auto &v : xh) v = gap_bf16(rng);
    std::vector<float> xd(rows * dim), wd(dim);
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = c.x_off + (r / c.n_inner) * c.xso + (r % c.n_inner) * c.xsi;
        const double s = std::pow(10.0, 2 * rng.uniform() - 1);
        for (int64_t k = 0; k < dim; ++k) {
            xh[base + k] = nonzero_bf16(rng, 0, s);
            xd[r * dim + k] = easel_ref::bf16_to_f32(xh[base + k]);
        }
    }
    for (int64_t k = 0; k < dim; ++k) {
        wh[k] = nonzero_bf16(rng, 1, 0.3);
        wd[k] = easel_ref::bf16_to_f32(wh[k]);
    }
    const float eps = 1e-6f;
    std::vector<double> ref(rows * dim);
    easel_ref::rmsnorm_f64(xd.data(), wd.data(), ref.data(), rows, dim, eps);

    DevBuf dx(x_elems * 2), dw(dim * 2), dy_own(c.in_place ? 0 : y_elems * 2);
    const DevBuf &dy = c.in_place ? dx : dy_own;
    upload(dx, xh);
    upload(dw, wh);
    if (!c.in_place) poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_rmsnorm_params p{};
    p.x = dx.as<uint16_t>(c.x_off);
    p.weight = dw.p;
    p.y = dy.as<uint16_t>(y_off);
    p.n_outer = c.n_outer;
    p.n_inner = c.n_inner;
    p.dim = dim;
    p.x_stride_outer = c.xso;
    p.x_stride_inner = c.xsi;
    p.y_stride_outer = yso;
    p.y_stride_inner = ysi;
    p.eps = eps;
    p.stream = nullptr;
    EASEL_CHECK(easel_rmsnorm_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh;
    download(yh, dy);
    std::vector<uint8_t> is_out(y_elems, 0);
    std::vector<uint16_t> out(rows * dim);
    int64_t unwritten = 0, clobbered = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = y_off + (r / c.n_inner) * yso + (r % c.n_inner) * ysi;
        for (int64_t k = 0; k < dim; ++k) {
            is_out[base + k] = 1;
            out[r * dim + k] = yh[base + k];
            if (easel_ref::bf16_is_nan(yh[base + k])) ++unwritten;
        }
    }
    for (int64_t i = 0; i < y_elems; ++i)
        if (!is_out[i] && yh[i] != y_before[i]) ++clobbered;
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), rows * dim);

    char shape[256];
    std::snprintf(shape, sizeof shape, "n_outer=%lld n_inner=%lld dim=%lld xso=%lld xsi=%lld",
                  static_cast<long long>(c.n_outer), static_cast<long long>(c.n_inner), static_cast<long long>(dim),
                  static_cast<long long>(c.xso), static_cast<long long>(c.xsi));
    if (c.bench && o.bench && !c.in_place) {
        const Timing t = time_kernel([&] { EASEL_CHECK(easel_rmsnorm_bf16(&p)); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dy);
        const bool same = again == yh;
        print_check(tally, "rmsnorm", c.name, e, unwritten, clobbered, same,
                    same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = 2.0 * rows * dim * 2 + dim * 2.0;
        print_result("rmsnorm", c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, "rmsnorm", c.name, e, unwritten, clobbered);
    }
}

void api_checks(Tally &t) {
    DevBuf buf(4096 * 2);
    easel_rmsnorm_params p{};
    p.x = buf.p;
    p.weight = buf.p;
    p.y = buf.p;
    p.n_outer = 4;
    p.n_inner = 1;
    p.dim = 64;
    p.x_stride_outer = p.y_stride_outer = 64;
    p.eps = 1e-6f;
    check_status(t, "rmsnorm null params", easel_rmsnorm_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_rmsnorm_params q = p;
    q.weight = nullptr;
    check_status(t, "rmsnorm null weight", easel_rmsnorm_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.n_inner = 0;
    check_status(t, "rmsnorm n_inner 0", easel_rmsnorm_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_outer = 32;
    check_status(t, "rmsnorm overlapping output rows", easel_rmsnorm_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.eps = -1.0f;
    check_status(t, "rmsnorm negative eps", easel_rmsnorm_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.n_outer = 0;
    check_status(t, "rmsnorm zero rows is a no-op", easel_rmsnorm_bf16(&q), EASEL_OK);
    q = p;  // heads-major output: rows (o, i) at i * 256 + o * 64 (4 x 4 rows of 64 in 1024 elements)
    q.n_inner = 4;
    q.y_stride_outer = 64;
    q.y_stride_inner = 256;
    q.x_stride_inner = 256;
    check_status(t, "rmsnorm transposed output layout", easel_rmsnorm_bf16(&q), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("rmsnorm_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    const int64_t T = 4608, H = 24;  // FLUX at 1024x1024: 4096 image + 512 text tokens; 24 heads of 128
    std::vector<RmsCase> cases = {
        // FLUX shapes (timed)
        {"long_3072", T, 1, 3072, 3072, 0, 3072, 0, 0, 0, false, true},
        {"long_3072_b2", 2 * T, 1, 3072, 3072, 0, 3072, 0, 0, 0, false, true},
        {"qk_128_dense", T * H, 1, 128, 128, 0, 128, 0, 0, 0, false, true},
        {"qk_128_from_qkv", T, H, 128, 3 * 3072, 128, 3072, 128, 0, 0, false, true},
        // every vectorized launch shape, partial blocks, strides, in place, and the scalar fallback
        {"dim8_tpr1", 301, 1, 8, 8, 0, 8, 0},
        {"dim64_tpr8", 301, 1, 64, 64, 0, 72, 0},
        {"dim128_partial_block", 37, 1, 128, 128, 0, 128, 0},
        {"dim256_tpr32", 77, 1, 256, 256, 0, 256, 0},
        {"dim384_tpr32x2", 77, 1, 384, 400, 0, 384, 0},
        {"dim1024_tpr32x4", 77, 1, 1024, 1024, 0, 1024, 0},
        {"dim1032_tpr128x2", 33, 1, 1032, 1032, 0, 1040, 0},
        {"dim3072_rows1", 1, 1, 3072, 3072, 0, 3072, 0},
        {"dim6144_tpr128x6", 19, 1, 6144, 6144, 0, 6144, 0},
        {"dim8192_tpr128x8", 19, 1, 8192, 8192, 0, 8192, 0},
        {"qkv_heads_major_out", 50, 6, 128, 3 * 768, 128, 128, 50 * 128},
        {"in_place_3072", 41, 1, 3072, 3072, 0, 3072, 0, 0, 0, true},
        {"in_place_qkv", 50, 6, 128, 3 * 768, 128, 3 * 768, 128, 0, 0, true},
        {"fallback_dim100", 53, 1, 100, 100, 0, 100, 0},
        {"fallback_dim3000_odd_stride", 29, 1, 3000, 3001, 0, 3000, 0},
        {"fallback_misaligned_x", 29, 1, 3072, 3072, 0, 3072, 0, 1, 0},
        {"fallback_misaligned_y", 29, 1, 128, 128, 0, 128, 0, 0, 3},
        {"fallback_dim8200", 11, 1, 8200, 8200, 0, 8200, 0},
        {"fallback_dim20000", 5, 1, 20000, 20000, 0, 20000, 0},
    };
    for (const RmsCase &c : cases) run_case(c, o, rng, tally, l2, copy_gbps);
    return finish("rmsnorm_check", tally);
}
