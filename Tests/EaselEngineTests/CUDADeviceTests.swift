import EaselEngine
import Foundation
import XCTest

/// The GPU door on a machine without a GPU: every failure is a `CUDAError` that says what was missing.
/// (On a CUDA machine `Scripts/gpu-check` drives the same shim from C: Kernels/test/test_shim.c.)
final class CUDADeviceTests: XCTestCase {
    var hasGPU: Bool { FileManager.default.fileExists(atPath: "/dev/nvidia0") }

    func testMissingRuntimeIsAnErrorNamingIt() {
        XCTAssertThrowsError(try CUDADevice(runtimePath: "/nonexistent/libcudart.so.99", kernelLibrary: nil)) {
            let message = ($0 as? CUDAError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("no CUDA runtime: could not load /nonexistent/libcudart.so.99"), message)
        }
    }

    /// With a real libcudart (the PyPI one that Scripts/ci-kernels installs) but no GPU or driver, the error is the
    /// CUDA runtime's own.
    func testRealRuntimeWithoutGPUReportsTheCUDAError() throws {
        let venvs = [ProcessInfo.processInfo.environment["EASEL_CUDA_VENV"], "/tmp/easel-cuda-venv"].compactMap { $0 }
        let runtime = venvs.lazy.compactMap { venv -> String? in
            guard let e = FileManager.default.enumerator(atPath: venv) else { return nil }
            for case let path as String in e where (path as NSString).lastPathComponent.hasPrefix("libcudart.so") {
                return venv + "/" + path
            }
            return nil
        }.first
        guard let runtime else { throw XCTSkip("no PyPI CUDA runtime installed (Scripts/ci-kernels installs one)") }
        if hasGPU { throw XCTSkip("this machine has a GPU") }
        XCTAssertThrowsError(try CUDADevice(runtimePath: runtime, kernelLibrary: "/nonexistent/libeasel_kernels.so")) {
            let message = ($0 as? CUDAError)?.message ?? ""
            XCTAssertTrue(message.hasPrefix("cudaGetDeviceCount: "), message)
            XCTAssertTrue(message.contains("CUDA error "), message)
        }
    }
}
