/// A JSON value as Easel reads and writes it everywhere: request bodies, stored job input, the server config,
/// component configs, tokenizer files and safetensors headers.
///
/// Numbers keep their source text, so a 64-bit seed or a tokenizer score is converted once, exactly, by whoever
/// reads it (never through an intermediate Double). Objects keep their members in document order; a key that
/// repeats is an error or kept (last one wins on lookup) depending on `JSONLimits.duplicateKeys`.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member `key` of an object (nil for other values or a missing key). Where a key repeats (only in
    /// documents read with `.lastWins`), the last one counts, as in serde and Python's json.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    /// The member `key`, with `null` read as absent.
    public func present(_ key: String) -> JSONValue? {
        guard let v = self[key], v != .null else { return nil }
        return v
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var isNull: Bool { self == .null }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: [(String, JSONValue)]? { if case .object(let m) = self { return m } else { return nil } }

    /// The number as a `T` when its value is exactly an integer in `T`'s range: "64", "64.0" and "6.4e1" are 64;
    /// "2.5", "1e400" and out-of-range values are nil. Decided on the decimal text, never through a Double, so every
    /// integer field of every document follows one rule, 64-bit seeds included.
    public func integer<T: FixedWidthInteger>(as type: T.Type = T.self) -> T? {
        guard case .number(let text) = self else { return nil }
        if let i = T(text) { return i }
        return Self.exactInteger(text)
    }

    /// An integral number that fits `Int` (the rule of `integer(as:)`).
    public var intValue: Int? { integer(as: Int.self) }

    /// An integer written as one (no fraction or exponent) that fits `Int`: safetensors shapes and offsets.
    public var integerLiteralValue: Int? {
        guard case .number(let text) = self else { return nil }
        return Int(text)
    }

    /// A non-negative integer up to 2^64 - 1 (the rule of `integer(as:)`).
    public var uint64Value: UInt64? { integer(as: UInt64.self) }

    /// `text` (valid JSON number grammar) as an exact integer: digits with the fraction's trailing zeros and the
    /// exponent applied; nil if anything non-zero would be left after the point or it does not fit.
    static func exactInteger<T: FixedWidthInteger>(_ text: String) -> T? {
        var bytes = Substring(text).utf8[...]
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes = bytes.dropFirst() }
        var digits: [UInt8] = []   // every digit, point removed
        var pointAt: Int?          // digits before the point
        var exponent = 0
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let c = bytes[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                digits.append(c - UInt8(ascii: "0"))
            } else if c == UInt8(ascii: ".") {
                pointAt = digits.count
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                guard let e = Int(String(decoding: bytes[bytes.index(after: i)...], as: UTF8.self)),
                      abs(e) < 1000 else { return nil }
                exponent = e
                break
            } else {
                return nil
            }
            i = bytes.index(after: i)
        }
        if digits.allSatisfy({ $0 == 0 }) { return 0 }
        // The value is digits × 10^(exponent − fraction digits).
        let scale = exponent - (digits.count - (pointAt ?? digits.count))
        var kept = digits
        if scale < 0 {
            guard -scale <= kept.count, kept.suffix(-scale).allSatisfy({ $0 == 0 }) else { return nil }
            kept.removeLast(-scale)
        } else if scale > 0 {
            guard scale <= 40 else { return nil }
            kept += [UInt8](repeating: 0, count: scale)
        }
        var value: T = 0
        for d in kept {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(T(d)) : m.addingReportingOverflow(T(d))
            guard !o1, !o2 else { return nil }
            value = a
        }
        return value
    }

    /// The number, correctly rounded from its source text.
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    public static func int<T: BinaryInteger>(_ v: T) -> JSONValue { .number(String(v)) }

    /// A finite double written the shortest way that reads back exactly ("2.5", "3", "0.1").
    public static func double(_ v: Double) -> JSONValue {
        if v.rounded() == v, abs(v) < 1e15 { return .number(String(Int64(v))) }
        return .number("\(v)")
    }
}
