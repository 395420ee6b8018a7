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
        }
    }

    /// BERT's punctuation: ASCII symbol ranges or any Unicode P* category.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }
}
