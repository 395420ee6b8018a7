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
