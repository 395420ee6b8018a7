import EaselJSON
import Foundation

/// A pattern that finds non-overlapping matches in a scalar array, as `tokenizers`' `Pattern`
/// does for `Split`, `Replace` and the byte-level regex. The regexes every FLUX-family
/// tokenizer uses (CLIP's, GPT-2's, `\s+`, ` {2,}`, `\w+|[^\w\s]+`) are scanned by hand: linear
/// time on any input and no UTF-16 round trip. Anything else falls back to ICU's
/// `NSRegularExpression`, whose syntax for these patterns matches Oniguruma's.
enum SplitPattern {
    case literal([Unicode.Scalar])
    case whitespaceRun          // \s+
    case spaceRun(min: Int)     // " {n,}"
    case clip(specials: Bool)   // CLIP's pattern; transformers v5 puts the two special literals first
    case gpt2                   // GPT-2 / ByteLevel pattern
    case wordOrPunct            // \w+|[^\w\s]+  (Whitespace pre-tokenizer)
    case regex(NSRegularExpression)

    static let clipPatternWithSpecials = #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#
    static let clipPattern = #"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// Builds a matcher for a regex given in `tokenizers`' JSON (`{"Regex": ...}`).
    static func fromRegex(_ pattern: String) throws -> SplitPattern {
        if pattern == clipPatternWithSpecials { return .clip(specials: true) }
        if pattern == clipPattern { return .clip(specials: false) }
        if pattern == gpt2Pattern { return .gpt2 }
        if pattern == #"\s+"# { return .whitespaceRun }
        if pattern == " {2,}" { return .spaceRun(min: 2) }
        if pattern == #"\w+|[^\w\s]+"# { return .wordOrPunct }
        do {
            return .regex(try NSRegularExpression(pattern: pattern, options: []))
        } catch {
            throw EngineError("tokenizer: unsupported regex pattern \(pattern)")
        }
    }

    /// Parses `{"String": "..."}` or `{"Regex": "..."}`.
    static func fromJSON(_ json: JSONValue?, key: String) throws -> SplitPattern {
        guard let obj = json, case .object(let members) = obj else { throw EngineError("tokenizer: \(key) has no pattern") }
        if let s = obj["String"]?.stringValue { return .literal(Array(s.unicodeScalars)) }
        if let r = obj["Regex"]?.stringValue { return try fromRegex(r) }
        throw EngineError("tokenizer: unsupported pattern in \(key): \(members.map(\.0).sorted())")
    }

    /// Whether the pattern can match zero characters (checked on a few probes: empty, a letter, a space, a digit).
    var matchesEmpty: Bool {
        for probe in ["", "a", " ", "1", "a b"] where matches(in: Array(probe.unicodeScalars)).contains(where: \.isEmpty) {
            return true
        }
        return false
    }

    /// Non-overlapping matches, left to right, as half-open scalar-index ranges.
    func matches(in s: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .literal(let lit): return Self.literalMatches(lit, s)
        case .whitespaceRun: return Self.runs(s, minLength: 1) { UnicodeClasses.isWhitespace($0) }
        case .spaceRun(let m): return Self.runs(s, minLength: m) { $0 == " " }
        case .clip(let specials): return Self.clipMatches(s, specials: specials)
        case .gpt2: return Self.gpt2Matches(s)
        case .wordOrPunct: return Self.wordOrPunctMatches(s)
        case .regex(let re): return Self.regexMatches(re, s)
        }
    }

    private static func literalMatches(_ lit: [Unicode.Scalar], _ s: [Unicode.Scalar]) -> [Range<Int>] {
        guard !lit.isEmpty, lit.count <= s.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        while i + lit.count <= s.count {
            var ok = true
            for k in 0..<lit.count where s[i + k] != lit[k] { ok = false; break }
            if ok { out.append(i..<(i + lit.count)); i += lit.count } else { i += 1 }
        }
        return out
    }

    private static func runs(_ s: [Unicode.Scalar], minLength: Int, _ pred: (Unicode.Scalar) -> Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            if pred(s[i]) {
                var j = i + 1
                while j < s.count && pred(s[j]) { j += 1 }
                if j - i >= minLength { out.append(i..<j) }
                i = j
            } else { i += 1 }
        }
        return out
    }

    /// Length of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
    @inline(__always) private static func contraction(_ s: [Unicode.Scalar], _ i: Int) -> Int {
        guard s[i] == "'", i + 1 < s.count else { return 0 }
        let c = s[i + 1]
        if c == "s" || c == "t" || c == "m" || c == "d" { return 2 }
        if i + 2 < s.count {
            let d = s[i + 2]
            if (c == "r" && d == "e") || (c == "v" && d == "e") || (c == "l" && d == "l") { return 3 }
        }
        return 0
    }

    private static let clipSpecials: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }

    private static func clipMatches(_ s: [Unicode.Scalar], specials: Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if specials && c == "<" {
                var found = 0
                for sp in clipSpecials where i + sp.count <= n {
                    var ok = true
                    for k in 0..<sp.count where s[i + k] != sp[k] { ok = false; break }
                    if ok { found = sp.count; break }
                }
                if found > 0 { out.append(i..<(i + found)); i += found; continue }
            }
            let cl = contraction(s, i)
            if cl > 0 { out.append(i..<(i + cl)); i += cl; continue }
            if UnicodeClasses.isLetter(c) {
                var j = i + 1
                while j < n && UnicodeClasses.isLetter(s[j]) { j += 1 }
                out.append(i..<j); i = j; continue
            }
            if UnicodeClasses.isNumber(c) { out.append(i..<(i + 1)); i += 1; continue }
            if UnicodeClasses.isWhitespace(c) { i += 1; continue }
            var j = i + 1
            while j < n && isOther(s[j]) { j += 1 }
            out.append(i..<j); i = j
        }
        return out
    }

    @inline(__always) private static func isOther(_ c: Unicode.Scalar) -> Bool {
        !UnicodeClasses.isWhitespace(c) && !UnicodeClasses.isLetter(c) && !UnicodeClasses.isNumber(c)
    }

    private static func gpt2Matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            let cl = contraction(s, i)
            if cl > 0 { out.append(i..<(i + cl)); i += cl; continue }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let start = i
            let k = (s[i] == " " && i + 1 < n) ? i + 1 : i
            let c = s[k]
            var classPred: ((Unicode.Scalar) -> Bool)? = nil
            if UnicodeClasses.isLetter(c) { classPred = UnicodeClasses.isLetter }
            else if UnicodeClasses.isNumber(c) { classPred = UnicodeClasses.isNumber }
            else if !UnicodeClasses.isWhitespace(c) { classPred = isOther }
            if let p = classPred {
                var j = k + 1
                while j < n && p(s[j]) { j += 1 }
                out.append(start..<j); i = j; continue
            }
            // `\s+(?!\S)|\s+`
            var j = i
            while j < n && UnicodeClasses.isWhitespace(s[j]) { j += 1 }
            if j == n || j - i == 1 { out.append(i..<j); i = j }
            else { out.append(i..<(j - 1)); i = j - 1 }
        }
        return out
    }

    private static func wordOrPunctMatches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            let c = s[i]
            if UnicodeClasses.isWord(c) {
                var j = i + 1
                while j < n && UnicodeClasses.isWord(s[j]) { j += 1 }
                out.append(i..<j); i = j
            } else if !UnicodeClasses.isWhitespace(c) {
                var j = i + 1
                while j < n && !UnicodeClasses.isWord(s[j]) && !UnicodeClasses.isWhitespace(s[j]) { j += 1 }
                out.append(i..<j); i = j
            } else { i += 1 }
        }
        return out
    }

    private static func regexMatches(_ re: NSRegularExpression, _ s: [Unicode.Scalar]) -> [Range<Int>] {
        var str = String.UnicodeScalarView()
        str.append(contentsOf: s)
        let string = String(str)
        // UTF-16 offset -> scalar index.
        var u16ToScalar = [Int](repeating: 0, count: string.utf16.count + 1)
        var u = 0
        for (idx, sc) in s.enumerated() {
            let w = sc.value > 0xFFFF ? 2 : 1
            for k in 0..<w { u16ToScalar[u + k] = idx }
            u += w
        }
        u16ToScalar[u] = s.count
        let ns = string as NSString
        var out: [Range<Int>] = []
        for m in re.matches(in: string, options: [], range: NSRange(location: 0, length: ns.length)) {
            let r = m.range
            out.append(u16ToScalar[r.location]..<u16ToScalar[r.location + r.length])
        }
        return out
    }
}
