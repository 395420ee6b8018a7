import CEaselCPU
import Foundation

/// The CPU backend's operators. Plain f32 loops plus sgemm; this code is the numerical oracle the
/// GPU backend is checked against, so it stays simple and readable.
public enum Ops {
    // MARK: - Linear algebra

    /// y[.., out] = x[.., in] · Wᵀ + b, with W stored as torch does: [out, in].
    public static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let inF = w.shape[1], outF = w.shape[0]
        precondition(x.lastDim == inF, "linear: input has \(x.lastDim) features, weight expects \(inF)")
        let rows = x.rows
        var outShape = x.shape; outShape[outShape.count - 1] = outF
        var y = [Float](repeating: 0, count: rows * outF)
        y.withUnsafeMutableBufferPointer { yp in
            if let b {
                for r in 0..<rows { for j in 0..<outF { yp[r * outF + j] = b.data[j] } }
            }
            x.data.withUnsafeBufferPointer { xp in
                w.data.withUnsafeBufferPointer { wp in
                    BLAS.gemm(m: rows, n: outF, k: inF, a: xp.baseAddress!, lda: inF,
                              b: wp.baseAddress!, ldb: inF, transB: true,
                              c: yp.baseAddress!, ldc: outF, beta: b == nil ? 0 : 1)
                }
            }
        }
        return Tensor(shape: outShape, data: y)
    }

    /// Multi-head scaled-dot-product attention over [S, H*D] activations (heads interleaved per row,
    /// as a Linear produces them). `bias` is added to the scores: [H, Sq, Sk] (T5) or nil; `causal` masks j > i (CLIP).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float? = nil,
                                 bias: Tensor? = nil, causal: Bool = false) -> Tensor {
        let sq = q.rows, sk = k.rows, hd = q.lastDim, dh = hd / heads
        let dv = v.lastDim / heads
        let sc = scale ?? 1 / Float(dh).squareRoot()
        var out = [Float](repeating: 0, count: sq * heads * dv)
        var scores = [Float](repeating: 0, count: sq * sk)
        q.data.withUnsafeBufferPointer { qp in
        k.data.withUnsafeBufferPointer { kp in
        v.data.withUnsafeBufferPointer { vp in
        out.withUnsafeMutableBufferPointer { op in
        scores.withUnsafeMutableBufferPointer { s in
            for h in 0..<heads {
                BLAS.gemm(m: sq, n: sk, k: dh, a: qp.baseAddress! + h * dh, lda: hd,
                          b: kp.baseAddress! + h * dh, ldb: k.lastDim, transB: true,
                          c: s.baseAddress!, ldc: sk, alpha: sc)
                if let bias {
                    bias.data.withUnsafeBufferPointer { bp in
                        let base = h * sq * sk
                        for i in 0..<(sq * sk) { s[i] += bp[base + i] }
                    }
                }
                easel_softmax_rows(s.baseAddress!, Int32(sq), Int32(sk), causal ? 1 : 0)
                BLAS.gemm(m: sq, n: dv, k: sk, a: s.baseAddress!, lda: sk,
                          b: vp.baseAddress! + h * dv, ldb: v.lastDim, transB: false,
                          c: op.baseAddress! + h * dv, ldc: heads * dv)
            }
        }}}}}
        return Tensor(shape: [sq, heads * dv], data: out)
    }

    // MARK: - Normalization

    /// LayerNorm over the last dimension; weight/bias optional (FLUX's AdaLN norms have neither).
    public static func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float) -> Tensor {
        let n = x.lastDim, rows = x.rows
        var y = x.data
        y.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * n
                var mean: Float = 0
                for i in 0..<n { mean += row[i] }
                mean /= Float(n)
                var v: Float = 0
                for i in 0..<n { let d = row[i] - mean; v += d * d }
                let inv = 1 / (v / Float(n) + eps).squareRoot()
                for i in 0..<n { row[i] = (row[i] - mean) * inv }
                if let weight { for i in 0..<n { row[i] *= weight.data[i] } }
                if let bias { for i in 0..<n { row[i] += bias.data[i] } }
            }
        }
        return Tensor(shape: x.shape, data: y)
    }

    /// RMSNorm over the last dimension (FLUX QK-norm, T5's LayerNorm).
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
        let n = x.lastDim, rows = x.rows
        var y = x.data
        y.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * n
                var ss: Float = 0
                for i in 0..<n { ss += row[i] * row[i] }
                let inv = 1 / (ss / Float(n) + eps).squareRoot()
                if let weight {
                    for i in 0..<n { row[i] = row[i] * inv * weight.data[i] }
                } else {
                    for i in 0..<n { row[i] *= inv }
                }
            }
        }
        return Tensor(shape: x.shape, data: y)
    }

    /// GroupNorm on [C, H, W] (one image).
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let c = x.shape[0], hw = x.count / c, cpg = c / groups
        var y = x.data
        y.withUnsafeMutableBufferPointer { p in
            for g in 0..<groups {
                let base = p.baseAddress! + g * cpg * hw
                let n = cpg * hw
                var mean: Double = 0
                for i in 0..<n { mean += Double(base[i]) }
                mean /= Double(n)
                var v: Double = 0
                for i in 0..<n { let d = Double(base[i]) - mean; v += d * d }
                let inv = Float(1 / (v / Double(n) + Double(eps)).squareRoot())
                let m = Float(mean)
                for ch in 0..<cpg {
                    let cIdx = g * cpg + ch
                    let w = weight.data[cIdx] * inv, b = bias.data[cIdx] - m * w
                    let row = base + ch * hw
                    for i in 0..<hw { row[i] = row[i] * w + b }
                }
            }
        }
        return Tensor(shape: x.shape, data: y)
    }

    // MARK: - Convolution

    /// 2-D convolution of one image [Cin, H, W] with weight [Cout, Cin, kh, kw], by im2col + sgemm.
    /// `columnBudget` caps the im2col buffer (floats); output rows are processed in bands to stay under it.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                              columnBudget: Int = 1 << 20) -> Tensor {
        let cin = x.shape[0], h = x.shape[1], w = x.shape[2]
        let cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        precondition(weight.shape[1] == cin, "conv2d: input has \(cin) channels, weight expects \(weight.shape[1])")
        let oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1
        let kdim = cin * kh * kw, npix = oh * ow
        var out = [Float](repeating: 0, count: cout * npix)
        if let bias {
            for o in 0..<cout { for i in 0..<npix { out[o * npix + i] = bias.data[o] } }
        }
        x.data.withUnsafeBufferPointer { xp in
        weight.data.withUnsafeBufferPointer { wp in
        out.withUnsafeMutableBufferPointer { op in
            if kh == 1 && kw == 1 && stride == 1 && padding == 0 {
                BLAS.gemm(m: cout, n: npix, k: cin, a: wp.baseAddress!, lda: cin,
                          b: xp.baseAddress!, ldb: npix, transB: false,
                          c: op.baseAddress!, ldc: npix, beta: bias == nil ? 0 : 1)
                return
            }
            // im2col over bands of output rows, so the column buffer stays bounded (a VAE's last
            // conv at 1024² would otherwise need Cin·9·H·W floats): cols [Cin*kh*kw, band*OW].
            let band = max(1, min(oh, columnBudget / max(kdim * ow, 1)))
            var cols = [Float](repeating: 0, count: kdim * band * ow)
            cols.withUnsafeMutableBufferPointer { cp in
                for oy0 in Swift.stride(from: 0, to: oh, by: band) {
                    let rowsHere = min(band, oh - oy0), n = rowsHere * ow
                    // Channels are independent: split them over the BLAS threads (the copy is memory-bound).
                    let colsBase = cp.baseAddress!, xBase = xp.baseAddress!
                    let workers = max(1, min(BLAS.threads, cin))
                    DispatchQueue.concurrentPerform(iterations: workers) { part in
                        for c in Swift.stride(from: part, to: cin, by: workers) {
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let row = colsBase + ((c * kh + ky) * kw + kx) * n
                                    Self.im2colRow(row: row, src: xBase + c * h * w, rows: rowsHere, firstRow: oy0, h: h, w: w,
                                                   ow: ow, ky: ky, kx: kx, stride: stride, padding: padding)
                                }
                            }
                        }
                    }
                    BLAS.gemm(m: cout, n: n, k: kdim, a: wp.baseAddress!, lda: kdim,
                              b: cp.baseAddress!, ldb: n, transB: false,
                              c: op.baseAddress! + oy0 * ow, ldc: npix, beta: bias == nil ? 0 : 1)
                }
            }
        }}}
        return Tensor(shape: [cout, oh, ow], data: out)
    }

    /// One (channel, ky, kx) row of the im2col matrix for output rows [firstRow, firstRow+rows): zero padding
    /// outside the image; for stride 1 the in-bounds span of each output row is one contiguous copy.
    @inline(__always)
    static func im2colRow(row: UnsafeMutablePointer<Float>, src: UnsafePointer<Float>, rows: Int, firstRow: Int,
                          h: Int, w: Int, ow: Int, ky: Int, kx: Int, stride: Int, padding: Int) {
        for r in 0..<rows {
            let dst = row + r * ow
            let iy = (firstRow + r) * stride - padding + ky
            if iy < 0 || iy >= h { dst.update(repeating: 0, count: ow); continue }
            let line = src + iy * w
            if stride == 1 {
                let lo = max(0, padding - kx), hi = min(ow, w + padding - kx)
                if lo > 0 { dst.update(repeating: 0, count: lo) }
                if hi > lo { (dst + lo).update(from: line + (lo - padding + kx), count: hi - lo) }
                if hi < ow { (dst + max(hi, 0)).update(repeating: 0, count: ow - max(hi, 0)) }
            } else {
                for ox in 0..<ow {
                    let ix = ox * stride - padding + kx
                    dst[ox] = (ix >= 0 && ix < w) ? line[ix] : 0
                }
            }
        }
    }

    /// Nearest-neighbour 2x upsampling of [C, H, W].
    public static func upsampleNearest2x(_ x: Tensor) -> Tensor {
        let c = x.shape[0], h = x.shape[1], w = x.shape[2]
        var out = [Float](repeating: 0, count: c * 4 * h * w)
        x.data.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                for ch in 0..<c {
                    for y in 0..<(2 * h) {
                        let src = xp.baseAddress! + (ch * h + y / 2) * w
                        let dst = op.baseAddress! + (ch * 2 * h + y) * 2 * w
                        for xx in 0..<(2 * w) { dst[xx] = src[xx / 2] }
                    }
                }
            }
        }
        return Tensor(shape: [c, 2 * h, 2 * w], data: out)
    }

    // MARK: - Element-wise

    public static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        Tensor(shape: x.shape, data: x.data.map(f))
    }

    public static func silu(_ x: Tensor) -> Tensor { var y = x; siluInPlace(&y); return y }
    /// Exact (erf) GELU, torch's default.
    public static func gelu(_ x: Tensor) -> Tensor { map(x) { 0.5 * $0 * (1 + erff($0 * 0.70710678118654752)) } }
    /// GELU with the tanh approximation (FLUX's feed-forward, T5's gated-gelu "gelu_new").
    public static func geluTanh(_ x: Tensor) -> Tensor { var y = x; geluTanhInPlace(&y); return y }
    /// CLIP's quick_gelu: x·σ(1.702x).
    public static func quickGelu(_ x: Tensor) -> Tensor { map(x) { $0 / (1 + expf(-1.702 * $0)) } }

    public static func activation(_ name: String) throws -> (Tensor) -> Tensor {
        switch name {
        case "gelu": return gelu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_tanh", "gelu-approximate": return geluTanh
        case "quick_gelu": return quickGelu
        case "silu", "swish": return silu
        case "relu": return { map($0) { max($0, 0) } }
        default: throw EngineError("unsupported activation '\(name)'")
        }
    }

    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        var y = a.data
        y.withUnsafeMutableBufferPointer { p in b.data.withUnsafeBufferPointer { q in
            for i in 0..<p.count { p[i] += q[i] }
        }}
        return Tensor(shape: a.shape, data: y)
    }

    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "mul: \(a.shape) vs \(b.shape)")
        var y = a.data
        y.withUnsafeMutableBufferPointer { p in b.data.withUnsafeBufferPointer { q in
            for i in 0..<p.count { p[i] *= q[i] }
        }}
        return Tensor(shape: a.shape, data: y)
    }

    /// Rows [start, start+count) of a [R, n] tensor.
    public static func rows(_ x: Tensor, _ start: Int, _ count: Int) -> Tensor {
        let n = x.lastDim
        return Tensor(shape: [count, n], data: Array(x.data[(start * n)..<((start + count) * n)]))
    }
}

extension Ops {
    /// Rows of an embedding table [V, D] picked by `ids` → [ids.count, D].
    public static func embedding(_ table: Tensor, _ ids: [Int]) -> Tensor {
        let v = table.shape[0], d = table.lastDim
        var y = [Float](repeating: 0, count: ids.count * d)
        table.data.withUnsafeBufferPointer { tp in
            y.withUnsafeMutableBufferPointer { yp in
                for (r, id) in ids.enumerated() {
                    precondition(id >= 0 && id < v, "embedding: token id \(id) outside the vocabulary of \(v)")
                    (yp.baseAddress! + r * d).update(from: tp.baseAddress! + id * d, count: d)
                }
            }
        }
        return Tensor(shape: [ids.count, d], data: y)
    }

    /// Transpose of a 2-D tensor: [R, C] → [C, R] (also [C, H, W] viewed as [C, H*W] → [H*W, C]).
    public static func transpose(_ x: Tensor) -> Tensor {
        let r = x.shape[0], c = x.count / max(r, 1)
        var y = [Float](repeating: 0, count: x.count)
        let tile = 32
        x.data.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for i0 in stride(from: 0, to: r, by: tile) {
                    for j0 in stride(from: 0, to: c, by: tile) {
                        for i in i0..<min(i0 + tile, r) {
                            for j in j0..<min(j0 + tile, c) { yp[j * r + i] = xp[i * c + j] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [c, r], data: y)
    }
}
