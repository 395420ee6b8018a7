import EaselJSON
import EaselHTTP
import Foundation

/// An error answer: `{"error": {"code", "message", "field"?}}` with its status (docs/API.md "Errors").
public struct APIError: Error, Equatable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var field: String?
    public var headers: [(String, String)] = []

    public init(status: Int, code: String, message: String, field: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    public static func == (a: APIError, b: APIError) -> Bool {
        a.status == b.status && a.code == b.code && a.message == b.message && a.field == b.field
    }

    public var description: String { "\(status) \(code): \(message)" + (field.map { " (field \($0))" } ?? "") }

    public static func invalid(_ field: String?, _ message: String) -> APIError {
        APIError(status: 400, code: "invalid_request", message: message, field: field)
    }
    public static func notFound(_ code: String = "not_found", _ message: String) -> APIError {
        APIError(status: 404, code: code, message: message)
    }
    public static let unauthorized = APIError(
        status: 401, code: "unauthorized", message: "a valid API key is required (Authorization: Bearer <key>)",
        headers: [("WWW-Authenticate", "Bearer")])
    public static func conflict(_ message: String) -> APIError { APIError(status: 409, code: "conflict", message: message) }
    public static func unavailable(_ message: String) -> APIError {
        APIError(status: 503, code: "unavailable", message: message)
    }
    public static func internalError(_ message: String) -> APIError {
        APIError(status: 500, code: "internal", message: message)
    }

    public var body: Data {
        var text = "{\"error\":{\"code\":\(JSONValue.quoted(code)),\"message\":\(JSONValue.quoted(message))"
        if let field { text += ",\"field\":\(JSONValue.quoted(field))" }
        text += "}}"
        return Data(text.utf8)
    }

    public var response: HTTPResponse {
        var r = HTTPResponse.json(body, status: status)
        for (name, value) in headers { r.headers.set(name, value) }
        return r
    }
}
