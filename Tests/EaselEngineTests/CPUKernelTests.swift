import CEaselCPU
import XCTest
@testable import EaselEngine

/// The vectorized element-wise kernels against float64 references, on both the AVX2 and the scalar path.
final class CPUKernelTests: XCTestCase {
    override func tearDown() { easel_cpu_allow_simd(1) }

    /// Inputs over the whole useful range, plus the edges where exp over/underflows.
    func inputs() -> [Float] {
        var g = GaussianNoise(seed: 11)
        var xs: [Float] = (0..<4093).map { _ in g.next() * 6 }          // odd count: exercises the scalar tail
        xs += [0, -0.0, 1e-8, -1e-8, 30, -30, 90, -90, 200, -200, Float.leastNormalMagnitude]
        return xs
    }

    /// Worst |got − want| in units of (relative 4e-6 of the value + 2e-7 of the input's size): f32 `1 + tanh(u)`
    /// cancels for very negative inputs, so torch's own formula is only that good there.
    func worst(_ got: [Float], _ want: [Double], _ xs: [Float]) -> Double {
        var w = 0.0
        for i in 0..<got.count {
            let err = abs(Double(got[i]) - want[i])
            let tol = 4e-6 * abs(want[i]) + 2e-7 * max(1.0, abs(Double(xs[i])))
            w = max(w, err / tol)
        }
        return w
    }

    func test_geluTanhAndSilu_matchFloat64_onBothPaths() {
        for simd in [1, 0] {
            easel_cpu_allow_simd(Int32(simd))
            let xs = inputs()
            var g = Tensor(shape: [xs.count], data: xs), s = g
            Ops.geluTanhInPlace(&g)
            Ops.siluInPlace(&s)
            let gRef = xs.map { v -> Double in let x = Double(v); return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) }
            let sRef = xs.map { v -> Double in let x = Double(v); return x / (1 + exp(-x)) }
            XCTAssertLessThan(worst(g.data, gRef, xs), 1, "gelu, simd \(simd)")
            XCTAssertLessThan(worst(s.data, sRef, xs), 1, "silu, simd \(simd)")
            XCTAssertFalse(g.data.contains { !$0.isFinite } || s.data.contains { !$0.isFinite })
        }
    }

    func test_softmaxRows_matchFloat64_andCausalRowsSumToOne() {
        for simd in [1, 0] {
            easel_cpu_allow_simd(Int32(simd))
            var g = GaussianNoise(seed: 3)
            let rows = 7, cols = 37
            let x = (0..<(rows * cols)).map { _ in g.next() * 8 }
            for causal in [false, true] {
                var y = x
                y.withUnsafeMutableBufferPointer { easel_softmax_rows($0.baseAddress!, Int32(rows), Int32(cols), causal ? 1 : 0) }
                for r in 0..<rows {
                    let valid = causal ? min(r + 1, cols) : cols
                    let row = x[(r * cols)..<(r * cols + valid)].map(Double.init)
                    let m = row.max()!
                    let e = row.map { exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for j in 0..<cols {
                        let want = j < valid ? e[j] / sum : 0
                        XCTAssertEqual(Double(y[r * cols + j]), want, accuracy: 2e-6 * max(want, 1e-3), "simd \(simd) causal \(causal) [\(r),\(j)]")
                    }
                }
            }
        }
    }
}
