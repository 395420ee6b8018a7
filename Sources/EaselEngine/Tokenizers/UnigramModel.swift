import Foundation

/// sentencepiece Unigram as `tokenizers`' `Unigram` model (encode_optimized): Viterbi over the
/// pieces found by a byte trie, ties kept by the first candidate (shorter piece, earlier start);
/// a character with no single-character piece gets an `unk` edge scored min_score - 10, and runs
/// of unknown characters are fused into one `unk`. Strings are then mapped back to ids, with
/// byte fallback (`<0xXX>`) when enabled.
final class UnigramModel: TokenModel {
    private struct TrieNode {
        var children: [UInt8: Int32] = [:]
        var tokenId: Int32 = -1
    }

    private var nodes: [TrieNode] = [TrieNode()]
    private var ids: [ByteKey: Int] = [:]
    private let scores: [Double]
    private let unkId: Int?
    private let byteFallback: Bool
    private let minScore: Double

    var vocabSize: Int { scores.count }

    init(vocab: [(String, Double)], unkId: Int?, byteFallback: Bool) throws {
        if let u = unkId, u < 0 || u >= vocab.count {
            throw EngineError("tokenizer: Unigram unk_id \(u) is outside the vocabulary")
        }
        scores = vocab.map { $0.1 }
        self.unkId = unkId
        self.byteFallback = byteFallback
        minScore = scores.min() ?? 0
        for (i, (tok, _)) in vocab.enumerated() {
            let b = Array(tok.utf8)
            ids[ByteKey(b)] = i
            var n = 0
            for c in b {
                if let next = nodes[n].children[c] { n = Int(next) } else {
                    nodes.append(TrieNode())
                    nodes[n].children[c] = Int32(nodes.count - 1)
                    n = nodes.count - 1
                }
            }
            nodes[n].tokenId = Int32(i)
        }
        // Duplicate pieces: the map keeps the last id; make the trie agree.
        for (b, i) in ids {
            var n = 0
            for c in b.bytes { n = Int(nodes[n].children[c]!) }
            nodes[n].tokenId = Int32(i)
        }
    }

    func tokenId(_ token: String) -> Int? { ids[ByteKey(token)] }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        if word.isEmpty { return [] }
        let bytes = word.utf8Bytes
        let size = bytes.count
        let unkScore = minScore - 10.0
        var bestScore = [Double](repeating: 0, count: size + 1)
        var startsAt = [Int](repeating: -1, count: size + 1)
        var nodeId = [Int](repeating: 0, count: size + 1)
        var pos = 0
        while pos < size {
            let base = bestScore[pos]
            let mblen = Self.utf8Length(bytes[pos])
            var hasSingle = false
            var n = 0
            var k = pos
            while k < size, let next = nodes[n].children[bytes[k]] {
                n = Int(next)
                k += 1
                let tid = Int(nodes[n].tokenId)
                if tid >= 0 {
                    let cand = base + scores[tid]
                    if startsAt[k] < 0 || cand > bestScore[k] {
                        bestScore[k] = cand; startsAt[k] = pos; nodeId[k] = tid
                    }
                    if k - pos == mblen { hasSingle = true }
                }
            }
            if !hasSingle, let u = unkId {
                let end = min(pos + mblen, size)
                let cand = base + unkScore
                if startsAt[end] < 0 || cand > bestScore[end] {
                    bestScore[end] = cand; startsAt[end] = pos; nodeId[end] = u
                }
            }
            pos += mblen
        }
        // Backtrack, fusing consecutive unk pieces into one string.
        var pieces: [ArraySlice<UInt8>] = []
        var end = size
        var unkEnd = -1
        while end > 0 {
            let start = startsAt[end]
            if start < 0 { break }  // unreachable without an unk id; tokenizers would error
            if let u = unkId, nodeId[end] == u {
                if unkEnd < 0 { unkEnd = end }
            } else {
                if unkEnd >= 0 { pieces.append(bytes[end..<unkEnd]); unkEnd = -1 }
                pieces.append(bytes[start..<end])
            }
            end = start
        }
        if unkEnd >= 0 { pieces.append(bytes[end..<unkEnd]) }
        var out: [Int] = []
        for p in pieces.reversed() {
            if let id = ids[ByteKey(Array(p))] { out.append(id); continue }
            if byteFallback {
                let bids = p.map { ids[ByteKey(String(format: "<0x%02X>", $0))] }
                if bids.allSatisfy({ $0 != nil }) { out.append(contentsOf: bids.map { $0! }); continue }
            }
            if let u = unkId { out.append(u) }
        }
        return out
    }

    @inline(__always) private static func utf8Length(_ b: UInt8) -> Int {
        if b < 0x80 { return 1 }
        if b < 0xE0 { return 2 }
        if b < 0xF0 { return 3 }
        return 4
    }
}
