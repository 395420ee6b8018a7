// Device helpers shared by the row-normalization kernels (not part of the public API).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "easel_kernels.h"

namespace easel {

// Records the failed launch's error for easel_last_cuda_error() (status.cu).
void set_last_cuda_error(cudaError_t err);

// Status of the launch just issued (cudaGetLastError also clears a non-sticky launch error).
inline easel_status launch_status() {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) {
        set_last_cuda_error(err);
        return EASEL_ERR_LAUNCH;
    }
    return EASEL_OK;
}

inline bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Rows (o, i) of `dim` elements at o * s_outer + i * s_inner do not overlap (one of the two nestings is dense
// enough). A stride whose count is 1 is never used and so never matters.
inline bool rows_disjoint(int64_t n_outer, int64_t n_inner, int64_t dim, int64_t s_outer, int64_t s_inner) {
    if (s_outer < 0 || s_inner < 0) return false;
    if (n_outer <= 1) s_outer = n_inner * (n_inner > 1 ? s_inner : dim);
    if (n_inner <= 1) s_inner = dim;
    return (s_inner >= dim && s_outer >= n_inner * s_inner) || (s_outer >= dim && s_inner >= n_outer * s_outer);
}

constexpr int kMaxVecDim = 8192;     // largest dim the register-resident (vectorized) kernels take
constexpr int kFallbackThreads = 256;

// 8 bf16 <-> 8 floats through one 16-byte vector.
__device__ __forceinline__ void unpack8(const uint4 &v, float (&f)[8]) {
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        float2 t = __bfloat1622float2(h[k]);
        f[2 * k] = t.x;
        f[2 * k + 1] = t.y;
    }
}

__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
    uint4 v;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) h[k] = __floats2bfloat162_rn(f[2 * k], f[2 * k + 1]);
    return v;
}

// One 16-byte load of data read once (x): ld.global.cs, evict-first (LDG.E.EF.128), as llm.c's load128cs. Through
// an intrinsic so it stays one 128-bit load: a plain `v = ptr[i]` under a predicate is split by nvcc 13 into four
// predicated 32-bit loads (seen in the SASS; Scripts/build-kernels now checks for it).
__device__ __forceinline__ uint4 load16(const uint4 *p) { return __ldcs(p); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Sum over the TPR threads that own one row; every thread of the row gets the total.
// TPR <= 32: a power-of-two lane group inside a warp (all 32 lanes must call).
// TPR > 32: the whole block is one row (blockDim.x == TPR, a multiple of 32); smem holds TPR / 32 floats.
template <int TPR>
__device__ __forceinline__ float row_sum(float v, float *smem) {
    if constexpr (TPR <= 32) {
#pragma unroll
        for (int off = TPR / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
        return v;
    } else {
        constexpr int kWarps = TPR / 32;
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        v = warp_sum(v);
        if (lane == 0) smem[warp] = v;
        __syncthreads();
        float t = lane < kWarps ? smem[lane] : 0.0f;
        t = warp_sum(t);
        __syncthreads();  // smem may be reused by the next reduction
        return t;
    }
}

// Block-wide sum for the scalar fallback kernels (blockDim.x == kFallbackThreads).
__device__ __forceinline__ float block_sum(float v, float *smem) { return row_sum<kFallbackThreads>(v, smem); }

// Launch shape of the vectorized kernels for a row of `nvec` 16-byte vectors:
// TPR threads per row, VECS vectors per thread, BLOCK threads per block.
struct VecShape {
    int tpr, vecs, block;
};

inline bool vec_shape(int64_t dim, VecShape *s) {
    if (dim % 8 != 0 || dim > kMaxVecDim) return false;
    const int nvec = static_cast<int>(dim / 8);
    if (nvec <= 32) {
        int tpr = 1;
        while (tpr < nvec) tpr *= 2;
        *s = {tpr, 1, 256};
    } else if (nvec <= 128) {
        *s = {32, (nvec + 31) / 32, 256};
    } else {
        *s = {128, (nvec + 127) / 128, 128};
    }
    return true;
}

}  // namespace easel
