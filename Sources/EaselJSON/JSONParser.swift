/// Why a JSON text could not be read: what, and at which byte.
public struct JSONParseError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public var offset: Int
    /// The object keys leading to the failure (`["loras", "name"]`); for a repeated key, ending with that key. Lets a
    /// caller name the field at fault.
    public var path: [String]
    public init(message: String, offset: Int, path: [String] = []) {
        self.message = message
        self.offset = offset
        self.path = path
    }
    public var description: String {
        "invalid JSON at byte \(offset)\(path.isEmpty ? "" : " (in \(path.joined(separator: ".")))"): \(message)"
    }
}

extension JSONValue {
    /// Reads one JSON document (RFC 8259, strictly: no comments, trailing commas, lone surrogates or invalid
    /// UTF-8; a leading UTF-8 byte order mark is skipped) within `limits`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits = .strict) throws -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONParseError(message: "document of \(bytes.count) bytes is over the limit of \(limits.maxBytes)",
                                 offset: 0)
        }
        var p = JSONReader(bytes: bytes, limits: limits)
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { p.pos = 3 }
        p.skipSpace()
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == bytes.count else { throw p.fail("unexpected data after the JSON value") }
        return value
    }

    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .strict) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, limits: limits) }
    }

    public static func parse(_ text: String, limits: JSONLimits = .strict) throws -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }
}

/// The one JSON reader: a recursive descent over raw bytes, bounded by `JSONLimits`.
struct JSONReader {
    let bytes: UnsafeRawBufferPointer
    let limits: JSONLimits
    var pos = 0
    /// The keys of the members being read, outermost first.
    var path: [String] = []

    init(bytes: UnsafeRawBufferPointer, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    func fail(_ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(message: message, offset: offset ?? pos, path: path)
    }

    var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard let c = peek else { throw fail("unexpected end of input") }
        switch c {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let start = pos
        for i in 0..<word.utf8CodeUnitCount {
            guard pos < bytes.count, bytes[pos] == word.utf8Start[i] else { throw fail("invalid literal", at: start) }
            pos += 1
        }
    }

    func checkDepth(_ depth: Int) throws {
        guard depth <= limits.maxDepth else { throw fail("nesting deeper than \(limits.maxDepth)") }
    }

    mutating func object(depth: Int) throws -> JSONValue {
        try checkDepth(depth)
        pos += 1  // {
        var members: [(String, JSONValue)] = []
        var seen = Set<[UInt8]>()
        skipSpace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = pos
            let key = try string()
            // Keys compare by their bytes: canonically equivalent spellings are different keys, as in serde.
            path.append(key)
            if limits.duplicateKeys == .reject, !seen.insert(Array(key.utf8)).inserted {
                throw fail("duplicate key '\(key)'", at: keyOffset)
            }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':'") }
            pos += 1
            skipSpace()
            members.append((key, try value(depth: depth)))
            path.removeLast()
            skipSpace()
            guard let c = peek else { throw fail("unterminated object") }
            pos += 1
            if c == UInt8(ascii: "}") { return .object(members) }
            guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or '}'") }
        }
    }

    mutating func array(depth: Int) throws -> JSONValue {
        try checkDepth(depth)
        pos += 1  // [
        var items: [JSONValue] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            guard let c = peek else { throw fail("unterminated array") }
            pos += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            guard c == UInt8(ascii: ",") else { pos -= 1; throw fail("expected ',' or ']'") }
        }
    }

    /// The number's text, checked against the JSON grammar.
    mutating func number() throws -> String {
        let start = pos
        if peek == UInt8(ascii: "-") { pos += 1 }
        func digits(_ r: inout JSONReader) -> Int {
            let s = r.pos
            while let c = r.peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { r.pos += 1 }
            return r.pos - s
        }
        let intStart = pos
        let n = digits(&self)
        guard n > 0 else { throw fail("expected digits") }
        if n > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("leading zero in number", at: intStart) }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw fail("expected digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw fail("expected exponent digits") }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
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

    /// A string's value; unescaped runs are copied as they are (so U+FEFF and decomposed accents survive).
    mutating func string() throws -> String {
        let open = pos
        pos += 1
        var out: [UInt8] = []
        var run = pos
        while true {
            guard pos < bytes.count else { throw fail("unterminated string", at: open) }
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                let tail = UnsafeRawBufferPointer(rebasing: bytes[run..<pos])
                pos += 1
                let s: String?
                if out.isEmpty {
                    s = String(validating: tail, as: UTF8.self)
                } else {
                    out.append(contentsOf: tail)
                    s = String(validating: out, as: UTF8.self)
                }
                guard let s else { throw fail("string is not valid UTF-8", at: open) }
                return s
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { pos += 1; continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[run..<pos]))
            pos += 1
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
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    pos += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                out.append(contentsOf: Array(String(u).utf8))
            default: throw fail("unknown escape")
            }
            run = pos
        }
    }
}
