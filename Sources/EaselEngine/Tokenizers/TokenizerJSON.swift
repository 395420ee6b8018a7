import Foundation

/// Reads tokenizer JSON files into Foundation-style values (`[String: Any]`, `[Any]`, `String`,
/// `Int`, `Double`, `Bool`, `NSNull`). `JSONDecoder` is used instead of `JSONSerialization`
/// because on Linux the latter drops a U+FEFF that starts a raw UTF-8 string value, which would
/// silently change vocabulary tokens and test strings.
enum TokenizerJSON {
    private enum Value: Decodable {
        case null, bool(Bool), int(Int), double(Double), string(String), array([Value]), object([String: Value])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int.self) { self = .int(i) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([Value].self) { self = .array(a) }
            else { self = .object(try c.decode([String: Value].self)) }
        }

        var any: Any {
            switch self {
            case .null: return NSNull()
            case .bool(let b): return b
            case .int(let i): return i
            case .double(let d): return d
            case .string(let s): return s
            case .array(let a): return a.map { $0.any }
            case .object(let o): return o.mapValues { $0.any }
            }
        }
    }

    static func parse(_ data: Data, name: String) throws -> Any {
        do {
            return try JSONDecoder().decode(Value.self, from: data).any
        } catch {
            throw EngineError("tokenizer: \(name) is not valid JSON (\(error))")
        }
    }
}
