/// One entry of the route table: method, path pattern (`{name}` segments, optionally with a literal suffix such as
/// `{index}.png`) and what handles it.
public struct Route: Sendable, Equatable {
    public enum Handler: String, Sendable, CaseIterable {
        case generate, listJobs, getJob, cancelJob, jobImage, jobEvents, listModels, getModel
        case healthz, readyz, metrics, openapi
    }

    public let method: String
    public let pattern: String
    public let handler: Handler
    /// Whether API keys apply (every `/v1/*` route).
    public var needsAuth: Bool { pattern.hasPrefix("/v1/") }

    public init(_ method: String, _ pattern: String, _ handler: Handler) {
        self.method = method
        self.pattern = pattern
        self.handler = handler
    }

    /// The path's parameters if it matches the pattern.
    func match(_ segments: [Substring]) -> [String: String]? {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (p, s) in zip(parts, segments) {
            if p.first == "{", let close = p.firstIndex(of: "}") {
                let name = String(p[p.index(after: p.startIndex)..<close])
                let suffix = p[p.index(after: close)...]
                guard s.hasSuffix(suffix), s.count > suffix.count else { return nil }
                let raw = s.dropLast(suffix.count)
                guard let value = raw.removingPercentEncoding, !value.isEmpty else { return nil }
                params[name] = value
            } else if p != s {
                return nil
            }
        }
        return params
    }
}
