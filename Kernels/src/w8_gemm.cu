// int8 weight-only matrix multiply for small batches (M = 1..16), bf16 activations, f32 accumulation:
//     y[m, n] = (sum_k x[m, k] * w[n, k]) * scale[n] (+ bias[n])
//
// Memory-bound GEMV-like kernel on the CUDA cores (no tensor cores): the int8 weights are read exactly once with
// 128-bit evict-first loads, x (M x K bf16, small) through the read-only path (L1 / L2 hits), dequantized in
// registers with the prmt + magic-number trick, multiplied in f32 for all M rows at once (M is a template
// parameter so the M x kRows accumulators stay in registers), reduced with a warp reduce-scatter (shuffles) and
// one shared-memory step across the warps of the block, then scaled, biased and rounded once to bf16.
//
// Launch shape: one block per kRows = 4 consecutive output channels (rows of w); the block's T threads (T = K/16
// rounded up to whole warps, at most 256) split K: thread t takes the 16-byte chunks c = t + j * T of each of the
// 4 rows (so every warp load instruction reads 512 contiguous bytes of one weight row), U chunks (x 4 rows) per
// loop iteration with all their weight loads issued before any math.
#include "norm_common.cuh"

namespace easel {
namespace {

constexpr int kW8Rows = 4;         // output channels per block
constexpr int kW8MaxThreads = 256; // threads per block (K split over them)
constexpr int kW8MaxM = 16;

// 4 int8 (one 32-bit word) -> 4 floats, exact: byte u = s + 128 (s ^ 0x80) is placed in the low byte of the f32
// 2^23 (0x4B000000), giving 2^23 + u; subtracting 2^23 + 128 leaves s. One PRMT + one FADD per element.
__device__ __forceinline__ void dequant4(uint32_t w, float *f) {
    const uint32_t t = w ^ 0x80808080u;
#pragma unroll
    for (int i = 0; i < 4; ++i)
        f[i] = __uint_as_float(__byte_perm(t, 0x4B000000u, 0x7440u + i)) - 8388736.0f;  // 2^23 + 128
}

// 8 bf16 (one 16-byte vector) -> 8 floats (a bf16 is the upper half of an f32).
__device__ __forceinline__ void bf16x8_to_f32(const uint4 &v, float *f) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        f[2 * i] = __uint_as_float(w[i] << 16);
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

// Warp reduce-scatter of NV values (NV a power of two): at each butterfly step a lane keeps one half of its values
// and adds its partner's copy of that half, so NV values cost NV - 1 shuffles in total (while NV > 1) instead of
// 5 * NV. Afterwards v[i], i < max(NV / 32, 1), is the warp-wide sum of value index base + i (returned); for
// NV < 32 the remaining steps are plain butterflies and all lanes with equal high bits hold the same sum.
template <int LEN, int O, int NV>
__device__ __forceinline__ void reduce_scatter_step(float (&v)[NV], int lane, int &base) {
    if constexpr (O > 0) {
        if constexpr (LEN > 1) {
            const bool upper = (lane & O) != 0;
#pragma unroll
            for (int i = 0; i < LEN / 2; ++i) {
                const float send = upper ? v[i] : v[i + LEN / 2];
                const float keep = upper ? v[i + LEN / 2] : v[i];
                v[i] = keep + __shfl_xor_sync(0xffffffffu, send, O);
            }
            if (upper) base += LEN / 2;
            reduce_scatter_step<LEN / 2, O / 2>(v, lane, base);
        } else {
            v[0] += __shfl_xor_sync(0xffffffffu, v[0], O);
            reduce_scatter_step<1, O / 2>(v, lane, base);
        }
    }
}

template <int NV> __device__ __forceinline__ int warp_reduce_scatter(float (&v)[NV], int lane) {
    int base = 0;
    reduce_scatter_step<NV, 16>(v, lane, base);
    return base;
}

// M: rows of x (1, 2, 4, 8, 16; an M in between runs the next larger instantiation with the extra rows masked).
// U: chunks per thread per loop iteration (loads in flight: U * kW8Rows 16-byte weight loads per thread).
template <int M, int U, bool HasBias>
__global__ void __launch_bounds__(kW8MaxThreads)
    w8a16_gemv_kernel(const __nv_bfloat16 *__restrict__ x, const int8_t *__restrict__ w,
                      const float *__restrict__ scale, const __nv_bfloat16 *__restrict__ bias,
                      __nv_bfloat16 *__restrict__ y, int m_rows, int n, int chunks, int64_t xs, int64_t ws,
                      int64_t ys) {
    constexpr int kNV = M * kW8Rows;  // accumulators per thread, index m * kW8Rows + r
    constexpr int kPerLane = kNV >= 32 ? kNV / 32 : 1;
    __shared__ float red[kW8MaxThreads / 32][kNV];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int threads = blockDim.x;
    const int n0 = blockIdx.x * kW8Rows;

    // Row pointers; rows past n (last block) are clamped to n - 1 so every load is valid (their sums are dropped).
    const uint4 *wr[kW8Rows];
#pragma unroll
    for (int r = 0; r < kW8Rows; ++r)
        wr[r] = reinterpret_cast<const uint4 *>(w + static_cast<int64_t>(min(n0 + r, n - 1)) * ws);
    // x rows past m_rows (M rounded up to the template) read row 0 again; their sums are never stored.
    const uint4 *xr[M];
#pragma unroll
    for (int m = 0; m < M; ++m)
        xr[m] = reinterpret_cast<const uint4 *>(x + static_cast<int64_t>(m < m_rows ? m : 0) * xs);

    float acc[kNV];
#pragma unroll
    for (int i = 0; i < kNV; ++i) acc[i] = 0.0f;

    for (int c0 = tid; c0 < chunks; c0 += U * threads) {
        uint4 q[U][kW8Rows];
#pragma unroll
        for (int u = 0; u < U; ++u) {  // every weight load of the iteration first
            const int c = c0 + u * threads;
#pragma unroll
            for (int r = 0; r < kW8Rows; ++r) {
                q[u][r] = make_uint4(0u, 0u, 0u, 0u);
                if (c < chunks) q[u][r] = load16(wr[r] + c);
            }
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int c = c0 + u * threads;
            if (c >= chunks) break;
#pragma unroll
            for (int h = 0; h < 2; ++h) {  // 8 of the chunk's 16 k values at a time
                float wf[kW8Rows][8];
#pragma unroll
                for (int r = 0; r < kW8Rows; ++r) {
                    dequant4(h ? q[u][r].z : q[u][r].x, &wf[r][0]);
                    dequant4(h ? q[u][r].w : q[u][r].y, &wf[r][4]);
                }
#pragma unroll
                for (int m = 0; m < M; ++m) {
                    float xf[8];
                    bf16x8_to_f32(__ldg(xr[m] + 2 * c + h), xf);
#pragma unroll
                    for (int r = 0; r < kW8Rows; ++r)
#pragma unroll
                        for (int e = 0; e < 8; ++e) acc[m * kW8Rows + r] = fmaf(xf[e], wf[r][e], acc[m * kW8Rows + r]);
                }
            }
        }
    }

    const int base = warp_reduce_scatter<kNV>(acc, lane);
    if (kNV >= 32 || (lane & (32 / kNV - 1)) == 0) {
#pragma unroll
        for (int i = 0; i < kPerLane; ++i) red[warp][base + i] = acc[i];
    }
    __syncthreads();
    if (tid < kNV) {
        const int nwarps = threads >> 5;
        float s = 0.0f;
        for (int k = 0; k < nwarps; ++k) s += red[k][tid];
        const int m = tid / kW8Rows, col = n0 + tid % kW8Rows;
        if (m < m_rows && col < n) {
            float v = s * scale[col];
            if constexpr (HasBias) v += __bfloat162float(bias[col]);
            y[static_cast<int64_t>(m) * ys + col] = __float2bfloat16_rn(v);
        }
    }
}

template <int M, int U>
void launch_m(const easel_gemm_w8_params &p, unsigned blocks, int threads, int chunks, cudaStream_t stream) {
    const __nv_bfloat16 *x = static_cast<const __nv_bfloat16 *>(p.x);
    const int8_t *w = static_cast<const int8_t *>(p.w);
    const __nv_bfloat16 *bias = static_cast<const __nv_bfloat16 *>(p.bias);
    __nv_bfloat16 *y = static_cast<__nv_bfloat16 *>(p.y);
    const int m = static_cast<int>(p.m), n = static_cast<int>(p.n);
    if (bias != nullptr)
        w8a16_gemv_kernel<M, U, true><<<blocks, threads, 0, stream>>>(x, w, p.scale, bias, y, m, n, chunks,
                                                                      p.x_stride_row, p.w_stride_row, p.y_stride_row);
    else
        w8a16_gemv_kernel<M, U, false><<<blocks, threads, 0, stream>>>(x, w, p.scale, bias, y, m, n, chunks,
                                                                       p.x_stride_row, p.w_stride_row, p.y_stride_row);
}

inline bool aligned_to(const void *p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

}  // namespace
}  // namespace easel

extern "C" easel_status easel_gemm_w8a16_bf16(const easel_gemm_w8_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_gemm_w8_params &p = *params;
    if (p.x == nullptr || p.w == nullptr || p.scale == nullptr || p.y == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m < 1 || p.n < 1 || p.k < 1) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_row < 0 || p.w_stride_row < 0 || p.y_stride_row < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m > 1 && (p.x_stride_row < p.k || p.y_stride_row < p.n)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.n > 1 && p.w_stride_row < p.k) return EASEL_ERR_INVALID_ARGUMENT;
    if (!aligned_to(p.scale, 4) || !aligned_to(p.y, 2) || !aligned_to(p.bias, 2)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.m > kW8MaxM) return EASEL_ERR_UNSUPPORTED;  // a tensor-core GEMM's job
    if (p.k % 16 != 0 || !aligned16(p.x) || !aligned16(p.w)) return EASEL_ERR_UNSUPPORTED;
    if ((p.m > 1 && p.x_stride_row % 8 != 0) || (p.n > 1 && p.w_stride_row % 16 != 0)) return EASEL_ERR_UNSUPPORTED;
    if (p.n > INT32_MAX - kW8Rows || p.k > INT32_MAX - kW8Rows) return EASEL_ERR_UNSUPPORTED;

    const int chunks = static_cast<int>(p.k / 16);
    const int threads = chunks >= kW8MaxThreads ? kW8MaxThreads : (chunks + 31) / 32 * 32;
    const unsigned blocks = static_cast<unsigned>((p.n + kW8Rows - 1) / kW8Rows);
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    // 2 chunks per iteration for small M (8 weight loads in flight per thread), 1 where the accumulators and the
    // dequantized weights already fill the registers.
    if (p.m == 1) launch_m<1, 2>(p, blocks, threads, chunks, stream);
    else if (p.m == 2) launch_m<2, 2>(p, blocks, threads, chunks, stream);
    else if (p.m <= 4) launch_m<4, 2>(p, blocks, threads, chunks, stream);
    else if (p.m <= 8) launch_m<8, 1>(p, blocks, threads, chunks, stream);
    else launch_m<16, 1>(p, blocks, threads, chunks, stream);
    return launch_status();
}
