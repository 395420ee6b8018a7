import CEaselCUDA
import Foundation

/// Why the GPU cannot be used, in the CUDA runtime's words where CUDA said no.
public struct CUDAError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// What `CUDADevice.open` found.
public struct CUDADeviceInfo: Sendable, Equatable {
    public let name: String
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessors: Int
    public let totalBytes: Int
    public let freeBytes: Int
    public let runtimeVersion: Int
    public let driverVersion: Int
    public let deviceCount: Int

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.computeCapability == b.computeCapability && a.totalBytes == b.totalBytes
    }

    /// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB, runtime 13.0, driver 13.0"
    public var summary: String {
        func version(_ v: Int) -> String { "\(v / 1000).\(v % 1000 / 10)" }
        return "\(name), sm_\(computeCapability.major)\(computeCapability.minor), \(multiprocessors) SMs, "
            + String(format: "%.1f GiB", Double(totalBytes) / 1_073_741_824)
            + ", runtime \(version(runtimeVersion)), driver \(version(driverVersion))"
    }
}

/// The CUDA runtime and Easel's kernel library, loaded at run time through the `CEaselCUDA` shim. A machine without a
/// GPU, driver, runtime or kernel library gets a `CUDAError` saying which, and everything on the CPU works as before.
/// For now this is the probe behind `backend: cuda` and `easel cuda-info`; memory and kernel calls go through the
/// shim's C API (driven on a GPU by Kernels/test_shim.c) until the engine has a CUDA backend to use them.
public final class CUDADevice: @unchecked Sendable {
    let handle: OpaquePointer
    public let info: CUDADeviceInfo

    /// The kernel library to load when none is named: `$EASEL_KERNELS_LIB`, else `libeasel_kernels.so` beside the
    /// executable, else `build/kernels/libeasel_kernels.so` under the working directory (what Scripts/build-kernels makes).
    public static var defaultKernelLibrary: String {
        if let env = ProcessInfo.processInfo.environment["EASEL_KERNELS_LIB"], !env.isEmpty { return env }
        let besideExecutable = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
            .deletingLastPathComponent().appendingPathComponent("libeasel_kernels.so").path
        if FileManager.default.fileExists(atPath: besideExecutable) { return besideExecutable }
        return FileManager.default.currentDirectoryPath + "/build/kernels/libeasel_kernels.so"
    }

    /// Loads the runtime (`runtimePath`, or the usual sonames / `$EASEL_CUDART`) and, unless `kernelLibrary` is nil,
    /// the kernels; selects device 0.
    public init(runtimePath: String? = nil, kernelLibrary: String? = CUDADevice.defaultKernelLibrary) throws {
        var err = [CChar](repeating: 0, count: 1024)
        guard let h = easel_cuda_open(runtimePath, kernelLibrary, &err, err.count) else {
            throw CUDAError(message: String(cString: err))
        }
        handle = h
        var raw = easel_cuda_device_info()
        guard easel_cuda_device_info_get(h, &raw, &err, err.count) == 0 else {
            easel_cuda_close(h)
            throw CUDAError(message: String(cString: err))
        }
        let name = withUnsafeBytes(of: raw.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        info = CUDADeviceInfo(name: name, computeCapability: (Int(raw.compute_major), Int(raw.compute_minor)),
                              multiprocessors: Int(raw.multiprocessors), totalBytes: raw.total_bytes,
                              freeBytes: raw.free_bytes, runtimeVersion: Int(raw.runtime_version),
                              driverVersion: Int(raw.driver_version), deviceCount: Int(raw.device_count))
    }

    deinit { easel_cuda_close(handle) }
}
