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
    /// serde), or nil when it is not an object of integers. An id outside 0…2^31−1 is an error naming the token
    /// (`tokenizers` reads ids as u32; the models pack them into 32 bits).
    static func intMap(_ json: JSONValue?) throws -> [ByteKey: Int]? {
        guard case .object(let members)? = json else { return nil }
        var map: [ByteKey: Int] = [:]
        map.reserveCapacity(members.count)
        for (key, value) in members {
            guard value.integerLiteralValue != nil else { return nil }
            guard let id = tokenID(value) else {
                throw EngineError("tokenizer: vocabulary entry \(JSONValue.quoted(key)) has id \(value.serialized), not 0 to \(Int32.max)")
            }
            map[ByteKey(key)] = id
        }
        return map
    }

    /// A token id as the files write it: an integer from 0 to 2^31−1, or nil.
    static func tokenID(_ json: JSONValue?) -> Int? {
        guard let id = json?.integerLiteralValue, (0...Int(Int32.max)).contains(id) else { return nil }
        return id
    }
}
