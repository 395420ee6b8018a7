import Foundation

/// Rejects config keys the engine does not know, so an option we would silently ignore becomes an error
/// that names it. Keys starting with "_" are metadata (`_class_name`, `_diffusers_version`, …).
func checkConfigKeys(at url: URL, known: Set<String>, expectClass: [String]? = nil) throws {
    let data = try Data(contentsOf: url)
    guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw EngineError("\(url.path): not a JSON object")
    }
    for key in obj.keys.sorted() where !key.hasPrefix("_") && !known.contains(key) {
        throw EngineError("\(url.path): unsupported config key '\(key)'")
    }
    if let expectClass, let cls = obj["_class_name"] as? String, !expectClass.contains(cls) {
        throw EngineError("\(url.path): _class_name '\(cls)' is not one of \(expectClass.joined(separator: ", "))")
    }
}
