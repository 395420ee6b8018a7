// Trivial-handler server for benchmarking EaselHTTP with wrk (built by Scripts/http-bench/run).
import Foundation

final class Hello: HTTPHandler {
    let body = Data("hello, world\n".utf8)
    func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) {
        respond(HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: .data(body)))
    }
}

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? 8089 : 8089
var limits = HTTPServerLimits()
if args.count > 2, let loops = Int(args[2]) { limits.eventLoopCount = loops }
let server = HTTPServer(host: "127.0.0.1", port: port, limits: limits, handler: Hello(), logger: { print($0) })
try server.start()
let seconds = args.count > 3 ? Double(args[3]) ?? 60 : 60
Thread.sleep(forTimeInterval: seconds)
server.stop(graceful: true)
