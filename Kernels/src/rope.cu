// Rotary position embedding, FLUX / diffusers convention (apply_rotary_emb with use_real=True,
// use_real_unbind_dim=-1): on x [B, S, H, D], adjacent pairs (2i, 2i+1) of each head rotate by the f32 tables
// cos / sin [S, D]:
//     y[2i]   = x[2i]   * cos[s, 2i]   - x[2i+1] * sin[s, 2i]
//     y[2i+1] = x[2i+1] * cos[s, 2i+1] + x[2i]   * sin[s, 2i+1]
// f32 math, one rounding to bf16.
//
// Vectorized kernel: flat 16-byte vectors of x (4 pairs each, elementwise_common.cuh); the matching 8 cos and 8 sin
// values are four 128-bit read-only loads that hit L1/L2 (the tables, S x D x 8 bytes, are shared by all heads and
// batches). Two parameter sets (q and k) can share one launch: blockIdx.y picks the set.
#include "elementwise_common.cuh"

namespace easel {
namespace {

struct RopeArgs {
    const __nv_bfloat16 *x;
    __nv_bfloat16 *y;
    const float *cos, *sin;
    uint32_t total;  // vectorized: 16-byte vectors of x; scalar: tokens (b, s)
    uint32_t units;  // vectorized: vectors per head (D / 8); scalar: pairs per head (D / 2)
    uint32_t heads, seq;
    int64_t xsb, xss, xsh, ysb, yss, ysh, css, sss;
};

// Field-wise select (keeps both parameter sets in the constant bank: no local copy of a dynamically chosen struct).
__device__ __forceinline__ RopeArgs pick(const RopeArgs &a0, const RopeArgs &a1, bool second) {
    RopeArgs a;
    a.x = second ? a1.x : a0.x;
    a.y = second ? a1.y : a0.y;
    a.cos = second ? a1.cos : a0.cos;
    a.sin = second ? a1.sin : a0.sin;
    a.total = second ? a1.total : a0.total;
    a.units = second ? a1.units : a0.units;
    a.heads = second ? a1.heads : a0.heads;
    a.seq = second ? a1.seq : a0.seq;
    a.xsb = second ? a1.xsb : a0.xsb;
    a.xss = second ? a1.xss : a0.xss;
    a.xsh = second ? a1.xsh : a0.xsh;
    a.ysb = second ? a1.ysb : a0.ysb;
    a.yss = second ? a1.yss : a0.yss;
    a.ysh = second ? a1.ysh : a0.ysh;
    a.css = second ? a1.css : a0.css;
    a.sss = second ? a1.sss : a0.sss;
    return a;
}

// 4 pairs: out[2k] = x[2k] c[2k] - x[2k+1] s[2k], out[2k+1] = x[2k+1] c[2k+1] + x[2k] s[2k+1]
__device__ __forceinline__ void rotate8(const float (&v)[8], const float (&c)[8], const float (&s)[8],
                                        float (&o)[8]) {
#pragma unroll
    for (int k = 0; k < 8; k += 2) {
        o[k] = fmaf(v[k], c[k], -v[k + 1] * s[k]);
        o[k + 1] = fmaf(v[k + 1], c[k + 1], v[k] * s[k + 1]);
    }
}

__global__ void __launch_bounds__(kEwThreads) rope_vec_kernel(RopeArgs a0, RopeArgs a1) {
    const RopeArgs a = pick(a0, a1, blockIdx.y != 0);
    const uint32_t base = blockIdx.x * kEwVecsPerBlock + threadIdx.x;
    if (base >= a.total) return;  // the grid covers the larger of the two sets
    uint4 q[kEwUnroll];
    uint32_t pos[kEwUnroll], col[kEwUnroll];
    int64_t yoff[kEwUnroll];
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {  // all x loads first: kEwUnroll 16-byte loads in flight per thread
        const uint32_t i = base + u * kEwThreads;
        const uint32_t r = i / a.units;  // row (b, s, h)
        col[u] = i - r * a.units;
        const uint32_t tok = r / a.heads, h = r - tok * a.heads;
        const uint32_t b = tok / a.seq;
        pos[u] = tok - b * a.seq;
        yoff[u] = b * a.ysb + pos[u] * a.yss + h * a.ysh;
        q[u] = make_uint4(0u, 0u, 0u, 0u);
        if (i < a.total)
            q[u] = load16(reinterpret_cast<const uint4 *>(a.x + b * a.xsb + pos[u] * a.xss + h * a.xsh) + col[u]);
    }
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {
        if (base + u * kEwThreads < a.total) {
            float v[8], c[8], s[8], o[8];
            unpack8(q[u], v);
            ldg8(a.cos + pos[u] * a.css, col[u], c);
            ldg8(a.sin + pos[u] * a.sss, col[u], s);
            rotate8(v, c, s, o);
            reinterpret_cast<uint4 *>(a.y + yoff[u])[col[u]] = pack8(o);
        }
    }
}

// One 256-thread block per token (b, s); threads loop over the heads * D / 2 pairs of the token.
__global__ void __launch_bounds__(kFallbackThreads) rope_scalar_kernel(RopeArgs a0, RopeArgs a1) {
    const RopeArgs a = pick(a0, a1, blockIdx.y != 0);
    const uint32_t tok = blockIdx.x;
    if (tok >= a.total) return;
    const uint32_t b = tok / a.seq, s = tok - b * a.seq;
    const __nv_bfloat16 *xt = a.x + b * a.xsb + s * a.xss;
    __nv_bfloat16 *yt = a.y + b * a.ysb + s * a.yss;
    const float *ct = a.cos + s * a.css, *st = a.sin + s * a.sss;
    const uint32_t pairs = a.heads * a.units;
    for (uint32_t p = threadIdx.x; p < pairs; p += kFallbackThreads) {
        const uint32_t h = p / a.units, k = 2 * (p - h * a.units);
        const float x0 = __bfloat162float(xt[h * a.xsh + k]), x1 = __bfloat162float(xt[h * a.xsh + k + 1]);
        yt[h * a.ysh + k] = __float2bfloat16_rn(fmaf(x0, ct[k], -x1 * st[k]));
        yt[h * a.ysh + k + 1] = __float2bfloat16_rn(fmaf(x1, ct[k + 1], x0 * st[k + 1]));
    }
}

struct RopePlan {
    RopeArgs args;
    bool vec_ok;
    int64_t tokens, vecs, head_dim;
};

easel_status plan(const easel_rope_params *params, RopePlan *out) {
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_rope_params &p = *params;
    if (p.x == nullptr || p.y == nullptr || p.cos == nullptr || p.sin == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch < 0 || p.seq < 1 || p.heads < 1 || p.head_dim < 2 || p.head_dim % 2 != 0 ||
        p.head_dim > INT32_MAX || p.seq > INT32_MAX || p.heads > INT32_MAX)
        return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_batch < 0 || p.x_stride_seq < 0 || p.x_stride_head < 0 || p.cos_stride_seq < 0 ||
        p.sin_stride_seq < 0)
        return EASEL_ERR_INVALID_ARGUMENT;
    const int64_t counts[3] = {p.batch, p.seq, p.heads};
    const int64_t ystrides[3] = {p.y_stride_batch, p.y_stride_seq, p.y_stride_head};
    if (!strided_rows_disjoint(3, counts, ystrides, p.head_dim)) return EASEL_ERR_INVALID_ARGUMENT;
    RopePlan &r = *out;
    r.tokens = p.batch * p.seq;  // batch, seq < 2^31: no overflow
    if (r.tokens > INT32_MAX || p.heads * (p.head_dim / 2) > INT32_MAX) return EASEL_ERR_UNSUPPORTED;
    r.vec_ok = p.head_dim % 8 == 0 && aligned16(p.x) && aligned16(p.y) && aligned16(p.cos) && aligned16(p.sin) &&
               p.x_stride_batch % 8 == 0 && p.x_stride_seq % 8 == 0 && p.x_stride_head % 8 == 0 &&
               p.y_stride_batch % 8 == 0 && p.y_stride_seq % 8 == 0 && p.y_stride_head % 8 == 0 &&
               p.cos_stride_seq % 4 == 0 && p.sin_stride_seq % 4 == 0;
    r.vecs = r.tokens * (p.heads * (p.head_dim / 8));  // < 2^31 * 2^31: no overflow
    if (r.vecs > INT32_MAX) r.vec_ok = false;         // 32-bit vector index: the scalar kernel takes it
    r.head_dim = p.head_dim;
    RopeArgs &a = r.args;
    a.x = static_cast<const __nv_bfloat16 *>(p.x);
    a.y = static_cast<__nv_bfloat16 *>(p.y);
    a.cos = p.cos;
    a.sin = p.sin;
    a.heads = static_cast<uint32_t>(p.heads);
    a.seq = static_cast<uint32_t>(p.seq);
    a.xsb = p.x_stride_batch;
    a.xss = p.x_stride_seq;
    a.xsh = p.x_stride_head;
    a.ysb = p.y_stride_batch;
    a.yss = p.y_stride_seq;
    a.ysh = p.y_stride_head;
    a.css = p.cos_stride_seq;
    a.sss = p.sin_stride_seq;
    return EASEL_OK;
}

// Launches one or two planned sets (n = 1 or 2) on `stream`.
easel_status launch(RopePlan *r, int n, cudaStream_t stream) {
    bool vec = true;
    for (int k = 0; k < n; ++k) vec = vec && r[k].vec_ok;
    int64_t work = 0;
    for (int k = 0; k < n; ++k) {
        RopeArgs &a = r[k].args;
        a.total = static_cast<uint32_t>(vec ? r[k].vecs : r[k].tokens);
        a.units = static_cast<uint32_t>(vec ? r[k].head_dim / 8 : r[k].head_dim / 2);
        work = a.total > work ? a.total : work;
    }
    if (work == 0) return EASEL_OK;  // batch == 0 in every set
    const RopeArgs &a1 = n == 2 ? r[1].args : r[0].args;
    const dim3 grid(vec ? ew_blocks(static_cast<uint32_t>(work)) : static_cast<unsigned>(work), n);
    if (vec) rope_vec_kernel<<<grid, kEwThreads, 0, stream>>>(r[0].args, a1);
    else rope_scalar_kernel<<<grid, kFallbackThreads, 0, stream>>>(r[0].args, a1);
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_rope_bf16(const easel_rope_params *params) {
    using namespace easel;
    RopePlan r;
    const easel_status st = plan(params, &r);
    if (st != EASEL_OK) return st;
    return launch(&r, 1, static_cast<cudaStream_t>(params->stream));
}

extern "C" easel_status easel_rope_qk_bf16(const easel_rope_params *q, const easel_rope_params *k) {
    using namespace easel;
    RopePlan r[2];
    easel_status st = plan(q, &r[0]);
    if (st != EASEL_OK) return st;
    st = plan(k, &r[1]);
    if (st != EASEL_OK) return st;
    return launch(r, 2, static_cast<cudaStream_t>(q->stream));
}
