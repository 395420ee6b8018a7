// Bias + activation, bf16 in/out, f32 math: y = act(x + bias), act = GELU (tanh approximation) or SiLU.
//
// Vectorized kernel: flat 16-byte vectors (elementwise_common.cuh); x read once with evict-first 128-bit loads,
// bias (one row, reused by every row) through the read-only cache, y written with 128-bit stores. Scalar fallback
// (one 256-thread block per row) for unaligned pointers, odd strides or dim % 8 != 0.
#include "elementwise_common.cuh"

namespace easel {
namespace {

// Activation tags (types rather than an enum so the kernel names in the ptxas / SASS reports read
// bias_act_vec_kernel<GeluTanh, true>).
struct GeluTanh {
    static __device__ __forceinline__ float f(float v) { return gelu_tanh(v); }
};
struct Silu {
    static __device__ __forceinline__ float f(float v) { return silu(v); }
};

template <class A, bool HasBias>
__global__ void __launch_bounds__(kEwThreads)
    bias_act_vec_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *__restrict__ bias, __nv_bfloat16 *y,
                        uint32_t total, uint32_t nvec, int64_t xs, int64_t ys) {
    const uint32_t base = blockIdx.x * kEwVecsPerBlock + threadIdx.x;
    uint4 q[kEwUnroll];
    uint32_t row[kEwUnroll], col[kEwUnroll];
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {  // all loads first: kEwUnroll 16-byte loads in flight per thread
        const uint32_t i = base + u * kEwThreads;
        row[u] = i / nvec;
        col[u] = i - row[u] * nvec;
        q[u] = make_uint4(0u, 0u, 0u, 0u);
        if (i < total) q[u] = load16(reinterpret_cast<const uint4 *>(x + row[u] * xs) + col[u]);
    }
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {
        if (base + u * kEwThreads < total) {
            float v[8];
            unpack8(q[u], v);
            if constexpr (HasBias) {
                float b[8];
                ldg8(bias, col[u], b);
#pragma unroll
                for (int k = 0; k < 8; ++k) v[k] += b[k];
            }
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = A::f(v[k]);
            reinterpret_cast<uint4 *>(y + row[u] * ys)[col[u]] = pack8(v);
        }
    }
}

template <class A>
__global__ void __launch_bounds__(kFallbackThreads)
    bias_act_scalar_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *__restrict__ bias, __nv_bfloat16 *y,
                           int dim, int64_t xs, int64_t ys) {
    const uint32_t row = blockIdx.x;
    const __nv_bfloat16 *xr = x + row * xs;
    __nv_bfloat16 *yr = y + row * ys;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads) {
        float v = __bfloat162float(xr[k]);
        if (bias != nullptr) v += __bfloat162float(bias[k]);
        yr[k] = __float2bfloat16_rn(A::f(v));
    }
}

template <class A> easel_status bias_act(const easel_bias_act_params *params) {
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_bias_act_params &p = *params;
    if (p.x == nullptr || p.y == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.rows < 0 || p.dim < 1 || p.dim > INT32_MAX) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_row < 0 || p.y_stride_row < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.rows > 1 && p.y_stride_row < p.dim) return EASEL_ERR_INVALID_ARGUMENT;  // output rows overlap
    if (p.rows == 0) return EASEL_OK;
    if (p.rows > INT32_MAX) return EASEL_ERR_UNSUPPORTED;
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    const __nv_bfloat16 *x = static_cast<const __nv_bfloat16 *>(p.x);
    const __nv_bfloat16 *bias = static_cast<const __nv_bfloat16 *>(p.bias);
    __nv_bfloat16 *y = static_cast<__nv_bfloat16 *>(p.y);

    const int64_t nvec = p.dim / 8, total = p.rows * nvec;  // < 2^31 * 2^28
    const bool vec_ok = p.dim % 8 == 0 && aligned16(p.x) && aligned16(p.y) && aligned16(p.bias) &&
                        p.x_stride_row % 8 == 0 && p.y_stride_row % 8 == 0 &&
                        total <= INT32_MAX;  // 32-bit vector index; larger tensors take the scalar kernel
    if (vec_ok) {
        const unsigned blocks = ew_blocks(static_cast<uint32_t>(total));
        if (bias != nullptr)
            bias_act_vec_kernel<A, true><<<blocks, kEwThreads, 0, stream>>>(
                x, bias, y, static_cast<uint32_t>(total), static_cast<uint32_t>(nvec), p.x_stride_row,
                p.y_stride_row);
        else
            bias_act_vec_kernel<A, false><<<blocks, kEwThreads, 0, stream>>>(
                x, bias, y, static_cast<uint32_t>(total), static_cast<uint32_t>(nvec), p.x_stride_row,
                p.y_stride_row);
        return launch_status();
    }
    bias_act_scalar_kernel<A><<<static_cast<unsigned>(p.rows), kFallbackThreads, 0, stream>>>(
        x, bias, y, static_cast<int>(p.dim), p.x_stride_row, p.y_stride_row);
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_bias_gelu_tanh_bf16(const easel_bias_act_params *params) {
    return easel::bias_act<easel::GeluTanh>(params);
}

extern "C" easel_status easel_bias_silu_bf16(const easel_bias_act_params *params) {
    return easel::bias_act<easel::Silu>(params);
}
