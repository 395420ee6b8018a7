// Check + bench of easel_attention_bf16 (llm.c dev/cuda style). Every case: fresh random bf16 q/k/v (no zeros; the
// score spread varies per head), the whole output buffer (and lse) NaN-poisoned before the run; afterwards every
// output element must be written, every element between output rows untouched, and the error vs the float64
// reference must meet reference.h's attention rule (attention_within_tolerance: rel_l2 <= 1.25 x that of bf16(emu),
// the float64 result with P rounded to bf16 as the kernel's P.V product, and mismatch vs bf16(ref64) <= 1.25 x
// bf16(emu)'s + 1 %). Small shapes are checked on every row; the benchmark shapes (timed, median of --reps runs with
// the L2 flushed before each, then re-checked bit for bit) on a sample of rows of four heads, including the first
// and the last row (the partial tile).
// Every case runs through each path of easel_attention_bf16 (EASEL_ATTENTION_PATH, read on every call): "mma" (the
// mma.sync kernel), "wgmma" (the Hopper wgmma + TMA kernel; must be taken on compute capability 9.0 with head_dim 128,
// must return EASEL_ERR_UNSUPPORTED elsewhere) and the default choice, on the same inputs against the same reference.
// Small cases come first and the mma path before the wgmma path in each case, so if the new kernel traps (its barrier
// waits trap after seconds instead of hanging) the earlier results are already in the log.
//   build/kernels/attention_check [--seed N] [--reps N] [--warmup N] [--no-bench]
#include "common.h"

using namespace easel_check;
using easel_ref::Rng;

namespace {

enum Layout { kBHSD, kBSHD, kQKVFused };
const char *layout_name(Layout l) { return l == kBHSD ? "bhsd" : l == kBSHD ? "bshd" : "qkv_fused"; }

struct AttnCase {
    std::string name;
    int64_t B, H, Sq, Skv, D;
    Layout layout = kBHSD;
    int64_t o_pad = 0;    // extra elements after each output token row (gaps that must stay untouched)
    double q_sd = 1.0;    // typical score sd (per-head spread around it)
    float scale = 0.0f;   // 0: 1/sqrt(D)
    bool lse = false;
    bool bench = false;
    int sample_rows = 0;  // 0: check every row; else rows per sampled head (4 heads of batch 0)
};

// Cheap random bf16, uniform with the given mean and sd, never zero (the big shapes have 10^8 elements).
inline uint16_t fast_bf16(Rng &rng, double mean, double sd) {
    for (;;) {
        const double u = (rng.next() >> 11) * 0x1.0p-53;
        const uint16_t h = easel_ref::f32_to_bf16(static_cast<float>(mean + sd * 1.7320508075688772 * (2 * u - 1)));
        if ((h & 0x7fffu) != 0) return h;
    }
}

struct Strides {
    int64_t b, h, s;
};

int device_cc() {  // major * 10 + minor
    static int cc = -1;
    if (cc < 0) {
        int dev = 0, major = 0, minor = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
        cc = major * 10 + minor;
    }
    return cc;
}

// The library reads EASEL_ATTENTION_PATH on every call; nullptr: unset (the library's own choice).
struct PathEnv {
    explicit PathEnv(const char *path) {
        if (path) setenv("EASEL_ATTENTION_PATH", path, 1);
        else unsetenv("EASEL_ATTENTION_PATH");
    }
    ~PathEnv() { unsetenv("EASEL_ATTENTION_PATH"); }
    PathEnv(const PathEnv &) = delete;
    PathEnv &operator=(const PathEnv &) = delete;
};

void run_case(const AttnCase &c, const Options &o, Rng &rng, Tally &tally, L2Flusher &l2) {
    const int64_t B = c.B, H = c.H, Sq = c.Sq, Skv = c.Skv, D = c.D, Dp = D + c.o_pad;
    // input buffers and strides
    int64_t q_elems, kv_elems, q_off = 0, k_off = 0, v_off = 0;
    Strides qs, ks, vs, os;
    if (c.layout == kQKVFused) {  // FLUX: one [B, S, 3, H, D] buffer
        q_elems = B * Sq * 3 * H * D;
        kv_elems = 0;
        k_off = H * D;
        v_off = 2 * H * D;
        qs = ks = vs = {3 * H * Sq * D, D, 3 * H * D};
    } else if (c.layout == kBSHD) {
        q_elems = B * Sq * H * D;
        kv_elems = B * Skv * H * D;
        qs = {Sq * H * D, D, H * D};
        ks = vs = {Skv * H * D, D, H * D};
    } else {
        q_elems = B * H * Sq * D;
        kv_elems = B * H * Skv * D;
        qs = {H * Sq * D, Sq * D, D};
        ks = vs = {H * Skv * D, Skv * D, D};
    }
    os = c.layout == kBHSD ? Strides{H * Sq * Dp, Sq * Dp, Dp} : Strides{Sq * H * Dp, Dp, H * Dp};
    const int64_t o_elems = B * H * Sq * Dp;

    std::vector<uint16_t> qh(q_elems), kh(kv_elems), vh(kv_elems);
    std::vector<uint16_t> &kb = c.layout == kQKVFused ? qh : kh, &vb = c.layout == kQKVFused ? qh : vh;
    std::vector<double> head_sd(B * H);
    for (auto &s : head_sd) s = c.q_sd * std::pow(10.0, 0.6 * rng.uniform() - 0.3);
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h) {
            for (int64_t i = 0; i < Sq; ++i)
                for (int64_t d = 0; d < D; ++d)
                    qh[q_off + b * qs.b + h * qs.h + i * qs.s + d] = fast_bf16(rng, 0.0, head_sd[b * H + h]);
            for (int64_t j = 0; j < Skv; ++j)
                for (int64_t d = 0; d < D; ++d) {
                    kb[k_off + b * ks.b + h * ks.h + j * ks.s + d] = fast_bf16(rng, 0.0, 1.0);
                    vb[v_off + b * vs.b + h * vs.h + j * vs.s + d] = fast_bf16(rng, 0.0, 1.0);
                }
        }

    DevBuf dq(q_elems * 2), dk(kv_elems * 2), dv(kv_elems * 2), dout(o_elems * 2), dlse(c.lse ? B * H * Sq * 4 : 0);
    upload(dq, qh);
    if (kv_elems) {
        upload(dk, kh);
        upload(dv, vh);
    }
    easel_attention_params p{};
    p.q = dq.as<uint16_t>(q_off);
    p.k = c.layout == kQKVFused ? dq.as<uint16_t>(k_off) : dk.p;
    p.v = c.layout == kQKVFused ? dq.as<uint16_t>(v_off) : dv.p;
    p.o = dout.p;
    p.lse = c.lse ? dlse.as<float>() : nullptr;
    p.batch = B, p.heads = H, p.seq_q = Sq, p.seq_kv = Skv, p.head_dim = D;
    p.q_stride_batch = qs.b, p.q_stride_head = qs.h, p.q_stride_seq = qs.s;
    p.k_stride_batch = ks.b, p.k_stride_head = ks.h, p.k_stride_seq = ks.s;
    p.v_stride_batch = vs.b, p.v_stride_head = vs.h, p.v_stride_seq = vs.s;
    p.o_stride_batch = os.b, p.o_stride_head = os.h, p.o_stride_seq = os.s;
    p.scale = c.scale;
    p.stream = nullptr;

    // float64 reference, once for all paths: every row (or a sample of rows of 4 heads)
    std::vector<std::pair<int64_t, int64_t>> heads;  // (b, h)
    if (c.sample_rows == 0) {
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h) heads.push_back({b, h});
    } else {
        for (int64_t h : {int64_t(0), H / 3, (2 * H) / 3, H - 1}) heads.push_back({0, h});
    }
    const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(D));
    std::vector<int64_t> out_off, lse_off;  // element offsets of the checked output rows / lse entries
    std::vector<uint16_t> emu_bf;
    std::vector<double> ref, lse_ref, emu_row(D), ref_row(D), scratch;
    std::vector<float> kf(Skv * D), vf(Skv * D), qf(D);
    for (auto [b, h] : heads) {
        for (int64_t j = 0; j < Skv; ++j)
            for (int64_t d = 0; d < D; ++d) {
                kf[j * D + d] = easel_ref::bf16_to_f32(kb[k_off + b * ks.b + h * ks.h + j * ks.s + d]);
                vf[j * D + d] = easel_ref::bf16_to_f32(vb[v_off + b * vs.b + h * vs.h + j * vs.s + d]);
            }
        std::vector<int64_t> rows;
        if (c.sample_rows == 0) {
            for (int64_t i = 0; i < Sq; ++i) rows.push_back(i);
        } else {
            rows = {0, Sq - 1};
            while (static_cast<int>(rows.size()) < c.sample_rows)
                rows.push_back(static_cast<int64_t>(rng.uniform() * static_cast<double>(Sq)));
        }
        for (int64_t i : rows) {
            for (int64_t d = 0; d < D; ++d) qf[d] = easel_ref::bf16_to_f32(qh[q_off + b * qs.b + h * qs.h + i * qs.s + d]);
            double lr = 0;
            easel_ref::attention_row_f64(qf.data(), kf.data(), vf.data(), Skv, D, scale, ref_row.data(),
                                         emu_row.data(), &lr, scratch);
            out_off.push_back(b * os.b + h * os.h + i * os.s);
            for (int64_t d = 0; d < D; ++d) {
                ref.push_back(ref_row[d]);
                emu_bf.push_back(easel_ref::f64_to_bf16(emu_row[d]));
            }
            if (c.lse) {
                lse_off.push_back((b * H + h) * Sq + i);
                lse_ref.push_back(lr);
            }
        }
    }
    const easel_ref::ErrorStats ee =
        easel_ref::compare_bf16(emu_bf.data(), ref.data(), static_cast<int64_t>(ref.size()));

    const bool wgmma_expected = device_cc() == 90 && D == 128;
    for (const char *path : {"mma", "wgmma", static_cast<const char *>(nullptr)}) {
        PathEnv env(path);
        const char *path_name = path ? path : (wgmma_expected ? "default(wgmma)" : "default(mma)");
        if (path && std::strcmp(path, "wgmma") == 0 && !wgmma_expected) {  // must be refused, nothing launched
            const easel_status st = easel_attention_bf16(&p);
            ++tally.checks;
            const bool ok = st == EASEL_ERR_UNSUPPORTED;
            if (!ok) ++tally.failures;
            std::printf("CHECK op=attention case=%s path=wgmma not taken (cc %d, D=%lld): status %d, want "
                        "EASEL_ERR_UNSUPPORTED %s\n",
                        c.name.c_str(), device_cc(), static_cast<long long>(D), static_cast<int>(st),
                        ok ? "PASS" : "FAIL");
            continue;
        }
        poison(dout);
        if (c.lse) poison(dlse);
        EASEL_CHECK(easel_attention_bf16(&p));
        CUDA_CHECK(cudaDeviceSynchronize());

        std::vector<uint16_t> oh;
        download(oh, dout);
        std::vector<float> lh;
        if (c.lse) download(lh, dlse);
        // written / untouched: output rows must be non-NaN, the gaps (o_pad) still poison
        int64_t unwritten = 0, clobbered = 0;
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t i = 0; i < Sq; ++i) {
                    const uint16_t *r = &oh[b * os.b + h * os.h + i * os.s];
                    for (int64_t d = 0; d < D; ++d) unwritten += easel_ref::bf16_is_nan(r[d]);
                    for (int64_t d = D; d < Dp; ++d) clobbered += r[d] != 0xFFFFu;
                }
        for (const float x : lh) unwritten += std::isnan(x) ? 1 : 0;

        std::vector<uint16_t> out;
        out.reserve(ref.size());
        for (const int64_t off : out_off)
            for (int64_t d = 0; d < D; ++d) out.push_back(oh[off + d]);
        double lse_max_err = 0.0;
        int64_t lse_bad = 0;
        for (size_t n = 0; n < lse_off.size(); ++n) {
            // lse from f32 scores, an f32 row sum and ex2.approx: |err| <= 2e-4 (1 + |lse|) with a wide margin
            const double err = std::fabs(lh[lse_off[n]] - lse_ref[n]);
            lse_max_err = std::max(lse_max_err, std::isnan(err) ? INFINITY : err);
            if (!(err <= 2e-4 * (1 + std::fabs(lse_ref[n])))) ++lse_bad;
        }
        const easel_ref::ErrorStats e = easel_ref::compare_bf16(out.data(), ref.data(), static_cast<int64_t>(out.size()));
        const bool lse_ok = lse_bad == 0;

        auto report = [&](bool extra_ok, const char *extra) {
            const bool ok = unwritten == 0 && clobbered == 0 && extra_ok && lse_ok &&
                            easel_ref::attention_within_tolerance(e, ee);
            ++tally.checks;
            if (!ok) ++tally.failures;
            std::printf("CHECK op=attention case=%s path=%s n=%lld rel_err=%.3e emu_err=%.3e bf16_floor=%.3e "
                        "ratio=%.3f tol_ratio=%.2f mismatch=%.2f%% emu_mismatch=%.2f%% max_ulp=%lld unwritten=%lld "
                        "clobbered=%lld%s%s %s\n",
                        c.name.c_str(), path_name, static_cast<long long>(e.n), e.rel_l2, ee.rel_l2,
                        e.rel_l2_bf16ref, e.rel_l2 / ee.rel_l2, easel_ref::kRelErrFactor, 100 * e.mismatch_frac,
                        100 * ee.mismatch_frac, static_cast<long long>(e.max_ulp), static_cast<long long>(unwritten),
                        static_cast<long long>(clobbered),
                        c.lse ? (" lse_max_err=" + std::to_string(lse_max_err) + (lse_ok ? "" : " LSE_BAD")).c_str()
                              : "",
                        extra, ok ? "PASS" : "FAIL");
        };
        if (c.bench && o.bench) {
            const Timing t = time_kernel([&] { EASEL_CHECK(easel_attention_bf16(&p)); }, o, l2);
            std::vector<uint16_t> again;
            download(again, dout);
            const bool same = again == oh;
            report(same, same ? " rerun=identical" : " rerun=DIFFERENT");
            const double flops = 4.0 * B * H * Sq * Skv * D;
            // the default path keeps op=attention (bench_torch.py's comparison); forced paths get their own op
            const char *op = path == nullptr ? "attention" : std::strcmp(path, "mma") == 0 ? "attention_mma"
                                                                                              : "attention_wgmma";
            std::printf("RESULT op=%s case=%s B=%lld H=%lld Sq=%lld Skv=%lld D=%lld layout=%s flops=%.0f "
                        "median_us=%.2f min_us=%.2f TFLOPs=%.1f\n",
                        op, c.name.c_str(), static_cast<long long>(B), static_cast<long long>(H),
                        static_cast<long long>(Sq), static_cast<long long>(Skv), static_cast<long long>(D),
                        layout_name(c.layout), flops, t.median_ms * 1e3, t.min_ms * 1e3,
                        flops / (t.median_ms * 1e-3) / 1e12);
        } else {
            report(true, "");
        }
    }
}

void api_checks(Tally &t) {
    DevBuf buf(4 * 2 * 64 * 64 * 2);
    easel_attention_params p{};
    p.q = p.o = buf.p;  // q/o, k, v: three [2, 64, 64] tensors in one buffer
    p.k = buf.as<uint16_t>(8192);
    p.v = buf.as<uint16_t>(16384);
    p.batch = 1, p.heads = 2, p.seq_q = 64, p.seq_kv = 64, p.head_dim = 64;
    p.q_stride_batch = p.k_stride_batch = p.v_stride_batch = p.o_stride_batch = 2 * 64 * 64;
    p.q_stride_head = p.k_stride_head = p.v_stride_head = p.o_stride_head = 64 * 64;
    p.q_stride_seq = p.k_stride_seq = p.v_stride_seq = p.o_stride_seq = 64;
    check_status(t, "attention null params", easel_attention_bf16(nullptr), EASEL_ERR_INVALID_ARGUMENT);
    easel_attention_params q = p;
    q.v = nullptr;
    check_status(t, "attention null v", easel_attention_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.head_dim = 80;
    check_status(t, "attention head_dim 80", easel_attention_bf16(&q), EASEL_ERR_UNSUPPORTED);
    q = p;
    q.seq_kv = 0;
    check_status(t, "attention seq_kv 0", easel_attention_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;
    q.k = buf.as<uint16_t>(8192 + 4);
    check_status(t, "attention k misaligned", easel_attention_bf16(&q), EASEL_ERR_UNSUPPORTED);
    q = p;
    q.o_stride_seq = 32;
    check_status(t, "attention overlapping output rows", easel_attention_bf16(&q), EASEL_ERR_INVALID_ARGUMENT);
    q = p;  // in place: o == q with the same strides
    q.o = buf.p;
    check_status(t, "attention in place (o == q)", easel_attention_bf16(&q), EASEL_OK);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace

int main(int argc, char **argv) {
    CheckRun run("attention_check", argc, argv, /*measure_copy=*/false);
    auto &[o, rng, tally, l2, copy_gbps] = run;
    (void)copy_gbps;

    api_checks(tally);
    // {name, B, H, Sq, Skv, D, layout, o_pad, q_sd, scale, lse, bench, sample_rows}
    const std::vector<AttnCase> cases = {
        // every row checked: one exact tile first (the simplest run of the wgmma kernel), then partial tiles,
        // S_q != S_kv, strided layouts, padded output rows, sharp softmax, lse
        {"b1_h1_s128_d128", 1, 1, 128, 128, 128, kBHSD},
        {"b2_h3_s300_d64", 2, 3, 300, 300, 64, kBHSD, 0, 1.0, 0.0f, true},
        {"b2_h3_s300_d128", 2, 3, 300, 300, 128, kBHSD, 0, 1.0, 0.0f, true},
        {"b2_h3_s1000_d64", 2, 3, 1000, 1000, 64, kBHSD},
        {"b2_h3_s1000_d128", 2, 3, 1000, 1000, 128, kBHSD},
        {"sq77_skv1000_d128", 1, 2, 77, 1000, 128, kBHSD, 0, 1.0, 0.0f, true},
        {"sq1000_skv129_d64", 1, 2, 1000, 129, 64, kBHSD, 0, 0.5, 0.0f, true},
        {"sq1_skv1_d128", 2, 2, 1, 1, 128, kBHSD, 0, 1.0, 0.0f, true},
        {"sq1000_skv129_d128", 1, 2, 1000, 129, 128, kBHSD, 0, 0.5, 0.0f, true},
        {"sq130_skv65_d64_scale0.3", 1, 3, 130, 65, 64, kBHSD, 0, 1.0, 0.3f},
        {"bshd_s300_d128_opad8", 2, 3, 300, 300, 128, kBSHD, 8},
        {"bshd_sq200_skv333_d64", 2, 3, 200, 333, 64, kBSHD, 0, 0.5},
        {"qkv_fused_s257_d128", 2, 3, 257, 257, 128, kQKVFused, 16, 1.0, 0.0f, true},
        {"sharp_s1000_d128", 1, 3, 1000, 1000, 128, kBHSD, 0, 12.0},
        {"sharp_s700_d64", 1, 3, 700, 700, 64, kBSHD, 0, 12.0, 0.0f, true},
        // benchmark shapes (FLUX at 1024x1024: 4096 image + 512 text tokens, 24 heads of 128), sampled rows
        {"b1_h24_s4608_d128", 1, 24, 4608, 4608, 128, kBHSD, 0, 1.0, 0.0f, false, true, 16},
        {"b1_h24_s4608_d64", 1, 24, 4608, 4608, 64, kBHSD, 0, 1.0, 0.0f, false, true, 16},
        {"b1_h24_s16384_d128", 1, 24, 16384, 16384, 128, kBHSD, 0, 1.0, 0.0f, false, true, 16},
        {"flux_qkv_fused_s4608_d128", 1, 24, 4608, 4608, 128, kQKVFused, 0, 1.0, 0.0f, true, true, 16},
    };
    for (const AttnCase &c : cases) run_case(c, o, rng, tally, l2);
    return finish("attention_check", tally);
}
