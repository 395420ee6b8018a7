import CEaselCPU

/// Thin wrappers over OpenBLAS' sgemm: every matrix product of the CPU backend goes through here.
enum BLAS {
    /// C[m,n] = alpha * A[m,k] · op(B) + beta * C, row-major. `transB` means B is stored [n,k] (a torch Linear weight).
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int, transB: Bool,
                     c: UnsafeMutablePointer<Float>, ldc: Int,
                     alpha: Float = 1, beta: Float = 0, transA: Bool = false) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(Int32(EASEL_CBLAS_ROW_MAJOR),
                    Int32(transA ? EASEL_CBLAS_TRANS : EASEL_CBLAS_NO_TRANS),
                    Int32(transB ? EASEL_CBLAS_TRANS : EASEL_CBLAS_NO_TRANS),
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Threads OpenBLAS may use; Easel sets it once from its own thread setting.
    static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    static var threads: Int { Int(openblas_get_num_threads()) }
}
