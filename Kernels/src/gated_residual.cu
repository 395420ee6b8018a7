// Gated residual add, bf16 in/out, f32 math: out[b, s, :] = x[b, s, :] + gate[b, :] * y[b, s, :] (FLUX's
// hidden_states + gate.unsqueeze(1) * branch_output), gate bf16 or f32 with a batch stride (a chunk of the
// [B, 6D] modulation). Usually in place (out == x).
//
// Vectorized kernel: flat 16-byte vectors (elementwise_common.cuh); x and y read once with evict-first 128-bit
// loads (all 2 * kEwUnroll of a thread issued before any math), gate (B x D, reused by all S rows) through the
// read-only cache, out written with 128-bit stores. Scalar fallback: one 256-thread block per row.
#include "elementwise_common.cuh"

namespace easel {
namespace {

template <typename GateT>
__global__ void __launch_bounds__(kEwThreads)
    gated_residual_vec_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *y, const GateT *__restrict__ gate,
                              __nv_bfloat16 *out, uint32_t total, uint32_t nvec, uint32_t seq, int64_t xsb,
                              int64_t xss, int64_t ysb, int64_t yss, int64_t osb, int64_t oss, int64_t gsb) {
    const uint32_t base = blockIdx.x * kEwVecsPerBlock + threadIdx.x;
    // Loads are unconditional (a thread past the end re-reads the last vector) and only the stores are guarded:
    // with a branch around each load, nvcc reused one register pair for all of them and serialized the loads
    // (two 16-byte loads in flight per thread; 86-88 % of copy bandwidth on the H100).
    uint4 qx[kEwUnroll], qy[kEwUnroll];
    float g[kEwUnroll][8];
    uint32_t bat[kEwUnroll], pos[kEwUnroll], col[kEwUnroll];
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {
        const uint32_t i = min(base + u * kEwThreads, total - 1u);
        const uint32_t r = i / nvec;
        col[u] = i - r * nvec;
        bat[u] = r / seq;
        pos[u] = r - bat[u] * seq;
        qx[u] = load16(reinterpret_cast<const uint4 *>(x + bat[u] * xsb + pos[u] * xss) + col[u]);
        qy[u] = load16(reinterpret_cast<const uint4 *>(y + bat[u] * ysb + pos[u] * yss) + col[u]);
    }
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) ldg8(gate + bat[u] * gsb, col[u], g[u]);
#pragma unroll
    for (int u = 0; u < kEwUnroll; ++u) {
        if (base + u * kEwThreads < total) {
            float fx[8], fy[8];
            unpack8(qx[u], fx);
            unpack8(qy[u], fy);
#pragma unroll
            for (int k = 0; k < 8; ++k) fx[k] = fmaf(g[u][k], fy[k], fx[k]);
            reinterpret_cast<uint4 *>(out + bat[u] * osb + pos[u] * oss)[col[u]] = pack8(fx);
        }
    }
}

template <typename GateT>
__global__ void __launch_bounds__(kFallbackThreads)
    gated_residual_scalar_kernel(const __nv_bfloat16 *x, const __nv_bfloat16 *y, const GateT *__restrict__ gate,
                                 __nv_bfloat16 *out, uint32_t seq, int dim, int64_t xsb, int64_t xss, int64_t ysb,
                                 int64_t yss, int64_t osb, int64_t oss, int64_t gsb) {
    const uint32_t row = blockIdx.x;
    const uint32_t b = row / seq, s = row - b * seq;
    const __nv_bfloat16 *xr = x + b * xsb + s * xss, *yr = y + b * ysb + s * yss;
    const GateT *gr = gate + b * gsb;
    __nv_bfloat16 *orow = out + b * osb + s * oss;
    for (int k = threadIdx.x; k < dim; k += kFallbackThreads)
        orow[k] = __float2bfloat16_rn(fmaf(ld1(gr, k), __bfloat162float(yr[k]), __bfloat162float(xr[k])));
}

template <typename GateT>
easel_status dispatch(const easel_gated_residual_params &p, bool vec_ok, int64_t rows, cudaStream_t stream) {
    const __nv_bfloat16 *x = static_cast<const __nv_bfloat16 *>(p.x), *y = static_cast<const __nv_bfloat16 *>(p.y);
    const GateT *gate = static_cast<const GateT *>(p.gate);
    __nv_bfloat16 *out = static_cast<__nv_bfloat16 *>(p.out);
    if (vec_ok) {
        const int64_t nvec = p.dim / 8, total = rows * nvec;
        gated_residual_vec_kernel<GateT><<<ew_blocks(static_cast<uint32_t>(total)), kEwThreads, 0, stream>>>(
            x, y, gate, out, static_cast<uint32_t>(total), static_cast<uint32_t>(nvec), static_cast<uint32_t>(p.seq),
            p.x_stride_batch, p.x_stride_seq, p.y_stride_batch, p.y_stride_seq, p.out_stride_batch,
            p.out_stride_seq, p.gate_stride_batch);
    } else {
        gated_residual_scalar_kernel<GateT><<<static_cast<unsigned>(rows), kFallbackThreads, 0, stream>>>(
            x, y, gate, out, static_cast<uint32_t>(p.seq), static_cast<int>(p.dim), p.x_stride_batch, p.x_stride_seq,
            p.y_stride_batch, p.y_stride_seq, p.out_stride_batch, p.out_stride_seq, p.gate_stride_batch);
    }
    return launch_status();
}

}  // namespace
}  // namespace easel

extern "C" easel_status easel_gated_residual_bf16(const easel_gated_residual_params *params) {
    using namespace easel;
    if (params == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    const easel_gated_residual_params &p = *params;
    if (p.x == nullptr || p.y == nullptr || p.gate == nullptr || p.out == nullptr) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.gate_dtype != EASEL_DTYPE_BF16 && p.gate_dtype != EASEL_DTYPE_F32) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch < 0 || p.seq < 1 || p.dim < 1 || p.dim > INT32_MAX) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.x_stride_batch < 0 || p.x_stride_seq < 0 || p.y_stride_batch < 0 || p.y_stride_seq < 0 ||
        p.gate_stride_batch < 0)
        return EASEL_ERR_INVALID_ARGUMENT;
    if (!rows_disjoint(p.batch, p.seq, p.dim, p.out_stride_batch, p.out_stride_seq)) return EASEL_ERR_INVALID_ARGUMENT;
    if (p.batch == 0) return EASEL_OK;
    if (p.batch > INT32_MAX / p.seq) return EASEL_ERR_UNSUPPORTED;  // rows < 2^31 (32-bit row math)
    const int64_t rows = p.batch * p.seq;
    const int64_t gate_align = p.gate_dtype == EASEL_DTYPE_BF16 ? 8 : 4;  // elements per 16 bytes
    const bool vec_ok = p.dim % 8 == 0 && aligned16(p.x) && aligned16(p.y) && aligned16(p.gate) &&
                        aligned16(p.out) && p.x_stride_batch % 8 == 0 && p.x_stride_seq % 8 == 0 &&
                        p.y_stride_batch % 8 == 0 && p.y_stride_seq % 8 == 0 && p.out_stride_batch % 8 == 0 &&
                        p.out_stride_seq % 8 == 0 && p.gate_stride_batch % gate_align == 0 &&
                        rows * (p.dim / 8) <= INT32_MAX;  // 32-bit vector index; larger: scalar kernel
    cudaStream_t stream = static_cast<cudaStream_t>(p.stream);
    if (p.gate_dtype == EASEL_DTYPE_BF16) return dispatch<__nv_bfloat16>(p, vec_ok, rows, stream);
    return dispatch<float>(p, vec_ok, rows, stream);
}
