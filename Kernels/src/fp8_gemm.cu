// FP8 (e4m3) GEMM with per-token activation scales and per-channel weight scales, and the per-token bf16 -> fp8
// quantization that feeds it:
//     y[m, n] = (sum_k a[m, k] * w[n, k]) * a_scale[m] * w_scale[n] (+ bias[n])          bf16 out, f32 sums
//
// Fast path (compute capability 9.x, built for sm_90a): a persistent warp-specialized Hopper kernel.
//   * CTA tile 128 (M) x 256 (N), k-blocks of 128 (= one 128-byte swizzle row of fp8), 4 shared-memory stages of
//     48 KiB (A 16 KiB + W 32 KiB), fed by TMA (cp.async.bulk.tensor, 128-byte swizzle, OOB rows/columns
//     zero-filled) and synchronized with mbarriers (full: TMA bytes landed; empty: consumers done with the stage).
//   * 384 threads: two consumer warpgroups (WG w owns rows 64w..64w+63 of the tile, all 256 columns) and a
//     producer warpgroup whose first thread issues the TMA copies; setmaxnreg moves registers from the producer
//     (40) to the consumers (232).
//   * Math: wgmma.mma_async m64n128k32 e4m3 x e4m3 -> f32 with both operands read from shared memory through matrix
//     descriptors (K-major, 128B swizzle, SBO 1024). Hopper's fp8 tensor-core accumulation keeps only ~13-14
//     mantissa bits, so each stage's 4 k32 steps are summed in the tensor core into a scratch accumulator (64
//     registers, one 128-column half at a time) and then added to the f32 tile accumulator (2 x 64 registers) on
//     the CUDA cores ("promotion" every 128 k, as CUTLASS's default fp8 mainloop and DeepGEMM do).
//   * Optional 2-CTA clusters along M: the two CTAs share the W tile, each loads one 128-row half and multicasts it
//     to both, which cuts the L2 -> SM traffic per stage from 48 to 32 KiB.
//   * Epilogue straight from the accumulator registers: y = fma(acc, a_scale[row] * w_scale[col], bias[col]) in
//     f32, bf16x2 stores, rows >= m / columns >= n masked.
// Fallback (any GPU, any valid alignment): a 64 x 64 CUDA-core tile kernel, fp8 decoded to f32 (exact products),
// f32 FMA sums, same epilogue.
#include <cuda.h>  // CUtensorMap and its enums only; cuTensorMapEncodeTiled is resolved at run time (no -lcuda)
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "norm_common.cuh"

#include "sm90_common.cuh"

namespace easel {
namespace {

inline bool aligned_to(const void *p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

// ------------------------------------------------------------------------------------------------------------------
// Quantization: bf16 row -> e4m3 row + f32 scale
// ------------------------------------------------------------------------------------------------------------------
constexpr int kQuantMaxThreads = 256;
constexpr int kQuantMaxVecs = 16;  // 16-element vectors per thread in the register path: k <= 256 * 16 * 16
constexpr int kQuantScalarThreads = 256;
constexpr float kFp8Max = 448.0f;

// Block-wide max of a non-negative 32-bit value; every thread gets the result. red: blockDim.x / 32 words.
__device__ __forceinline__ uint32_t block_max_u32(uint32_t v, uint32_t *red) {
    v = __reduce_max_sync(0xffffffffu, v);
    const int warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    if ((threadIdx.x & 31) == 0) red[warp] = v;
    __syncthreads();
    uint32_t r = red[0];
    for (int i = 1; i < nwarps; ++i) r = max(r, red[i]);
    return r;
}

// scale = max(amax / 448, 2^-126) and its reciprocal, both correctly rounded f32 (the host reference repeats this).
__device__ __forceinline__ void fp8_row_scale(uint32_t amax_bits, float &s, float &inv) {
    const float amax = __uint_as_float(amax_bits << 16);  // |bf16| bits -> f32
    s = fmaxf(__fdiv_rn(amax, kFp8Max), FLT_MIN);
    inv = __fdiv_rn(1.0f, s);
}

// 8 bf16 (one 16-byte vector) times inv -> 8 e4m3 bytes (two 32-bit words), round to nearest even, saturating.
__device__ __forceinline__ uint2 quant8(const uint4 &v, float inv) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    uint32_t h[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = make_float2(__fmul_rn(__uint_as_float(w[i] << 16), inv),
                                     __fmul_rn(__uint_as_float(w[i] & 0xffff0000u), inv));
        h[i] = __nv_cvt_float2_to_fp8x2(f, __NV_SATFINITE, __NV_E4M3);  // .x -> low byte (lower address)
    }
    return make_uint2(h[0] | (h[1] << 16), h[2] | (h[3] << 16));
}

// One row per block; the row's 16-element vectors c = tid + i * blockDim.x (i < V) stay in registers between the
// amax pass and the conversion: x is read once (2 x LDG.128 per vector), q written once (1 x STG.128 per vector).
template <int V>
__global__ void __launch_bounds__(kQuantMaxThreads)
    fp8_quant_row_regs_kernel(const __nv_bfloat16 *__restrict__ x, uint8_t *__restrict__ q, float *__restrict__ scale,
                                 int nvec, int64_t xs, int64_t qs) {
    __shared__ uint32_t red[kQuantMaxThreads / 32];
    const int row = blockIdx.x, tid = threadIdx.x, threads = blockDim.x;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x + static_cast<int64_t>(row) * xs);
    uint4 *qr = reinterpret_cast<uint4 *>(q + static_cast<int64_t>(row) * qs);
    uint4 v[V][2];
#pragma unroll
    for (int i = 0; i < V; ++i) {
        const int c = tid + i * threads;
        v[i][0] = v[i][1] = make_uint4(0u, 0u, 0u, 0u);
        if (c < nvec) {
            v[i][0] = load16(xr + 2 * c);
            v[i][1] = load16(xr + 2 * c + 1);
        }
    }
    uint32_t m2 = 0;  // two 16-bit magnitudes
#pragma unroll
    for (int i = 0; i < V; ++i)
#pragma unroll
        for (int hlf = 0; hlf < 2; ++hlf) {
            m2 = __vmaxu2(m2, v[i][hlf].x & 0x7fff7fffu);
            m2 = __vmaxu2(m2, v[i][hlf].y & 0x7fff7fffu);
            m2 = __vmaxu2(m2, v[i][hlf].z & 0x7fff7fffu);
            m2 = __vmaxu2(m2, v[i][hlf].w & 0x7fff7fffu);
        }
    const uint32_t amax_bits = block_max_u32(max(m2 & 0xffffu, m2 >> 16), red);
    float s, inv;
    fp8_row_scale(amax_bits, s, inv);
#pragma unroll
    for (int i = 0; i < V; ++i) {
        const int c = tid + i * threads;
        if (c < nvec) {
            const uint2 lo = quant8(v[i][0], inv), hi = quant8(v[i][1], inv);
            __stcg(qr + c, make_uint4(lo.x, lo.y, hi.x, hi.y));  // L2: the GEMM reads q next
        }
    }
    if (tid == 0) scale[row] = s;
}

// Any layout: one block per row, pass 1 the amax, pass 2 the conversion (x re-read, from L2).
__global__ void __launch_bounds__(kQuantScalarThreads)
    fp8_quant_row_twopass_kernel(const __nv_bfloat16 *__restrict__ x, uint8_t *__restrict__ q,
                                    float *__restrict__ scale, int k, int64_t xs, int64_t qs) {
    __shared__ uint32_t red[kQuantScalarThreads / 32];
    const int row = blockIdx.x;
    const unsigned short *xr = reinterpret_cast<const unsigned short *>(x) + static_cast<int64_t>(row) * xs;
    uint8_t *qr = q + static_cast<int64_t>(row) * qs;
    uint32_t mb = 0;
    for (int i = threadIdx.x; i < k; i += blockDim.x) mb = max(mb, static_cast<uint32_t>(__ldg(xr + i)) & 0x7fffu);
    const uint32_t amax_bits = block_max_u32(mb, red);
    float s, inv;
    fp8_row_scale(amax_bits, s, inv);
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        const float f = __fmul_rn(__uint_as_float(static_cast<uint32_t>(__ldg(xr + i)) << 16), inv);
        qr[i] = __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3);
    }
    if (threadIdx.x == 0) scale[row] = s;
}

template <int V>
void launch_quant_vec(const easel_quantize_fp8_params &p, int nvec, cudaStream_t stream) {
    const int threads = (nvec + V - 1) / V < 32 ? 32 : ((nvec + V - 1) / V + 31) / 32 * 32;
    fp8_quant_row_regs_kernel<V><<<static_cast<unsigned>(p.m), threads, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(p.x), static_cast<uint8_t *>(p.q), p.scale, nvec, p.x_stride_row,
        p.q_stride_row);
}

// ------------------------------------------------------------------------------------------------------------------
// GEMM epilogue math shared by both kernels
// ------------------------------------------------------------------------------------------------------------------
__device__ __forceinline__ float fp8_epilogue(float acc, float s, float b) { return fmaf(acc, s, b); }

// e4m3 byte -> f32, exact (0x7F / 0xFF, the NaNs, decode as 480 here: inputs must be finite)
__device__ __forceinline__ float e4m3_to_f32(uint32_t b) {
    const uint32_t e = (b >> 3) & 15u, mant = b & 7u;
    const float mag = e ? __uint_as_float(((e + 120u) << 23) | (mant << 20)) : static_cast<float>(mant) * 0x1p-9f;
    return (b & 0x80u) ? -mag : mag;
}

// ------------------------------------------------------------------------------------------------------------------
// Fallback GEMM (CUDA cores): 64 x 64 output tile per 256-thread block, k steps of 32 through shared memory (fp8
// decoded to f32 on the way in), each thread 4 x 4 outputs (rows ty + 16 i, columns tx + 16 j).
// ------------------------------------------------------------------------------------------------------------------
constexpr int kFbTile = 64, kFbK = 32, kFbThreads = 256;

__global__ void __launch_bounds__(kFbThreads)
    fp8_gemm_fallback_kernel(const uint8_t *__restrict__ a, const uint8_t *__restrict__ w,
                             const float *__restrict__ a_scale, const float *__restrict__ w_scale,
                             const __nv_bfloat16 *__restrict__ bias, __nv_bfloat16 *__restrict__ y, int m, int n,
                             int k, int64_t as, int64_t ws, int64_t ys) {
    __shared__ float sa[kFbK][kFbTile + 1];  // [k][row]; +1: the transposed writes below are conflict-free
    __shared__ float sw[kFbK][kFbTile + 1];  // [k][col]
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int lr = tid >> 2, lk = (tid & 3) * 8;  // loader: tile row lr, 8 k values from lk
    const int n0 = blockIdx.x * kFbTile;
    const int mtiles = (m + kFbTile - 1) / kFbTile;
    for (int mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
        const int m0 = mt * kFbTile;
        float acc[4][4];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
        const uint8_t *ar = a + static_cast<int64_t>(min(m0 + lr, m - 1)) * as;
        const uint8_t *wr = w + static_cast<int64_t>(min(n0 + lr, n - 1)) * ws;
        const bool a_ok = m0 + lr < m, w_ok = n0 + lr < n;
        for (int k0 = 0; k0 < k; k0 += kFbK) {
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                const int kk = k0 + lk + e;
                sa[lk + e][lr] = (a_ok && kk < k) ? e4m3_to_f32(__ldg(ar + kk)) : 0.0f;
                sw[lk + e][lr] = (w_ok && kk < k) ? e4m3_to_f32(__ldg(wr + kk)) : 0.0f;
            }
            __syncthreads();
#pragma unroll 8
            for (int kk = 0; kk < kFbK; ++kk) {
                float av[4], wv[4];
#pragma unroll
                for (int i = 0; i < 4; ++i) av[i] = sa[kk][ty + 16 * i];
#pragma unroll
                for (int j = 0; j < 4; ++j) wv[j] = sw[kk][tx + 16 * j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], wv[j], acc[i][j]);
            }
            __syncthreads();
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int row = m0 + ty + 16 * i;
            if (row >= m) continue;
            const float ra = a_scale[row];
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int col = n0 + tx + 16 * j;
                if (col < n) {
                    const float b = bias ? __bfloat162float(bias[col]) : 0.0f;
                    y[static_cast<int64_t>(row) * ys + col] =
                        __float2bfloat16_rn(fp8_epilogue(acc[i][j], ra * w_scale[col], b));
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Hopper kernel: PTX wrappers (sm_90a only)
// ------------------------------------------------------------------------------------------------------------------
namespace wg {

constexpr int kBM = 128, kBN = 256, kBK = 128;  // CTA tile; kBK fp8 = 128 bytes = one swizzle row
constexpr int kStages = 4;
constexpr int kConsumerWarps = 8;                    // two warpgroups
constexpr int kThreads = kConsumerWarps * 32 + 128;  // + the producer warpgroup (one thread issues the copies)
// Register split (setmaxnreg): the kernel is compiled for 384 threads (168 registers each); the producer
// warpgroup gives registers back and the consumers take them: 128 x 40 + 256 x 232 = 64512 <= 65536.
constexpr int kProducerRegs = 40, kConsumerRegs = 232;
constexpr int kABytes = kBM * kBK;                  // 16 KiB
constexpr int kBBytes = kBN * kBK;                  // 32 KiB
constexpr int kStageBytes = kABytes + kBBytes;
constexpr int kHalfBytes = (kBN / 2) * kBK;         // one 128-row half of the W tile, 16 KiB
constexpr int kSmemBytes = kStages * kStageBytes + 2 * kStages * 8 + 1024;  // + barriers + 1024-byte alignment slack
static_assert(kSmemBytes <= 227 * 1024, "shared memory");
static_assert(2 * kHalfBytes == kBBytes, "the W tile is two 128-row halves");
static_assert(128 * kProducerRegs + kConsumerWarps * 32 * kConsumerRegs <= 65536, "register file");

struct Args {
    const float *a_scale, *w_scale;
    const __nv_bfloat16 *bias;
    __nv_bfloat16 *y;
    int m, n, k;
    int m_units;  // tile rows per tile column, in units of the cluster size (tiles_m rounded up / C)
    int units;    // m_units * tiles_n: the work items, one per cluster at a time
    int vec_store;
    int64_t ys;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define EASEL_FP8_WGMMA 1


__device__ __forceinline__ uint32_t cluster_ctarank() {
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
    return r;
}
__device__ __forceinline__ void cluster_sync() {
    asm volatile("barrier.cluster.arrive.release.aligned;\n\tbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}

// Arrive on the barrier at the same shared-memory offset in CTA `cta` of the cluster (the own CTA included).
__device__ __forceinline__ void mbar_arrive_cluster(uint32_t bar, uint32_t cta) {
    asm volatile(
        "{\n\t.reg .b32 ra;\n\t"
        "mapa.shared::cluster.u32 ra, %0, %1;\n\t"
        "mbarrier.arrive.shared::cluster.b64 _, [ra];\n\t}" ::"r"(bar),
        "r"(cta)
        : "memory");
}

// 2-D tile (c0 = k element, c1 = row) into this CTA's shared memory at dst; completes `bytes` on bar.
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(
            dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
        : "memory");
}
// The same tile to the same shared-memory offset (and the same barrier offset) in every CTA of cta_mask.
__device__ __forceinline__ void tma_load_multicast(uint32_t dst, const CUtensorMap *map, int c0, int c1, uint32_t bar,
                                                   uint16_t cta_mask) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
        " [%0], [%1, {%2, %3}], [%4], %5;" ::"r"(dst),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar), "h"(cta_mask)
        : "memory");
}

// wgmma shared-memory matrix descriptor: K-major, 128-byte swizzle. Bits 0-13 start address >> 4, 16-29 leading
// byte offset >> 4 (unused for swizzled K-major layouts, set to 1), 32-45 stride byte offset >> 4 (1024 bytes: the
// distance between 8-row groups of 128-byte rows), 49-51 base offset (0: every tile starts 1024-byte aligned),
// 62-63 layout (1 = 128B swizzle).
__device__ __forceinline__ uint64_t make_desc(uint32_t saddr) {
    const uint64_t lo = ((saddr & 0x3FFFFu) >> 4) | (1u << 16);
    const uint64_t hi = (1024u >> 4) | (1u << 30);
    return lo | (hi << 32);
}


__device__ __forceinline__ void wgmma_wait0() { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }

#define EASEL_OP8(c, i) \
    c(d[i]), c(d[i + 1]), c(d[i + 2]), c(d[i + 3]), c(d[i + 4]), c(d[i + 5]), c(d[i + 6]), c(d[i + 7])
#define EASEL_OP64(c)                                                                                          \
    EASEL_OP8(c, 0), EASEL_OP8(c, 8), EASEL_OP8(c, 16), EASEL_OP8(c, 24), EASEL_OP8(c, 32), EASEL_OP8(c, 40), \
        EASEL_OP8(c, 48), EASEL_OP8(c, 56)
#define EASEL_REGS64                                                                      \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "             \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "    \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "    \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D[64 x 128] (f32, 64 registers per thread) = A[64 x 32] . B[128 x 32]^T, both e4m3 in shared memory. scale-d = 0:
// the previous contents of D are ignored (so the registers are pure outputs here).
__device__ __forceinline__ void wgmma_zero(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " EASEL_REGS64 ", %64, %65, p, 1, 1;\n\t}"
        : EASEL_OP64("=f")
        : "l"(da), "l"(db), "r"(0));
}
// D += A . B^T
__device__ __forceinline__ void wgmma_acc(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %66, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 " EASEL_REGS64 ", %64, %65, p, 1, 1;\n\t}"
        : EASEL_OP64("+f")
        : "l"(da), "l"(db), "r"(1));
}
#endif  // sm_90a

// C: CTAs per cluster along M (1, or 2 with the W tile multicast to both).
template <int C>
__global__ void __launch_bounds__(kThreads, 1)
    fp8_gemm_wgmma_kernel(const __grid_constant__ CUtensorMap tm_a, const __grid_constant__ CUtensorMap tm_w,
                          const Args args) {
#ifdef EASEL_FP8_WGMMA
    extern __shared__ uint8_t smem_raw[];
    const uint32_t smem = (smem_u32(smem_raw) + 1023u) & ~1023u;  // 128B-swizzled tiles: 1024-byte aligned
    const uint32_t full_bar = smem + kStages * kStageBytes;        // kStages mbarriers: the stage's bytes landed
    const uint32_t empty_bar = full_bar + kStages * 8;             // kStages mbarriers: consumers released it
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const uint32_t rank = C > 1 ? cluster_ctarank() : 0u;

    if (warp == kConsumerWarps && lane == 0) {
        for (int s = 0; s < kStages; ++s) {
            mbar_init(full_bar + 8 * s, 1);                        // the producer's arrive.expect_tx
            mbar_init(empty_bar + 8 * s, C * kConsumerWarps);      // one arrive per consumer warp of every CTA
        }
        mbar_fence_init();
        tma_prefetch(&tm_a);
        tma_prefetch(&tm_w);
    }
    if constexpr (C > 1) cluster_sync();  // the peer's barriers exist before anything is multicast to them
    else __syncthreads();

    const int num_kb = (args.k + kBK - 1) / kBK;
    const int cluster = blockIdx.x / C, clusters = gridDim.x / C;

    if (warp >= kConsumerWarps) {
        // ---------------- producer warpgroup: one thread issues every TMA copy ----------------
        regs_dec<kProducerRegs>();
        if (warp == kConsumerWarps && lane == 0) {
            uint32_t it = 0;
            for (int u = cluster; u < args.units; u += clusters) {
                const int m_tile = (u % args.m_units) * C + static_cast<int>(rank), n_tile = u / args.m_units;
                for (int kb = 0; kb < num_kb; ++kb, ++it) {
                    const uint32_t s = it % kStages, phase = (it / kStages) & 1u;
                    mbar_wait(empty_bar + 8 * s, phase ^ 1u);  // first round: passes at once
                    const uint32_t fb = full_bar + 8 * s;
                    const uint32_t sa = smem + s * kStageBytes, sb = sa + kABytes;
                    mbar_arrive_expect_tx(fb, kStageBytes);  // A + the whole W tile (both halves, both sources)
                    tma_load(sa, &tm_a, kb * kBK, m_tile * kBM, fb);
                    if constexpr (C == 1) {
                        tma_load(sb, &tm_w, kb * kBK, n_tile * kBN, fb);
                        tma_load(sb + kHalfBytes, &tm_w, kb * kBK, n_tile * kBN + kBN / 2, fb);
                    } else {
                        static_assert(C == 2, "clusters of 1 or 2");
                        tma_load_multicast(sb + rank * kHalfBytes, &tm_w, kb * kBK,
                                           n_tile * kBN + static_cast<int>(rank) * (kBN / 2), fb, 0x3);
                    }
                }
            }
        }
        __syncwarp();
    } else {
        // ---------------- consumers: warpgroup wgx owns tile rows 64 wgx .. 64 wgx + 63 ----------------
        regs_inc<kConsumerRegs>();
        const int wgx = warp >> 2, wl = warp & 3, g = lane >> 2, t = lane & 3;
        uint32_t it = 0;
        for (int u = cluster; u < args.units; u += clusters) {
            const int m_tile = (u % args.m_units) * C + static_cast<int>(rank), n_tile = u / args.m_units;
            float acc[2][64];
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int i = 0; i < 64; ++i) acc[h][i] = 0.0f;

            for (int kb = 0; kb < num_kb; ++kb, ++it) {
                const uint32_t s = it % kStages, phase = (it / kStages) & 1u;
                mbar_wait(full_bar + 8 * s, phase);
                const uint32_t sa = smem + s * kStageBytes + wgx * (64 * kBK);  // this warpgroup's 64 A rows
                const uint32_t sb = smem + s * kStageBytes + kABytes;
#pragma unroll
                for (int h = 0; h < 2; ++h) {  // the two 128-column halves of the W tile
                    float d[64];
                    const uint64_t da = make_desc(sa), db = make_desc(sb + h * kHalfBytes);
                    wgmma_fence();
                    wgmma_zero(d, da, db);
#pragma unroll
                    for (int kk = 1; kk < kBK / 32; ++kk)  // k32 step kk: +32 bytes in the swizzled row = +2 in desc
                        wgmma_acc(d, da + 2 * kk, db + 2 * kk);
                    wgmma_commit();
                    wgmma_wait0();
                    fence_regs(d);
                    if (h == 1 && lane < C) {  // every wgmma read of stage s is done: release it (in each CTA)
                        if constexpr (C == 1) mbar_arrive(empty_bar + 8 * s);
                        else mbar_arrive_cluster(empty_bar + 8 * s, static_cast<uint32_t>(lane));
                    }
#pragma unroll
                    for (int i = 0; i < 64; ++i) acc[h][i] += d[i];  // promotion to f32
                    fence_regs(acc[h]);
                }
            }

            // ---- epilogue: fragment (h, j, e): row 16 wl + g (+8 for e >= 2), column 128 h + 8 j + 2 t + (e & 1)
            const int row0 = m_tile * kBM + wgx * 64 + wl * 16 + g, row1 = row0 + 8;
            const float sa0 = row0 < args.m ? args.a_scale[row0] : 0.0f;
            const float sa1 = row1 < args.m ? args.a_scale[row1] : 0.0f;
            __nv_bfloat16 *y0 = args.y + static_cast<int64_t>(row0) * args.ys;
            __nv_bfloat16 *y1 = args.y + static_cast<int64_t>(row1) * args.ys;
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int j = 0; j < 16; ++j) {
                    const int col = n_tile * kBN + h * 128 + j * 8 + 2 * t;
                    if (col >= args.n) continue;
                    const bool has1 = col + 1 < args.n;
                    const float ws0 = __ldg(args.w_scale + col), ws1 = has1 ? __ldg(args.w_scale + col + 1) : 0.0f;
                    float b0 = 0.0f, b1 = 0.0f;
                    if (args.bias) {
                        b0 = __bfloat162float(args.bias[col]);
                        b1 = has1 ? __bfloat162float(args.bias[col + 1]) : 0.0f;
                    }
                    const float v0 = acc[h][4 * j], v1 = acc[h][4 * j + 1], v2 = acc[h][4 * j + 2],
                                v3 = acc[h][4 * j + 3];
                    if (args.vec_store) {  // n even, y 4-byte aligned, ys even: col + 1 < n too
                        if (row0 < args.m)
                            *reinterpret_cast<__nv_bfloat162 *>(y0 + col) = __floats2bfloat162_rn(
                                fp8_epilogue(v0, sa0 * ws0, b0), fp8_epilogue(v1, sa0 * ws1, b1));
                        if (row1 < args.m)
                            *reinterpret_cast<__nv_bfloat162 *>(y1 + col) = __floats2bfloat162_rn(
                                fp8_epilogue(v2, sa1 * ws0, b0), fp8_epilogue(v3, sa1 * ws1, b1));
                    } else {
                        if (row0 < args.m) {
                            y0[col] = __float2bfloat16_rn(fp8_epilogue(v0, sa0 * ws0, b0));
                            if (has1) y0[col + 1] = __float2bfloat16_rn(fp8_epilogue(v1, sa0 * ws1, b1));
                        }
                        if (row1 < args.m) {
                            y1[col] = __float2bfloat16_rn(fp8_epilogue(v2, sa1 * ws0, b0));
                            if (has1) y1[col + 1] = __float2bfloat16_rn(fp8_epilogue(v3, sa1 * ws1, b1));
                        }
                    }
                }
        }
    }
    // No CTA of a cluster exits while its peer may still arrive on its barriers or multicast into its memory.
    if constexpr (C > 1) cluster_sync();
#else
    __trap();  // launched only on compute capability 9.x, which runs the sm_90a build
#endif
}

}  // namespace wg

// ------------------------------------------------------------------------------------------------------------------
// Host: device properties, the driver's tensor-map encoder, path choice
// ------------------------------------------------------------------------------------------------------------------

constexpr int kMaxDevices = 64;
struct DeviceState {
    bool probed = false;
    int cc_major = 0, sms = 0;
    bool wg_probed[2] = {false, false};  // index C - 1: setup tried (smem attribute, occupancy)
    int wg_clusters[2] = {0, 0};         // co-resident clusters of the persistent kernel; 0: that variant can't run
};
std::mutex g_fp8_mutex;
DeviceState g_fp8_dev[kMaxDevices];

// Returns the device's state (probed once), or nullptr after recording a CUDA error.
DeviceState *fp8_device_state(int &dev) {
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess || dev < 0 || dev >= kMaxDevices) {
        set_last_cuda_error(err != cudaSuccess ? err : cudaErrorInvalidDevice);
        return nullptr;
    }
    DeviceState &d = g_fp8_dev[dev];
    if (!d.probed) {
        if ((err = cudaDeviceGetAttribute(&d.cc_major, cudaDevAttrComputeCapabilityMajor, dev)) != cudaSuccess ||
            (err = cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev)) != cudaSuccess) {
            set_last_cuda_error(err);
            return nullptr;
        }
        d.probed = true;
    }
    return &d;
}


// K-major fp8 matrix [rows, k] (row stride `stride` bytes) as a TMA map with 128 x 128 boxes, 128-byte swizzle,
// out-of-bounds elements read as zero.
bool encode_fp8_map(EncodeTiledFn enc, CUtensorMap *map, const void *base, int64_t rows, int64_t k, int64_t stride) {
    if (rows == 1) stride = (k + 15) / 16 * 16;  // a single row's stride is never used
    const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
    const cuuint64_t strides[1] = {static_cast<cuuint64_t>(stride)};
    const cuuint32_t box[2] = {static_cast<cuuint32_t>(wg::kBK), 128u};
    const cuuint32_t estr[2] = {1u, 1u};
    return enc(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void *>(base), dims, strides, box, estr,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <int C> void wgmma_launch_config(cudaLaunchConfig_t &cfg, cudaLaunchAttribute *attr, cudaStream_t stream) {
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = C;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg = {};
    cfg.blockDim = dim3(wg::kThreads, 1, 1);
    cfg.dynamicSmemBytes = wg::kSmemBytes;
    cfg.stream = stream;
    cfg.attrs = attr;
    cfg.numAttrs = C > 1 ? 1 : 0;  // C = 1: a plain launch without clusters
}

// Once per device and variant: opt in to the shared memory, size the persistent grid. False (cached) when the
// variant cannot run here, e.g. no two SMs of a GPC can host a 2-CTA cluster of this size.
template <int C> bool wgmma_ready(DeviceState &d) {
    if (!d.wg_probed[C - 1]) {
        d.wg_probed[C - 1] = true;
        auto kernel = wg::fp8_gemm_wgmma_kernel<C>;
        cudaLaunchConfig_t cfg;
        cudaLaunchAttribute attr[1];
        wgmma_launch_config<C>(cfg, attr, nullptr);
        cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, wg::kSmemBytes);
        int clusters = 0;
        if (err == cudaSuccess && C > 1) {  // co-resident 2-CTA clusters: sms / 2, fewer if a GPC has an odd count
            cfg.gridDim = dim3(static_cast<unsigned>(C * d.sms), 1, 1);
            err = cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg);
        } else if (err == cudaSuccess) {
            int per_sm = 0;
            err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, wg::kThreads, wg::kSmemBytes);
            clusters = per_sm * d.sms;
        }
        if (err != cudaSuccess) (void)cudaGetLastError();  // not sticky: only this variant is given up
        d.wg_clusters[C - 1] = err == cudaSuccess ? clusters : 0;
    }
    return d.wg_clusters[C - 1] > 0;
}

template <int C>
easel_status launch_wgmma(const easel_gemm_fp8_params &p, const CUtensorMap &ma, const CUtensorMap &mw,
                          const DeviceState &d, cudaStream_t stream) {
    auto kernel = wg::fp8_gemm_wgmma_kernel<C>;
    cudaLaunchConfig_t cfg;
    cudaLaunchAttribute attr[1];
    wgmma_launch_config<C>(cfg, attr, stream);
    const int64_t tiles_m = (p.m + wg::kBM - 1) / wg::kBM, tiles_n = (p.n + wg::kBN - 1) / wg::kBN;
    const int64_t m_units = (tiles_m + C - 1) / C;
    const int64_t units = m_units * tiles_n;
    wg::Args args;
    args.a_scale = p.a_scale;
    args.w_scale = p.w_scale;
    args.bias = static_cast<const __nv_bfloat16 *>(p.bias);
    args.y = static_cast<__nv_bfloat16 *>(p.y);
    args.m = static_cast<int>(p.m);
    args.n = static_cast<int>(p.n);
    args.k = static_cast<int>(p.k);
    args.m_units = static_cast<int>(m_units);
    args.units = static_cast<int>(units);
    args.vec_store = (p.n % 2 == 0 && aligned_to(p.y, 4) && (p.m == 1 || p.y_stride_row % 2 == 0)) ? 1 : 0;
    args.ys = p.y_stride_row;
    const int64_t clusters = units < d.wg_clusters[C - 1] ? units : d.wg_clusters[C - 1];
    cfg.gridDim = dim3(static_cast<unsigned>(clusters * C), 1, 1);
    cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, ma, mw, args);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        set_last_cuda_error(err);
        return EASEL_ERR_LAUNCH;
    }
    return launch_status();
}

easel_status launch_fallback(const easel_gemm_fp8_params &p, cudaStream_t stream) {
    const int64_t mtiles = (p.m + kFbTile - 1) / kFbTile, ntiles = (p.n + kFbTile - 1) / kFbTile;
    const dim3 grid(static_cast<unsigned>(ntiles), static_cast<unsigned>(mtiles < 65535 ? mtiles : 65535));
    fp8_gemm_fallback_kernel<<<grid, kFbThreads, 0, stream>>>(
        static_cast<const uint8_t *>(p.a), static_cast<const uint8_t *>(p.w), p.a_scale, p.w_scale,
        static_cast<const __nv_bfloat16 *>(p.bias), static_cast<__nv_bfloat16 *>(p.y), static_cast<int>(p.m),
        static_cast<int>(p.n), static_cast<int>(p.k), p.a_stride_row, p.w_stride_row, p.y_stride_row);
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_quantize_fp8_rowwise_bf16(const easel_quantize_fp8_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_quantize_fp8_params &p = *params;
    if (p.x == nullptr || p.q == nullptr || p.scale == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m < 1 || p.k < 1) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_row < 0 || p.q_stride_row < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m > 1 && (p.x_stride_row < p.k || p.q_stride_row < p.k)) return EASEL_ERR_INVALID_ARGUMENT;
    if (!aligned_to(p.x, 2) || !aligned_to(p.scale, 4)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m > INT32_MAX || p.k > INT32_MAX - 16) return EASEL_ERR_UNSUPPORTED;

    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    const bool vec = p.k % 16 == 0 && p.k <= static_cast<int64_t>(kQuantMaxThreads) * kQuantMaxVecs * 16 &&
                     aligned16(p.x) && aligned16(p.q) && (p.m == 1 || (p.x_stride_row % 8 == 0 && p.q_stride_row % 16 == 0));
    if (vec) {
        const int nvec = static_cast<int>(p.k / 16);
        // the fewest vectors per thread that keep the block at <= 256 threads
        if (nvec <= kQuantMaxThreads) launch_quant_vec<1>(p, nvec, stream);
        else if (nvec <= 2 * kQuantMaxThreads) launch_quant_vec<2>(p, nvec, stream);
        else if (nvec <= 4 * kQuantMaxThreads) launch_quant_vec<4>(p, nvec, stream);
        else if (nvec <= 8 * kQuantMaxThreads) launch_quant_vec<8>(p, nvec, stream);
        else launch_quant_vec<16>(p, nvec, stream);
    } else {
        fp8_quant_row_twopass_kernel<<<static_cast<unsigned>(p.m), kQuantScalarThreads, 0, stream>>>(
            static_cast<const __nv_bfloat16 *>(p.x), static_cast<uint8_t *>(p.q), p.scale, static_cast<int>(p.k),
            p.x_stride_row, p.q_stride_row);
    }
    return launch_status();
}

extern "C" easel_status easel_gemm_fp8_e4m3(const easel_gemm_fp8_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_gemm_fp8_params &p = *params;
    if (p.a == nullptr || p.w == nullptr || p.a_scale == nullptr || p.w_scale == nullptr || p.y == nullptr)
        return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m < 1 || p.n < 1 || p.k < 1) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.a_stride_row < 0 || p.w_stride_row < 0 || p.y_stride_row < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m > 1 && (p.a_stride_row < p.k || p.y_stride_row < p.n)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.n > 1 && p.w_stride_row < p.k) return EASEL_ERR_INVALID_ARGUMENT;
    if (!aligned_to(p.a_scale, 4) || !aligned_to(p.w_scale, 4) || !aligned_to(p.y, 2) || !aligned_to(p.bias, 2))
        return EASEL_ERR_INVALID_ARGUMENT;
    if (p.k % 16 != 0) return EASEL_ERR_UNSUPPORTED;
    if (p.m > INT32_MAX - 256 || p.n > INT32_MAX - 256 || p.k > INT32_MAX - 256) return EASEL_ERR_UNSUPPORTED;

    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    const char *path = std::getenv("EASEL_FP8_GEMM_PATH");
    const bool force_fallback = path && std::strcmp(path, "fallback") == 0;
    const bool no_cluster = path && std::strcmp(path, "nocluster") == 0;
    // TMA: 16-byte aligned bases, row strides multiples of 16 bytes (a single row's stride is unused)
    const bool tma_ok = aligned16(p.a) && aligned16(p.w) && (p.m == 1 || p.a_stride_row % 16 == 0) &&
                        (p.n == 1 || p.w_stride_row % 16 == 0);
    if (!force_fallback && tma_ok) {
        std::lock_guard<std::mutex> lock(g_fp8_mutex);
        int dev = 0;
        DeviceState *d = fp8_device_state(dev);
        if (d == nullptr) return EASEL_ERR_LAUNCH;
        EncodeTiledFn enc = d->cc_major == 9 ? tensor_map_encoder() : nullptr;
        if (enc != nullptr) {
            alignas(64) CUtensorMap ma, mw;
            if (encode_fp8_map(enc, &ma, p.a, p.m, p.k, p.a_stride_row) &&
                encode_fp8_map(enc, &mw, p.w, p.n, p.k, p.w_stride_row)) {
                // 2-CTA clusters when there are two tile rows to pair and the device can host them
                if (!no_cluster && p.m > wg::kBM && wgmma_ready<2>(*d)) return launch_wgmma<2>(p, ma, mw, *d, stream);
                if (wgmma_ready<1>(*d)) return launch_wgmma<1>(p, ma, mw, *d, stream);
            }
        }
    }
    return launch_fallback(p, stream);
}
