// Flash-attention forward for Hopper (sm_90a), FlashAttention-3 style: warpgroup MMA (wgmma) fed by TMA, with a
// producer warp and two consumer warpgroups. bf16 q/k/v/o, f32 accumulators and softmax statistics, head dim 128,
// non-causal. Taken by easel_attention_bf16 (attention.cu) on compute capability 9.0 for head_dim 128; everything
// else runs attention.cu's mma.sync kernel. NOT RUN ON A GPU YET (see Kernels/README.md, "Hopper attention").
//
// One CTA per (128 query rows, head, batch); 384 threads = 3 warpgroups:
//   * warps 0-7: two consumer warpgroups, WG w owns query rows 64w..64w+63 of the tile;
//   * warps 8-11: the producer warpgroup; one thread issues every TMA copy, the others idle (setmaxnreg moves
//     their registers to the consumers: 40 / 232).
// Shared memory (1024-byte aligned; every tile is two 16 KiB "atoms" of 128 rows x 64 columns, 128-byte rows with
// TMA's 128-byte swizzle, i.e. the 16-byte chunk c of row r sits at chunk c ^ (r % 8)):
//   Q [128 x 128] 32 KiB, loaded once; K and V [128 x 128] 32 KiB each, 2 stages; an O staging area of 32 KiB
//   (16 rows x 256 bytes per consumer warp); 9 mbarriers. 192 KiB + barriers.
// Pipeline: K and V have separate full (TMA bytes landed) and empty (all 8 consumer warps done) barriers, so the
// producer runs up to two KV blocks ahead. Per consumer warpgroup and KV block j:
//     S = Q K_j^T                    (wgmma SS, m64n128k16 x 8, both operands K-major from shared memory); wait
//     mask the KV columns past seq_kv (last block); online softmax (exp2 with the scale folded in, row max / sum
//     over the 4 lanes of a quad); O *= exp2(m_old - m_new); P = bf16(p) in registers (already the A layout)
//     O += P V_j                     (wgmma RS, m64n128k16 x 8, P from registers, V MN-major: transpose bit); wait
// Not in: FA3's intra-warpgroup overlap of the softmax with the next GEMMs (it made ptxas spill, see README) and
// the explicit ping-pong of the two warpgroups; they overlap each other only as the schedulers interleave them.
// Epilogue: O / l to bf16 through the warp's staging rows, 16-byte strided stores; lse if asked.
// Rows past seq_q / seq_kv are zero-filled by TMA (the tensor maps carry the true sequence lengths), their
// scores masked to -inf (KV) or their outputs never stored (Q). Barrier waits trap after 2^28 tries (seconds), so a
// pipeline bug shows up as a launch error rather than a hang.
#include <cuda.h>  // CUtensorMap and its enums only; cuTensorMapEncodeTiled is resolved at run time (no -lcuda)

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "attention_sm90.cuh"
#include "norm_common.cuh"

#include "sm90_common.cuh"

namespace easel {
namespace {
namespace fa3 {

constexpr int kD = 128;                    // head dim
constexpr int kBM = 128, kBN = 128;        // query rows per CTA, KV rows per block
constexpr int kStages = 2;                 // K/V ring depth
constexpr int kConsumerWarps = 8;          // two warpgroups of 64 query rows
constexpr int kThreads = kConsumerWarps * 32 + 128;
constexpr int kProducerRegs = 40, kConsumerRegs = 232;
constexpr int kAtomBytes = 128 * 128;      // 128 rows x 64 bf16 (one 128-byte swizzle row each)
constexpr int kTileBytes = 2 * kAtomBytes; // 128 rows x 128 bf16
constexpr int kQOff = 0;
constexpr int kKOff = kQOff + kTileBytes;
constexpr int kVOff = kKOff + kStages * kTileBytes;
constexpr int kOOff = kVOff + kStages * kTileBytes;  // O staging: 8 warps x 16 rows x 256 bytes
constexpr int kBarOff = kOOff + kConsumerWarps * 16 * kD * 2;
constexpr int kNumBars = 1 + 4 * kStages;  // q_full, k_full[], v_full[], k_empty[], v_empty[]
constexpr int kSmemBytes = kBarOff + kNumBars * 8 + 1024;  // + slack for the 1024-byte alignment
static_assert(kSmemBytes <= 227 * 1024, "shared memory");
static_assert(128 * kProducerRegs + kConsumerWarps * 32 * kConsumerRegs <= 65536, "register file");

struct Args {
    __nv_bfloat16 *o;
    float *lse;
    int64_t osb, osh, oss;
    int seq_q, seq_kv, heads;
    float scale, scale_log2;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define EASEL_ATTN_WGMMA 1



// Box {64 columns, 128 rows, 1 head, 1 batch} at (c0 = column, c1 = row, c2 = head, c3 = batch); completes its
// bytes on bar. Rows >= the map's sequence length are zero-filled.
__device__ __forceinline__ void tma_load4(uint32_t dst, const CUtensorMap *map, int c0, int c1, int c2, int c3,
                                          uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
        "[%6];" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
        : "memory");
}

// wgmma shared-memory descriptors (128-byte swizzle, layout type 1 in bits 62-63; start address >> 4 in bits
// 0-13, leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, base offset 0: atoms are 1024-byte
// aligned).
// K-major (Q and K: the reduction dim d is contiguous): SBO = 1024 (8-row groups of 128-byte rows), LBO unused (1).
// A k16 step inside a 64-column atom is +32 bytes of start address; the second atom (d 64..127) is +16 KiB.
__device__ __forceinline__ uint64_t desc_kmajor(uint32_t saddr) {
    const uint64_t lo = ((saddr & 0x3FFFFu) >> 4) | (1u << 16);
    const uint64_t hi = (1024u >> 4) | (1u << 30);
    return lo | (hi << 32);
}
// MN-major (V as the B operand of P V: B is [k = kv][n = d] with n contiguous): within an atom 64 n-values per
// 128-byte row, rows = k; SBO = 1024 between 8-row (8 k) groups, LBO = 16 KiB between the two 64-wide n atoms.
// A k16 step is +16 rows = +2048 bytes.
__device__ __forceinline__ uint64_t desc_mnmajor(uint32_t saddr) {
    const uint64_t lo = ((saddr & 0x3FFFFu) >> 4) | (static_cast<uint32_t>(kAtomBytes >> 4) << 16);
    const uint64_t hi = (1024u >> 4) | (1u << 30);
    return lo | (hi << 32);
}


template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
}

#define EASEL_AOP8(c, i) \
    c(d[i]), c(d[i + 1]), c(d[i + 2]), c(d[i + 3]), c(d[i + 4]), c(d[i + 5]), c(d[i + 6]), c(d[i + 7])
#define EASEL_AOP64(c)                                                                                             \
    EASEL_AOP8(c, 0), EASEL_AOP8(c, 8), EASEL_AOP8(c, 16), EASEL_AOP8(c, 24), EASEL_AOP8(c, 32), EASEL_AOP8(c, 40), \
        EASEL_AOP8(c, 48), EASEL_AOP8(c, 56)
#define EASEL_AREGS64                                                                  \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "          \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D[64 x 128] f32 = A[64 x 16] . B[128 x 16]^T, A and B bf16 K-major in shared memory; scale-d = 0 (D overwritten).
__device__ __forceinline__ void wgmma_ss_first(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " EASEL_AREGS64 ", %64, %65, p, 1, 1, 0, 0;\n\t}"
        : EASEL_AOP64("=f")
        : "l"(da), "l"(db), "r"(0));
}
// D += A . B^T (same operands)
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " EASEL_AREGS64 ", %64, %65, p, 1, 1, 0, 0;\n\t}"
        : EASEL_AOP64("+f")
        : "l"(da), "l"(db), "r"(1));
}
// D += A . B, A[64 x 16] bf16 from registers (4 x bf16x2 per thread, the m16n8k16 A-fragment layout per warp),
// B[16 x 128] bf16 MN-major in shared memory (imm-trans-b = 1).
__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %69, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " EASEL_AREGS64
        ", {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n\t}"
        : EASEL_AOP64("+f")
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}

__device__ __forceinline__ float ex2(float x) {  // 2^x; ex2(-inf) = 0
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
// 1 / x for x in [1, 2^31): MUFU.RCP, ~1 ulp. (An IEEE division is a subroutine call, and a call inside the
// consumer code makes ptxas hold it to the kernel-wide 168-register budget instead of setmaxnreg's.)
__device__ __forceinline__ float rcp_approx(float x) {
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&h);
}
#endif  // sm_90a

__global__ void __launch_bounds__(kThreads, 1)
    attention_fwd_wgmma_kernel(const __grid_constant__ CUtensorMap tm_q, const __grid_constant__ CUtensorMap tm_k,
                               const __grid_constant__ CUtensorMap tm_v, const Args args) {
#ifdef EASEL_ATTN_WGMMA
    extern __shared__ uint8_t smem_raw[];
    const uint32_t raw = smem_u32(smem_raw);
    const uint32_t smem = (raw + 1023u) & ~1023u;  // 128B-swizzled tiles: 1024-byte aligned
    uint8_t *const smem_gen = smem_raw + (smem - raw);
    const uint32_t sQ = smem + kQOff, sK = smem + kKOff, sV = smem + kVOff;
    const uint32_t q_full = smem + kBarOff;
    const uint32_t k_full = q_full + 8, v_full = k_full + 8 * kStages;
    const uint32_t k_empty = v_full + 8 * kStages, v_empty = k_empty + 8 * kStages;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int q0 = blockIdx.x * kBM, h = blockIdx.y, b = blockIdx.z;
    const int n_blocks = (args.seq_kv + kBN - 1) / kBN;

    if (warp == kConsumerWarps && lane == 0) {
        mbar_init(q_full, 1);
        for (int s = 0; s < kStages; ++s) {
            mbar_init(k_full + 8 * s, 1);  // the producer's arrive.expect_tx (+ the TMA bytes)
            mbar_init(v_full + 8 * s, 1);
            mbar_init(k_empty + 8 * s, kConsumerWarps);  // one arrive per consumer warp
            mbar_init(v_empty + 8 * s, kConsumerWarps);
        }
        mbar_fence_init();
        tma_prefetch(&tm_q);
        tma_prefetch(&tm_k);
        tma_prefetch(&tm_v);
    }
    __syncthreads();

    if (warp >= kConsumerWarps) {
        // ---------------- producer: one thread issues every TMA copy ----------------
        regs_dec<kProducerRegs>();
        if (warp == kConsumerWarps && lane == 0) {
            mbar_arrive_expect_tx(q_full, kTileBytes);
            tma_load4(sQ, &tm_q, 0, q0, h, b, q_full);
            tma_load4(sQ + kAtomBytes, &tm_q, 64, q0, h, b, q_full);
            for (int j = 0; j < n_blocks; ++j) {
                const int s = j & 1;
                const uint32_t ph = (static_cast<uint32_t>(j) >> 1) & 1u;
                const int kv0 = j * kBN;
                mbar_wait(k_empty + 8 * s, ph ^ 1u);  // first round: passes at once
                mbar_arrive_expect_tx(k_full + 8 * s, kTileBytes);
                tma_load4(sK + s * kTileBytes, &tm_k, 0, kv0, h, b, k_full + 8 * s);
                tma_load4(sK + s * kTileBytes + kAtomBytes, &tm_k, 64, kv0, h, b, k_full + 8 * s);
                mbar_wait(v_empty + 8 * s, ph ^ 1u);
                mbar_arrive_expect_tx(v_full + 8 * s, kTileBytes);
                tma_load4(sV + s * kTileBytes, &tm_v, 0, kv0, h, b, v_full + 8 * s);
                tma_load4(sV + s * kTileBytes + kAtomBytes, &tm_v, 64, kv0, h, b, v_full + 8 * s);
            }
        }
        __syncwarp();
    } else {
        // ---------------- consumers: warpgroup wg owns query rows 64 wg .. 64 wg + 63 ----------------
        regs_inc<kConsumerRegs>();
        const int wg = warp >> 2, wl = warp & 3, g = lane >> 2, t = lane & 3;
        const float sl2 = args.scale_log2;
        // this thread's rows: r0 = 16 wl + g and r1 = r0 + 8 of the warpgroup's 64; accumulator register
        // 4 j + e holds column 8 j + 2 t + (e & 1) of row r0 (e < 2) or r1 (e >= 2)
        float o[64], s[64];
        uint32_t p[8][4];  // P as A fragments of the 8 k16 steps of P V
#pragma unroll
        for (int i = 0; i < 64; ++i) o[i] = 0.0f;
        float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // l: this thread's partial row sums

        const uint32_t q_wg = sQ + wg * (64 * 128);  // this warpgroup's 64 rows in each Q atom
        auto issue_qk = [&](int stage) {             // S = Q K^T over d = 8 k16 steps (4 per 64-column atom)
            const uint32_t kb = sK + stage * kTileBytes;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < kD / 16; ++kk) {
                const uint32_t off = (kk >> 2) * kAtomBytes + (kk & 3) * 32;
                if (kk == 0) wgmma_ss_first(s, desc_kmajor(q_wg + off), desc_kmajor(kb + off));
                else wgmma_ss(s, desc_kmajor(q_wg + off), desc_kmajor(kb + off));
            }
            wgmma_commit();
        };
        auto issue_pv = [&](int stage) {  // O += P V over the 128 KV rows = 8 k16 steps of 16 rows
            const uint32_t vb = sV + stage * kTileBytes;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < kBN / 16; ++kk) wgmma_rs(o, p[kk], desc_mnmajor(vb + kk * 16 * 128));
            wgmma_commit();
        };
        // KV columns past seq_kv (only in the last block) get -inf
        auto mask = [&](int j) {
            const int kv0 = j * kBN;
            if (kv0 + kBN > args.seq_kv) {
#pragma unroll
                for (int jj = 0; jj < 16; ++jj) {
                    const int col = kv0 + 8 * jj + 2 * t;
                    if (col >= args.seq_kv) s[4 * jj] = s[4 * jj + 2] = -INFINITY;
                    if (col + 1 >= args.seq_kv) s[4 * jj + 1] = s[4 * jj + 3] = -INFINITY;
                }
            }
        };
        // online softmax of s: new running max, s := p = exp2((s - m) * scale * log2 e), row sums; returns the
        // rescale factors of the old O and l. Every block has a key < seq_kv, so the max is finite; on block 0,
        // m = -inf gives alpha = 0.
        auto softmax = [&](float &alpha0, float &alpha1) {
            float mx0 = m0, mx1 = m1;
#pragma unroll
            for (int jj = 0; jj < 16; ++jj) {
                mx0 = fmaxf(mx0, fmaxf(s[4 * jj], s[4 * jj + 1]));
                mx1 = fmaxf(mx1, fmaxf(s[4 * jj + 2], s[4 * jj + 3]));
            }
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
            alpha0 = ex2((m0 - mx0) * sl2);
            alpha1 = ex2((m1 - mx1) * sl2);
            m0 = mx0;
            m1 = mx1;
            const float mb0 = mx0 * sl2, mb1 = mx1 * sl2;
            float rs0 = 0.0f, rs1 = 0.0f;
#pragma unroll
            for (int jj = 0; jj < 16; ++jj) {
                s[4 * jj] = ex2(fmaf(s[4 * jj], sl2, -mb0));
                s[4 * jj + 1] = ex2(fmaf(s[4 * jj + 1], sl2, -mb0));
                s[4 * jj + 2] = ex2(fmaf(s[4 * jj + 2], sl2, -mb1));
                s[4 * jj + 3] = ex2(fmaf(s[4 * jj + 3], sl2, -mb1));
                rs0 += s[4 * jj] + s[4 * jj + 1];
                rs1 += s[4 * jj + 2] + s[4 * jj + 3];
            }
            l0 = fmaf(l0, alpha0, rs0);
            l1 = fmaf(l1, alpha1, rs1);
        };
        // S accumulators 4 j .. 4 j + 3 (columns 8 j ..) -> A fragment of k16 step j / 2: registers {0, 1} for even
        // j (k 0..7 of the step), {2, 3} for odd j (k 8..15); i.e. p[kk][i] = bf16x2(s[8 kk + 2 i], s[8 kk + 2 i + 1])
        auto convert_p = [&]() {
#pragma unroll
            for (int kk = 0; kk < 8; ++kk)
#pragma unroll
                for (int i = 0; i < 4; ++i) p[kk][i] = pack_bf16(s[8 * kk + 2 * i], s[8 * kk + 2 * i + 1]);
        };

        mbar_wait(q_full, 0);
        for (int j = 0; j < n_blocks; ++j) {
            const int sj = j & 1;
            const uint32_t phj = (static_cast<uint32_t>(j) >> 1) & 1u;
            mbar_wait(k_full + 8 * sj, phj);
            issue_qk(sj);
            wgmma_wait<0>();
            fence_regs(s);
            if (lane == 0) mbar_arrive(k_empty + 8 * sj);
            mask(j);
            float a0, a1;
            softmax(a0, a1);
#pragma unroll
            for (int jj = 0; jj < 16; ++jj) {  // block 0: O = 0 and alpha = 0
                o[4 * jj] *= a0;
                o[4 * jj + 1] *= a0;
                o[4 * jj + 2] *= a1;
                o[4 * jj + 3] *= a1;
            }
            convert_p();
            mbar_wait(v_full + 8 * sj, phj);
            issue_pv(sj);
            wgmma_wait<0>();
            fence_regs(o);
            if (lane == 0) mbar_arrive(v_empty + 8 * sj);
        }

        // ---- epilogue: O / l to bf16, staged in this warp's 16 rows x 256 bytes (16-byte chunk c of row r at
        // chunk c ^ (r & 7): conflict-free 4-byte writes), then 16-byte strided stores
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        const float inv0 = rcp_approx(l0), inv1 = rcp_approx(l1);  // l >= 1: the row max contributes 1
        uint8_t *stg = smem_gen + kOOff + warp * (16 * kD * 2);
#pragma unroll
        for (int jj = 0; jj < 16; ++jj) {  // row g and g + 8 share (row & 7) = g
            *reinterpret_cast<uint32_t *>(stg + g * 256 + ((jj ^ g) << 4) + 4 * t) =
                pack_bf16(o[4 * jj] * inv0, o[4 * jj + 1] * inv0);
            *reinterpret_cast<uint32_t *>(stg + (g + 8) * 256 + ((jj ^ g) << 4) + 4 * t) =
                pack_bf16(o[4 * jj + 2] * inv1, o[4 * jj + 3] * inv1);
        }
        __syncwarp();
        const int row_base = q0 + wg * 64 + wl * 16;
        __nv_bfloat16 *og = args.o + b * args.osb + h * args.osh;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int idx = lane + 32 * i, r = idx >> 4, c = idx & 15;
            const int row = row_base + r;
            if (row < args.seq_q) {
                const uint4 val = *reinterpret_cast<const uint4 *>(stg + r * 256 + ((c ^ (r & 7)) << 4));
                *reinterpret_cast<uint4 *>(og + static_cast<int64_t>(row) * args.oss + c * 8) = val;
            }
        }
        if (args.lse != nullptr && t == 0) {  // natural-log logsumexp of the scaled scores
            float *lse = args.lse + (static_cast<int64_t>(b) * args.heads + h) * args.seq_q;
            const int r0 = row_base + g;
            if (r0 < args.seq_q) lse[r0] = m0 * args.scale + logf(l0);
            if (r0 + 8 < args.seq_q) lse[r0 + 8] = m1 * args.scale + logf(l1);
        }
    }
#else
    __trap();  // launched only on compute capability 9.0, which runs the sm_90a build
#endif
}

}  // namespace fa3

// ------------------------------------------------------------------------------------------------------------------
// Host: device probe (cached), the driver's tensor-map encoder, tensor maps, launch
// ------------------------------------------------------------------------------------------------------------------

constexpr int kMaxDevices = 64;
struct AttnDevice {
    bool probed = false;
    bool usable = false;  // compute capability 9.0 and the kernel's shared memory opted in
};
std::mutex g_attn_mutex;
AttnDevice g_attn_dev[kMaxDevices];


// bf16 [batch][heads][seq][128] with element strides (any order) as a 4-D TMA map: dims (d, seq, head, batch),
// box {64, 128, 1, 1}, 128-byte swizzle, out-of-bounds elements read as zero. A dimension of extent 1 never has
// its stride used; it gets a harmless valid one (the contract allows any stride there, even 0).
bool encode_qkv_map(EncodeTiledFn enc, CUtensorMap *map, const void *base, int64_t batch, int64_t heads, int64_t seq,
                    int64_t sb, int64_t sh, int64_t ss) {
    const int64_t counts[3] = {seq, heads, batch}, strides[3] = {ss, sh, sb};
    cuuint64_t dims[4] = {static_cast<cuuint64_t>(fa3::kD), 0, 0, 0}, gstr[3];
    for (int i = 0; i < 3; ++i) {
        dims[i + 1] = static_cast<cuuint64_t>(counts[i]);
        const int64_t bytes = counts[i] == 1 ? fa3::kD * 2 : strides[i] * 2;
        if (bytes <= 0 || bytes % 16 != 0 || bytes >= (int64_t(1) << 40)) return false;
        gstr[i] = static_cast<cuuint64_t>(bytes);
    }
    const cuuint32_t box[4] = {64u, static_cast<cuuint32_t>(fa3::kBN), 1u, 1u};
    const cuuint32_t estr[4] = {1u, 1u, 1u, 1u};
    return enc(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<void *>(base), dims, gstr, box, estr,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace

bool attention_sm90_run(const easel_attention_params &p, float scale, easel_status *st) {
    static_assert(fa3::kBM == fa3::kBN, "one box shape serves Q, K and V");
    if (p.head_dim != fa3::kD) return false;
    std::lock_guard<std::mutex> lock(g_attn_mutex);
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess || dev < 0 || dev >= kMaxDevices) {
        (void)cudaGetLastError();
        return false;  // the other kernel's launch will report the problem
    }
    AttnDevice &d = g_attn_dev[dev];
    if (!d.probed) {
        d.probed = true;
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess && major == 9 &&
            minor == 0 &&
            cudaFuncSetAttribute(fa3::attention_fwd_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 fa3::kSmemBytes) == cudaSuccess)
            d.usable = true;
        (void)cudaGetLastError();
    }
    if (!d.usable) return false;
    EncodeTiledFn enc = tensor_map_encoder();
    if (enc == nullptr) return false;
    alignas(64) CUtensorMap mq, mk, mv;
    if (!encode_qkv_map(enc, &mq, p.q, p.batch, p.heads, p.seq_q, p.q_stride_batch, p.q_stride_head,
                        p.q_stride_seq) ||
        !encode_qkv_map(enc, &mk, p.k, p.batch, p.heads, p.seq_kv, p.k_stride_batch, p.k_stride_head,
                        p.k_stride_seq) ||
        !encode_qkv_map(enc, &mv, p.v, p.batch, p.heads, p.seq_kv, p.v_stride_batch, p.v_stride_head,
                        p.v_stride_seq))
        return false;

    fa3::Args a;
    a.o = static_cast<__nv_bfloat16 *>(p.o);
    a.lse = p.lse;
    a.osb = p.o_stride_batch, a.osh = p.o_stride_head, a.oss = p.o_stride_seq;
    a.seq_q = static_cast<int>(p.seq_q);
    a.seq_kv = static_cast<int>(p.seq_kv);
    a.heads = static_cast<int>(p.heads);
    a.scale = scale;
    a.scale_log2 = static_cast<float>(static_cast<double>(scale) * 1.4426950408889634);
    const dim3 grid(static_cast<unsigned>((p.seq_q + fa3::kBM - 1) / fa3::kBM), static_cast<unsigned>(p.heads),
                    static_cast<unsigned>(p.batch));
    fa3::attention_fwd_wgmma_kernel<<<grid, fa3::kThreads, fa3::kSmemBytes, static_cast<cudaStream_t>(p.stream)>>>(
        mq, mk, mv, a);
    *st = launch_status();
    return true;
}

}  // namespace easel
