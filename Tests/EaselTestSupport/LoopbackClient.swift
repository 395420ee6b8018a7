import EaselHTTP
import EaselJSON
import Foundation

/// A response with its body read (streams are not expected here).
public struct Answer {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data
    public init(status: Int, headers: HTTPHeaders, body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
    public var errorCode: String? { json["error"]?["code"]?.stringValue }
    public var errorField: String? { json["error"]?["field"]?.stringValue }
}

/// One request per connection (`Connection: close`) to 127.0.0.1 through `TestClient`, with its timeouts.
public enum LoopbackClient {
    public static func request(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [],
                               body: Data = Data(), timeout: Double = 30) throws -> Answer {
        let client = try TestClient(port: port, timeout: timeout)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (n, v) in headers { head += "\(n): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        // The server may answer (413, say) before reading everything: a failed send still reads the answer.
        try? client.send(Array(head.utf8) + Array(body))
        let r = try client.readResponse(head: method == "HEAD")
        return Answer(status: r.status, headers: HTTPHeaders(r.headers), body: r.body)
    }

    public static func json(port: Int, _ method: String, _ path: String, _ body: String? = nil,
                            headers: [(String, String)] = []) throws -> Answer {
        var h = headers
        if body != nil { h.append(("Content-Type", "application/json")) }
        return try request(port: port, method, path, headers: h, body: Data((body ?? "").utf8))
    }
}
