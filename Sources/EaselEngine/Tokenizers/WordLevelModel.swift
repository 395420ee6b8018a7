/// `tokenizers`' WordLevel model: the whole pre-tokenized word is looked up; misses map to unk.
final class WordLevelModel: TokenModel {
    private var vocab: [[UInt8]: Int] = [:]
    private let unkId: Int?

    var vocabSize: Int { vocab.count }

    init(vocab: [String: Int], unkToken: String?) throws {
        for (k, v) in vocab { self.vocab[Array(k.utf8)] = v }
        if let u = unkToken {
            guard let id = self.vocab[Array(u.utf8)] else {
                throw EngineError("tokenizer: WordLevel unk_token \(u) is not in the vocabulary")
            }
            unkId = id
        } else {
            unkId = nil
        }
    }

    func tokenId(_ token: String) -> Int? { vocab[Array(token.utf8)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if let id = vocab[word.utf8Bytes] { return [id] }
        return unkId.map { [$0] } ?? []
    }
}
