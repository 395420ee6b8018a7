import EaselJSON
import Foundation

/// The `pre_tokenizer` section of a `tokenizer.json`: splits normalized text into the words the
/// model sees, mirroring `tokenizers`' semantics (empty pieces are always dropped).
indirect enum PreTokenizer {
    enum PrependScheme: String { case always, first, never }

    case sequence([PreTokenizer])
    case split(SplitPattern, SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case whitespace
    case whitespaceSplit
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)
    case punctuation(SplitBehavior)
    case digits(individual: Bool)
    /// `BertPreTokenizer`: split on whitespace (removed), then isolate each punctuation character.
    case bert
    /// `CharDelimiterSplit`: split on one character, which is removed.
    case charDelimiter(Unicode.Scalar)
    /// `FixedLength`: chunks of `length` characters.
    case fixedLength(Int)
    /// `UnicodeScripts`: split where the script changes.
    case unicodeScripts

    static func parse(_ json: JSONValue?) throws -> PreTokenizer? {
        guard let obj = json, obj != .null else { return nil }
        guard let type = obj["type"]?.stringValue else {
            throw EngineError("tokenizer: pre_tokenizer is not an object with a type")
        }
        switch type {
        case "Sequence":
            let items = obj["pretokenizers"]?.arrayValue ?? []
            return .sequence(try items.compactMap { try parse($0) })
        case "Split":
            return .split(try SplitPattern.fromJSON(obj["pattern"], key: "pre_tokenizer Split"),
                          try SplitBehavior.parse(obj["behavior"]), invert: obj["invert"]?.boolValue ?? false)
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: obj["add_prefix_space"]?.boolValue ?? true,
                              useRegex: obj["use_regex"]?.boolValue ?? true)
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Metaspace":
            let rep = (obj["replacement"]?.stringValue ?? "\u{2581}").unicodeScalars.first ?? "\u{2581}"
            var scheme = PrependScheme.always
            if let s = obj["prepend_scheme"]?.stringValue {
                guard let p = PrependScheme(rawValue: s) else {
                    throw EngineError("tokenizer: unsupported Metaspace prepend_scheme \(s)")
                }
                scheme = p
            } else if let add = obj["add_prefix_space"]?.boolValue {
                scheme = add ? .always : .never
            }
            return .metaspace(replacement: rep, prepend: scheme, split: obj["split"]?.boolValue ?? true)
        case "Punctuation":
            return .punctuation(try SplitBehavior.parse(obj["behavior"] ?? .string("Isolated")))
        case "Digits":
            return .digits(individual: obj["individual_digits"]?.boolValue ?? false)
        case "BertPreTokenizer": return .bert
        case "CharDelimiterSplit":
            guard let d = obj["delimiter"]?.stringValue, d.unicodeScalars.count == 1 else {
                throw EngineError("tokenizer: pre_tokenizer CharDelimiterSplit delimiter is not one character")
            }
            return .charDelimiter(d.unicodeScalars.first!)
        case "FixedLength":
            let length = obj["length"].flatMap { $0 == .null ? nil : $0 }
            guard let n = length.map({ $0.integerLiteralValue }) ?? 5, n > 0 else {
                // The library fails at encode time ("length must be greater than 0").
                throw EngineError("tokenizer: pre_tokenizer FixedLength length must be a positive integer")
            }
            return .fixedLength(n)
        case "UnicodeScripts": return .unicodeScripts
        default:
            throw EngineError("tokenizer: unsupported pre_tokenizer type \(type)")
        }
    }

    func apply(_ splits: [PreTokenSplit]) -> [PreTokenSplit] {
        switch self {
        case .sequence(let items):
            var cur = splits
            for p in items { cur = p.apply(cur) }
            return cur
        default:
            var out: [PreTokenSplit] = []
            out.reserveCapacity(splits.count)
            for s in splits { applyOne(s, into: &out) }
            return out
        }
    }

    private static func emit(_ s: PreTokenSplit, _ ranges: [Range<Int>], into out: inout [PreTokenSplit]) {
        for r in ranges where !r.isEmpty {
            out.append(PreTokenSplit(text: Array(s.text[r]), atOrigin: s.atOrigin && r.lowerBound == 0))
        }
    }

    private func applyOne(_ s: PreTokenSplit, into out: inout [PreTokenSplit]) {
        switch self {
        case .sequence: out.append(contentsOf: apply([s]))
        case .split(let pattern, let behavior, let invert):
            Self.emit(s, behavior.apply(count: s.text.count, matches: pattern.matches(in: s.text), invert: invert), into: &out)
        case .byteLevel(let addPrefixSpace, let useRegex):
            var text = s.text
            if addPrefixSpace && text.first != " " { text.insert(" ", at: 0) }
            let pieces: [Range<Int>] = useRegex
                ? SplitBehavior.isolated.apply(count: text.count, matches: SplitPattern.gpt2.matches(in: text), invert: false)
                : [0..<text.count]
            for r in pieces where !r.isEmpty {
                out.append(PreTokenSplit(text: ByteLevelTable.encode(Array(text[r])), atOrigin: s.atOrigin && r.lowerBound == 0))
            }
        case .whitespace:
            Self.emit(s, SplitBehavior.removed.apply(count: s.text.count, matches: SplitPattern.wordOrPunct.matches(in: s.text), invert: true), into: &out)
        case .whitespaceSplit:
            let ms = s.text.indices.filter { UnicodeClasses.isWhitespace(s.text[$0]) }.map { $0..<($0 + 1) }
            Self.emit(s, SplitBehavior.removed.apply(count: s.text.count, matches: ms, invert: false), into: &out)
        case .metaspace(let rep, let prepend, let split):
            var text = s.text.map { $0 == " " ? rep : $0 }
            switch prepend {
            case .always: if text.first != rep { text.insert(rep, at: 0) }
            case .first: if text.first != rep && s.atOrigin { text.insert(rep, at: 0) }
            case .never: break
            }
            let t = PreTokenSplit(text: text, atOrigin: s.atOrigin)
            if split {
                let ms = text.indices.filter { text[$0] == rep }.map { $0..<($0 + 1) }
                Self.emit(t, SplitBehavior.mergedWithNext.apply(count: text.count, matches: ms, invert: false), into: &out)
            } else if !text.isEmpty {
                out.append(t)
            }
        case .punctuation(let behavior):
            let ms = s.text.indices.filter { Self.isPunctuation(s.text[$0]) }.map { $0..<($0 + 1) }
            Self.emit(s, behavior.apply(count: s.text.count, matches: ms, invert: false), into: &out)
        case .digits(let individual):
            // Rust's char::is_numeric (any N* category), each char a match; runs merge unless
            // individual_digits.
            let ms = s.text.indices.filter { UnicodeClasses.isNumber(s.text[$0]) }.map { $0..<($0 + 1) }
            let behavior: SplitBehavior = individual ? .isolated : .contiguous
            Self.emit(s, behavior.apply(count: s.text.count, matches: ms, invert: false), into: &out)
        case .bert:
            let ws = s.text.indices.filter { UnicodeClasses.isWhitespace(s.text[$0]) }.map { $0..<($0 + 1) }
            for r in SplitBehavior.removed.apply(count: s.text.count, matches: ws, invert: false) {
                let piece = PreTokenSplit(text: Array(s.text[r]), atOrigin: s.atOrigin && r.lowerBound == 0)
                let ps = piece.text.indices.filter { Self.isPunctuation(piece.text[$0]) }.map { $0..<($0 + 1) }
                Self.emit(piece, SplitBehavior.isolated.apply(count: piece.text.count, matches: ps, invert: false), into: &out)
            }
        case .charDelimiter(let d):
            let ms = s.text.indices.filter { s.text[$0] == d }.map { $0..<($0 + 1) }
            Self.emit(s, SplitBehavior.removed.apply(count: s.text.count, matches: ms, invert: false), into: &out)
        case .fixedLength(let n):
            Self.emit(s, stride(from: 0, to: s.text.count, by: n).map { $0..<min($0 + n, s.text.count) }, into: &out)
        case .unicodeScripts:
            Self.emit(s, Self.scriptRanges(s.text), into: &out)
        }
    }

    /// BERT's punctuation: ASCII symbol ranges or a P* category as the library's (older) Unicode
    /// tables have it, so newer punctuation (U+2E43...) is not split and U+166D still is.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if v < 0x80 { return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) }
        return LibraryUnicodeTables.bertPunctuation.contains(c)
    }

    /// UnicodeScripts' split points: where the script class changes, "any" (class 0: the space,
    /// unassigned and private-use code points) never splitting. As in the library, "any"
    /// characters before the first split point are dropped.
    static func scriptRanges(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var cuts: [Int] = []
        var last: UInt16? = nil
        for (i, c) in text.enumerated() {
            let script: UInt16 = c == " " ? 0 : LibraryUnicodeTables.unicodeScripts.label(c)
            if script != 0 && last != script { cuts.append(i) }
            if script != 0 { last = script }
        }
        cuts.append(text.count)
        return zip(cuts, cuts.dropFirst()).map { $0..<$1 }
    }
}
