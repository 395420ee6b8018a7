import Foundation

/// sentencepiece's `precompiled_charsmap` (the `Precompiled` normalizer T5 ships): a little-endian
/// u32 trie size, a darts-clone double-array trie over UTF-8 bytes, then a pool of NUL-terminated
/// replacement strings the trie's values point into. Applied the way `tokenizers` applies it:
/// per extended grapheme cluster (when shorter than 6 UTF-8 bytes) and otherwise per scalar, each
/// chunk replaced by the rule of the *shortest* trie key that is a prefix of it.
struct PrecompiledCharsmap {
    let units: [UInt32]
    let pool: [UInt8]

    init(base64: String) throws {
        guard let data = Data(base64Encoded: base64) else {
            throw EngineError("tokenizer: Precompiled.precompiled_charsmap is not valid base64")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else { throw EngineError("tokenizer: Precompiled charsmap too short") }
        let trieSize = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieSize % 4 == 0, 4 + trieSize <= bytes.count else {
            throw EngineError("tokenizer: Precompiled charsmap trie size \(trieSize) exceeds data")
        }
        var u: [UInt32] = []
        u.reserveCapacity(trieSize / 4)
        var p = 4
        while p < 4 + trieSize {
            u.append(UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            p += 4
        }
        units = u
        pool = Array(bytes[(4 + trieSize)...])
    }

    /// Value of the shortest trie key that prefixes `key` (darts-clone common-prefix search).
    private func firstPrefixValue(_ key: [UInt8]) -> Int? {
        guard !units.isEmpty else { return nil }
        @inline(__always) func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
        var pos = offset(units[0])
        for c in key {
            if c == 0 { return nil }
            pos ^= Int(c)
            guard pos < units.count else { return nil }
            let unit = units[pos]
            if (unit & 0x8000_00FF) != UInt32(c) { return nil }
            pos ^= offset(unit)
            if (unit >> 8) & 1 == 1 {
                guard pos < units.count else { return nil }
                return Int(units[pos] & 0x7FFF_FFFF)
            }
        }
        return nil
    }

    private func transform(_ chunk: [UInt8]) -> [Unicode.Scalar]? {
        guard let start = firstPrefixValue(chunk), start <= pool.count else { return nil }
        var end = start
        while end < pool.count && pool[end] != 0 { end += 1 }
        return Array(String(decoding: pool[start..<end], as: UTF8.self).unicodeScalars)
    }

    func apply(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if s.isEmpty { return s }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        let str = String(view)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        for ch in str {
            let g = Array(ch.unicodeScalars)
            let utf8 = Array(String(ch).utf8)
            if utf8.count < 6, let rep = transform(utf8) {
                out.append(contentsOf: rep)
                continue
            }
            for sc in g {
                if let rep = transform(Array(String(sc).utf8)) { out.append(contentsOf: rep) } else { out.append(sc) }
            }
        }
        return out
    }
}
