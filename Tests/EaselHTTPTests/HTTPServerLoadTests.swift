import EaselTestSupport
import Foundation
import Glibc
import XCTest
@testable import EaselHTTP

final class HTTPServerLoadTests: XCTestCase {
    var live: LiveServer!

    override func tearDown() {
        live?.server.stop(graceful: false)
        live = nil
    }

    /// Lifts RLIMIT_NOFILE's soft limit to the hard limit; skips if that still can't hold `needed` descriptors.
    private func ensureDescriptors(_ needed: Int) throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if Int(limit.rlim_cur) < needed { throw XCTSkip("RLIMIT_NOFILE \(limit.rlim_cur) < \(needed)") }
    }

    func test_live_thousandConcurrentConnections_allAnswered() throws {
        let count = 1000
        try ensureDescriptors(2 * count + 100)
        var limits = HTTPServerLimits()
        limits.eventLoopCount = 3  // whatever the machine's default: connections handed across loops
        live = try LiveServer(limits: limits)
        let start = Date()
        // All connections open at once, each with a request in flight, before any response is read.
        var clients: [TestClient] = []
        for _ in 0..<count { clients.append(try live.client(timeout: 10)) }
        for (i, client) in clients.enumerated() { try client.send("GET /slow?ms=\(i % 50) HTTP/1.1\r\nHost: x\r\n\r\n") }
        for (i, client) in clients.enumerated() {
            let response = try client.readResponse()
            XCTAssertEqual(response.text, "slow \(i % 50)")
        }
        // The same connections are still usable.
        for client in clients.prefix(50) { try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") }
        for client in clients.prefix(50) { XCTAssertEqual(try client.readResponse().text, "ok") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    func test_live_slowStreamReader_connectionDroppedAtBufferCap() throws {
        var limits = HTTPServerLimits()
        limits.maxStreamBufferBytes = 64 * 1024
        let refused = DispatchSemaphore(value: 0)
        let written = LockedCounter()
        let handler = HTTPClosureHandler { _, respond in
            respond(HTTPResponse(body: .stream { writer in
                let chunk = Data(repeating: 0x61, count: 16 * 1024)
                // The client never reads and the writer outruns the socket: the cap trips and write says false.
                for _ in 0..<100_000 {
                    guard writer.write(chunk) else { refused.signal(); return }
                    written.add(chunk.count)
                }
            }))
        }
        let server = HTTPServer(limits: limits, handler: handler)
        let port = try server.start()
        defer { server.stop(graceful: false) }
        let client = try TestClient(port: port)
        var small = Int32(4096)
        setsockopt(client.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(refused.wait(timeout: .now() + 10), .success, "writer never refused")
        XCTAssertLessThan(written.value, 100_000 * 16 * 1024)
    }

    func test_live_gracefulStop_finishesInFlightAndClosesIdle() throws {
        live = try LiveServer()
        let busy = try live.client()
        let idle = try live.client()
        try idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try idle.readResponse().text, "ok")
        try busy.send("GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.05)  // the request reaches the handler
        let stopped = DispatchSemaphore(value: 0)
        let server = live.server
        DispatchQueue.global().async {
            server.stop(graceful: true)
            stopped.signal()
        }
        XCTAssertTrue(idle.isClosedByPeer())
        let response = try busy.readResponse()
        XCTAssertEqual(response.text, "slow 300")
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(busy.isClosedByPeer())
        XCTAssertEqual(stopped.wait(timeout: .now() + 5), .success)
        XCTAssertThrowsError(try live.client(timeout: 1))  // no longer listening
    }

    func test_live_stopNotGraceful_closesEverythingAtOnce() throws {
        live = try LiveServer()
        let busy = try live.client()
        try busy.send("GET /slow?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
        Thread.sleep(forTimeInterval: 0.05)
        let start = Date()
        live.server.stop(graceful: false)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertTrue(busy.isClosedByPeer())
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.withLock { total += n } }
    var value: Int { lock.withLock { total } }
}
