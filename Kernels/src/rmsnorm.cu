// RMSNorm, bf16 in/out, f32 math: y = x / sqrt(mean(x^2) + eps) * weight.
//
// Vectorized kernel: a row is split over TPR threads (a power-of-two lane group of a warp for short rows such as
// FLUX's 128-wide QK-norm, or a 128-thread block for long rows), each holding VECS 16-byte vectors (8 bf16) in
// registers, so x is read from memory exactly once. Scalar fallback for unaligned or odd shapes.
#include "norm_common.cuh"

namespace easel {
namespace {

template <int TPR, int VECS, int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    rmsnorm_vec_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *__restrict__ weight, __nv_bfloat16 *y,
                       uint32_t rows, uint32_t n_inner, int dim, int64_t xso, int64_t xsi, int64_t yso, int64_t ysi,
                       float eps) {
    constexpr int kRowsPerBlock = BLOCK / TPR;
    __shared__ float smem[TPR > 32 ? TPR / 32 : 1];
    const int t = static_cast<int>(threadIdx.x) % TPR;
    // 32-bit row arithmetic (the launcher caps rows below 2^31): a 64-bit division is a subroutine call whose
    // calling convention costs a register spill on sm_80.
    const uint32_t row = blockIdx.x * kRowsPerBlock + threadIdx.x / TPR;
    const bool active = row < rows;  // inactive lanes still join the shuffles
    const uint32_t o = active ? row / n_inner : 0u, i = active ? row - o * n_inner : 0u;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x + o * xso + i * xsi);
    const int nvec = dim >> 3;

    float v[VECS][8];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
        const int idx = j * TPR + t;
        uint4 q = make_uint4(0u, 0u, 0u, 0u);  // bf16 zeros pad the row to TPR * VECS vectors
        if (active && idx < nvec) q = load16(xr + idx);
        unpack8(q, v[j]);
#pragma unroll
        for (int k = 0; k < 8; ++k) ss = fmaf(v[j][k], v[j][k], ss);
    }
    ss = row_sum<TPR>(ss, smem);
    const float r = rsqrtf(ss / static_cast<float>(dim) + eps);
    if (!active) return;

    const uint4 *wr = reinterpret_cast<const uint4 *>(weight);
    uint4 *yr = reinterpret_cast<uint4 *>(y + o * yso + i * ysi);
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
        const int idx = j * TPR + t;
        if (idx < nvec) {
            float w[8], out[8];
            unpack8(__ldg(wr + idx), w);
#pragma unroll
            for (int k = 0; k < 8; ++k) out[k] = v[j][k] * r * w[k];
            yr[idx] = pack8(out);
        }
    }
}

__global__ void __launch_bounds__(kFallbackThreads)
    rmsnorm_scalar_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *__restrict__ weight, __nv_bfloat16 *y,
                          uint32_t n_inner, int dim, int64_t xso, int64_t xsi, int64_t yso, int64_t ysi, float eps) {
    __shared__ float smem[kFallbackThreads / 32];
    const uint32_t row = blockIdx.x;
    const uint32_t o = row / n_inner, i = row - o * n_inner;
    const __nv_bfloat16 *xr = x + o * xso + i * xsi;
    __nv_bfloat16 *yr = y + o * yso + i * ysi;
    float ss = 0.0f;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads) {
        const float a = __bfloat162float(xr[k]);
        ss = fmaf(a, a, ss);
    }
    ss = block_sum(ss, smem);  // ends with a barrier: every x read is done before any y write (in place)
    const float r = rsqrtf(ss / static_cast<float>(dim) + eps);
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads)
        yr[k] = __float2bfloat16_rn(__bfloat162float(xr[k]) * r * __bfloat162float(weight[k]));
}

template <int TPR, int VECS, int BLOCK>
easel_status launch_vec(const easel_rmsnorm_params &p, int64_t rows, cudaStream_t stream) {
    constexpr int kRowsPerBlock = BLOCK / TPR;
    const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
    rmsnorm_vec_kernel<TPR, VECS, BLOCK><<<static_cast<unsigned>(blocks), BLOCK, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(p.x), static_cast<const __nv_bfloat16 *>(p.weight),
        static_cast<__nv_bfloat16 *>(p.y), static_cast<uint32_t>(rows), static_cast<uint32_t>(p.n_inner),
        static_cast<int>(p.dim), p.x_stride_outer,
        p.x_stride_inner, p.y_stride_outer, p.y_stride_inner, p.eps);
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_rmsnorm_bf16(const easel_rmsnorm_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_rmsnorm_params &p = *params;
    if (p.x == nullptr || p.weight == nullptr || p.y == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.n_outer < 0 || p.n_inner < 1 || p.dim < 1 || p.dim > INT32_MAX) return EASEL_ERR_INVALID_ARGUMENT;
    if (!(p.eps >= 0.0f)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_outer < 0 || p.x_stride_inner < 0) return EASEL_ERR_INVALID_ARGUMENT;
    if (!rows_disjoint(p.n_outer, p.n_inner, p.dim, p.y_stride_outer, p.y_stride_inner))
        return EASEL_ERR_INVALID_ARGUMENT;
    if (p.n_outer == 0) return EASEL_OK;
    if (p.n_outer > INT32_MAX / p.n_inner) return EASEL_ERR_UNSUPPORTED;  // rows < 2^31 (32-bit row math)
    const int64_t rows = p.n_outer * p.n_inner;
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);

    VecShape s;
    const bool vec_ok = vec_shape(p.dim, &s) && aligned16(p.x) && aligned16(p.y) && aligned16(p.weight) &&
                        p.x_stride_outer % 8 == 0 && p.x_stride_inner % 8 == 0 && p.y_stride_outer % 8 == 0 &&
                        p.y_stride_inner % 8 == 0;
    if (vec_ok) {
#define EASEL_RMS_CASE(TPR, VECS, BLOCK) \
    if (s.tpr == TPR && s.vecs == VECS) return launch_vec<TPR, VECS, BLOCK>(p, rows, stream);
        EASEL_RMS_CASE(1, 1, 256)
        EASEL_RMS_CASE(2, 1, 256)
        EASEL_RMS_CASE(4, 1, 256)
        EASEL_RMS_CASE(8, 1, 256)
        EASEL_RMS_CASE(16, 1, 256)
        EASEL_RMS_CASE(32, 1, 256)
        EASEL_RMS_CASE(32, 2, 256)
        EASEL_RMS_CASE(32, 3, 256)
        EASEL_RMS_CASE(32, 4, 256)
        EASEL_RMS_CASE(128, 2, 128)
        EASEL_RMS_CASE(128, 3, 128)
        EASEL_RMS_CASE(128, 4, 128)
        EASEL_RMS_CASE(128, 5, 128)
        EASEL_RMS_CASE(128, 6, 128)
        EASEL_RMS_CASE(128, 7, 128)
        EASEL_RMS_CASE(128, 8, 128)
#undef EASEL_RMS_CASE
    }
    rmsnorm_scalar_kernel<<<static_cast<unsigned>(rows), kFallbackThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(p.x), static_cast<const __nv_bfloat16 *>(p.weight),
        static_cast<__nv_bfloat16 *>(p.y), static_cast<uint32_t>(p.n_inner), static_cast<int>(p.dim), p.x_stride_outer,
        p.x_stride_inner,
        p.y_stride_outer, p.y_stride_inner, p.eps);
    return launch_status();
}
