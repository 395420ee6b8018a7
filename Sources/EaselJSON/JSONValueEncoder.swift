/// Encodes `Encodable` types into a `JSONValue`, members in the order `encode(to:)` writes them and numbers as
/// exact text (a `UInt64` stays exact; a Double is written the shortest way that reads back to the same value).
public struct JSONValueEncoder {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = Box()
        try value.encode(to: ValueEncoder(box: root, codingPath: []))
        return root.value ?? .object([])
    }
}

/// A value under construction: containers write into it after they are handed out, so it is a reference.
private final class Box {
    enum Slot { case keyed([(String, Box)]), unkeyed([Box]), value(JSONValue) }
    var slot: Slot?

    var value: JSONValue? {
        switch slot {
        case .none: return nil
        case .value(let v): return v
        case .keyed(let members): return .object(members.map { ($0.0, $0.1.value ?? .null) })
        case .unkeyed(let items): return .array(items.map { $0.value ?? .null })
        }
    }

    func child(forKey key: String) -> Box {
        let b = Box()
        var members: [(String, Box)] = []
        if case .keyed(let m) = slot { members = m }
        members.removeAll { $0.0 == key }
        members.append((key, b))
        slot = .keyed(members)
        return b
    }

    func appendChild() -> Box {
        let b = Box()
        var items: [Box] = []
        if case .unkeyed(let m) = slot { items = m }
        items.append(b)
        slot = .unkeyed(items)
        return b
    }
}

private func encoded<T: Encodable>(_ value: T, into box: Box, path: [CodingKey]) throws {
    switch value {
    case let v as Bool: box.slot = .value(.bool(v))
    case let v as String: box.slot = .value(.string(v))
    case let v as Double:
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: path, debugDescription: "JSON has no \(v)"))
        }
        box.slot = .value(.double(v))
    case let v as Float:
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: path, debugDescription: "JSON has no \(v)"))
        }
        box.slot = .value(.number("\(v)"))
    case let v as Int: box.slot = .value(.int(v))
    case let v as Int64: box.slot = .value(.int(v))
    case let v as Int32: box.slot = .value(.int(v))
    case let v as UInt64: box.slot = .value(.int(v))
    case let v as UInt32: box.slot = .value(.int(v))
    case let v as UInt: box.slot = .value(.int(v))
    case let v as Int16: box.slot = .value(.int(v))
    case let v as Int8: box.slot = .value(.int(v))
    case let v as UInt16: box.slot = .value(.int(v))
    case let v as UInt8: box.slot = .value(.int(v))
    default: try value.encode(to: ValueEncoder(box: box, codingPath: path))
    }
}

private struct ValueEncoder: Encoder {
    let box: Box
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if box.slot == nil { box.slot = .keyed([]) }
        return KeyedEncodingContainer(KeyedEncoder<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if box.slot == nil { box.slot = .unkeyed([]) }
        return UnkeyedEncoder(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleEncoder(box: box, codingPath: codingPath) }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: Box
    let codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.child(forKey: key.stringValue).slot = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encoded(value, into: box.child(forKey: key.stringValue), path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey> {
        ValueEncoder(box: box.child(forKey: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        ValueEncoder(box: box.child(forKey: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(box: box.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        ValueEncoder(box: box.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let box: Box
    let codingPath: [CodingKey]

    var count: Int { if case .unkeyed(let items) = box.slot { return items.count } else { return 0 } }

    mutating func encodeNil() throws { box.appendChild().slot = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoded(value, into: box.appendChild(), path: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey> {
        ValueEncoder(box: box.appendChild(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        ValueEncoder(box: box.appendChild(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder { ValueEncoder(box: box.appendChild(), codingPath: codingPath) }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let box: Box
    let codingPath: [CodingKey]

    mutating func encodeNil() throws { box.slot = .value(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws { try encoded(value, into: box, path: codingPath) }
}
