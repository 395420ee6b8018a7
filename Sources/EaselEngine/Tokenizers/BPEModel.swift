import Foundation

/// Byte-pair encoding as `tokenizers`' `BPE` model: each word starts as characters (with the
/// continuing-subword prefix on all but the first and the end-of-word suffix on the last), unknown
/// characters become byte-fallback tokens or `unk` (fused if `fuse_unk`), then the lowest-ranked
/// adjacent pair is merged (leftmost first on ties) until none applies. Results are cached per word.
final class BPEModel: TokenModel {
    private let vocab: [ByteKey: Int]
    /// (left id, right id) packed -> (rank, merged id)
    private var merges: [UInt64: (rank: Int, id: Int)] = [:]
    private let unkToken: String?
    private let continuingPrefix: String
    private let endOfWordSuffix: String
    private let fuseUnk: Bool
    private let byteFallback: Bool
    private let ignoreMerges: Bool
    private var cache: [ByteKey: [Int]] = [:]
    private let lock = NSLock()
    private var byteIds: [Int?] = []

    var vocabSize: Int { vocab.count }

    init(vocab: [ByteKey: Int], merges: [([UInt8], [UInt8])], unkToken: String?, continuingPrefix: String,
         endOfWordSuffix: String, fuseUnk: Bool, byteFallback: Bool, ignoreMerges: Bool) throws {
        self.vocab = vocab
        self.unkToken = unkToken
        self.continuingPrefix = continuingPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        let prefixBytes = Array(continuingPrefix.utf8)
        self.merges.reserveCapacity(merges.count)
        for (rank, (ab, bb)) in merges.enumerated() {
            guard let ia = vocab[ByteKey(ab)], let ib = vocab[ByteKey(bb)] else {
                throw EngineError("tokenizer: BPE merge '\(ByteKey(ab).string) \(ByteKey(bb).string)' uses a token missing from the vocabulary")
            }
            var merged = ab
            if !prefixBytes.isEmpty && bb.starts(with: prefixBytes) { merged += bb[prefixBytes.count...] } else { merged += bb }
            guard let im = vocab[ByteKey(merged)] else {
                throw EngineError("tokenizer: BPE merge '\(ByteKey(ab).string) \(ByteKey(bb).string)' produces a token missing from the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            self.merges[key] = (rank, im)  // later duplicates win, as in tokenizers' HashMap collect
        }
        if byteFallback {
            byteIds = (0..<256).map { vocab[ByteKey(String(format: "<0x%02X>", $0))] }
        }
        if let unk = unkToken, vocab[ByteKey(unk)] == nil {
            throw EngineError("tokenizer: BPE unk_token \(unk) is not in the vocabulary")
        }
    }

    func tokenId(_ token: String) -> Int? { vocab[ByteKey(token)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        let key = ByteKey(word.utf8Bytes)
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

    func initialSymbols(_ word: [Unicode.Scalar]) -> [Int] {
        var syms: [Int] = []
        syms.reserveCapacity(word.count)
        let prefix = Array(continuingPrefix.utf8), suffix = Array(endOfWordSuffix.utf8)
        let unkId = unkToken.flatMap { vocab[ByteKey($0)] }
        var pendingUnk = false
        for (i, c) in word.enumerated() {
            var k: [UInt8] = []
            if i > 0 { k += prefix }
            let cb = [c].utf8Bytes
            k += cb
            if i == word.count - 1 { k += suffix }
            if let id = vocab[ByteKey(k)] {
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
        input.count > 48 ? mergeWithHeap(input) : mergeShort(input)
    }

    /// Short words: rescan for the lowest-ranked pair (leftmost on ties) after every merge.
    func mergeShort(_ input: [Int]) -> [Int] {
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

    /// Long words: the same merge order (lowest rank, then leftmost) with a binary heap over a
    /// linked list of symbols, so a pathological word costs O(n log n) instead of O(n^2).
    func mergeWithHeap(_ input: [Int]) -> [Int] {
        let n = input.count
        var sym = input
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n); next[n - 1] = -1
        var alive = [Bool](repeating: true, count: n)
        // Heap entries: (rank, pos, right symbol id at push time, merged id); min by (rank, pos).
        var heap: [(rank: Int, pos: Int, right: Int, id: Int)] = []
        heap.reserveCapacity(n)
        func less(_ a: (rank: Int, pos: Int, right: Int, id: Int), _ b: (rank: Int, pos: Int, right: Int, id: Int)) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos
        }
        func push(_ e: (rank: Int, pos: Int, right: Int, id: Int)) {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if less(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { break }
            }
        }
        func pop() -> (rank: Int, pos: Int, right: Int, id: Int) {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && less(heap[l], heap[m]) { m = l }
                    if r < heap.count && less(heap[r], heap[m]) { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }
        func pairAt(_ i: Int) {
            let j = next[i]
            guard j >= 0 else { return }
            let key = UInt64(UInt32(sym[i])) << 32 | UInt64(UInt32(sym[j]))
            if let m = merges[key] { push((m.rank, i, sym[j], m.id)) }
        }
        for i in 0..<(n - 1) { pairAt(i) }
        while !heap.isEmpty {
            let top = pop()
            let i = top.pos
            guard alive[i], next[i] >= 0 else { continue }
            let j = next[i]
            let key = UInt64(UInt32(sym[i])) << 32 | UInt64(UInt32(sym[j]))
            // Same staleness test as tokenizers: the pair now at `i` must still produce `top.id`.
            guard let m = merges[key], m.id == top.id else { continue }
            sym[i] = m.id
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[next[j]] = i }
            if prev[i] >= 0 { pairAt(prev[i]) }
            pairAt(i)
        }
        var out: [Int] = []
        var i = 0
        while i >= 0 && i < n { out.append(sym[i]); i = next[i] }
        return out
    }
}
