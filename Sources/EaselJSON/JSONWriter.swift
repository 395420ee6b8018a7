/// The one JSON writer: compact text, keys in the order written. Values built as `JSONValue` and documents streamed
/// member by member (the job object, which splices stored JSON byte for byte) go through the same escaping.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = [false]

    public init() {}

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    public mutating func key(_ name: String) {
        separate()
        Self.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ s: String?) {
        guard let s else { return null() }
        separate()
        Self.appendQuoted(s, to: &bytes)
    }

    public mutating func int<T: BinaryInteger>(_ v: T?) {
        guard let v else { return null() }
        raw(String(v))
    }

    public mutating func bool(_ v: Bool) { raw(v ? "true" : "false") }
    public mutating func null() { raw("null") }

    /// Text that is already one valid JSON value (stored input or metadata), copied as it is.
    public mutating func json<Bytes: Sequence>(_ text: Bytes) where Bytes.Element == UInt8 {
        separate()
        bytes.append(contentsOf: text)
    }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): raw(n)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for (k, item) in members {
                key(k)
                value(item)
            }
            endObject()
        }
    }

    private mutating func raw(_ text: String) {
        separate()
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    /// `"…"` with the escapes JSON requires, plus U+2028/U+2029 (line breaks in JavaScript source).
    public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        var utf8 = s.utf8.makeIterator()
        while let b = utf8.next() {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20: out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            case 0xE2:
                // U+2028 and U+2029 are E2 80 A8 / E2 80 A9.
                guard let b1 = utf8.next() else { out.append(b); continue }
                guard let b2 = utf8.next() else { out.append(contentsOf: [b, b1]); continue }
                if b1 == 0x80 && (b2 == 0xA8 || b2 == 0xA9) {
                    out.append(contentsOf: Array("\\u202".utf8) + [b2 == 0xA8 ? UInt8(ascii: "8") : UInt8(ascii: "9")])
                } else {
                    out.append(contentsOf: [b, b1, b2])
                }
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact JSON text (numbers written as they were read).
    public var serialized: String { String(decoding: bytes, as: UTF8.self) }

    public var bytes: [UInt8] {
        var w = JSONWriter()
        w.value(self)
        return w.bytes
    }

    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        JSONWriter.appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
