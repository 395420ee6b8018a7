import Foundation

/// Where a model asks to run its transformer (`models[].backend`, `easel generate --backend`).
public enum BackendPreference: String, Sendable, CaseIterable {
    /// CUDA when the probe succeeds and the GPU kernels take the model, else the CPU.
    case auto
    case cpu
    /// CUDA or an error saying what is missing.
    case cuda
}

/// Where a transformer actually runs.
public enum BackendKind: String, Sendable {
    case cpu, cuda
}

extension EngineBackend {
    public var kind: BackendKind {
        switch self {
        case .cpu: return .cpu
        case .cuda: return .cuda
        }
    }
}

extension FluxTransformer {
    public var backendKind: BackendKind { .cpu }
}

extension CUDAFluxTransformer {
    public var backendKind: BackendKind { .cuda }
}

/// The one place that turns a backend preference into a backend: the daemon's model registry and the CLI both ask
/// here, so `auto` means the same everywhere.
public enum BackendResolver {
    /// The CUDA runtime, a device and `CUDADevice.defaultKernelLibrary`, probed once per process, or why not.
    public static let cudaProbe: Result<CUDADevice, CUDAError> = Result { try CUDADevice() }.mapError {
        $0 as? CUDAError ?? CUDAError(message: "\($0)")
    }

    /// The backend a preference gets on this machine before any model is seen: `auto` is CUDA where the probe
    /// succeeds. `cuda` without a usable GPU is an error naming what is missing.
    public static func resolve(_ preference: BackendPreference) -> Result<EngineBackend, CUDAError> {
        switch preference {
        case .cpu: return .success(.cpu)
        case .auto: return .success((try? cudaProbe.get()).map(EngineBackend.cuda) ?? .cpu)
        case .cuda:
            return cudaProbe.map(EngineBackend.cuda).mapError {
                CUDAError(message: "backend \"cuda\" is not available: \($0.message)")
            }
        }
    }

    /// Loads a pipeline where the preference says. An `auto` model whose transformer the GPU kernels cannot run
    /// (head_dim 32, say) loads on the CPU; `onFallback` is told why.
    public static func loadPipeline(folder: URL, preference: BackendPreference,
                                    onFallback: (Error) -> Void = { _ in }) throws -> FluxPipeline {
        let backend = try resolve(preference).get()
        guard case .cuda = backend, preference == .auto else { return try FluxPipeline(folder: folder, backend: backend) }
        do {
            return try FluxPipeline(folder: folder, backend: backend)
        } catch {
            onFallback(error)
            return try FluxPipeline(folder: folder, backend: .cpu)
        }
    }
}
