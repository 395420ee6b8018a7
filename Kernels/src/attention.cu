// Flash-attention forward (FlashAttention-2 style), bf16 q/k/v/o, f32 accumulation and softmax statistics,
// head dim 64 or 128, non-causal, no mask other than the sequence ends.
//
// One CTA per (query tile of kBr = 16 * kWarps rows, head, batch); each warp owns 16 query rows. The Q tile is
// loaded once (cp.async) and kept in registers as mma A-fragments; K/V tiles of kBc = 64 rows are streamed
// through shared memory with cp.async, two stages (the load of tile j + 1 overlaps the math of tile j).
// S = Q K^T and O += P V use mma.sync.m16n8k16 (bf16 in, f32 accumulate) with fragments loaded by ldmatrix
// (.trans for V). Shared-memory rows are D * 2 bytes; 16-byte chunks are XOR-swizzled with (row & 7) so the eight
// row addresses of every ldmatrix phase (and the cp.async writes) hit distinct banks. Softmax is online in f32:
// the running row max m is kept on raw scores, p = exp2(s * scale * log2(e) - m * scale * log2(e)) (one FFMA +
// MUFU.EX2), the row sum l accumulates the f32 p (before the bf16 rounding that feeds the PV mma), and O and l
// are rescaled by exp2((m_old - m_new) * scale * log2(e)) when the max grows. KV rows past seq_kv are zero-filled
// by cp.async and their scores set to -inf; query rows past seq_q are computed on zero-filled Q and not stored.
// The output tile is staged through the warp's own (no longer needed) Q rows in shared memory and written with
// 16-byte stores.
// This is the path for sm_80 and for every call the Hopper kernel (attention_sm90.cu) does not take; the dispatch
// in easel_attention_bf16 below picks between them.
#include <math.h>

#include <cstdlib>
#include <cstring>

#include "attention_sm90.cuh"
#include "norm_common.cuh"

namespace easel {
namespace {

constexpr int kBc = 64;  // KV rows per tile

struct AttnArgs {
    const __nv_bfloat16 *q, *k, *v;
    __nv_bfloat16 *o;
    float *lse;  // optional, [B, H, S_q] dense
    int64_t qsb, qsh, qss, ksb, ksh, kss, vsb, vsh, vss, osb, osh, oss;
    int seq_q, seq_kv, heads;
    float scale;       // softmax scale
    float scale_log2;  // scale * log2(e)
};

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy; with valid == false nothing is read and the 16 bytes are zero-filled.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid) {
    const int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// c += a (16x16, row) * b (16x8, col); bf16 in, f32 accumulate.
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float ex2(float x) {  // 2^x; ex2(-inf) = 0
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a [rows][D] bf16 tile, chunks XOR-swizzled by row & 7.
template <int D> __device__ __forceinline__ uint32_t swz(int row, int chunk) {
    return static_cast<uint32_t>((row * (D / 8) + (chunk ^ (row & 7))) * 16);
}

template <int D, int kWarps> constexpr int attn_smem_bytes() { return (16 * kWarps + 4 * kBc) * D * 2; }

template <int D, int kWarps, int kMinBlocks>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) attention_fwd_kernel(const AttnArgs a) {
    static_assert(D == 64 || D == 128, "head dim");
    constexpr int kBr = 16 * kWarps, kThreads = 32 * kWarps, kChunks = D / 8;
    constexpr uint32_t kTileBytes = kBc * D * 2, kRowBytes = D * 2;
    static_assert((kBr * kChunks) % kThreads == 0 && (kBc * kChunks) % kThreads == 0, "tile load shape");
    extern __shared__ uint4 smem[];  // Q [kBr][D], K [2][kBc][D], V [2][kBc][D]
    const uint32_t sQ = smem_u32(smem), sK = sQ + kBr * D * 2, sV = sK + 2 * kTileBytes;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int q0 = blockIdx.x * kBr;
    const int h = blockIdx.y, b = blockIdx.z;
    const __nv_bfloat16 *qg = a.q + b * a.qsb + h * a.qsh;
    const __nv_bfloat16 *kg = a.k + b * a.ksb + h * a.ksh;
    const __nv_bfloat16 *vg = a.v + b * a.vsb + h * a.vsh;

    // ---- Q tile (rows past seq_q zero-filled), then KV tile 0
#pragma unroll
    for (int i = 0; i < kBr * kChunks / kThreads; ++i) {
        const int idx = tid + i * kThreads, r = idx / kChunks, c = idx % kChunks;
        const bool ok = q0 + r < a.seq_q;
        const __nv_bfloat16 *src = qg + (ok ? static_cast<int64_t>(q0 + r) * a.qss + c * 8 : 0);
        cp_async16(sQ + swz<D>(r, c), src, ok);
    }
    // K/V tile loads: this thread always copies chunk tid % kChunks of rows tid / kChunks + i * kRowStep
    constexpr int kRowStep = kThreads / kChunks;
    const int r_first = tid / kChunks, c_mine = tid % kChunks;
    const __nv_bfloat16 *k_mine = kg + r_first * a.kss + c_mine * 8, *v_mine = vg + r_first * a.vss + c_mine * 8;
    const uint32_t kv_smem = swz<D>(r_first, c_mine);  // rows r_first + i * kRowStep: same row & 7 (kRowStep % 8 == 0)
    static_assert(kRowStep % 8 == 0, "swizzle period");
    auto load_kv = [&](int tile, int buf) {
        const int kv0 = tile * kBc;
        const __nv_bfloat16 *kt = k_mine + kv0 * a.kss, *vt = v_mine + kv0 * a.vss;
#pragma unroll
        for (int i = 0; i < kBc / kRowStep; ++i) {
            const bool ok = kv0 + r_first + i * kRowStep < a.seq_kv;
            const uint32_t off = buf * kTileBytes + kv_smem + i * kRowStep * kRowBytes;
            cp_async16(sK + off, ok ? kt + i * kRowStep * a.kss : kg, ok);
            cp_async16(sV + off, ok ? vt + i * kRowStep * a.vss : vg, ok);
        }
    };
    load_kv(0, 0);
    cp_async_commit();

    // ldmatrix row addresses of this lane (byte offsets in a tile). Every row touched by one ldmatrix has the same
    // row & 7 as lane & 7, so swz(row, chunk0 + 2 * step) == swz(row, chunk0) ^ (step * 32) (the XOR stays inside
    // the row's chunk bits): one LOP3 per k-step, the other tile offsets are immediates.
    //   Q (A, 16 x 16 per k-step): rows lane % 16, chunk lane / 16
    //   K (B of S = Q K^T, two n-blocks of 8 keys): keys (lane / 16) * 8 + lane % 8, chunk (lane / 8) % 2
    //   V (B of O = P V via .trans, two n-blocks of 8 dims): keys ((lane / 8) % 2) * 8 + lane % 8, chunk lane / 16
    const uint32_t q_lane = swz<D>(warp * 16 + (lane & 15), lane >> 4);
    const uint32_t k_lane = swz<D>((lane >> 4) * 8 + (lane & 7), (lane >> 3) & 1);
    const uint32_t v_lane = swz<D>(((lane >> 3) & 1) * 8 + (lane & 7), lane >> 4);
    const int n_tiles = (a.seq_kv + kBc - 1) / kBc;
    const float sl2 = a.scale_log2;
    uint32_t qf[D / 16][4];
    float o[D / 8][4];
#pragma unroll
    for (int d = 0; d < D / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
    // this thread's rows: g = lane / 4 and g + 8 of the warp's 16; columns 2 * (lane % 4) + {0, 1} of each 8
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // l: this thread's partial row sums

    for (int j = 0; j < n_tiles; ++j) {
        if (j + 1 < n_tiles) {
            load_kv(j + 1, (j + 1) & 1);  // that buffer was released by the barrier at the end of tile j - 1
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (j == 0) {
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                ldsm_x4(sQ + (q_lane ^ (kk * 32)), qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
        }
        const uint32_t kb = sK + (j & 1) * kTileBytes, vb = sV + (j & 1) * kTileBytes;

        // S = Q K^T: 16 x kBc per warp, kBc / 8 accumulators of 16 x 8
        float s[kBc / 8][4];
#pragma unroll
        for (int n = 0; n < kBc / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
            for (int nb = 0; nb < kBc / 16; ++nb) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4(kb + (k_lane ^ (kk * 32)) + nb * 16 * kRowBytes, b0, b1, b2, b3);
                mma16816(s[2 * nb], qf[kk], b0, b1);
                mma16816(s[2 * nb + 1], qf[kk], b2, b3);
            }
        }
        const int kv0 = j * kBc;
        if (kv0 + kBc > a.seq_kv) {  // last, partial tile: keys past the end get -inf
#pragma unroll
            for (int n = 0; n < kBc / 8; ++n) {
                const int col = kv0 + n * 8 + 2 * (lane & 3);
                if (col >= a.seq_kv) s[n][0] = s[n][2] = -INFINITY;
                if (col + 1 >= a.seq_kv) s[n][1] = s[n][3] = -INFINITY;
            }
        }

        // online softmax (rows g and g + 8; a row's 64 scores live in the 4 lanes of a quad)
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int n = 0; n < kBc / 8; ++n) {
            mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
            mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        // every tile has at least one key < seq_kv, so mx is finite; on tile 0, m = -inf gives alpha = 0
        const float alpha0 = ex2((m0 - mx0) * sl2), alpha1 = ex2((m1 - mx1) * sl2);
        m0 = mx0;
        m1 = mx1;
        const float mb0 = mx0 * sl2, mb1 = mx1 * sl2;
        uint32_t pf[kBc / 16][4];  // P as A-fragments of the PV mma (k = kv index)
        float rs0 = 0.0f, rs1 = 0.0f;
#pragma unroll
        for (int n = 0; n < kBc / 8; ++n) {
            const float p0 = ex2(fmaf(s[n][0], sl2, -mb0)), p1 = ex2(fmaf(s[n][1], sl2, -mb0));
            const float p2 = ex2(fmaf(s[n][2], sl2, -mb1)), p3 = ex2(fmaf(s[n][3], sl2, -mb1));
            rs0 += p0 + p1;
            rs1 += p2 + p3;
            // accumulator n covers kv columns 8n..8n+7: k-step n / 2, A regs {0, 1} (n even) or {2, 3} (n odd)
            pf[n >> 1][(n & 1) * 2 + 0] = pack_bf16(p0, p1);
            pf[n >> 1][(n & 1) * 2 + 1] = pack_bf16(p2, p3);
        }
        l0 = fmaf(l0, alpha0, rs0);
        l1 = fmaf(l1, alpha1, rs1);
#pragma unroll
        for (int d = 0; d < D / 8; ++d) {
            o[d][0] *= alpha0;
            o[d][1] *= alpha0;
            o[d][2] *= alpha1;
            o[d][3] *= alpha1;
        }

        // O += P V: V tile is [kBc][D] row-major (k-major), so B fragments come from ldmatrix.trans
#pragma unroll
        for (int kk = 0; kk < kBc / 16; ++kk) {
#pragma unroll
            for (int db = 0; db < D / 16; ++db) {
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(vb + (v_lane ^ (db * 32)) + kk * 16 * kRowBytes, b0, b1, b2, b3);
                mma16816(o[2 * db], pf[kk], b0, b1);
                mma16816(o[2 * db + 1], pf[kk], b2, b3);
            }
        }
        __syncthreads();  // everyone is done with buffer j & 1 before tile j + 2 is loaded into it
    }

    // ---- epilogue: O / l, staged through this warp's own Q rows (only this warp read them), 16-byte stores
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
    const int g = lane >> 2, t = lane & 3;
    uint8_t *sbytes = reinterpret_cast<uint8_t *>(smem);
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
        *reinterpret_cast<uint32_t *>(sbytes + swz<D>(warp * 16 + g, d) + 4 * t) =
            pack_bf16(o[d][0] * inv0, o[d][1] * inv0);
        *reinterpret_cast<uint32_t *>(sbytes + swz<D>(warp * 16 + g + 8, d) + 4 * t) =
            pack_bf16(o[d][2] * inv1, o[d][3] * inv1);
    }
    __syncwarp();
    __nv_bfloat16 *og = a.o + b * a.osb + h * a.osh;
#pragma unroll
    for (int i = 0; i < 16 * kChunks / 32; ++i) {
        const int idx = lane + i * 32, r = idx / kChunks, c = idx % kChunks;
        const int row = q0 + warp * 16 + r;
        if (row < a.seq_q) {
            const uint4 val = *reinterpret_cast<const uint4 *>(sbytes + swz<D>(warp * 16 + r, c));
            *reinterpret_cast<uint4 *>(og + static_cast<int64_t>(row) * a.oss + c * 8) = val;
        }
    }
    if (a.lse != nullptr && t == 0) {  // natural-log logsumexp of the scaled scores
        float *lse = a.lse + (static_cast<int64_t>(b) * a.heads + h) * a.seq_q;
        const int r0 = q0 + warp * 16 + g;
        if (r0 < a.seq_q) lse[r0] = m0 * a.scale + logf(l0);
        if (r0 + 8 < a.seq_q) lse[r0 + 8] = m1 * a.scale + logf(l1);
    }
}

template <int D, int kWarps, int kMinBlocks>
easel_status launch_attention(const AttnArgs &a, int64_t batch, cudaStream_t stream) {
    constexpr int kBr = 16 * kWarps;
    constexpr int smem = attn_smem_bytes<D, kWarps>();
    auto kernel = attention_fwd_kernel<D, kWarps, kMinBlocks>;
    // above 48 KiB dynamic shared memory must be opted into (per function; cheap, so on every call)
    cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        set_last_cuda_error(err);
        return EASEL_ERR_LAUNCH;
    }
    const dim3 grid(static_cast<unsigned>((static_cast<int64_t>(a.seq_q) + kBr - 1) / kBr), static_cast<unsigned>(a.heads),
                    static_cast<unsigned>(batch));
    kernel<<<grid, kWarps * 32, smem, stream>>>(a);
    return launch_status();
}

// The elements (i0, i1, i2) * (s0, s1, s2) + [0, row) of three nested index ranges are pairwise disjoint: sorted
// by stride, each level's stride covers the whole extent of the levels inside it (levels of count 1 don't matter).
bool layout_disjoint(const int64_t (&count)[3], const int64_t (&stride)[3], int64_t row) {
    int64_t c[3], s[3];
    int n = 0;
    for (int i = 0; i < 3; ++i)
        if (count[i] > 1) {
            c[n] = count[i];
            s[n] = stride[i];
            ++n;
        }
    for (int i = 1; i < n; ++i)  // insertion sort by stride
        for (int k = i; k > 0 && s[k] < s[k - 1]; --k) {
            int64_t tc = c[k], ts = s[k];
            c[k] = c[k - 1], s[k] = s[k - 1];
            c[k - 1] = tc, s[k - 1] = ts;
        }
    int64_t extent = row;
    for (int i = 0; i < n; ++i) {
        if (s[i] < extent) return false;
        if (s[i] > (INT64_MAX - extent) / (c[i] - 1 > 0 ? c[i] - 1 : 1)) return false;  // overflow
        extent += (c[i] - 1) * s[i];
    }
    return true;
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_attention_bf16(const easel_attention_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_attention_params &p = *params;
    if (p.q == nullptr || p.k == nullptr || p.v == nullptr || p.o == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch < 1 || p.heads < 1 || p.seq_q < 1 || p.seq_kv < 1 || p.head_dim < 1)
        return EASEL_ERR_INVALID_ARGUMENT;
    const int64_t strides[12] = {p.q_stride_batch, p.q_stride_head, p.q_stride_seq, p.k_stride_batch,
                                 p.k_stride_head,  p.k_stride_seq,  p.v_stride_batch, p.v_stride_head,
                                 p.v_stride_seq,   p.o_stride_batch, p.o_stride_head, p.o_stride_seq};
    for (int64_t s : strides)
        if (s < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (!(p.scale >= 0.0f) || !isfinite(p.scale)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.head_dim != 64 && p.head_dim != 128) return EASEL_ERR_UNSUPPORTED;
    {
        const int64_t cnt[3] = {p.batch, p.heads, p.seq_q};
        const int64_t st[3] = {p.o_stride_batch, p.o_stride_head, p.o_stride_seq};
        if (!layout_disjoint(cnt, st, p.head_dim)) return EASEL_ERR_INVALID_ARGUMENT;  // output rows overlap
    }
    if (p.seq_q > INT32_MAX - 128 || p.seq_kv > INT32_MAX - kBc || p.heads > 65535 || p.batch > 65535)
        return EASEL_ERR_UNSUPPORTED;
    // the only kernel moves 16-byte vectors: every pointer 16-byte aligned and every stride a multiple of 8
    for (int64_t s : strides)
        if (s % 8 != 0) return EASEL_ERR_UNSUPPORTED;
    if (!aligned16(p.q) || !aligned16(p.k) || !aligned16(p.v) || !aligned16(p.o)) return EASEL_ERR_UNSUPPORTED;
    if (p.lse != nullptr && (reinterpret_cast<uintptr_t>(p.lse) & 3u) != 0) return EASEL_ERR_INVALID_ARGUMENT;

    AttnArgs a;
    a.q = static_cast<const __nv_bfloat16 *>(p.q);
    a.k = static_cast<const __nv_bfloat16 *>(p.k);
    a.v = static_cast<const __nv_bfloat16 *>(p.v);
    a.o = static_cast<__nv_bfloat16 *>(p.o);
    a.lse = p.lse;
    a.qsb = p.q_stride_batch, a.qsh = p.q_stride_head, a.qss = p.q_stride_seq;
    a.ksb = p.k_stride_batch, a.ksh = p.k_stride_head, a.kss = p.k_stride_seq;
    a.vsb = p.v_stride_batch, a.vsh = p.v_stride_head, a.vss = p.v_stride_seq;
    a.osb = p.o_stride_batch, a.osh = p.o_stride_head, a.oss = p.o_stride_seq;
    a.seq_q = static_cast<int>(p.seq_q);
    a.seq_kv = static_cast<int>(p.seq_kv);
    a.heads = static_cast<int>(p.heads);
    a.scale = p.scale > 0.0f ? p.scale : static_cast<float>(1.0 / sqrt(static_cast<double>(p.head_dim)));
    a.scale_log2 = static_cast<float>(static_cast<double>(a.scale) * 1.4426950408889634);
    // Path: the Hopper wgmma kernel (attention_sm90.cu) where it takes the call (compute capability 9.0, head_dim
    // 128, TMA-encodable q/k/v), else the mma.sync kernel below. EASEL_ATTENTION_PATH=mma forces the mma.sync
    // kernel; =wgmma forces the wgmma kernel and returns EASEL_ERR_UNSUPPORTED where it cannot run (tests).
    const char *path = std::getenv("EASEL_ATTENTION_PATH");
    const bool force_mma = path != nullptr && std::strcmp(path, "mma") == 0;
    const bool force_wgmma = path != nullptr && std::strcmp(path, "wgmma") == 0;
    if (!force_mma) {
        easel_status st = EASEL_OK;
        if (attention_sm90_run(p, a.scale, &st)) return st;
        if (force_wgmma) return EASEL_ERR_UNSUPPORTED;
    }
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    if (p.head_dim == 128) return launch_attention<128, 8, 1>(a, p.batch, stream);
    return launch_attention<64, 4, 3>(a, p.batch, stream);
}
