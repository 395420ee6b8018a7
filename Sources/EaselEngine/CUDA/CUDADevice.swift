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
public final class CUDADevice: @unchecked Sendable {
    let handle: OpaquePointer
    public let info: CUDADeviceInfo
    private let lock = NSLock()

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

    /// Runs one shim call, turning its -1 into a `CUDAError` with the shim's message.
    func check(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var err = [CChar](repeating: 0, count: 1024)
        let rc = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        if rc != 0 { throw CUDAError(message: String(cString: err)) }
    }

    public func synchronize() throws { try check { easel_cuda_synchronize(handle, $0, $1) } }

    /// Device memory of `count` bf16 values (as raw 16-bit patterns), freed with the buffer.
    public func upload(bf16 values: [UInt16]) throws -> CUDABuffer {
        let buffer = try CUDABuffer(device: self, bytes: values.count * 2)
        try values.withUnsafeBytes { raw in
            try check { easel_cuda_memcpy(handle, buffer.pointer, raw.baseAddress, raw.count, Int32(EASEL_CUDA_H2D), $0, $1) }
        }
        return buffer
    }

    public func download(bf16 buffer: CUDABuffer, count: Int) throws -> [UInt16] {
        precondition(count * 2 <= buffer.bytes)
        var out = [UInt16](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { raw in
            try check { easel_cuda_memcpy(handle, raw.baseAddress, buffer.pointer, raw.count, Int32(EASEL_CUDA_D2H), $0, $1) }
        }
        return out
    }

    /// RMSNorm over the last dimension of a `[rows, dim]` bf16 matrix (Kernels/src/rmsnorm.cu), on the default stream.
    public func rmsNorm(_ x: CUDABuffer, weight: CUDABuffer, into y: CUDABuffer, rows: Int, dim: Int,
                        eps: Float) throws {
        var p = easel_rmsnorm_params(x: x.pointer, weight: weight.pointer, y: y.pointer, n_outer: Int64(rows),
                                     n_inner: 1, dim: Int64(dim), x_stride_outer: Int64(dim), x_stride_inner: 0,
                                     y_stride_outer: Int64(dim), y_stride_inner: 0, eps: eps, stream: nil)
        try check { easel_cuda_rmsnorm_bf16(handle, &p, $0, $1) }
    }
}

/// A device allocation; freed when released.
public final class CUDABuffer: @unchecked Sendable {
    let device: CUDADevice
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int

    init(device: CUDADevice, bytes: Int) throws {
        var p: UnsafeMutableRawPointer?
        try device.check { easel_cuda_malloc(device.handle, &p, max(bytes, 1), $0, $1) }
        self.device = device
        pointer = p!
        self.bytes = bytes
    }

    deinit { _ = easel_cuda_free(device.handle, pointer, nil, 0) }
}
