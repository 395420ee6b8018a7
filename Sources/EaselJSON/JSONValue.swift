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

    /// An integral number that fits `Int` ("64", or "64.0" / "6.4e1" when exactly integral below 2^53); nil otherwise.
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let i = Int(text) { return i }
        if let d = Double(text), d.rounded() == d, abs(d) < 9e15 { return Int(d) }
        return nil
    }

    /// An integer written as one (no fraction or exponent) that fits `Int`: safetensors shapes and offsets.
    public var integerLiteralValue: Int? {
        guard case .number(let text) = self else { return nil }
        return Int(text)
    }

    /// A non-negative integer up to 2^64 - 1, written without fraction or exponent.
    public var uint64Value: UInt64? {
        guard case .number(let text) = self else { return nil }
        return UInt64(text)
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
