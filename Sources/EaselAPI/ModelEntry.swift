import EaselJSON
import EaselEngine
import Foundation
import Logging

/// One configured model: its settings and, while resident, its pipeline. `ModelMemory` decides when it loads (at
/// startup, or on first use for `load: lazy`) and when it is evicted; this class holds the state and does the load.
/// Unchecked Sendable: `state`, `loaded`, `cachedCapabilities`, `footprintCache` and `lastLoadSeconds` are only touched
/// with `condition` held. The pipeline it hands out is not Sendable: its model lane's executor is the one thread that
/// runs it; elsewhere only its immutable properties are read.
public final class ModelEntry: @unchecked Sendable {
    public enum State: Equatable, Sendable {
        case notLoaded, loading, loaded, evicted, failed(String)

        /// As `/v1/models` shows it.
        public var name: String {
            switch self {
            case .notLoaded: return "not_loaded"
            case .loading: return "loading"
            case .loaded: return "loaded"
            case .evicted: return "evicted"
            case .failed: return "failed"
            }
        }
    }

    /// Loads the model's pipeline (tests substitute one that counts or blocks).
    public typealias Loader = @Sendable (ModelConfig) throws -> FluxPipeline

    public let config: ModelConfig
    private let condition = NSCondition()
    private var state: State = .notLoaded
    private var loaded: FluxPipeline?
    private var cachedCapabilities: ModelCapabilities?
    private var footprintCache: Int?
    private var lastLoadSeconds: Double = 0
    private let loader: Loader
    private let logger: Logger

    public init(config: ModelConfig, logger: Logger, loader: Loader? = nil) {
        self.config = config
        self.logger = logger
        self.loader = loader ?? { config in
            try BackendResolver.loadPipeline(folder: config.path, preference: config.backend) { error in
                logger.warning("the CUDA backend cannot run this model; loading it on the CPU",
                               metadata: ["model": "\(config.id)", "reason": "\(error)"])
            }
        }
    }

    /// A pipeline already loaded elsewhere (tests). Once evicted it loads from `config.path` like any other.
    public convenience init(config: ModelConfig, pipeline: FluxPipeline, logger: Logger, loader: Loader? = nil) {
        self.init(config: config, logger: logger, loader: loader)
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

    /// The pipeline while resident.
    var residentPipeline: FluxPipeline? {
        condition.lock()
        defer { condition.unlock() }
        return loaded
    }

    /// Seconds the last load took (0 before one).
    var loadSeconds: Double {
        condition.lock()
        defer { condition.unlock() }
        return lastLoadSeconds
    }

    /// What the model counts against `memory.budget_mb`: `memory_mb` when configured, else its weights as the backend
    /// holds them, from the safetensors headers (`WeightFootprint`); 0 when they cannot be read (the load then fails
    /// with the reason).
    public var footprint: Int {
        condition.lock()
        if let f = footprintCache { condition.unlock(); return f }
        condition.unlock()
        let bytes: Int
        if let mb = config.memoryMB {
            bytes = mb << 20
        } else {
            let cuda = (try? plannedBackend()) == .cuda
            bytes = (try? WeightFootprint.bytes(folder: config.path, cudaTransformer: cuda)) ?? 0
        }
        condition.lock()
        footprintCache = bytes
        condition.unlock()
        return bytes
    }

    /// Where this model is meant to run before it is loaded (`BackendResolver`), or 503 naming what is missing.
    func plannedBackend() throws -> BackendKind {
        switch BackendResolver.resolve(config.backend) {
        case .success(let backend): return backend.kind
        case .failure(let error):
            throw APIError.unavailable("\(error.message) (set \"backend\" to \"cpu\" or \"auto\")")
        }
    }

    // MARK: state changes, made by ModelMemory

    func markLoading() {
        condition.lock()
        state = .loading
        condition.unlock()
    }

    func finishLoad(_ result: Result<FluxPipeline, LoadFailure>, seconds: Double) {
        condition.lock()
        switch result {
        case .success(let p):
            loaded = p
            state = .loaded
            lastLoadSeconds = seconds
        case .failure(let f):
            state = .failed(f.message)
        }
        condition.unlock()
    }

    /// Drops the pipeline; its memory is freed once no running set holds it either.
    func markEvicted() {
        condition.lock()
        loaded = nil
        state = .evicted
        condition.unlock()
    }

    struct LoadFailure: Error { let message: String }

    /// Loads the pipeline now, on the caller's thread, and logs the outcome (no state change).
    func loadNow() -> Result<FluxPipeline, LoadFailure> {
        do { _ = try plannedBackend() } catch let error as APIError {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error.message)"])
            return .failure(LoadFailure(message: error.message))
        } catch {
            return .failure(LoadFailure(message: "\(error)"))
        }
        let start = Date()
        logger.info("loading model", metadata: ["model": "\(id)", "path": "\(config.path.path)"])
        do {
            let p = try loader(config)
            logger.info("model loaded", metadata: [
                "model": "\(id)", "backend": "\(p.transformer.backendName)",
                "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(start)))"])
            return .success(p)
        } catch {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error)"])
            return .failure(LoadFailure(message: "\(error)"))
        }
    }

    /// What requests are validated against, read from the pipeline folder's configs once (no weights needed), or
    /// `APIError` 503 when the model cannot serve: its backend is missing, it failed to load, or its configs cannot
    /// be read.
    public func capabilities() throws -> ModelCapabilities {
        _ = try plannedBackend()
        condition.lock()
        let state = self.state, cached = self.cachedCapabilities, pipeline = self.loaded
        condition.unlock()
        if case .failed(let message) = state { throw APIError.unavailable("model \(id) failed to load: \(message)") }
        if let cached { return cached }
        let caps: ModelCapabilities
        do {
            caps = ModelCapabilities(config: config, pipeline: try pipeline?.capabilities ?? PipelineCapabilities(folder: config.path))
        } catch {
            throw APIError.unavailable("model \(id) cannot be used: \(error)")
        }
        condition.lock()
        cachedCapabilities = caps
        condition.unlock()
        return caps
    }

    /// The defaults `/v1/models` shows: resolved where the configs can be read, else the config file's own.
    private var shownDefaults: JSONValue {
        guard let c = try? capabilities() else { return config.defaults.json }
        return ModelDefaults(width: c.defaults.width, height: c.defaults.height, steps: c.defaults.steps,
                             guidance: c.defaults.guidance).json
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
            ("backend", .string((pipeline?.transformer.backendKind ?? (try? plannedBackend()))?.rawValue
                                ?? config.backend.rawValue)),
            ("loaded", .bool(state == .loaded)),
            ("state", .string(state.name)),
            ("load", .string(config.load.rawValue)),
            ("memory_mb", .double((Double(footprint) / 1_048_576 * 100).rounded() / 100)),
            ("defaults", shownDefaults),
            ("limits", limitsJSON),
            ("max_batch_size", .int(config.maxBatchSize)),
            ("batching", .string(config.batching.rawValue)),
            // Step caching for requests that do not set `cache` (null: off).
            ("cache", config.cacheThreshold.map { .object([("threshold", .double($0))]) } ?? .null),
        ]
        if case .failed(let message) = state { members.append(("load_error", .string(message))) }
        return .object(members)
    }

    private var limitsJSON: JSONValue {
        guard case .object(var m) = config.limits.json else { return config.limits.json }
        if let c = try? capabilities() { m.append(("size_step", .int(c.sizeStep))) }
        return .object(m)
    }
}
