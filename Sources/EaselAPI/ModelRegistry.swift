import Foundation
import Logging

/// The configured models by id, in config order, and the memory they share.
public final class ModelRegistry: ModelCatalog, Sendable {
    public let entries: [ModelEntry]
    private let byID: [String: ModelEntry]
    public let memory: ModelMemory

    /// `memory`: the budget the entries load under (nil: none).
    public init(entries: [ModelEntry], memory: ModelMemory? = nil) {
        self.entries = entries
        byID = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
        self.memory = memory ?? ModelMemory(entries: entries)
    }

    public convenience init(configs: [ModelConfig], logger: Logger) {
        self.init(entries: configs.map { ModelEntry(config: $0, logger: logger) })
    }

    public func entry(_ id: String) -> ModelEntry? { byID[id] }

    public func capabilities(of id: String) throws -> ModelCapabilities? { try entry(id)?.capabilities() }

    /// Loads every `load: startup` model, one after another (on the caller's thread), through the memory budget.
    public func loadStartupModels() {
        for e in entries where e.config.load == .startup {
            if (try? memory.acquire(e)) != nil { memory.release(e) }
        }
    }

    /// Ready when every startup model has loaded (an evicted one counts: it loads again when needed); otherwise the
    /// reasons.
    public var readiness: (ready: Bool, waiting: [String]) {
        var waiting: [String] = []
        for e in entries where e.config.load == .startup {
            switch e.currentState {
            case .loaded, .evicted: continue
            case .failed(let message): waiting.append("\(e.id) failed to load: \(message)")
            case .loading, .notLoaded: waiting.append("\(e.id) is loading")
            }
        }
        return (waiting.isEmpty, waiting)
    }
}
