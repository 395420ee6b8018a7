import EaselJSON
import EaselHTTP
import Foundation

extension APIHandler {
    /// GET /v1/models
    func listModels() -> HTTPResponse {
        .json(JSONValue.object([("models", .array(registry.entries.map(\.info))), ("memory", registry.memory.info)]).data)
    }

    /// GET /v1/models/{id}
    func getModel(_ id: String) throws -> HTTPResponse {
        guard let entry = registry.entry(id) else { throw APIError.notFound("model_not_found", "no model \"\(id)\"") }
        return .json(entry.info.data)
    }
}
