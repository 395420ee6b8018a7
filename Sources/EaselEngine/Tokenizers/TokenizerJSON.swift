import Foundation

/// A small JSON reader for tokenizer files, producing Foundation-style values (`[String: Any]`,
/// `[Any]`, `String`, `Int`, `Double`, `Bool`, `NSNull`).
///
/// Why not `JSONSerialization`: on Linux it drops a U+FEFF that starts a string value, and its
/// number parsing is not always correctly rounded — Unigram scores then differ in the last bit,
/// which flips Viterbi ties. `JSONDecoder` is exact but slow on 50k-entry vocabularies through a
/// generic value type. This reader keeps raw scalars as-is and parses numbers with Swift's
/// correctly rounded `Double(String)`.
enum TokenizerJSON {
    /// Key under which an all-integer object also carries its exact byte-keyed contents.
    static let exactIntMapKey = "\u{0}exact"

    /// A vocabulary object (`{"token": id, ...}`) with byte-exact keys, or nil.
    static func intMap(_ any: Any?) -> [ByteKey: Int]? {
        guard let obj = any as? [String: Any] else { return nil }
        if let exact = obj[exactIntMapKey] as? ExactIntMap { return exact.map }
        return obj.isEmpty ? [:] : nil
    }

    static func parse(_ data: Data, name: String) throws -> Any {
        var reader = Reader(bytes: [UInt8](data))
        do {
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.i == reader.bytes.count else { throw ReadError(offset: reader.i, what: "trailing data") }
            return value
        } catch let e as ReadError {
            throw EngineError("tokenizer: \(name) is not valid JSON (\(e.what) at byte \(e.offset))")
        }
    }

    private struct ReadError: Error { var offset: Int; var what: String }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
            // A UTF-8 byte order mark before the document is allowed.
            if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }
        }

        mutating func skipWhitespace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        func fail(_ what: String) -> ReadError { ReadError(offset: i, what: what) }

        mutating func value(depth: Int) throws -> Any {
            guard depth < 512 else { throw fail("nesting too deep") }
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var keys: [[UInt8]] = []
                var values: [Any] = []
                var allInt = true
                skipWhitespace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return [String: Any]() }
                while true {
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    keys.append(try stringBytes())
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipWhitespace()
                    let v = try value(depth: depth + 1)
                    if allInt && !(v is Int) { allInt = false }
                    values.append(v)
                    skipWhitespace()
                    guard i < bytes.count else { throw fail("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                    throw fail("expected ',' or '}'")
                }
                var obj: [String: Any] = [:]
                if allInt {
                    // Vocabularies: keep byte-exact keys (later duplicates win, as in serde);
                    // big ones skip the String-keyed copy, which nobody reads.
                    var exact: [ByteKey: Int] = [:]
                    exact.reserveCapacity(keys.count)
                    for (k, v) in zip(keys, values) { exact[ByteKey(k)] = (v as! Int) }
                    obj[TokenizerJSON.exactIntMapKey] = ExactIntMap(exact)
                    if keys.count > 256 { return obj }
                }
                for (k, v) in zip(keys, values) { obj[String(decoding: k, as: UTF8.self)] = v }
                return obj
            case UInt8(ascii: "["):
                i += 1
                var arr: [Any] = []
                skipWhitespace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return arr }
                while true {
                    skipWhitespace()
                    arr.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard i < bytes.count else { throw fail("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return arr }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return try string()
            case UInt8(ascii: "t"): try literal("true"); return true
            case UInt8(ascii: "f"): try literal("false"); return false
            case UInt8(ascii: "n"): try literal("null"); return NSNull()
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String) throws {
            for c in word.utf8 {
                guard i < bytes.count, bytes[i] == c else { throw fail("bad literal") }
                i += 1
            }
        }

        mutating func number() throws -> Any {
            let start = i
            var isInteger = true
            while i < bytes.count {
                let c = bytes[i]
                if (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { i += 1 }
                else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isInteger = false; i += 1 }
                else { break }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if isInteger, let v = Int(text) { return v }
            guard !text.isEmpty, let d = Double(text) else { throw ReadError(offset: start, what: "bad value") }
            return d
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("bad \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            String(decoding: try stringBytes(), as: UTF8.self)
        }

        mutating func stringBytes() throws -> [UInt8] {
            i += 1  // opening quote
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    out.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    return out
                }
                if c != UInt8(ascii: "\\") { i += 1; continue }
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if v >= 0xD800 && v < 0xDC00, i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let lo = try hex4()
                        if lo >= 0xDC00 && lo < 0xE000 { v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00) } else { i = save }
                    }
                    let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"  // lone surrogates, as Python's json would refuse
                    out.append(contentsOf: [scalar].utf8Bytes)
                default:
                    throw fail("bad escape")
                }
                runStart = i
            }
        }
    }
}
