import EaselJSON
import Foundation

/// The `normalizer` section of a `tokenizer.json`, applied to scalar arrays (never to Swift
/// `String`s compared with `==`, which would conflate canonically equivalent text).
indirect enum TextNormalizer {
    case sequence([TextNormalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case replace(SplitPattern, [Unicode.Scalar])
    case strip(left: Bool, right: Bool)
    case precompiled(PrecompiledCharsmap)
    case prepend([Unicode.Scalar])
    case stripAccents
    /// `Nmt`: sentencepiece's NMT clean-up (drops some control characters, maps others to a space).
    case nmt
    /// `BertNormalizer`, steps in the library's order.
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    /// `ByteLevel`: every UTF-8 byte becomes its GPT-2 byte-level scalar.
    case byteLevel

    static func parse(_ json: JSONValue?) throws -> TextNormalizer? {
        guard let obj = json, obj != .null else { return nil }
        guard let type = obj["type"]?.stringValue else {
            throw EngineError("tokenizer: normalizer is not an object with a type")
        }
        switch type {
        case "Sequence":
            let items = obj["normalizers"]?.arrayValue ?? []
            return .sequence(try items.compactMap { try parse($0) })
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Replace":
            let content = obj["content"]?.stringValue ?? ""
            let pattern = try SplitPattern.fromJSON(obj["pattern"], key: "normalizer Replace")
            // A pattern that matches the empty string would insert `content` between every two characters, and a
            // sequence of such Replaces grows the text multiplicatively (found by Scripts/fuzz: `\s?+`, twice).
            if pattern.matchesEmpty {
                throw EngineError("tokenizer: normalizer Replace pattern matches the empty string")
            }
            return .replace(pattern, Array(content.unicodeScalars))
        case "Strip":
            return .strip(left: obj["strip_left"]?.boolValue ?? true, right: obj["strip_right"]?.boolValue ?? true)
        case "Precompiled":
            guard let b64 = obj["precompiled_charsmap"]?.stringValue else {
                // A null charsmap means "no normalization" in tokenizers.
                return .sequence([])
            }
            return .precompiled(try PrecompiledCharsmap(base64: b64))
        case "Prepend":
            return .prepend(Array((obj["prepend"]?.stringValue ?? "").unicodeScalars))
        case "StripAccents": return .stripAccents
        case "Nmt": return .nmt
        case "BertNormalizer":
            let lowercase = try flag(obj, "lowercase", default: true)
            // strip_accents null (or absent) follows lowercase, as in the original BERT.
            let strip = obj["strip_accents"].flatMap { $0 == .null ? nil : $0 }
            guard strip == nil || strip?.boolValue != nil else {
                throw EngineError("tokenizer: normalizer BertNormalizer strip_accents is not a boolean or null")
            }
            return .bert(cleanText: try flag(obj, "clean_text", default: true),
                         handleChineseChars: try flag(obj, "handle_chinese_chars", default: true),
                         stripAccents: strip?.boolValue ?? lowercase, lowercase: lowercase)
        case "ByteLevel": return .byteLevel
        default:
            throw EngineError("tokenizer: unsupported normalizer type \(type)")
        }
    }

    private static func flag(_ obj: JSONValue, _ key: String, default value: Bool) throws -> Bool {
        guard let v = obj[key], v != .null else { return value }
        guard let b = v.boolValue else {
            throw EngineError("tokenizer: normalizer \(obj["type"]?.stringValue ?? "") \(key) is not a boolean")
        }
        return b
    }

    func apply(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .sequence(let items):
            var cur = s
            for n in items { cur = n.apply(cur) }
            return cur
        case .nfc: return Self.foundation(s) { $0.precomposedStringWithCanonicalMapping }
        case .nfd: return Self.foundation(s) { $0.decomposedStringWithCanonicalMapping }
        case .nfkc: return Self.foundation(s) { $0.precomposedStringWithCompatibilityMapping }
        case .nfkd: return Self.foundation(s) { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase:
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(s.count)
            for c in s {
                if c.value < 0x80 {
                    out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
                } else {
                    out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            return out
        case .replace(let pattern, let content):
            let ms = pattern.matches(in: s)
            if ms.isEmpty { return s }
            var out: [Unicode.Scalar] = []
            var prev = 0
            for m in ms {
                out.append(contentsOf: s[prev..<m.lowerBound])
                out.append(contentsOf: content)
                prev = m.upperBound
            }
            out.append(contentsOf: s[prev...])
            return out
        case .strip(let left, let right):
            var lo = 0, hi = s.count
            if left { while lo < hi && UnicodeClasses.isWhitespace(s[lo]) { lo += 1 } }
            if right { while hi > lo && UnicodeClasses.isWhitespace(s[hi - 1]) { hi -= 1 } }
            return Array(s[lo..<hi])
        case .precompiled(let map): return map.apply(s)
        case .prepend(let p): return s.isEmpty ? s : p + s
        case .stripAccents:
            // tokenizers drops every combining mark (Mn, Mc and Me), not only non-spacing ones, as
            // its own Unicode tables have them (marks newer than those, like U+0897, stay).
            return s.filter { $0.value < 0x300 || !LibraryUnicodeTables.stripAccentsMark.contains($0) }
        case .nmt: return Self.nmt(s)
        case .bert(let clean, let chinese, let strip, let lower):
            return Self.bert(s, cleanText: clean, handleChineseChars: chinese, stripAccents: strip, lowercase: lower)
        case .byteLevel: return ByteLevelTable.encode(s)
        }
    }

    /// tokenizers' `do_nmt`: drop U+0001-0008, 000B, 000E-001F, 007F, 008F, 009F (U+0000 stays);
    /// then U+0009, 000A, 000C, 000D, 1680, 200B-200F, 2028, 2029, 2581, FEFF and FFFD become a space.
    static func nmt(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        for c in s {
            switch c.value {
            case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x8F, 0x9F: continue
            case 0x09, 0x0A, 0x0C, 0x0D, 0x1680, 0x200B...0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD:
                out.append(" ")
            default: out.append(c)
            }
        }
        return out
    }

    /// BertNormalizer's "Chinese character" blocks (CJK ideographs only, not kana or Hangul).
    static func isChineseChar(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    static func bert(_ s: [Unicode.Scalar], cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool,
                     lowercase: Bool) -> [Unicode.Scalar] {
        var cur = s
        if cleanText {
            // NUL, U+FFFD and the library's control classes go; \t \n \r and other whitespace
            // become a space.
            cur = cur.compactMap { c in
                if c.value >= 0x20 && c.value < 0x7F { return c }
                if LibraryUnicodeTables.bertCleanRemoved.contains(c) { return nil }
                return UnicodeClasses.isWhitespace(c) ? " " : c
            }
        }
        if handleChineseChars && cur.contains(where: isChineseChar) {
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(cur.count + 8)
            for c in cur {
                if isChineseChar(c) { out.append(" "); out.append(c); out.append(" ") } else { out.append(c) }
            }
            cur = out
        }
        if stripAccents {
            cur = TextNormalizer.nfd.apply(cur).filter {
                $0.value < 0x300 || !LibraryUnicodeTables.bertNonspacingMark.contains($0)
            }
        }
        if lowercase { cur = TextNormalizer.lowercase.apply(cur) }
        return cur
    }

    private static func foundation(_ s: [Unicode.Scalar], _ f: (NSString) -> String) -> [Unicode.Scalar] {
        if s.allSatisfy({ $0.value < 0x80 }) { return s }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        return Array(f(String(view) as NSString).unicodeScalars)
    }
}
