// Device/host helpers shared by the element-wise fusion kernels (bias_act.cu, rope.cu, gated_residual.cu); not
// part of the public API. Builds on norm_common.cuh (16-byte pack/unpack, evict-first loads, launch status).
//
// Launch scheme of every vectorized element-wise kernel: the tensor is a flat sequence of 16-byte vectors (8 bf16)
// `i in [0, total)`; a block of kEwThreads threads owns kEwUnroll * kEwThreads consecutive vectors and thread t takes
// vectors base + u * kEwThreads + t (u < kEwUnroll), so each load instruction of a warp covers 512 contiguous bytes
// (within a row) and every thread has kEwUnroll independent 16-byte loads in flight before it computes. The row /
// column of a vector comes from 32-bit divisions (the launcher caps total below 2^31).
#pragma once

#include "norm_common.cuh"

namespace easel {

constexpr int kEwThreads = 256;
constexpr int kEwUnroll = 4;
constexpr int kEwVecsPerBlock = kEwThreads * kEwUnroll;

// Rows of `dim` elements at sum_k idx_k * stride_k (idx_k < count_k, n levels) do not overlap: sorted by stride,
// every level's stride must step over the whole extent of the finer levels. Levels with count <= 1 never matter.
// A sufficient condition (exact for the usual layouts, including transposed ones); negative strides are rejected.
inline bool strided_rows_disjoint(int n, const int64_t *count, const int64_t *stride, int64_t dim) {
    int64_t c[4], s[4];
    int m = 0;
    for (int k = 0; k < n && k < 4; ++k) {
        if (stride[k] < 0) return false;
        if (count[k] > 1) {
            c[m] = count[k];
            s[m] = stride[k];
            ++m;
        }
    }
    for (int a = 1; a < m; ++a)  // insertion sort by stride
        for (int b = a; b > 0 && s[b] < s[b - 1]; --b) {
            int64_t t = s[b]; s[b] = s[b - 1]; s[b - 1] = t;
            t = c[b]; c[b] = c[b - 1]; c[b - 1] = t;
        }
    int64_t extent = dim;
    for (int k = 0; k < m; ++k) {
        if (s[k] < extent) return false;
        if (s[k] > (INT64_MAX - extent) / (c[k] - 1)) return false;  // the extent would overflow
        extent = s[k] * (c[k] - 1) + extent;
    }
    return true;
}

inline unsigned ew_blocks(uint32_t total_vecs) {
    return (total_vecs + kEwVecsPerBlock - 1) / kEwVecsPerBlock;
}

// 8 consecutive values starting at element 8 * idx (16-byte aligned), as floats, through the read-only path
// (parameters reused by many rows: bias, gate, cos/sin tables).
__device__ __forceinline__ void ldg8(const __nv_bfloat16 *p, uint32_t idx, float (&f)[8]) {
    unpack8(__ldg(reinterpret_cast<const uint4 *>(p) + idx), f);
}
__device__ __forceinline__ void ldg8(const float *p, uint32_t idx, float (&f)[8]) {
    const float4 *q = reinterpret_cast<const float4 *>(p) + 2 * idx;
    const float4 a = __ldg(q), b = __ldg(q + 1);
    f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
    f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
}
__device__ __forceinline__ float ld1(const __nv_bfloat16 *p, int64_t k) { return __bfloat162float(p[k]); }
__device__ __forceinline__ float ld1(const float *p, int64_t k) { return p[k]; }

// 2^a (MUFU.EX2, relative error ~2^-22); ftz is harmless here (the result only ever feeds 1 + 2^a).
__device__ __forceinline__ float fast_exp2(float a) {
    float r;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(a));
    return r;
}

// v / (1 + 2^a) with a clamped to <= 125 so the denominator stays finite and below 2^126 (where the fast division
// __fdividef is exact up to its ~2 ulp); a > 125 only for results below 2^-125 |v|, i.e. 0 at bf16 precision up to
// the subnormal range.
__device__ __forceinline__ float div_one_plus_exp2(float v, float a) {
    return __fdividef(v, 1.0f + fast_exp2(fminf(a, 125.0f)));
}

// GELU, tanh approximation (torch F.gelu(v, approximate="tanh")):
//   0.5 v (1 + tanh(u)) = v * sigmoid(2u) = v / (1 + exp(-2u)),  u = sqrt(2/pi) (v + 0.044715 v^3)
// exp(-2u) = 2^(v * (c1 + c3 v^2)) with c1 = -2 sqrt(2/pi) log2(e), c3 = 0.044715 c1. No 1 + tanh cancellation.
__device__ __forceinline__ float gelu_tanh(float v) {
    constexpr float c1 = -2.0f * 0.7978845608028654f * 1.4426950408889634f;
    constexpr float c3 = 0.044715f * c1;
    return div_one_plus_exp2(v, v * fmaf(c3, v * v, c1));
}

// SiLU: v * sigmoid(v) = v / (1 + 2^(-v log2(e)))
__device__ __forceinline__ float silu(float v) { return div_one_plus_exp2(v, v * -1.4426950408889634f); }

}  // namespace easel
