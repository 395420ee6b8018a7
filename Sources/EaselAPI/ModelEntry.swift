import EaselEngine
import Foundation
import Logging

/// One configured model: its settings and, once loaded, its pipeline. Loading happens once (at startup, or on first
/// use for `load: lazy`); callers that need the pipeline while it loads wait for it.
public final class ModelEntry: @unchecked Sendable {
    public enum State: Equatable, Sendable {
        case notLoaded, loading, loaded, failed(String)
    }

    public let config: ModelConfig
    private let condition = NSCondition()
    private var state: State = .notLoaded
    private var loaded: FluxPipeline?
    private let logger: Logger

    public init(config: ModelConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// A pipeline already loaded elsewhere (tests).
    public init(config: ModelConfig, pipeline: FluxPipeline, logger: Logger) {
        self.config = config
        self.logger = logger
        loaded = pipeline
        state = .loaded
    }

    public var id: String { config.id }

    public var currentState: State {
        condition.lock()
        defer { condition.unlock() }
        return state
    }

    public var isLoaded: Bool { currentState == .loaded }

    /// The backend this model runs on, or why none can. `auto` is the CPU until the engine runs the transformer on
    /// the GPU; `cuda` probes the runtime and the kernel library once per process and says what it found.
    static func resolveBackend(_ backend: ModelConfig.Backend) -> Result<String, APIError> {
        switch backend {
        case .auto, .cpu: return .success("cpu")
        case .cuda:
            switch cudaProbe {
            case .failure(let error):
                return .failure(.unavailable("backend \"cuda\" is not available: \(error.message) "
                                             + "(set \"backend\" to \"cpu\" or \"auto\")"))
            case .success(let device):
                return .failure(.unavailable("backend \"cuda\": found \(device.info.summary) and the kernel library, "
                                             + "but the engine cannot run models on the GPU yet "
                                             + "(set \"backend\" to \"cpu\" or \"auto\")"))
            }
        }
    }

    /// The CUDA runtime, a device and `CUDADevice.defaultKernelLibrary`, or why not.
    static let cudaProbe: Result<CUDADevice, CUDAError> = Result { try CUDADevice() }.mapError {
        $0 as? CUDAError ?? CUDAError(message: "\($0)")
    }

    /// The loaded pipeline, loading it first if needed. Throws `APIError` 503 when the model cannot be loaded.
    public func pipeline() throws -> FluxPipeline {
        condition.lock()
        while true {
            switch state {
            case .loaded:
                let p = loaded!
                condition.unlock()
                return p
            case .failed(let message):
                condition.unlock()
                throw APIError.unavailable("model \(id) failed to load: \(message)")
            case .loading:
                condition.wait()
            case .notLoaded:
                state = .loading
                condition.unlock()
                let result = loadNow()
                condition.lock()
                switch result {
                case .success(let p):
                    loaded = p
                    state = .loaded
                case .failure(let message):
                    state = .failed(message)
                }
                condition.broadcast()
            }
        }
    }

    private enum LoadResult { case success(FluxPipeline), failure(String) }

    private func loadNow() -> LoadResult {
        if case .failure(let error) = Self.resolveBackend(config.backend) {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error.message)"])
            return .failure(error.message)
        }
        let start = Date()
        logger.info("loading model", metadata: ["model": "\(id)", "path": "\(config.path.path)"])
        do {
            let p = try FluxPipeline(folder: config.path)
            logger.info("model loaded", metadata: [
                "model": "\(id)", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(start)))"])
            return .success(p)
        } catch {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error)"])
            return .failure("\(error)")
        }
    }

    /// Defaults with the config's values over the pipeline's (the pipeline's only once loaded).
    public func effectiveDefaults(_ pipeline: FluxPipeline?) -> ModelDefaults {
        var d = config.defaults
        if let p = pipeline {
            let pd = p.defaults
            d.width = d.width ?? pd.width
            d.height = d.height ?? pd.height
            d.steps = d.steps ?? pd.steps
            d.guidance = d.guidance ?? pd.guidance
        }
        return d
    }

    /// The `/v1/models` entry.
    public var info: JSONValue {
        condition.lock()
        let state = self.state
        let pipeline = loaded
        condition.unlock()
        var members: [(String, JSONValue)] = [
            ("id", .string(id)),
            ("family", .string("flux")),
            ("description", .string(config.description ?? "FLUX-family pipeline at \(config.path.lastPathComponent)")),
            ("backend", .string((try? Self.resolveBackend(config.backend).get()) ?? config.backend.rawValue)),
            ("loaded", .bool(state == .loaded)),
            ("load", .string(config.load.rawValue)),
            ("defaults", effectiveDefaults(pipeline).json),
            ("limits", limitsJSON(pipeline)),
            ("max_batch_size", .int(config.maxBatchSize)),
        ]
        if case .failed(let message) = state { members.append(("load_error", .string(message))) }
        return .object(members)
    }

    private func limitsJSON(_ pipeline: FluxPipeline?) -> JSONValue {
        guard case .object(var m) = config.limits.json else { return config.limits.json }
        if let p = pipeline { m.append(("size_step", .int(p.sizeStep))) }
        return .object(m)
    }
}
