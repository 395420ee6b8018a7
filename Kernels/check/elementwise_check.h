// Helpers shared by the element-wise check programs (bias_act_check.cu, rope_check.cu, gated_residual_check.cu):
// strided bf16 tensors with random non-zero gaps between rows, and the post-run scan of an output buffer (every
// output element written, nothing between output rows touched). Same protocol as rmsnorm_check.cu.
#pragma once

#include "common.h"

namespace easel_check {

// Rows of `dim` elements at off + sum_k idx_k * stride[k], idx_k < count[k]; rows enumerated row-major (last level
// fastest), which is also the order of the dense float copy and of the reference.
struct Strided {
    std::vector<int64_t> count, stride;
    int64_t dim = 0, off = 0;
    int64_t rows() const {
        int64_t n = 1;
        for (int64_t c : count) n *= c;
        return n;
    }
    int64_t elems() const {  // buffer size
        int64_t e = off + dim;
        for (size_t k = 0; k < count.size(); ++k) e += (count[k] - 1) * stride[k];
        return e;
    }
    int64_t row_base(int64_t r) const {
        int64_t b = off;
        for (size_t k = count.size(); k-- > 0;) {
            b += (r % count[k]) * stride[k];
            r /= count[k];
        }
        return b;
    }
};

// Host buffer for `t`: rows from gen(row, k) (a bf16 bit pattern), gaps random non-zero bf16; `dense` gets the
// row values as floats in row order.
template <class Gen> std::vector<uint16_t> make_input(const Strided &t, easel_ref::Rng &rng, std::vector<float> &dense,
                                                      Gen gen) {
    std::vector<uint16_t> h(t.elems());
    for (auto &v : h) v = gap_bf16(rng);
    dense.assign(t.rows() * t.dim, 0.0f);
    for (int64_t r = 0; r < t.rows(); ++r) {
        const int64_t base = t.row_base(r);
        for (int64_t k = 0; k < t.dim; ++k) {
            h[base + k] = gen(r, k);
            dense[r * t.dim + k] = easel_ref::bf16_to_f32(h[base + k]);
        }
    }
    return h;
}

// After a run: the output rows of `t` in `after` gathered densely into `out`; elements that are still NaN
// (poison) counted as unwritten, elements outside the rows that differ from `before` counted as clobbered.
inline void scan_output(const Strided &t, const std::vector<uint16_t> &before, const std::vector<uint16_t> &after,
                        std::vector<uint16_t> &out, int64_t &unwritten, int64_t &clobbered) {
    std::vector<uint8_t> is_out(after.size(), 0);
    out.assign(t.rows() * t.dim, 0);
    unwritten = clobbered = 0;
    for (int64_t r = 0; r < t.rows(); ++r) {
        const int64_t base = t.row_base(r);
        for (int64_t k = 0; k < t.dim; ++k) {
            is_out[base + k] = 1;
            out[r * t.dim + k] = after[base + k];
            if (easel_ref::bf16_is_nan(after[base + k])) ++unwritten;
        }
    }
    for (size_t i = 0; i < after.size(); ++i)
        if (!is_out[i] && after[i] != before[i]) ++clobbered;
}

// N(0, sd^2) rows with sd = 10^U(lo, hi) per row (rows of different magnitudes), never zero.
struct RowScale {
    std::vector<double> sd;
    RowScale(easel_ref::Rng &rng, int64_t rows, double lo, double hi) : sd(rows) {
        for (auto &s : sd) s = std::pow(10.0, lo + (hi - lo) * rng.uniform());
    }
};

}  // namespace easel_check
