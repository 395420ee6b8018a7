import CEaselCPU

/// Thin wrappers over OpenBLAS' sgemm: every matrix product of the CPU backend goes through here.
enum BLAS {
    /// C[m,n] = alpha * A[m,k] · op(B) + beta * C, row-major. `transB` means B is stored [n,k] (a torch Linear weight).
    ///
    /// Batch invariance: a row of C must not depend on how many rows A has, so that an image computes the same bits
    /// alone or batched. OpenBLAS' blocked kernels keep each row's summation order whatever m is, but it sends small
    /// products (m·n·k below about 2·10⁵ on this project's AVX-512 machine) to a small-matrix path that sums differently.
    /// Products under `minimumWork` multiply-adds are therefore padded with zero rows up to it, so that every product
    /// takes the blocked path (DenoisingBatchTests checks the result to the bit).
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     alpha: Float = 1, beta: Float = 0, transA: Bool = false) {
        if m == 0 || n == 0 { return }
        if !transA, k > 0, m * n * k < minimumWork {
            paddedGemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transB: transB, c: c, ldc: ldc,
                       alpha: alpha, beta: beta)
            return
        }
        cblas_sgemm(Int32(EASEL_CBLAS_ROW_MAJOR),
                    Int32(transA ? EASEL_CBLAS_TRANS : EASEL_CBLAS_NO_TRANS),
                    Int32(transB ? EASEL_CBLAS_TRANS : EASEL_CBLAS_NO_TRANS),
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// 2^20 multiply-adds: above OpenBLAS' small-matrix bound (10⁶ in its x86 kernels' permit functions).
    static let minimumWork = 1 << 20

    /// `gemm` on A and C padded with zero rows to `minimumWork` (the extra rows of C are computed and dropped).
    static func paddedGemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                           c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        let rows = max(m, (minimumWork + n * k - 1) / (n * k))
        let ap = UnsafeMutablePointer<Float>.allocate(capacity: rows * k)
        let cp = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
        defer { ap.deallocate(); cp.deallocate() }
        ap.initialize(repeating: 0, count: rows * k)
        cp.initialize(repeating: 0, count: rows * n)
        for r in 0..<m { (ap + r * k).update(from: a + r * lda, count: k) }
        if beta != 0 { for r in 0..<m { (cp + r * n).update(from: c + r * ldc, count: n) } }
        cblas_sgemm(Int32(EASEL_CBLAS_ROW_MAJOR), Int32(EASEL_CBLAS_NO_TRANS),
                    Int32(transB ? EASEL_CBLAS_TRANS : EASEL_CBLAS_NO_TRANS),
                    Int32(rows), Int32(n), Int32(k), alpha, ap, Int32(k), b, Int32(ldb), beta, cp, Int32(n))
        for r in 0..<m { (c + r * ldc).update(from: cp + r * n, count: n) }
    }

    /// Threads OpenBLAS may use; Easel sets it once from its own thread setting.
    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    static var threads: Int { Int(openblas_get_num_threads()) }
}
