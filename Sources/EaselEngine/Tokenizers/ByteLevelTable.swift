/// GPT-2's reversible byte -> printable scalar table used by ByteLevel pre-tokenization
/// (CLIP's vocabulary is written in these scalars).
enum ByteLevelTable {
    static let byteToScalar: [Unicode.Scalar] = {
        var bs: [Int] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Unicode.Scalar(UInt32(c))! }
        return table
    }()

    static func encode(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        for sc in s {
            if sc.value < 0x80 { out.append(byteToScalar[Int(sc.value)]); continue }
            for b in String(sc).utf8 { out.append(byteToScalar[Int(b)]) }
        }
        return out
    }
}
