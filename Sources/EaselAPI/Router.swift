/// The route table and path matching: a known path with another method is 405 (with `Allow`), anything else 404.
public struct Router: Sendable {
    public enum Match: Equatable {
        case found(Route, [String: String])
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public static let routes: [Route] = [
        Route("POST", "/v1/generate", .generate),
        Route("POST", "/v1/uploads", .upload),
        Route("GET", "/v1/jobs", .listJobs),
        Route("GET", "/v1/jobs/{id}", .getJob),
        Route("DELETE", "/v1/jobs/{id}", .cancelJob),
        Route("GET", "/v1/jobs/{id}/images/{index}.png", .jobImage),
        Route("GET", "/v1/jobs/{id}/images/{index}.jpeg", .jobImage),
        Route("GET", "/v1/jobs/{id}/images/{index}.webp", .jobImage),
        Route("GET", "/v1/jobs/{id}/events", .jobEvents),
        Route("GET", "/v1/models", .listModels),
        Route("GET", "/v1/models/{id}", .getModel),
        Route("GET", "/healthz", .healthz),
        Route("GET", "/readyz", .readyz),
        Route("GET", "/metrics", .metrics),
        Route("GET", "/openapi.json", .openapi),
    ]

    public static func match(method: String, path: String) -> Match {
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Substring.init)
        // HEAD is answered as GET (the server sends no body).
        let wanted = method == "HEAD" ? "GET" : method
        var allowed: [String] = []
        for route in routes {
            guard let params = route.match(segments) else { continue }
            if route.method == wanted { return .found(route, params) }
            allowed.append(route.method)
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .methodNotAllowed(allowed: allowed)
    }
}
