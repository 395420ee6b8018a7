/// `tokenizers`' WordLevel model: the whole pre-tokenized word is looked up; misses map to unk.
final class WordLevelModel: TokenModel {
    private let vocab: [ByteKey: Int]
    private let unkId: Int?

    var vocabSize: Int { vocab.count }

    init(vocab: [ByteKey: Int], unkToken: String?) throws {
        self.vocab = vocab
        if let u = unkToken {
            guard let id = vocab[ByteKey(u)] else {
                throw EngineError("tokenizer: WordLevel unk_token \(u) is not in the vocabulary")
            }
            unkId = id
        } else {
            unkId = nil
        }
    }

    func tokenId(_ token: String) -> Int? { vocab[ByteKey(token)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if let id = vocab[ByteKey(word.utf8Bytes)] { return [id] }
        return unkId.map { [$0] } ?? []
    }
}
