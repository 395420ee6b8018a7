import EaselTestSupport
import Foundation
import XCTest
@testable import EaselHTTP

final class HTTPServerLiveTests: XCTestCase {
    var live: LiveServer!

    override func tearDown() {
        live?.server.stop(graceful: false)
        live = nil
    }

    func test_live_keepAlive_reusesConnectionForSeveralRequests() throws {
        live = try LiveServer()
        let client = try live.client()
        for i in 0..<5 {
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n\(i)")
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.text, "POST /echo \(i)")
            XCTAssertEqual(response.header("Server"), "Easel")
            XCTAssertNotNil(response.header("Date"))
            XCTAssertNil(response.header("Connection"))
            XCTAssertTrue(response.header("X-Remote")?.hasPrefix("127.0.0.1:") ?? false)
        }
    }

    func test_live_pipelinedRequests_answeredInOrder() throws {
        live = try LiveServer()
        let client = try live.client()
        // The first is slowest: responses must still come back in request order.
        try client.send("GET /slow?ms=150 HTTP/1.1\r\nHost: x\r\n\r\nGET /slow?ms=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "slow 150")
        XCTAssertEqual(try client.readResponse().text, "slow 1")
        XCTAssertEqual(try client.readResponse().text, "POST /echo abc")
    }

    func test_live_longPipelineOfInlineAndQueuedAnswers_inOrder() throws {
        live = try LiveServer()
        let client = try live.client(timeout: 20)
        // 3000 pipelined requests, most answered on the event loop, some on the handler queue, and some that claim to
        // be inline but answer late: all come back in order.
        var batch = ""
        var expected: [String] = []
        for i in 0..<3000 {
            switch i % 10 {
            case 3: batch += "GET /slow?ms=1&inline=1 HTTP/1.1\r\nHost: x\r\n\r\n"; expected.append("slow 1")
            case 7: batch += "GET /big?n=\(i % 97) HTTP/1.1\r\nHost: x\r\n\r\n"
                expected.append(String(repeating: "b", count: i % 97))
            default: batch += "GET /big?n=\(i % 89)&inline=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                expected.append(String(repeating: "b", count: i % 89))
            }
        }
        try client.send(batch)
        for (i, text) in expected.enumerated() {
            let response = try client.readResponse()
            XCTAssertEqual(response.status, 200)
            guard response.text == text else { return XCTFail("answer \(i): got \(response.text.prefix(40))") }
        }
        try client.send("GET /?inline=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "ok")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func test_live_connectionClose_answersThenCloses() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func test_live_http10_closesUnlessKeepAliveAsked() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(try client.readResponse().header("Connection"), "keep-alive")
        try client.send("GET / HTTP/1.0\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "ok")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func test_live_headRequest_hasHeadersButNoBody() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readResponse(head: true)
        XCTAssertEqual(head.header("Content-Length"), "2")
        XCTAssertEqual(try client.readResponse().text, "ok")  // the HEAD answer carried no body bytes
    }

    func test_live_bodyOverLimit_is413WithJSONAndCloses() throws {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 1000
        live = try LiveServer(limits: limits)
        let client = try live.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "a", count: 2000))
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.header("Content-Type"), "application/json")
        let json = try JSONSerialization.jsonObject(with: response.body) as? [String: [String: String]]
        XCTAssertEqual(json?["error"]?["code"], "payload_too_large")
        XCTAssertTrue(client.isClosedByPeer())
    }

    func test_live_malformedRequest_is400InvalidRequestAndCloses() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 400)
        XCTAssertTrue(response.text.contains("\"code\": \"invalid_request\""), response.text)
        XCTAssertTrue(client.isClosedByPeer())
    }

    func test_live_expectContinue_gets100ThenResponse() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        XCTAssertEqual(try client.readHead().status, 100)
        try client.send("body")
        XCTAssertEqual(try client.readResponse().text, "POST /echo body")
    }

    func test_live_slowHeader_connectionClosedAfterHeaderTimeout() throws {
        var limits = HTTPServerLimits()
        limits.headerTimeout = 0.3
        live = try LiveServer(limits: limits)
        let client = try live.client()
        let start = Date()
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n")
        Thread.sleep(forTimeInterval: 0.15)
        try client.send("X-Slow: 1\r\n")  // still trickling; no blank line
        XCTAssertTrue(client.isClosedByPeer())
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 2)
    }

    func test_live_idleKeepAlive_closedAfterIdleTimeout() throws {
        var limits = HTTPServerLimits()
        limits.idleTimeout = 0.3
        live = try LiveServer(limits: limits)
        let client = try live.client()
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 200)
        let start = Date()
        XCTAssertTrue(client.isClosedByPeer())
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func test_live_sseStream_arrivesIncrementally() throws {
        live = try LiveServer()
        let client = try live.client()
        try client.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readHead()
        XCTAssertEqual(head.header("Transfer-Encoding"), "chunked")
        XCTAssertEqual(head.header("Content-Type"), "text/event-stream")
        // The second event is only written after we saw the first one.
        XCTAssertEqual(try client.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: 1\n\n")
        live.sseGate.signal()
        XCTAssertEqual(try client.readChunk().map { String(decoding: $0, as: UTF8.self) }, "data: 2\n\n")
        XCTAssertNil(try client.readChunk())
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")  // and the connection is reusable
        XCTAssertEqual(try client.readResponse().text, "ok")
    }

    func test_live_largeBodiesAndPipelinedLargeResponses_arriveIntact() throws {
        live = try LiveServer()
        let client = try live.client(timeout: 10)
        let upload = String(repeating: "u", count: 3 << 20)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(upload.utf8.count)\r\n\r\n" + upload)
        XCTAssertEqual(try client.readResponse().body.count, "POST /echo ".utf8.count + upload.utf8.count)
        // 12 pipelined 1 MiB answers, unread until all are asked for: output backs up, reading pauses, then resumes.
        let ask = String(repeating: "GET /big?n=1048576 HTTP/1.1\r\nHost: x\r\n\r\n", count: 12)
        try client.send(ask)
        Thread.sleep(forTimeInterval: 0.2)
        for _ in 0..<12 { XCTAssertEqual(try client.readResponse().body.count, 1 << 20) }
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "ok")
    }

    func test_live_ipv6Loopback_serves() throws {
        let server = HTTPServer(host: "::1", port: 0, handler: HTTPClosureHandler { _, respond in respond(.text("v6")) })
        let port: Int
        do { port = try server.start() } catch { throw XCTSkip("no IPv6 loopback: \(error)") }
        defer { server.stop(graceful: false) }
        let client = try TestClient(port: port, host: "::1")
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "v6")
    }
}
