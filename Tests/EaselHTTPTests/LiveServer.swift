import EaselTestSupport
import Foundation
import XCTest
@testable import EaselHTTP

/// Starts an `HTTPServer` on 127.0.0.1 with an ephemeral port and a small routing handler:
/// `/echo` echoes method, path and body; `/slow?ms=N` answers after N ms without holding a thread;
/// `/big?n=N` answers N bytes; `/sse` streams `data: 1`, waits for `sseGate`, streams `data: 2`, finishes; anything else → "ok".
/// A query with `inline=1` marks the request as answered inline (on the event loop), `/slow` included, though it is not.
final class LiveServer {
    let server: HTTPServer
    let port: Int
    let sseGate = DispatchSemaphore(value: 0)
    private(set) var logLines: [String] = []
    private let logLock = NSLock()

    init(limits: HTTPServerLimits = HTTPServerLimits(), host: String = "127.0.0.1") throws {
        let gate = sseGate
        let handler = HTTPClosureHandler(inline: { $0.query["inline"] == "1" }) { request, respond in
            switch request.path {
            case "/echo":
                var response = HTTPResponse.text("\(request.method) \(request.path) \(String(decoding: request.body, as: UTF8.self))")
                response.headers.add("X-Remote", request.remoteAddress)
                respond(response)
            case "/big":
                let n = Int(request.query["n"] ?? "") ?? 0
                respond(HTTPResponse(body: .data(Data(repeating: UInt8(ascii: "b"), count: n))))
            case "/slow":
                let ms = Int(request.query["ms"] ?? "") ?? 100
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) { respond(.text("slow \(ms)")) }
            case "/sse":
                var response = HTTPResponse(status: 200, headers: ["Content-Type": "text/event-stream"])
                response.body = .stream { writer in
                    writer.write("data: 1\n\n")
                    DispatchQueue.global().async {
                        _ = gate.wait(timeout: .now() + 5)
                        writer.write("data: 2\n\n")
                        writer.finish()
                    }
                }
                respond(response)
            default:
                respond(.text("ok"))
            }
        }
        weak var captured: LiveServer?
        server = HTTPServer(host: host, port: 0, limits: limits, handler: handler, logger: { line in captured?.log(line) })
        port = try server.start()
        captured = self
    }

    private func log(_ line: String) { logLock.withLock { logLines.append(line) } }

    func client(timeout: Double = 5) throws -> TestClient { try TestClient(port: port, timeout: timeout) }
}
