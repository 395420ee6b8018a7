import Foundation

/// Byte-pair encoding as `tokenizers`' `BPE` model: each word starts as characters (with the
/// continuing-subword prefix on all but the first and the end-of-word suffix on the last), unknown
/// characters become byte-fallback tokens or `unk` (fused if `fuse_unk`), then the lowest-ranked
/// adjacent pair is merged (leftmost first on ties) until none applies. Results are cached per word.
final class BPEModel: TokenModel {
    private var vocab: [[UInt8]: Int] = [:]
    /// (left id, right id) packed -> (rank, merged id)
    private var merges: [UInt64: (rank: Int, id: Int)] = [:]
    private let unkToken: String?
    private let continuingPrefix: String
    private let endOfWordSuffix: String
    private let fuseUnk: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    private var cache: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()
    private var byteIds: [Int?] = []

    var vocabSize: Int { vocab.count }

    init(vocab: [String: Int], merges: [(String, String)], unkToken: String?, continuingPrefix: String,
         endOfWordSuffix: String, fuseUnk: Bool, byteFallback: Bool, ignoreMerges: Bool) throws {
        for (k, v) in vocab { self.vocab[Array(k.utf8)] = v }
        self.unkToken = unkToken
        self.continuingPrefix = continuingPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        let prefixBytes = Array(continuingPrefix.utf8)
        for (rank, (a, b)) in merges.enumerated() {
            let ab = Array(a.utf8), bb = Array(b.utf8)
            guard let ia = self.vocab[ab], let ib = self.vocab[bb] else {
                throw EngineError("tokenizer: BPE merge '\(a) \(b)' uses a token missing from the vocabulary")
            }
            var merged = ab
            if !prefixBytes.isEmpty && bb.starts(with: prefixBytes) { merged += bb[prefixBytes.count...] } else { merged += bb }
            guard let im = self.vocab[merged] else {
                throw EngineError("tokenizer: BPE merge '\(a) \(b)' produces a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            self.merges[key] = (rank, im)  // later duplicates win, as in tokenizers' HashMap collect
        }
        if byteFallback {
            byteIds = (0..<256).map { self.vocab[Array(String(format: "<0x%02X>", $0).utf8)] }
        }
        if let unk = unkToken, self.vocab[Array(unk.utf8)] == nil {
            throw EngineError("tokenizer: BPE unk_token \(unk) is not in the vocabulary")
        }
    }

    func tokenId(_ token: String) -> Int? { vocab[Array(token.utf8)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        let key = word.utf8Bytes
        if ignoreMerges, let id = vocab[key] { return [id] }
        lock.lock()
        if let hit = cache[key] { lock.unlock(); return hit }
        lock.unlock()
        let ids = merge(initialSymbols(word))
        lock.lock()
        if cache.count < 100_000 { cache[key] = ids }
        lock.unlock()
        return ids
    }

    private func initialSymbols(_ word: [Unicode.Scalar]) -> [Int] {
        var syms: [Int] = []
        syms.reserveCapacity(word.count)
        let prefix = Array(continuingPrefix.utf8), suffix = Array(endOfWordSuffix.utf8)
        let unkId = unkToken.flatMap { vocab[Array($0.utf8)] }
        var pendingUnk = false
        for (i, c) in word.enumerated() {
            var k: [UInt8] = []
            if i > 0 { k += prefix }
            let cb = [c].utf8Bytes
            k += cb
            if i == word.count - 1 { k += suffix }
            if let id = vocab[k] {
                pendingUnk = false
                syms.append(id)
                continue
            }
            if byteFallback {
                let ids = cb.map { byteIds[Int($0)] }
                if ids.allSatisfy({ $0 != nil }) {
                    pendingUnk = false
                    syms.append(contentsOf: ids.map { $0! })
                    continue
                }
            }
            if let u = unkId {
                if !(fuseUnk && pendingUnk) { syms.append(u) }
                pendingUnk = true
            }
        }
        return syms
    }

    private func merge(_ input: [Int]) -> [Int] {
        var syms = input
        while syms.count > 1 {
            var bestRank = Int.max, bestPos = -1, bestId = 0
            for i in 0..<(syms.count - 1) {
                let key = UInt64(UInt32(syms[i])) << 32 | UInt64(UInt32(syms[i + 1]))
                if let m = merges[key], m.rank < bestRank {
                    bestRank = m.rank; bestPos = i; bestId = m.id
                }
            }
            if bestPos < 0 { break }
            syms[bestPos] = bestId
            syms.remove(at: bestPos + 1)
        }
        return syms
    }
}
