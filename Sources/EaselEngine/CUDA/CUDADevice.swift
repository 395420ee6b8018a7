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
/// `CUDAFluxTransformer` runs on it; `backend: cuda` and `easel cuda-info` probe it. Not thread-safe: one user at a
/// time (the model's executor).
/// Unchecked Sendable: the handle and `info` never change; the device is shared by the process-wide probe, and calls
/// that use it are serialized by `lock` or made by its single user, the model's executor.
public final class CUDADevice: @unchecked Sendable {
    let handle: OpaquePointer
    public let info: CUDADeviceInfo
    /// Held by whoever runs work on the device (the shim's cuBLASLt plans and the workspaces are not shared safely).
    public let lock = NSLock()

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

/// A device allocation, freed when the last reference goes.
/// Unchecked Sendable: an immutable pointer and size; what is on the device is written by its owner's stream only.
public final class DeviceBuffer: @unchecked Sendable {
    let device: CUDADevice
    public let pointer: UnsafeMutableRawPointer
    public let bytes: Int
    init(device: CUDADevice, bytes: Int) throws {
        self.device = device
        self.bytes = bytes
        var p: UnsafeMutableRawPointer?
        try device.call { easel_cuda_malloc(device.handle, &p, max(bytes, 16), $0, $1) }
        pointer = p!
    }
    deinit { _ = easel_cuda_free(device.handle, pointer, nil, 0) }

    /// The address `elements` 16-bit values in (bf16 buffers are addressed in elements, as the kernels' strides are).
    public func bf16(at elements: Int = 0) -> UnsafeMutableRawPointer { pointer + 2 * elements }
}

/// bf16 as the kernels store it: the top half of an f32, rounded to nearest even (NaN stays NaN).
enum BF16 {
    static func from(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if (u & 0x7fff_ffff) > 0x7f80_0000 { return UInt16(truncatingIfNeeded: u >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (u &+ 0x7fff &+ ((u >> 16) & 1)) >> 16)
    }
    static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
    static func array(_ x: [Float]) -> [UInt16] { x.map(from) }
}

extension CUDADevice {
    /// Runs a shim call that reports failure as -1 with a message, and throws that message.
    func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var err = [CChar](repeating: 0, count: 1024)
        let rc = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        if rc != 0 { throw CUDAError(message: String(cString: err)) }
    }

    public func allocate(bytes: Int) throws -> DeviceBuffer { try DeviceBuffer(device: self, bytes: bytes) }

    /// Copies host floats to the device as bf16.
    public func upload(bf16 values: [Float]) throws -> DeviceBuffer {
        let b = try allocate(bytes: 2 * values.count)
        try copy(bf16: values, to: b)
        return b
    }

    public func copy(bf16 values: [Float], to b: DeviceBuffer, at elements: Int = 0) throws {
        precondition(2 * (elements + values.count) <= b.bytes)
        let h = BF16.array(values)
        try h.withUnsafeBytes { src in
            try call { easel_cuda_memcpy(handle, b.bf16(at: elements), src.baseAddress, src.count, Int32(EASEL_CUDA_H2D), $0, $1) }
        }
    }

    public func upload(f32 values: [Float]) throws -> DeviceBuffer {
        let b = try allocate(bytes: 4 * values.count)
        try values.withUnsafeBytes { src in
            try call { easel_cuda_memcpy(handle, b.pointer, src.baseAddress, src.count, Int32(EASEL_CUDA_H2D), $0, $1) }
        }
        return b
    }

    /// Reads `count` bf16 values from `b` (waits for the work before it) as floats.
    public func download(bf16 b: DeviceBuffer, at elements: Int = 0, count: Int) throws -> [Float] {
        precondition(2 * (elements + count) <= b.bytes)
        var h = [UInt16](repeating: 0, count: count)
        try h.withUnsafeMutableBytes { dst in
            try call { easel_cuda_memcpy(handle, dst.baseAddress, b.bf16(at: elements), dst.count, Int32(EASEL_CUDA_D2H), $0, $1) }
        }
        return h.map(BF16.float)
    }

    public func synchronize() throws { try call { easel_cuda_synchronize(handle, $0, $1) } }

    /// Loads cuBLASLt now (the first GEMM would otherwise): `path`, or `$EASEL_CUBLASLT` and the usual sonames.
    public func openBLAS(path: String? = nil) throws { try call { easel_cuda_blas_open(handle, path, $0, $1) } }
}
