import Foundation
import Glibc

/// A webhook endpoint for tests: an HTTP/1.1 server on 127.0.0.1, one connection at a time, that records each
/// request and answers from a script (then 200).
public final class WebhookReceiver: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Lower-cased names.
        public var headers: [String: String]
        public var body: Data
        public var receivedAt: Date
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        /// The body sent (default "ok"); lets tests serve files.
        public var body: Data
        public init(status: Int, headers: [(String, String)] = [], body: Data = Data("ok".utf8)) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    public let port: Int
    private let listener: LoopbackListener
    // Guards `script` and `received`; the serving thread and the test read and write them.
    private let lock = NSLock()
    private var script: [Response]
    private var received: [Request] = []

    public var requests: [Request] { lock.withLock { received } }
    public var url: String { "http://127.0.0.1:\(port)/hook" }

    public init(script: [Response] = []) throws {
        self.script = script
        listener = try LoopbackListener()
        port = listener.port
        Thread { [self] in serve() }.start()
    }

    public func close() { listener.close() }

    private func serve() {
        while true {
            let client = accept(listener.fd, nil, nil)
            if client < 0 { return }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            handle(client)
            Glibc.close(client)
        }
    }

    private func handle(_ client: Int32) {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var head: (line: [Substring], headers: [String: String], bodyStart: Int)?
        while true {
            let n = recv(client, &chunk, chunk.count, 0)
            if n <= 0 { break }
            data += chunk[0..<n]
            if head == nil, let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let c = line.firstIndex(of: ":") else { continue }
                    headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
                }
                head = (lines[0].split(separator: " "), headers, end.upperBound)
            }
            if let head, data.count - head.bodyStart >= Int(head.headers["content-length"] ?? "0") ?? 0 { break }
        }
        guard let head, head.line.count >= 2 else { return }
        let response: Response = lock.withLock {
            received.append(Request(method: String(head.line[0]), path: String(head.line[1]), headers: head.headers,
                                    body: Data(data[head.bodyStart...]), receivedAt: Date()))
            return script.isEmpty ? Response(status: 200) : script.removeFirst()
        }
        var text = "HTTP/1.1 \(response.status) Status\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n"
        for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        let bytes = Array(text.utf8) + Array(response.body)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBufferPointer { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
    }
}
