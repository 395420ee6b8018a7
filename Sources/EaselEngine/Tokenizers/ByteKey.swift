/// A vocabulary key: the token's exact UTF-8 bytes. Swift `String` keys would hash and compare
/// by canonical equivalence (merging "é" and "e\u{301}", which `tokenizers` keeps apart) and
/// hash slowly; the bytes are hashed in one call.
struct ByteKey: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ string: String) { self.bytes = Array(string.utf8) }

    static func == (a: ByteKey, b: ByteKey) -> Bool { a.bytes == b.bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// The exact contents of a JSON object whose values are all integers (a vocabulary), as read
/// by `TokenizerJSON`; stored in the object under `TokenizerJSON.exactIntMapKey`.
final class ExactIntMap {
    let map: [ByteKey: Int]
    init(_ map: [ByteKey: Int]) { self.map = map }
}
