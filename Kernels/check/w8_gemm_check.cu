// Check + bench of easel_gemm_w8a16_bf16 (int8 weight-only GEMM, M <= 16), llm.c dev/cuda style, same protocol as
// the other check programs: fresh random inputs (x bf16 rows of magnitudes 10^U(-1, 1), never zero; int8 weights
// uniform over -127..127 without 0; scales 10^U(-3, -2); bias N(0, 0.1^2) bf16, never zero), the output buffer
// NaN-poisoned, every output element written and every gap between strided output rows untouched, inputs unchanged,
// error vs the float64 reference of the quantized weights (exact int8 * scale) under the acceptance rule of
// reference.h, timing (median, L2 flushed) and a bit-exact re-check after the timing runs.
//   build/kernels/w8_gemm_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "elementwise_check.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

struct GemmCase {
    std::string name;
    int64_t m, n, k;
    bool bias = false;
    int64_t xs = 0, ws = 0, ys = 0;  // 0: dense
    int64_t y_off = 0;               // elements (bf16); x / w offsets would make them unaligned (UNSUPPORTED)
    bool bench = false;
};

int8_t nonzero_int8(Rng &rng) {  // uniform over -127..-1, 1..127
    int v = static_cast<int>(rng.next() % 254) - 127;
    return static_cast<int8_t>(v >= 0 ? v + 1 : v);
}

void run_case(GemmCase c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2, double copy_gbps) {
    const char *op = "gemm_w8a16";
    if (c.xs == 0) c.xs = c.k;
    if (c.ws == 0) c.ws = c.k;
    if (c.ys == 0) c.ys = c.n;
    // x: strided bf16 rows, random gaps
    Strided xt{{c.m}, {c.xs}, c.k, 0};
    RowScale sc(rng, c.m, -1.0, 1.0);
    std::vector<float> xd;
    std::vector<uint16_t> xh = make_input(xt, rng, xd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sc.sd[r]); });
    // w: int8 rows at stride ws (the gaps random too), dense copy for the reference
    std::vector<int8_t> wh(static_cast<size_t>((c.n - 1) * c.ws + c.k)), wd(static_cast<size_t>(c.n * c.k));
    for (auto &v : wh) v = nonzero_int8(rng);
    for (int64_t r = 0; r < c.n; ++r)
        std::memcpy(&wd[r * c.k], &wh[r * c.ws], static_cast<size_t>(c.k));
    std::vector<float> sh(c.n), bd(c.n);
    for (auto &v : sh) v = static_cast<float>(std::pow(10.0, -3.0 + rng.uniform()));
    std::vector<uint16_t> bh(c.n);
    for (int64_t i = 0; i < c.n; ++i) {
        bh[i] = nonzero_bf16(rng, 0, 0.1);
        bd[i] = easel_ref::bf16_to_f32(bh[i]);
    }
    // timed (large) cases: the reference on every 7th output column and the last (all residues of the 4-column
    // blocks), the rest of the output still checked for being written
    std::vector<uint8_t> cols(c.n, 1);
    if (c.bench)
        for (int64_t i = 0; i < c.n; ++i) cols[i] = (i % 7 == 0 || i == c.n - 1) ? 1 : 0;
    std::vector<double> ref(c.m * c.n, 0.0);
    easel_ref::gemm_w8_f64(xd.data(), wd.data(), sh.data(), c.bias ? bd.data() : nullptr, ref.data(), c.m, c.n, c.k,
                           cols.data());

    Strided yt{{c.m}, {c.ys}, c.n, c.y_off};
    DevBuf dx(xh.size() * 2), dw(wh.size()), ds(sh.size() * 4), db(bh.size() * 2), dy(yt.elems() * 2);
    upload(dx, xh);
    upload(dw, wh);
    upload(ds, sh);
    upload(db, bh);
    poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_gemm_w8_params p{};
    p.x = dx.p;
    p.w = dw.as<const int8_t>();
    p.scale = ds.as<const float>();
    p.bias = c.bias ? db.p : nullptr;
    p.y = dy.as<uint16_t>(c.y_off);
    p.m = c.m;
    p.n = c.n;
    p.k = c.k;
    p.x_stride_row = c.xs;
    p.w_stride_row = c.ws;
    p.y_stride_row = c.ys;
    p.stream = nullptr;
    EASEL_CHECK(easel_gemm_w8a16_bf16(&p));
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh, out;
    download(yh, dy);
    int64_t unwritten, clobbered;
    scan_output(yt, y_before, yh, out, unwritten, clobbered);
    // inputs unchanged (w only for the untimed cases: the timed ones are up to 38 MB)
    std::vector<uint16_t> x_after, b_after;
    std::vector<float> s_after;
    download(x_after, dx);
    download(s_after, ds);
    download(b_after, db);
    bool intact = x_after == xh && s_after == sh && b_after == bh;
    if (!c.bench) {
        std::vector<int8_t> w_after;
        download(w_after, dw);
        intact = intact && w_after == wh;
    }
    // compare the referenced columns only
    std::vector<uint16_t> out_sel;
    std::vector<double> ref_sel;
    for (int64_t m = 0; m < c.m; ++m)
        for (int64_t i = 0; i < c.n; ++i)
            if (cols[i]) {
                out_sel.push_back(out[m * c.n + i]);
                ref_sel.push_back(ref[m * c.n + i]);
            }
    const easel_ref::ErrorStats e =
        easel_ref::compare_bf16(out_sel.data(), ref_sel.data(), static_cast<int64_t>(out_sel.size()));

    char shape[256];
    std::snprintf(shape, sizeof shape, "M=%lld N=%lld K=%lld bias=%d", static_cast<long long>(c.m),
                  static_cast<long long>(c.n), static_cast<long long>(c.k), c.bias ? 1 : 0);
    if (c.bench && o.bench) {
        const Timing t = time_kernel([&] { EASEL_CHECK(easel_gemm_w8a16_bf16(&p)); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dy);
        const bool same = again == yh;
        print_check(tally, op, c.name, e, unwritten, clobbered, same && intact,
                    !intact ? " INPUT_CHANGED" : same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = static_cast<double>(c.n) * c.k + 2.0 * c.m * c.k + 2.0 * c.m * c.n + 4.0 * c.n +
                             (c.bias ? 2.0 * c.n : 0.0);
        print_result(op, c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, op, c.name, e, unwritten, clobbered, intact, intact ? "" : " INPUT_CHANGED");
    }
}

void api_checks(Tally &t) {
    DevBuf buf(1 << 16);
    char *base = buf.as<char>();
    easel_gemm_w8_params p{};
    p.x = base;
    p.w = reinterpret_cast<const int8_t *>(base + 4096);
    p.scale = reinterpret_cast<const float *>(base + 8192);
    p.y = base + 16384;
    p.m = 2;
    p.n = 8;
    p.k = 64;
    p.x_stride_row = p.w_stride_row = 64;
    p.y_stride_row = 8;
    const char *n = "gemm_w8a16";
    auto chk = [&](const char *what, const easel_gemm_w8_params &q, easel_status want) {
        check_status(t, (std::string(n) + " " + what).c_str(), easel_gemm_w8a16_bf16(&q), want);
    };
    check_status(t, "gemm_w8a16 null params", easel_gemm_w8a16_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_gemm_w8_params q = p;
    q.w = nullptr;
    chk("null w", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.scale = nullptr;
    chk("null scale", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.m = 0;
    chk("m 0", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.k = -16;
    chk("negative k", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_row = 7;
    chk("overlapping output rows", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.x_stride_row = 48;
    chk("x stride shorter than k", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.w_stride_row = 32;
    chk("w stride shorter than k", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.scale = reinterpret_cast<const float *>(base + 8194);
    chk("misaligned scale", q, EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.m = 17;
    chk("m 17", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.k = 40;
    chk("k not a multiple of 16", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.x = base + 8;
    chk("x not 16-byte aligned", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.w = reinterpret_cast<const int8_t *>(base + 4100);
    chk("w not 16-byte aligned", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.x_stride_row = 68;
    chk("x stride not a multiple of 8", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.w_stride_row = 72;
    chk("w stride not a multiple of 16", q, EASEL_ERR_UNSUPPORTED);
    q = p;
    q.m = 1;
    q.x_stride_row = 0;  // one row: its stride is never used
    q.y_stride_row = 0;
    chk("m 1, strides unused", q, EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("w8_gemm_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    std::vector<GemmCase> cases = {
        // every instantiation (M = 1, 2, 4, 8, 16) and the masked rows of the ones in between
        {"m1", 1, 1000, 3072, false},
        {"m2_bias", 2, 777, 1024, true},
        {"m3", 3, 515, 2048, false},
        {"m4_bias", 4, 300, 4096, true},
        {"m5", 5, 333, 1536, true},
        {"m7", 7, 129, 512, false},
        {"m8_bias", 8, 1001, 3072, true},
        {"m9", 9, 77, 768, false},
        {"m12_bias", 12, 250, 1024, true},
        {"m16", 16, 1003, 3072, false},
        {"m16_bias_k12288", 16, 97, 12288, true},
        // tiny and odd shapes: one 16-wide chunk, fewer chunks than a warp, partial warps, a partial last block
        {"m1_n1_k16", 1, 1, 16, true},
        {"m3_n3_k16", 3, 3, 16, false},
        {"m2_n5_k48", 2, 5, 48, true},
        {"m16_n7_k1040", 16, 7, 1040, true},
        {"m1_k4112", 1, 2049, 4112, false},
        // strided rows (padding between rows, odd y stride, y offset by one element)
        {"m4_strided", 4, 513, 1024, true, 1024 + 8, 1024 + 32, 513 + 5, 1},
        {"m16_strided", 16, 130, 2048, false, 2048 + 64, 2048 + 16, 131, 3},
        {"m1_strided_w", 1, 257, 3072, true, 0, 3072 + 48, 0, 1},
        // FLUX shapes, timed: AdaLN modulation (double block 18432, single block 9216) and the MLP projections
        {"flux_mod_double_m1", 1, 18432, 3072, true, 0, 0, 0, 0, true},
        {"flux_mod_double_m4", 4, 18432, 3072, true, 0, 0, 0, 0, true},
        {"flux_mod_double_m16", 16, 18432, 3072, true, 0, 0, 0, 0, true},
        {"flux_mod_single_m1", 1, 9216, 3072, true, 0, 0, 0, 0, true},
        {"flux_mod_single_m4", 4, 9216, 3072, true, 0, 0, 0, 0, true},
        {"flux_mod_single_m16", 16, 9216, 3072, true, 0, 0, 0, 0, true},
        {"flux_mlp_up_m1", 1, 12288, 3072, true, 0, 0, 0, 0, true},
        {"flux_mlp_up_m4", 4, 12288, 3072, true, 0, 0, 0, 0, true},
        {"flux_mlp_up_m16", 16, 12288, 3072, true, 0, 0, 0, 0, true},
        {"flux_mlp_down_m1", 1, 3072, 12288, true, 0, 0, 0, 0, true},
        {"flux_mlp_down_m4", 4, 3072, 12288, true, 0, 0, 0, 0, true},
        {"flux_mlp_down_m16", 16, 3072, 12288, true, 0, 0, 0, 0, true},
    };
    for (const GemmCase &c : cases) run_case(c, o, rng, tally, l2, copy_gbps);
    return finish("w8_gemm_check", tally);
}
