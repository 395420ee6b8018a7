import EaselJSON
import EaselEngine
import Foundation
import Logging

/// One configured model: its settings and, once loaded, its pipeline. Loading happens once (at startup, or on first
/// use for `load: lazy`); callers that need the pipeline while it loads wait for it.
/// Unchecked Sendable: `state`, `loaded` and `cachedCapabilities` are only touched with `condition` held. The
/// pipeline it hands out is not Sendable: its model lane's executor is the one thread that runs it; elsewhere only
/// its immutable properties are read.
public final class ModelEntry: @unchecked Sendable {
    public enum State: Equatable, Sendable {
        case notLoaded, loading, loaded, failed(String)
    }

    public let config: ModelConfig
    private let condition = NSCondition()
    private var state: State = .notLoaded
    private var loaded: FluxPipeline?
    private var cachedCapabilities: ModelCapabilities?
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

    /// Where this model is meant to run before it is loaded (`BackendResolver`), or 503 naming what is missing.
    func plannedBackend() throws -> BackendKind {
        switch BackendResolver.resolve(config.backend) {
        case .success(let backend): return backend.kind
        case .failure(let error):
            throw APIError.unavailable("\(error.message) (set \"backend\" to \"cpu\" or \"auto\")")
        }
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
        do { _ = try plannedBackend() } catch let error as APIError {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error.message)"])
            return .failure(error.message)
        } catch {
            return .failure("\(error)")
        }
        let start = Date()
        logger.info("loading model", metadata: ["model": "\(id)", "path": "\(config.path.path)"])
        do {
            let p = try BackendResolver.loadPipeline(folder: config.path, preference: config.backend) { error in
                logger.warning("the CUDA backend cannot run this model; loading it on the CPU",
                               metadata: ["model": "\(id)", "reason": "\(error)"])
            }
            logger.info("model loaded", metadata: [
                "model": "\(id)", "backend": "\(p.transformer.backendName)",
                "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(start)))"])
            return .success(p)
        } catch {
            logger.error("model failed to load", metadata: ["model": "\(id)", "error": "\(error)"])
            return .failure("\(error)")
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
            ("load", .string(config.load.rawValue)),
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
