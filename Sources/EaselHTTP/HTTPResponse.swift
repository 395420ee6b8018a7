import Foundation

/// What a handler answers. The server adds `Date`, `Server`, `Content-Length` (fixed bodies) or
/// `Transfer-Encoding: chunked` (streams), and `Connection` where needed; it drops any framing headers set here.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: HTTPBody

    public init(status: Int = 200, headers: HTTPHeaders = HTTPHeaders(), body: HTTPBody = .data(Data())) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `text/plain; charset=utf-8` body.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .data(Data(text.utf8)))
    }

    /// `application/json` body from already-encoded JSON.
    public static func json(_ json: Data, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .data(json))
    }

    /// `{"error": {"code": ..., "message": ...}}` with the conventional code for the status unless given.
    public static func error(status: Int, code: String? = nil, message: String) -> HTTPResponse {
        let code = code ?? HTTPStatus.errorCode(status)
        let body = "{\"error\": {\"code\": \(HTTPStatus.jsonString(code)), \"message\": \(HTTPStatus.jsonString(message))}}"
        return json(Data(body.utf8), status: status)
    }
}
