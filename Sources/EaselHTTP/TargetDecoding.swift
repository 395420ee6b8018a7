/// Splits a request target into its path and its percent-decoded query parameters.
enum TargetDecoding {
    static func split(_ target: String) -> (path: String, query: [String: String]) {
        var rest = Substring(target)
        // Origin form ("/path?query") is the usual case and skips the absolute-form scan (Foundation's search).
        if rest.utf8.first != UInt8(ascii: "/"), let schemeEnd = rest.range(of: "://"),
           rest[..<schemeEnd.lowerBound].allSatisfy(\.isLetter) {
            let afterScheme = rest[schemeEnd.upperBound...]
            rest = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }).map { afterScheme[$0...] } ?? "/"
            if rest.first == "?" { rest = "/" + rest }
        }
        if let hash = rest.utf8.firstIndex(of: UInt8(ascii: "#")) { rest = rest[..<hash] }
        guard let mark = rest.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (String(rest), [:]) }
        var query: [String: String] = [:]
        for pair in rest[rest.index(after: mark)...].split(separator: "&", omittingEmptySubsequences: true) {
            if let eq = pair.firstIndex(of: "=") {
                query[decode(pair[..<eq])] = decode(pair[pair.index(after: eq)...])
            } else {
                query[decode(pair)] = ""
            }
        }
        return (String(rest[..<mark]), query)
    }

    /// Percent-decodes one component and turns '+' into a space; a malformed escape is kept literally.
    static func decode(_ component: Substring) -> String {
        let utf8 = Array(component.utf8)
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(component) }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            let c = utf8[i]
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), i + 2 < utf8.count, let hi = hexValue(utf8[i + 1]), let lo = hexValue(utf8[i + 2]) {
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
