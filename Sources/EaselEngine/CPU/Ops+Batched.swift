import CEaselCPU
import Foundation

/// Operators over a batch stacked by rows: item b owns rows [b·rowsPerItem, (b+1)·rowsPerItem) and takes its
/// per-item vector (modulation shift/scale/gate) from row b of a [B, k·dim] tensor. In place where they can be,
/// so a denoising step allocates little beyond its GEMM outputs.
extension Ops {
    /// Rows of several [R_i, n] tensors stacked into one [ΣR_i, n].
    public static func stackRows(_ parts: [Tensor]) -> Tensor {
        let n = parts[0].lastDim
        var data = [Float]()
        data.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for p in parts { precondition(p.lastDim == n); data.append(contentsOf: p.data) }
        return Tensor(shape: [data.count / n, n], data: data)
    }

    /// LayerNorm without affine (eps), then AdaLN modulation x·(1 + scale_b) + shift_b, where shift_b and scale_b are
    /// chunks `shiftChunk` and `scaleChunk` (each `dim` wide) of row b of `mod`.
    public static func layerNormModulate(_ x: Tensor, rowsPerItem: Int, mod: Tensor, shiftChunk: Int, scaleChunk: Int,
                                         eps: Float = 1e-6) -> Tensor {
        let n = x.lastDim, rows = x.rows, modWidth = mod.lastDim
        var y = x.data
        y.withUnsafeMutableBufferPointer { p in
            mod.data.withUnsafeBufferPointer { m in
                for r in 0..<rows {
                    let row = p.baseAddress! + r * n
                    let b = r / rowsPerItem
                    let sh = m.baseAddress! + b * modWidth + shiftChunk * n
                    let sc = m.baseAddress! + b * modWidth + scaleChunk * n
                    var mean: Float = 0
                    for i in 0..<n { mean += row[i] }
                    mean /= Float(n)
                    var v: Float = 0
                    for i in 0..<n { let d = row[i] - mean; v += d * d }
                    let inv = 1 / (v / Float(n) + eps).squareRoot()
                    for i in 0..<n { row[i] = (row[i] - mean) * inv * (1 + sc[i]) + sh[i] }
                }
            }
        }
        return Tensor(shape: x.shape, data: y)
    }

    /// residual += gate_b ⊙ x, gate_b = chunk `gateChunk` of row b of `mod`.
    public static func gatedAddInPlace(_ residual: inout Tensor, _ x: Tensor, rowsPerItem: Int, mod: Tensor, gateChunk: Int) {
        let n = x.lastDim, rows = x.rows, modWidth = mod.lastDim
        precondition(residual.count == x.count)
        residual.data.withUnsafeMutableBufferPointer { p in
            x.data.withUnsafeBufferPointer { q in
                mod.data.withUnsafeBufferPointer { m in
                    for r in 0..<rows {
                        let g = m.baseAddress! + (r / rowsPerItem) * modWidth + gateChunk * n
                        let dst = p.baseAddress! + r * n, src = q.baseAddress! + r * n
                        for i in 0..<n { dst[i] += g[i] * src[i] }
                    }
                }
            }
        }
    }

    public static func geluTanhInPlace(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { p in easel_gelu_tanh(p.baseAddress!, p.count) }
    }

    public static func siluInPlace(_ x: inout Tensor) {
        x.data.withUnsafeMutableBufferPointer { p in easel_silu(p.baseAddress!, p.count) }
    }

    /// RMSNorm of every head's `headDim`-wide slice, in place, with a [headDim] weight.
    public static func headRMSNormInPlace(_ x: inout Tensor, headDim: Int, weight: Tensor, eps: Float = 1e-6) {
        let slices = x.count / headDim
        x.data.withUnsafeMutableBufferPointer { p in
            weight.data.withUnsafeBufferPointer { w in
                for s in 0..<slices {
                    let row = p.baseAddress! + s * headDim
                    var ss: Float = 0
                    for i in 0..<headDim { ss += row[i] * row[i] }
                    let inv = 1 / (ss / Float(headDim) + eps).squareRoot()
                    for i in 0..<headDim { row[i] = row[i] * inv * w[i] }
                }
            }
        }
    }

    /// Copies rows [src, src+count) of `from` into rows [dst, dst+count) of `to` (same width).
    @inline(__always)
    public static func copyRows(_ from: Tensor, _ src: Int, into to: inout Tensor, _ dst: Int, count: Int) {
        let n = from.lastDim
        precondition(to.lastDim == n)
        to.data.withUnsafeMutableBufferPointer { t in
            from.data.withUnsafeBufferPointer { f in
                (t.baseAddress! + dst * n).update(from: f.baseAddress! + src * n, count: count * n)
            }
        }
    }
}
