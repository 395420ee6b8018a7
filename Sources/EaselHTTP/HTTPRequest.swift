import Foundation

/// One parsed request, as handed to an `HTTPHandler`. The body is complete (Content-Length or de-chunked).
public struct HTTPRequest: Sendable {
    /// Method token as sent ("GET", "POST", …); case-sensitive per RFC 9110.
    public var method: String
    /// Request target exactly as sent ("/v1/jobs?limit=5").
    public var target: String
    /// Path part of the target, still percent-encoded ("/v1/jobs"); the authority is stripped from absolute-form targets.
    public var path: String
    /// Query parameters, percent-decoded ('+' as space); a repeated key keeps its last value.
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: Data
    /// Peer address: "127.0.0.1:53412" or "[::1]:53412".
    public var remoteAddress: String
    /// "HTTP/1.1" or "HTTP/1.0".
    public var version: String

    public init(method: String, target: String, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data(),
                remoteAddress: String = "", version: String = "HTTP/1.1") {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.version = version
        (path, query) = TargetDecoding.split(target)
    }
}
