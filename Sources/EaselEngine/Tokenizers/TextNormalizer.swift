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
            return .replace(try SplitPattern.fromJSON(obj["pattern"], key: "normalizer Replace"), Array(content.unicodeScalars))
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
        default:
            throw EngineError("tokenizer: unsupported normalizer type \(type)")
        }
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
            // tokenizers drops every combining mark (Mn, Mc and Me), not only non-spacing ones.
            return s.filter {
                switch $0.properties.generalCategory {
                case .nonspacingMark, .spacingMark, .enclosingMark: return false
                default: return true
                }
            }
        }
    }

    private static func foundation(_ s: [Unicode.Scalar], _ f: (NSString) -> String) -> [Unicode.Scalar] {
        if s.allSatisfy({ $0.value < 0x80 }) { return s }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: s)
        return Array(f(String(view) as NSString).unicodeScalars)
    }
}
