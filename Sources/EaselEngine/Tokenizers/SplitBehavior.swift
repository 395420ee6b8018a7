import EaselJSON

/// `tokenizers`' SplitDelimiterBehavior: what happens to the matched delimiters when a piece
/// is split. Pieces are (range, isMatch) covering the whole text; the result drops empties.
enum SplitBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    static func parse(_ json: JSONValue?) throws -> SplitBehavior {
        guard let s = json?.stringValue, let b = SplitBehavior(rawValue: s) else {
            throw EngineError("tokenizer: unsupported Split behavior \(json?.serialized ?? "(none)")")
        }
        return b
    }

    /// Splits `count` scalars given the matches, returning kept ranges in order.
    func apply(count: Int, matches: [Range<Int>], invert: Bool) -> [Range<Int>] {
        var pieces: [(Range<Int>, Bool)] = []
        var prev = 0
        for m in matches {
            if prev < m.lowerBound { pieces.append((prev..<m.lowerBound, invert)) }
            pieces.append((m, !invert))
            prev = m.upperBound
        }
        if prev < count { pieces.append((prev..<count, invert)) }
        var out: [Range<Int>] = []
        switch self {
        case .removed:
            out = pieces.filter { !$0.1 }.map { $0.0 }
        case .isolated:
            out = pieces.map { $0.0 }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in pieces {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in pieces.reversed() {
                if isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = r.lowerBound..<last.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
            out.reverse()
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in pieces {
                if isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    out.append(r)
                }
                previousMatch = isMatch
            }
        }
        return out.filter { !$0.isEmpty }
    }
}
