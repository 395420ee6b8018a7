import EaselJSON
import Foundation

/// Reads a JSON file through the one reader (`JSONLimits.strict`), naming the file on failure.
func readJSONFile(_ url: URL) throws -> JSONValue {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw EngineError("cannot read \(url.path): \(error.localizedDescription)") }
    do { return try JSONValue.parse(data) } catch { throw EngineError("\(url.path): \(error)") }
}

/// Reads a component's `config.json` (or `easel.json`) once and decodes it into its Codable config.
/// With `knownKeys`, a key the engine does not know is an error naming it, so an option we would silently ignore
/// cannot pass; keys starting with "_" are metadata (`_class_name`, `_diffusers_version`, …). With `expectClass`,
/// `_class_name` must be one of them.
func loadJSONConfig<T: Decodable>(_ type: T.Type, at url: URL, knownKeys: Set<String>? = nil,
                                  expectClass: [String]? = nil) throws -> T {
    let json = try readJSONFile(url)
    guard case .object(let members) = json else { throw EngineError("\(url.path): not a JSON object") }
    if let knownKeys {
        for key in members.map(\.0).sorted() where !key.hasPrefix("_") && !knownKeys.contains(key) {
            throw EngineError("\(url.path): unsupported config key '\(key)'")
        }
    }
    if let expectClass, let cls = json["_class_name"]?.stringValue, !expectClass.contains(cls) {
        throw EngineError("\(url.path): _class_name '\(cls)' is not one of \(expectClass.joined(separator: ", "))")
    }
    do { return try JSONValueDecoder().decode(T.self, from: json) } catch let e as DecodingError {
        throw EngineError("\(url.path): \(describe(e))")
    }
}

func describe(_ e: DecodingError) -> String {
    switch e {
    case .keyNotFound(let k, _): return "missing key '\(k.stringValue)'"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
        let path = c.codingPath.map(\.stringValue).joined(separator: ".")
        return "bad value for '\(path)': \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
}
