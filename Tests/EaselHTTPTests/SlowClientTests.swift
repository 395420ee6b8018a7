import EaselTestSupport
import Foundation
import XCTest
@testable import EaselHTTP

/// Slow and greedy clients (issue 12's probes: a body sent slowly was held for ever, and connections had no cap).
final class SlowClientTests: XCTestCase {
    var live: LiveServer!

    override func tearDown() {
        live?.server.stop(graceful: false)
        live = nil
    }

    /// A body that trickles in is cut off at the whole-request deadline with a 408, not held until the idle timeout.
    func test_slowBody_getsA408AtTheRequestDeadline() throws {
        var limits = HTTPServerLimits()
        limits.requestTimeout = 0.5
        limits.minRequestBytesPerSecond = 0
        limits.idleTimeout = 30
        live = try LiveServer(limits: limits)
        let client = try live.client(timeout: 5)
        let start = Date()
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
        for _ in 0..<3 {
            Thread.sleep(forTimeInterval: 0.1)
            try? client.send("c")  // still sending, well within the idle timeout
        }
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 408)
        XCTAssertTrue(response.text.contains("request_timeout"), response.text)
        XCTAssertEqual(response.header("Connection")?.lowercased(), "close")
        XCTAssertTrue(client.isClosedByPeer())
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "cut off by the request deadline, not the idle timeout")
    }

    /// Once the grace period has passed, a request arriving below the minimum rate is refused before the deadline.
    func test_bodyBelowMinimumRate_getsA408() throws {
        var limits = HTTPServerLimits()
        limits.requestTimeout = 30
        limits.minRequestBytesPerSecond = 10_000
        limits.minRequestRateGrace = 0.3
        live = try LiveServer(limits: limits)
        let client = try live.client(timeout: 10)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        for _ in 0..<30 {  // 20 bytes/s for 1.5 s; sends fail once the server has given up
            try? client.send("x")
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertEqual(try client.readResponse().status, 408)
        XCTAssertTrue(live.logLines.contains { $0.contains("slower than 10000 bytes/s") }, "\(live.logLines)")
    }

    /// A request that keeps up with the minimum rate is answered, even when it takes longer than the grace period.
    func test_bodyAtAnAcceptableRate_isAnswered() throws {
        var limits = HTTPServerLimits()
        limits.minRequestBytesPerSecond = 100
        limits.minRequestRateGrace = 0.2
        live = try LiveServer(limits: limits)
        let client = try live.client(timeout: 5)
        let body = String(repeating: "y", count: 200)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        for chunk in stride(from: 0, to: 200, by: 50) {
            try client.send(String(body.dropFirst(chunk).prefix(50)))
            Thread.sleep(forTimeInterval: 0.1)  // 500 bytes/s
        }
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "POST /echo \(body)")
    }

    /// One connection over `maxConnections` is answered 503 and closed; closing one makes room again.
    func test_connectionCap_answers503AndCloses_thenRecovers() throws {
        var limits = HTTPServerLimits()
        limits.maxConnections = 3
        live = try LiveServer(limits: limits)
        var held = try (0..<3).map { _ in try live.client() }
        // Each held connection is registered once a request on it has been answered.
        for c in held {
            try c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try c.readResponse().status, 200)
        }
        let extra = try live.client()
        let refused = try extra.readResponse()
        XCTAssertEqual(refused.status, 503)
        XCTAssertTrue(refused.text.contains("too many connections"), refused.text)
        XCTAssertTrue(extra.isClosedByPeer())
        held.removeLast()  // closes it (TestClient closes on deinit)
        eventually(timeout: 5, "a slot is free again") {
            guard let c = try? live.client() else { return false }
            try? c.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            return (try? c.readResponse().status) == 200
        }
        _ = held
    }
}
