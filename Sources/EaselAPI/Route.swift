/// One entry of the route table: method, path pattern (`{name}` segments, optionally with a literal suffix such as
/// `{index}.png`) and what handles it.
public struct Route: Sendable, Equatable {
    public enum Handler: String, Sendable, CaseIterable {
        case generate, upload, listJobs, getJob, cancelJob, jobImage, jobEvents, listModels, getModel
        case healthz, readyz, metrics, openapi
    }

    public let method: String
    public let pattern: String
    public let handler: Handler
    /// Whether API keys apply (every `/v1/*` route).
    public let needsAuth: Bool
    /// The pattern split once, here: matching runs on every request.
    private let parts: [Part]

    enum Part: Sendable, Equatable {
        case literal(Substring)
        case parameter(name: String, suffix: Substring)
    }

    public init(_ method: String, _ pattern: String, _ handler: Handler) {
        self.method = method
        self.pattern = pattern
        self.handler = handler
        needsAuth = pattern.utf8.starts(with: "/v1/".utf8)
        parts = pattern.split(separator: "/", omittingEmptySubsequences: false).map { p in
            guard p.first == "{", let close = p.firstIndex(of: "}") else { return .literal(p) }
            return .parameter(name: String(p[p.index(after: p.startIndex)..<close]), suffix: p[p.index(after: close)...])
        }
    }

    /// The path's parameters if it matches the pattern.
    func match(_ segments: [Substring]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        for (p, s) in zip(parts, segments) {  // literals first, so a miss costs no allocation
            if case .literal(let literal) = p, !literal.utf8.elementsEqual(s.utf8) { return nil }
        }
        var params: [String: String] = [:]
        for (p, s) in zip(parts, segments) {
            guard case .parameter(let name, let suffix) = p else { continue }
            // Byte-wise: paths are compared as sent, not by Unicode equivalence (and this runs on every request).
            guard s.utf8.count > suffix.utf8.count, s.utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8) else {
                return nil
            }
            let raw = Substring(s.utf8.dropLast(suffix.utf8.count))
            let value = raw.utf8.contains(UInt8(ascii: "%")) ? raw.removingPercentEncoding : String(raw)
            guard let value, !value.isEmpty else { return nil }
            params[name] = value
        }
        return params
    }
}
