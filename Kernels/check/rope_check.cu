// Check + bench of easel_rope_bf16 and easel_rope_qk_bf16 (llm.c dev/cuda style), same protocol as
// rmsnorm_check.cu: fresh random bf16 inputs (rows of different magnitudes, never zero), f32 cos/sin tables of
// random angles (FLUX layout: each value repeated for the pair, as diffusers' repeat_interleave(2); one case with
// independent values per element, so both table entries of a pair must be used), the output buffer NaN-poisoned,
// every output element written and every gap untouched, error vs the float64 reference under the acceptance rule
// of reference.h, timing (median, L2 flushed) and a bit-exact re-check after the timing runs.
// A case with groups = 2 rotates q and k in one easel_rope_qk_bf16 launch; k's rows start heads * x_stride_head
// after q's (as in a fused qkv), so together they are one [B, S, 2H, D] tensor for the reference.
//   build/kernels/rope_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "elementwise_check.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

struct RopeCase {
    std::string name;
    int groups;  // 1: easel_rope_bf16 on one tensor; 2: easel_rope_qk_bf16 on q and k
    int64_t B, S, H, D;
    int64_t xsb, xss, xsh;
    int64_t ysb, yss, ysh;  // ignored in place
    bool in_place = false;
    bool bench = false;
    bool repeated = true;   // FLUX tables: cos[s, 2i] == cos[s, 2i + 1]
    int64_t table_pad = 0;  // cos / sin row stride D + table_pad
    int64_t x_off = 0, y_off = 0, table_off = 0;
};

void run_case(const RopeCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2, double copy_gbps) {
    const int64_t G = c.groups, B = c.B, S = c.S, H = c.H, D = c.D;
    Strided xt{{B, S, G * H}, {c.xsb, c.xss, c.xsh}, D, c.x_off};
    Strided yt = c.in_place ? xt : Strided{{B, S, G * H}, {c.ysb, c.yss, c.ysh}, D, c.y_off};
    RowScale sc(rng, xt.rows(), -1.0, 1.0);
    std::vector<float> xd;
    std::vector<uint16_t> xh = make_input(xt, rng, xd, [&](int64_t r, int64_t) { return nonzero_bf16(rng, 0, sc.sd[r]); });

    const int64_t ts = D + c.table_pad, t_elems = c.table_off + S * ts;
    std::vector<float> cosh(t_elems), sinh(t_elems), cosd(S * D), sind(S * D);
    for (auto &v : cosh) v = static_cast<float>(rng.uniform() + 0.5);  // gaps: never read, but defined
    for (auto &v : sinh) v = static_cast<float>(rng.uniform() + 0.5);
    for (int64_t s = 0; s < S; ++s)
        for (int64_t k = 0; k < D; k += 2) {
            for (int64_t j = 0; j < 2; ++j) {
                if (j == 1 && c.repeated) {
                    cosd[s * D + k + 1] = cosd[s * D + k];
                    sind[s * D + k + 1] = sind[s * D + k];
                } else {
                    const double a = 6.283185307179586 * rng.uniform();
                    cosd[s * D + k + j] = static_cast<float>(std::cos(a));
                    sind[s * D + k + j] = static_cast<float>(std::sin(a));
                }
                cosh[c.table_off + s * ts + k + j] = cosd[s * D + k + j];
                sinh[c.table_off + s * ts + k + j] = sind[s * D + k + j];
            }
        }
    std::vector<double> ref(xt.rows() * D);
    easel_ref::rope_f64(xd.data(), cosd.data(), sind.data(), ref.data(), B, S, G * H, D);

    DevBuf dx(xh.size() * 2), dc(t_elems * 4), dsn(t_elems * 4), dy_own(c.in_place ? 0 : yt.elems() * 2);
    const DevBuf &dy = c.in_place ? dx : dy_own;
    upload(dx, xh);
    upload(dc, cosh);
    upload(dsn, sinh);
    if (!c.in_place) poison(dy);
    std::vector<uint16_t> y_before;
    download(y_before, dy);

    easel_rope_params p[2]{};
    for (int g = 0; g < G; ++g) {
        p[g].x = dx.as<uint16_t>(c.x_off + g * H * c.xsh);
        p[g].y = dy.as<uint16_t>(yt.off + g * H * yt.stride[2]);
        p[g].cos = dc.as<float>(c.table_off);
        p[g].sin = dsn.as<float>(c.table_off);
        p[g].batch = B;
        p[g].seq = S;
        p[g].heads = H;
        p[g].head_dim = D;
        p[g].x_stride_batch = c.xsb;
        p[g].x_stride_seq = c.xss;
        p[g].x_stride_head = c.xsh;
        p[g].y_stride_batch = yt.stride[0];
        p[g].y_stride_seq = yt.stride[1];
        p[g].y_stride_head = yt.stride[2];
        p[g].cos_stride_seq = p[g].sin_stride_seq = ts;
        p[g].stream = nullptr;
    }
    auto run = [&] { return G == 2 ? easel_rope_qk_bf16(&p[0], &p[1]) : easel_rope_bf16(&p[0]); };
    EASEL_CHECK(run());
    CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<uint16_t> yh, out;
    download(yh, dy);
    int64_t unwritten, clobbered;
    scan_output(yt, y_before, yh, out, unwritten, clobbered);
    std::vector<float> c_after, s_after;
    download(c_after, dc);
    download(s_after, dsn);
    const bool tables_intact = c_after == cosh && s_after == sinh;
    const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), xt.rows() * D);

    char shape[256];
    std::snprintf(shape, sizeof shape, "batch=%lld seq=%lld heads=%lld head_dim=%lld groups=%d xss=%lld xsh=%lld",
                  static_cast<long long>(B), static_cast<long long>(S), static_cast<long long>(H),
                  static_cast<long long>(D), c.groups, static_cast<long long>(c.xss), static_cast<long long>(c.xsh));
    if (c.bench && o.bench && !c.in_place) {
        const Timing t = time_kernel([&] { EASEL_CHECK(run()); }, o, l2);
        std::vector<uint16_t> again;
        download(again, dy);
        const bool same = again == yh;
        print_check(tally, "rope", c.name, e, unwritten, clobbered, same && tables_intact,
                    !tables_intact ? " TABLES_CHANGED" : same ? " rerun=identical" : " rerun=DIFFERENT");
        const double bytes = 2.0 * xt.rows() * D * 2 + 2.0 * S * D * 4;  // x read, y written, cos + sin once
        print_result("rope", c.name, shape, bytes, t, copy_gbps);
    } else {
        print_check(tally, "rope", c.name, e, unwritten, clobbered, tables_intact,
                    tables_intact ? "" : " TABLES_CHANGED");
    }
}

void api_checks(Tally &t) {
    DevBuf buf(1 << 16), tab(4096 * 4);
    easel_rope_params p{};
    p.x = buf.p;
    p.y = buf.as<uint16_t>(8192);
    p.cos = p.sin = tab.as<float>();
    p.batch = 2;
    p.seq = 4;
    p.heads = 3;
    p.head_dim = 64;
    p.x_stride_batch = p.y_stride_batch = 4 * 3 * 64;
    p.x_stride_seq = p.y_stride_seq = 3 * 64;
    p.x_stride_head = p.y_stride_head = 64;
    p.cos_stride_seq = p.sin_stride_seq = 64;
    check_status(t, "rope null params", easel_rope_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_rope_params q = p;
    q.sin = nullptr;
    check_status(t, "rope null sin", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.head_dim = 63;
    check_status(t, "rope odd head_dim", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.seq = 0;
    check_status(t, "rope seq 0", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_head = 32;
    check_status(t, "rope overlapping output heads", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.y_stride_seq = 64;  // seq rows overlap the heads of the previous token
    check_status(t, "rope overlapping output tokens", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.cos_stride_seq = -64;
    check_status(t, "rope negative table stride", easel_rope_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.batch = 0;
    check_status(t, "rope zero batch is a no-op", easel_rope_bf16(&q), EASEL_OK);
    check_status(t, "rope_qk null k", easel_rope_qk_bf16(&p, nullptr), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.head_dim = 0;
    check_status(t, "rope_qk invalid k", easel_rope_qk_bf16(&p, &q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.batch = 0;
    check_status(t, "rope_qk empty k runs q", easel_rope_qk_bf16(&p, &q), EASEL_OK);
    q = p;  // transposed output [B, H, S, D]
    q.y_stride_batch = 3 * 4 * 64;
    q.y_stride_head = 4 * 64;
    q.y_stride_seq = 64;
    check_status(t, "rope transposed output layout", easel_rope_bf16(&q), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("rope_check", argc, argv);
    auto &[o, rng, tally, l2, copy_gbps] = run;

    api_checks(tally);
    const int64_t S = 4608 + 512, H = 24, D = 128, HD = H * D;  // FLUX: image + text tokens, 24 heads of 128
    std::vector<RopeCase> cases = {
        // FLUX shapes (timed): q alone, dense [1, S, 24, 128] -> dense; q and k out of the fused qkv in one launch
        {"flux_q_dense", 1, 1, S, H, D, S * HD, HD, D, S * HD, HD, D, false, true},
        {"flux_qk_from_qkv", 2, 1, S, H, D, S * 3 * HD, 3 * HD, D, S * 2 * HD, 2 * HD, D, false, true},
        // layouts, in place, partial blocks, tables
        {"b2_dense", 1, 2, 37, 3, D, 37 * 3 * D, 3 * D, D, 37 * 3 * D, 3 * D, D},
        {"in_place_dense", 1, 1, 33, 5, 64, 33 * 5 * 64, 5 * 64, 64, 0, 0, 0, true},
        {"qk_in_place_qkv", 2, 2, 19, 4, D, 19 * 12 * D, 12 * D, D, 0, 0, 0, true},
        {"qk_qkv_to_dense", 2, 2, 21, 3, D, 21 * 9 * D, 9 * D, D, 21 * 6 * D, 6 * D, D},
        {"transposed_out_bhsd", 1, 2, 17, 3, D, 17 * 3 * D, 3 * D, D, 3 * 17 * D, D, 17 * D},
        {"head_dim8", 1, 1, 50, 7, 8, 50 * 7 * 8, 7 * 8, 8, 50 * 7 * 8, 7 * 8, 8},
        {"independent_tables_pad4", 1, 1, 23, 2, 64, 23 * 2 * 64, 2 * 64, 64, 23 * 2 * 64, 2 * 64, 64, false, false,
         false, 4},
        {"strided_heads", 1, 1, 13, 4, 64, 13 * 4 * 80, 4 * 80, 80, 13 * 4 * 64, 4 * 64, 64},
        // scalar fallback triggers
        {"fallback_head_dim6", 1, 2, 11, 3, 6, 11 * 3 * 6, 3 * 6, 6, 11 * 3 * 6, 3 * 6, 6},
        {"fallback_misaligned_x", 1, 1, 13, 3, D, 13 * 3 * D, 3 * D, D, 13 * 3 * D, 3 * D, D, false, false, true, 0, 2},
        {"fallback_table_stride_odd", 1, 1, 13, 3, D, 13 * 3 * D, 3 * D, D, 13 * 3 * D, 3 * D, D, false, false, true,
         1},
        {"fallback_misaligned_table", 1, 1, 13, 3, D, 13 * 3 * D, 3 * D, D, 13 * 3 * D, 3 * D, D, false, false, true,
         0, 0, 0, 2},
        {"fallback_odd_head_stride_in_place", 1, 1, 9, 3, 62, 9 * 3 * 63, 3 * 63, 63, 0, 0, 0, true},
        {"fallback_qk_misaligned_y", 2, 1, 15, 2, D, 15 * 6 * D, 6 * D, D, 15 * 4 * D, 4 * D, D, false, false, true,
         0, 0, 4},
    };
    for (const RopeCase &c : cases) run_case(c, o, rng, tally, l2, copy_gbps);
    return finish("rope_check", tally);
}
