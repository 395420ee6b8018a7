import Foundation

/// Character-class predicates shared by the hand-written pattern scanners. They follow the
/// definitions the `regex`/Oniguruma engines behind HF `tokenizers` use (`\s` = White_Space,
/// `\p{L}`, `\p{N}`, `\w` = Alphabetic|Mark|Nd|Pc|Join_Control), with ASCII fast paths because
/// these run once per character of every prompt.
enum UnicodeClasses {
    @inline(__always) static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return s.properties.isWhitespace
    }

    @inline(__always) static func isLetter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always) static func isNumber(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always) static func isWord(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) || v == 0x5F
        }
        if v == 0x200C || v == 0x200D { return true }
        let p = s.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// Sorted, disjoint inclusive code point ranges, read from the "A-B,C,..." hex lists in
/// LibraryUnicodeTables.swift (newlines ignored).
struct CodePointRanges: Sendable {
    private let lows: [UInt32]
    private let highs: [UInt32]

    init(hexList: String) {
        var lows: [UInt32] = [], highs: [UInt32] = []
        for item in hexList.filter({ $0 != "\n" }).split(separator: ",") {
            let parts = item.split(separator: "-")
            let lo = UInt32(parts[0], radix: 16)!
            lows.append(lo)
            highs.append(parts.count > 1 ? UInt32(parts[1], radix: 16)! : lo)
        }
        self.lows = lows
        self.highs = highs
    }

    func contains(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        // Last range whose low bound is <= v.
        var lo = 0, hi = lows.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if lows[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 && v <= highs[lo - 1]
    }
}

/// A class label per code point, from "first:class,..." hex runs covering the whole code space.
struct CodePointRuns: Sendable {
    private let firsts: [UInt32]
    private let labels: [UInt16]

    init(hexList: String) {
        var firsts: [UInt32] = [], labels: [UInt16] = []
        for item in hexList.filter({ $0 != "\n" }).split(separator: ",") {
            let parts = item.split(separator: ":")
            firsts.append(UInt32(parts[0], radix: 16)!)
            labels.append(UInt16(parts[1], radix: 16)!)
        }
        self.firsts = firsts
        self.labels = labels
    }

    func label(_ s: Unicode.Scalar) -> UInt16 {
        let v = s.value
        var lo = 0, hi = firsts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if firsts[mid] <= v { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? labels[lo - 1] : 0
    }
}
