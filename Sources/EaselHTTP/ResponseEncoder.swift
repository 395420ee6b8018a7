import Foundation

/// Turns an `HTTPResponse` into bytes for one `send`: status line, server headers, the handler's headers
/// (framing and hop-by-hop ones dropped, as are fields that would split the response), then the body.
enum ResponseEncoder {
    struct Context {
        var isHead: Bool
        var isHTTP10: Bool
        var keepAlive: Bool
    }

    /// Returns the bytes and, for a streaming response that has a body, the stream to run.
    static func encode(_ response: HTTPResponse, _ context: Context)
        -> (bytes: [UInt8], stream: (@Sendable (HTTPStreamWriter) -> Void)?, keepAlive: Bool) {
        let status = response.status
        let bodyAllowed = status >= 200 && status != 204 && status != 304
        var out: [UInt8] = []
        var fixedBody: Data?
        var stream: (@Sendable (HTTPStreamWriter) -> Void)?
        switch response.body {
        case .data(let data): fixedBody = data
        case .stream(let body): stream = body
        }
        out.reserveCapacity(160 + response.headers.count * 32 + (context.isHead ? 0 : fixedBody?.count ?? 0))
        append(&out, "HTTP/1.1 \(status) \(HTTPStatus.reason(status))\r\nServer: Easel\r\nDate: ")
        out.append(contentsOf: HTTPDate.current())
        out.append(13)
        out.append(10)
        for (name, value) in response.headers where !isManaged(name) && isSafe(name) && isSafe(value) {
            append(&out, name)
            append(&out, ": ")
            append(&out, value)
            append(&out, "\r\n")
        }
        var keepAlive = context.keepAlive
        if bodyAllowed {
            if let fixedBody {
                append(&out, "Content-Length: \(fixedBody.count)\r\n")
            } else if context.isHTTP10 {
                keepAlive = false  // an HTTP/1.0 stream ends when the connection does
            } else {
                append(&out, "Transfer-Encoding: chunked\r\n")
            }
        }
        if !keepAlive {
            append(&out, "Connection: close\r\n")
        } else if context.isHTTP10 {
            append(&out, "Connection: keep-alive\r\n")
        }
        append(&out, "\r\n")
        if bodyAllowed && !context.isHead {
            if let fixedBody { out.append(contentsOf: fixedBody) }
            return (out, stream, keepAlive)
        }
        return (out, nil, keepAlive)
    }

    /// Whether the response asks to close the connection.
    static func wantsClose(_ response: HTTPResponse) -> Bool {
        response.headers.containsToken("close", in: "Connection")
    }

    private static func isManaged(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: return HTTPHeaders.equalsIgnoringCase(name, "Date")
        case 6: return HTTPHeaders.equalsIgnoringCase(name, "Server")
        case 10: return HTTPHeaders.equalsIgnoringCase(name, "Connection") || HTTPHeaders.equalsIgnoringCase(name, "Keep-Alive")
        case 14: return HTTPHeaders.equalsIgnoringCase(name, "Content-Length")
        case 17: return HTTPHeaders.equalsIgnoringCase(name, "Transfer-Encoding")
        default: return false
        }
    }

    private static func isSafe(_ text: String) -> Bool {
        !text.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
    }

    @inline(__always)
    private static func append(_ out: inout [UInt8], _ text: String) {
        out.append(contentsOf: text.utf8)
    }
}
