import Foundation

/// Builds JSON text in a fixed key order. Stored JSON (input, metadata) is spliced in byte for byte, so numbers such
/// as 64-bit seeds never pass through a Double.
struct JSONWriter {
    private(set) var bytes = Data()
    private var needsComma = [false]

    mutating func beginObject() { value(raw: "{"); needsComma.append(false) }
    mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    mutating func beginArray() { value(raw: "["); needsComma.append(false) }
    mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ s: String?) {
        guard let s else { return null() }
        separate()
        appendString(s)
    }

    mutating func int<T: BinaryInteger>(_ v: T?) {
        guard let v else { return null() }
        value(raw: String(v))
    }

    mutating func bool(_ v: Bool) { value(raw: v ? "true" : "false") }
    mutating func null() { value(raw: "null") }

    /// Already-valid JSON text.
    mutating func json(_ data: Data) {
        separate()
        bytes.append(data)
    }

    private mutating func value(raw: String) {
        separate()
        bytes.append(contentsOf: Array(raw.utf8))
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for unit in s.utf8 {
            switch unit {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(unit >> 4)], hex[Int(unit & 15)]])
            default: bytes.append(unit)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
