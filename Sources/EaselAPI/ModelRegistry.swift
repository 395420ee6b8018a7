import Foundation
import Logging

/// The configured models by id, in config order.
public final class ModelRegistry: ModelCatalog, Sendable {
    public let entries: [ModelEntry]
    private let byID: [String: ModelEntry]

    public init(entries: [ModelEntry]) {
        self.entries = entries
        byID = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
    }

    public convenience init(configs: [ModelConfig], logger: Logger) {
        self.init(entries: configs.map { ModelEntry(config: $0, logger: logger) })
    }

    public func entry(_ id: String) -> ModelEntry? { byID[id] }

    public func capabilities(of id: String) throws -> ModelCapabilities? { try entry(id)?.capabilities() }

    /// Loads every `load: startup` model, one after another (on the caller's thread).
    public func loadStartupModels() {
        for e in entries where e.config.load == .startup { _ = try? e.pipeline() }
    }

    /// Ready when every startup model is loaded; otherwise the reasons.
    public var readiness: (ready: Bool, waiting: [String]) {
        var waiting: [String] = []
        for e in entries where e.config.load == .startup {
            switch e.currentState {
            case .loaded: continue
            case .failed(let message): waiting.append("\(e.id) failed to load: \(message)")
            case .loading, .notLoaded: waiting.append("\(e.id) is loading")
            }
        }
        return (waiting.isEmpty, waiting)
    }
}
