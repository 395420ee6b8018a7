// LayerNorm (no affine) fused with AdaLN modulation, bf16 in/out, f32 statistics:
//     y[b, s, :] = (x - mean) * rstd * (1 + scale[b, :]) + shift[b, :]
// The row stays in registers between the mean pass, the (two-pass, so no cancellation) variance pass and the
// output pass: x is read once, y written once, shift/scale (B x D, shared by all S rows of a batch) hit in L2.
#include "norm_common.cuh"

namespace easel {
namespace {

// 8 consecutive modulation values starting at element 8 * idx, as floats.
__device__ __forceinline__ void load_mod8(const __nv_bfloat16 *p, int idx, float (&f)[8]) {
    unpack8(__ldg(reinterpret_cast<const uint4 *>(p) + idx), f);
}
__device__ __forceinline__ void load_mod8(const float *p, int idx, float (&f)[8]) {
    const float4 *q = reinterpret_cast<const float4 *>(p) + 2 * idx;
    const float4 a = __ldg(q), b = __ldg(q + 1);
    f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
    f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
}
__device__ __forceinline__ float mod_at(const __nv_bfloat16 *p, int64_t k) { return __bfloat162float(p[k]); }
__device__ __forceinline__ float mod_at(const float *p, int64_t k) { return p[k]; }

template <typename ModT, int TPR, int VECS, int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    ln_adaln_vec_kernel(const __nv_bfloat16 *x, const ModT *__restrict__ shift, const ModT *__restrict__ scale,
                        __nv_bfloat16 *y, uint32_t rows, uint32_t seq, int dim, int64_t xsb, int64_t xss, int64_t ysb,
                        int64_t yss, int64_t shsb, int64_t scsb, float eps) {
    constexpr int kRowsPerBlock = BLOCK / TPR;
    __shared__ float smem[TPR > 32 ? TPR / 32 : 1];
    const int t = static_cast<int>(threadIdx.x) % TPR;
    // 32-bit row arithmetic (the launcher caps rows below 2^31): a 64-bit division is a subroutine call whose
    // calling convention costs a register spill on sm_80.
    const uint32_t row = blockIdx.x * kRowsPerBlock + threadIdx.x / TPR;
    const bool active = row < rows;  // inactive lanes still join the shuffles
    const uint32_t b = active ? row / seq : 0u, s = active ? row - b * seq : 0u;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x + b * xsb + s * xss);
    const int nvec = dim >> 3;
    const float inv_dim = 1.0f / static_cast<float>(dim);

    float v[VECS][8];
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
        const int idx = j * TPR + t;
        uint4 q = make_uint4(0u, 0u, 0u, 0u);  // bf16 zeros pad the row to TPR * VECS vectors
        if (active && idx < nvec) q = load16(xr + idx);
        unpack8(q, v[j]);
#pragma unroll
        for (int k = 0; k < 8; ++k) sum += v[j][k];
    }
    const float mean = row_sum<TPR>(sum, smem) * inv_dim;
    float sq = 0.0f;
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
        if (j * TPR + t < nvec) {  // padding slots hold 0, not mean: keep them out of the variance
#pragma unroll
            for (int k = 0; k < 8; ++k) {
                v[j][k] -= mean;
                sq = fmaf(v[j][k], v[j][k], sq);
            }
        }
    }
    const float rstd = rsqrtf(row_sum<TPR>(sq, smem) * inv_dim + eps);
    if (!active) return;

    const ModT *sh = shift + b * shsb;
    const ModT *sc = scale + b * scsb;
    uint4 *yr = reinterpret_cast<uint4 *>(y + b * ysb + s * yss);
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
        const int idx = j * TPR + t;
        if (idx < nvec) {
            float fsh[8], fsc[8], out[8];
            load_mod8(sh, idx, fsh);
            load_mod8(sc, idx, fsc);
#pragma unroll
            for (int k = 0; k < 8; ++k) out[k] = fmaf(v[j][k] * rstd, 1.0f + fsc[k], fsh[k]);
            yr[idx] = pack8(out);
        }
    }
}

template <typename ModT>
__global__ void __launch_bounds__(kFallbackThreads)
    ln_adaln_scalar_kernel(const __nv_bfloat16 *x, const ModT *__restrict__ shift, const ModT *__restrict__ scale,
                           __nv_bfloat16 *y, uint32_t seq, int dim, int64_t xsb, int64_t xss, int64_t ysb,
                           int64_t yss, int64_t shsb, int64_t scsb, float eps) {
    __shared__ float smem[kFallbackThreads / 32];
    const uint32_t row = blockIdx.x;
    const uint32_t b = row / seq, s = row - b * seq;
    const __nv_bfloat16 *xr = x + b * xsb + s * xss;
    __nv_bfloat16 *yr = y + b * ysb + s * yss;
    const float inv_dim = 1.0f / static_cast<float>(dim);
    float sum = 0.0f;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads) sum += __bfloat162float(xr[k]);
    const float mean = block_sum(sum, smem) * inv_dim;
    float sq = 0.0f;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads) {
        const float d = __bfloat162float(xr[k]) - mean;
        sq = fmaf(d, d, sq);
    }
    // block_sum ends with a barrier: every x read is done before any y write (in place)
    const float rstd = rsqrtf(block_sum(sq, smem) * inv_dim + eps);
    const ModT *sh = shift + b * shsb;
    const ModT *sc = scale + b * scsb;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads) {
        const float d = __bfloat162float(xr[k]) - mean;
        yr[k] = __float2bfloat16_rn(fmaf(d * rstd, 1.0f + mod_at(sc, k), mod_at(sh, k)));
    }
}

template <typename ModT, int TPR, int VECS, int BLOCK>
easel_status launch_vec(const easel_layernorm_adaln_params &p, int64_t rows, cudaStream_t stream) {
    constexpr int kRowsPerBlock = BLOCK / TPR;
    const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
    ln_adaln_vec_kernel<ModT, TPR, VECS, BLOCK><<<static_cast<unsigned>(blocks), BLOCK, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(p.x), static_cast<const ModT *>(p.shift),
        static_cast<const ModT *>(p.scale), static_cast<__nv_bfloat16 *>(p.y), static_cast<uint32_t>(rows),
        static_cast<uint32_t>(p.seq), static_cast<int>(p.dim), p.x_stride_batch, p.x_stride_seq, p.y_stride_batch, p.y_stride_seq,
        p.shift_stride_batch, p.scale_stride_batch, p.eps);
    return launch_status();
}

template <typename ModT>
easel_status dispatch(const easel_layernorm_adaln_params &p, int64_t rows, bool vec_ok, const VecShape &s,
                      cudaStream_t stream) {
    if (vec_ok) {
#define EASEL_LN_CASE(TPR, VECS, BLOCK) \
    if (s.tpr == TPR && s.vecs == VECS) return launch_vec<ModT, TPR, VECS, BLOCK>(p, rows, stream);
        EASEL_LN_CASE(1, 1, 256)
        EASEL_LN_CASE(2, 1, 256)
        EASEL_LN_CASE(4, 1, 256)
        EASEL_LN_CASE(8, 1, 256)
        EASEL_LN_CASE(16, 1, 256)
        EASEL_LN_CASE(32, 1, 256)
        EASEL_LN_CASE(32, 2, 256)
        EASEL_LN_CASE(32, 3, 256)
        EASEL_LN_CASE(32, 4, 256)
        EASEL_LN_CASE(128, 2, 128)
        EASEL_LN_CASE(128, 3, 128)
        EASEL_LN_CASE(128, 4, 128)
        EASEL_LN_CASE(128, 5, 128)
        EASEL_LN_CASE(128, 6, 128)
        EASEL_LN_CASE(128, 7, 128)
        EASEL_LN_CASE(128, 8, 128)
#undef EASEL_LN_CASE
    }
    ln_adaln_scalar_kernel<ModT><<<static_cast<unsigned>(rows), kFallbackThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(p.x), static_cast<const ModT *>(p.shift),
        static_cast<const ModT *>(p.scale), static_cast<__nv_bfloat16 *>(p.y), static_cast<uint32_t>(p.seq),
        static_cast<int>(p.dim),
        p.x_stride_batch, p.x_stride_seq, p.y_stride_batch, p.y_stride_seq, p.shift_stride_batch,
        p.scale_stride_batch, p.eps);
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_layernorm_adaln_bf16(const easel_layernorm_adaln_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_layernorm_adaln_params &p = *params;
    if (p.x == nullptr || p.shift == nullptr || p.scale == nullptr || p.y == nullptr)
        return EASEL_ERR_INVALID_ARGUMENT;
    if (p.mod_dtype != EASEL_DTYPE_BF16 && p.mod_dtype != EASEL_DTYPE_F32) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch < 0 || p.seq < 1 || p.dim < 1 || p.dim > INT32_MAX) return EASEL_ERR_INVALID_ARGUMENT;
    if (!(p.eps >= 0.0f)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_batch < 0 || p.x_stride_seq < 0 || p.shift_stride_batch < 0 || p.scale_stride_batch < 0)
        return EASEL_ERR_INVALID_ARGUMENT;
    if (!rows_disjoint(p.batch, p.seq, p.dim, p.y_stride_batch, p.y_stride_seq)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch == 0) return EASEL_OK;
    if (p.batch > INT32_MAX / p.seq) return EASEL_ERR_UNSUPPORTED;  // rows < 2^31 (32-bit row math)
    const int64_t rows = p.batch * p.seq;
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);

    // f32 modulation: 8 values are two 16-byte loads, so a stride of a multiple of 8 keeps them aligned too.
    VecShape s;
    const bool vec_ok = vec_shape(p.dim, &s) && aligned16(p.x) && aligned16(p.y) && aligned16(p.shift) &&
                        aligned16(p.scale) && p.x_stride_batch % 8 == 0 && p.x_stride_seq % 8 == 0 &&
                        p.y_stride_batch % 8 == 0 && p.y_stride_seq % 8 == 0 && p.shift_stride_batch % 8 == 0 &&
                        p.scale_stride_batch % 8 == 0;
    if (p.mod_dtype == EASEL_DTYPE_BF16) return dispatch<__nv_bfloat16>(p, rows, vec_ok, s, stream);
    return dispatch<float>(p, rows, vec_ok, s, stream);
}
