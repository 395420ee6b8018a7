/// `tokenizers`' WordPiece model (BERT): greedy longest-match-first from the start of the word,
/// pieces after the first looked up with `continuing_subword_prefix` ("##"). A word longer than
/// `max_input_chars_per_word` characters, or one with a part no piece covers, becomes the unk
/// token as a whole (nothing, when the vocabulary has no unk token: the library fails there).
final class WordPieceModel: TokenModel {
    private let vocab: [ByteKey: Int]
    private let unkId: Int?
    private let prefix: [UInt8]
    private let maxInputChars: Int

    var vocabSize: Int { vocab.count }

    init(vocab: [ByteKey: Int], unkToken: String, continuingPrefix: String, maxInputCharsPerWord: Int) {
        self.vocab = vocab
        self.unkId = vocab[ByteKey(unkToken)]
        self.prefix = Array(continuingPrefix.utf8)
        self.maxInputChars = maxInputCharsPerWord
    }

    func tokenId(_ token: String) -> Int? { vocab[ByteKey(token)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        let unk = unkId.map { [$0] } ?? []
        if word.count > maxInputChars { return unk }
        // Byte offset of every scalar boundary, so substrings are slices of one UTF-8 buffer.
        let bytes = word.utf8Bytes
        var bounds: [Int] = [0]
        bounds.reserveCapacity(word.count + 1)
        for c in word {
            let v = c.value
            bounds.append(bounds.last! + (v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4))
        }
        var ids: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int? = nil
            while start < end {
                let piece = Array(bytes[bounds[start]..<bounds[end]])
                if let id = vocab[ByteKey(start > 0 ? prefix + piece : piece)] { found = id; break }
                end -= 1
            }
            guard let id = found else { return unk }
            ids.append(id)
            start = end
        }
        return ids
    }
}
