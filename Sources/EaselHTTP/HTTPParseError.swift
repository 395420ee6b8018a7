/// Why a request was refused; the connection answers `status` with a JSON error body and closes.
struct HTTPParseError: Error, Equatable, CustomStringConvertible {
    var status: Int
    var message: String

    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { "\(status) \(message)" }
}

/// What the parser produced from the bytes so far.
enum HTTPParseEvent {
    /// A complete request (head and body).
    case request(ParsedRequest)
    /// The head asked `Expect: 100-continue` and a body follows: answer "100 Continue" now.
    case expectContinue
    /// A malformed or refused request; the parser accepts nothing more.
    case error(HTTPParseError)
}

struct ParsedRequest {
    var request: HTTPRequest
    /// The connection may serve another request after this one (Connection header and version).
    var keepAlive: Bool
    var isHTTP10: Bool
}
