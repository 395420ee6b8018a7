/// Added/special tokens, extracted before the model runs exactly as `tokenizers`'
/// AddedVocabulary does: tokens with `normalized: false` are matched in the raw text first; the
/// remaining pieces are normalized and then searched for the `normalized: true` tokens (whose
/// patterns are their normalized content). Matching is leftmost-longest and non-overlapping;
/// `single_word`, `lstrip` and `rstrip` are applied per match afterwards.
struct AddedVocabulary {
    /// A piece of input after extraction: either an added token or normalized text.
    enum Piece {
        case token(Int)
        case text([Unicode.Scalar], atOrigin: Bool)
    }

    private struct Pattern {
        var scalars: [Unicode.Scalar]
        var token: AddedToken
    }

    private var raw: [Pattern] = []
    private var normalizedPatterns: [Pattern] = []
    private(set) var tokens: [AddedToken] = []

    init(tokens: [AddedToken], normalizer: TextNormalizer?) {
        self.tokens = tokens
        for t in tokens {
            let s = Array(t.content.unicodeScalars)
            if s.isEmpty { continue }
            if t.normalized {
                let ns = normalizer?.apply(s) ?? s
                if !ns.isEmpty { normalizedPatterns.append(Pattern(scalars: ns, token: t)) }
            } else {
                raw.append(Pattern(scalars: s, token: t))
            }
        }
    }

    func id(of content: String) -> Int? {
        let s = Array(content.unicodeScalars)
        return tokens.last { Array($0.content.unicodeScalars) == s }?.id
    }

    func extract(_ text: [Unicode.Scalar], normalizer: TextNormalizer?) -> [Piece] {
        var out: [Piece] = []
        for (r, tok) in Self.split(text, raw) {
            if let tok = tok { out.append(.token(tok)); continue }
            let atOrigin = r.lowerBound == 0
            let norm = normalizer?.apply(Array(text[r])) ?? Array(text[r])
            for (r2, tok2) in Self.split(norm, normalizedPatterns) {
                if let tok2 = tok2 { out.append(.token(tok2)) } else {
                    out.append(.text(Array(norm[r2]), atOrigin: atOrigin && r2.lowerBound == 0))
                }
            }
        }
        return out
    }

    /// Splits `s` into non-empty (range, token id?) pieces.
    private static func split(_ s: [Unicode.Scalar], _ patterns: [Pattern]) -> [(Range<Int>, Int?)] {
        if s.isEmpty { return [] }
        if patterns.isEmpty { return [(0..<s.count, nil)] }
        var out: [(Range<Int>, Int?)] = []
        var startOffset = 0
        var i = 0
        let n = s.count
        while i < n {
            // Leftmost-longest match starting at i.
            var best: Pattern? = nil
            for p in patterns where p.scalars.count <= n - i && p.scalars[0] == s[i] {
                if let b = best, b.scalars.count >= p.scalars.count { continue }
                var ok = true
                for k in 1..<p.scalars.count where s[i + k] != p.scalars[k] { ok = false; break }
                if ok { best = p }
            }
            guard let m = best else { i += 1; continue }
            var start = i
            var stop = i + m.scalars.count
            i = stop
            let t = m.token
            if t.singleWord {
                let startSpace = start == 0 || !UnicodeClasses.isWord(s[start - 1])
                let stopSpace = stop == n || !UnicodeClasses.isWord(s[stop])
                if !startSpace || !stopSpace { continue }
            }
            if t.lstrip {
                var ns = start
                while ns > 0 && UnicodeClasses.isWhitespace(s[ns - 1]) { ns -= 1 }
                start = max(ns, startOffset)
            }
            if t.rstrip {
                while stop < n && UnicodeClasses.isWhitespace(s[stop]) { stop += 1 }
            }
            if startOffset < start { out.append((startOffset..<start, nil)) }
            out.append((start..<stop, t.id))
            startOffset = stop
            i = max(i, stop)
        }
        if startOffset < n { out.append((startOffset..<n, nil)) }
        return out
    }
}
