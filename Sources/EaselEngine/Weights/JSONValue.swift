import Foundation

/// A small, strict JSON reader for safetensors headers and index files.
///
/// Unlike `JSONSerialization`, it keeps object keys in order and *rejects* duplicate keys
/// (a common parser behaviour is to keep one silently, which would hide a tensor), bounds the
/// nesting depth, and reports integers exactly (no round trip through `Double`).
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// An integer literal that fits in `Int`.
    case int(Int)
    /// Any other number (fraction, exponent, or an integer out of `Int`'s range), as written.
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Parses exactly one JSON value surrounded by optional whitespace.
    /// Throws a plain description (the caller wraps it with the file name).
    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        if p.pos != bytes.count { throw p.fail("unexpected data after the JSON value") }
        return v
    }

    static func parse(_ data: Data, maxDepth: Int = 64) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    var typeName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .int, .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let maxDepth: Int
        var pos = 0

        init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func fail(_ what: String) -> SyntaxError {
            SyntaxError(description: "invalid JSON at byte \(pos): \(what)")
        }

        var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

        mutating func skipWhitespace() {
            while pos < bytes.count {
                switch bytes[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String, _ v: JSONValue) throws -> JSONValue {
            for c in literal.utf8 {
                guard peek == c else { throw fail("expected '\(literal)'") }
                pos += 1
            }
            return v
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
            guard let c = peek else { throw fail("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            pos += 1  // {
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<String>()
            skipWhitespace()
            if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let keyPos = pos
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw SyntaxError(description: "duplicate key '\(key)' at byte \(keyPos)")
                }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw fail("expected ':'") }
                pos += 1
                skipWhitespace()
                let v = try value(depth: depth + 1)
                members.append((key, v))
                skipWhitespace()
                guard let c = peek else { throw fail("unterminated object") }
                pos += 1
                if c == UInt8(ascii: "}") { return .object(members) }
                guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or '}'") }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            pos += 1  // [
            var items: [JSONValue] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard let c = peek else { throw fail("unterminated array") }
                pos += 1
                if c == UInt8(ascii: "]") { return .array(items) }
                guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or ']'") }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard pos + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("bad hex digit in \\u escape")
                }
                v = v << 4 | UInt32(d)
                pos += 1
            }
            return v
        }

        mutating func string() throws -> String {
            pos += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard let c = peek else { throw fail("unterminated string") }
                pos += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else {
                        throw fail("string is not valid UTF-8")
                    }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw fail("unterminated escape") }
                    pos += 1
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
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"),
                                  bytes[pos + 1] == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
                            pos += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw fail("unpaired surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw fail("unknown escape")
                    }
                case 0x00..<0x20:
                    throw fail("control character in string")
                default:
                    out.append(c)
                }
            }
        }

        mutating func number() throws -> JSONValue {
            let start = pos
            var isInteger = true
            if peek == UInt8(ascii: "-") { pos += 1 }
            func digits(_ p: inout Parser) -> Int {
                var n = 0
                while let c = p.peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.pos += 1; n += 1 }
                return n
            }
            let intStart = pos
            let nInt = digits(&self)
            guard nInt > 0 else { throw fail("expected digits") }
            if nInt > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("leading zero in number") }
            if peek == UInt8(ascii: ".") {
                isInteger = false
                pos += 1
                guard digits(&self) > 0 else { throw fail("expected digits after '.'") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                isInteger = false
                pos += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
                guard digits(&self) > 0 else { throw fail("expected exponent digits") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            if isInteger, let v = Int(text) { return .int(v) }
            return .number(text)
        }
    }
}
