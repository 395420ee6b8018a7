import EaselJSON
import Foundation

/// Reading tokenizer files through the one JSON reader, with the `tokenizers` library's rules: large bounds, a
/// repeated key keeps its last value, and strings keep their exact scalars (a leading U+FEFF, decomposed accents)
/// and numbers their exact text, so Unigram scores round exactly as in Rust.
enum TokenizerJSON {
    static func read(_ url: URL) throws -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EngineError("tokenizer: cannot read \(url.path): \(error.localizedDescription)")
        }
        return try parse(data, name: url.lastPathComponent)
    }

    static func parse(_ data: Data, name: String) throws -> JSONValue {
        do { return try JSONValue.parse(data, limits: .tokenizer) } catch let e as JSONParseError {
            throw EngineError("tokenizer: \(name) is not valid JSON (\(e.message) at byte \(e.offset))")
        }
    }

    /// A vocabulary object (`{"token": id, ...}`) keyed by each token's exact bytes (later duplicates win, as in
    /// serde), or nil when it is not an object of integers.
    static func intMap(_ json: JSONValue?) -> [ByteKey: Int]? {
        guard case .object(let members)? = json else { return nil }
        var map: [ByteKey: Int] = [:]
        map.reserveCapacity(members.count)
        for (key, value) in members {
            guard let id = value.integerLiteralValue else { return nil }
            map[ByteKey(key)] = id
        }
        return map
    }
}
