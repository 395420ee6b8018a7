/// A tokenization model (`model` section of a `tokenizer.json`): turns one pre-tokenized word
/// into ids. Vocabulary keys are UTF-8 byte arrays, not `String`s, because Swift `String`
/// equality is canonical equivalence and would merge distinct tokens such as "é" and "e\u{301}".
protocol TokenModel: AnyObject {
    func tokenize(_ word: [Unicode.Scalar]) -> [Int]
    func tokenId(_ token: String) -> Int?
    var vocabSize: Int { get }
}

extension Array where Element == Unicode.Scalar {
    /// UTF-8 bytes of a scalar array (vocabulary key form).
    var utf8Bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for s in self {
            let v = s.value
            if v < 0x80 { out.append(UInt8(v)) }
            else if v < 0x800 { out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F))) }
            else if v < 0x10000 {
                out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
            } else {
                out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
        return out
    }
}
