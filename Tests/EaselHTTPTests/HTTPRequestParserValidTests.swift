import Foundation
import XCTest
@testable import EaselHTTP

final class HTTPRequestParserValidTests: XCTestCase {
    typealias H = ParserHarness

    func test_parse_simpleGet_yieldsRequestWithKeepAlive() {
        let text = "GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n"
        XCTAssertEqual(H.outcomes(text), [.request(method: "GET", target: "/v1/models?x=1", body: "", keepAlive: true)])
        let request = H.run(text, byteByByte: true).1[0].request
        XCTAssertEqual(request.path, "/v1/models")
        XCTAssertEqual(request.query, ["x": "1"])
        XCTAssertEqual(request.headers["user-agent"], "t")
        XCTAssertEqual(request.version, "HTTP/1.1")
    }

    func test_parse_pipelinedRequests_yieldedInOrder() {
        let text = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            + "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        XCTAssertEqual(H.outcomes(text), [
            .request(method: "GET", target: "/1", body: "", keepAlive: true),
            .request(method: "POST", target: "/2", body: "abc", keepAlive: true),
            .request(method: "GET", target: "/3", body: "", keepAlive: false),
        ])
    }

    func test_parse_contentLengthBody_isComplete() {
        let text = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
        XCTAssertEqual(H.outcomes(text), [.request(method: "PUT", target: "/x", body: "hello world", keepAlive: true)])
    }

    func test_parse_chunkedWithExtensionsAndTrailers_isDechunked() {
        let text = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n1 ; ext\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nY: u\r\n\r\n"
            + "GET /after HTTP/1.1\r\nHost: a\r\n\r\n"
        XCTAssertEqual(H.outcomes(text), [
            .request(method: "POST", target: "/c", body: "hello 0123456789", keepAlive: true),
            .request(method: "GET", target: "/after", body: "", keepAlive: true),
        ])
    }

    func test_parse_chunkedUppercaseHexAndNoTrailers_isDechunked() {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1A\r\n" + String(repeating: "z", count: 26) + "\r\n0\r\n\r\n"
        XCTAssertEqual(H.outcomes(text), [.request(method: "POST", target: "/", body: String(repeating: "z", count: 26), keepAlive: true)])
    }

    func test_parse_connectionHeaders_decideKeepAlive() {
        XCTAssertEqual(H.outcomes("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"),
                       [.request(method: "GET", target: "/", body: "", keepAlive: false)])
        XCTAssertEqual(H.outcomes("GET / HTTP/1.0\r\n\r\n"), [.request(method: "GET", target: "/", body: "", keepAlive: false)])
        XCTAssertEqual(H.outcomes("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
                       [.request(method: "GET", target: "/", body: "", keepAlive: true)])
    }

    func test_parse_expectContinue_yieldsContinueBeforeBody() {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"
        XCTAssertEqual(H.outcomes(text), [.expectContinue, .request(method: "POST", target: "/", body: "ok", keepAlive: true)])
    }

    func test_parse_expectContinueWithoutBody_yieldsNoContinue() {
        XCTAssertEqual(H.outcomes("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"),
                       [.request(method: "GET", target: "/", body: "", keepAlive: true)])
    }

    func test_parse_leadingEmptyLines_areIgnored() {
        XCTAssertEqual(H.outcomes("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), [.request(method: "GET", target: "/", body: "", keepAlive: true)])
    }

    func test_parse_headerValues_trimmedOrderedAndMultiValued() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one \t\r\nx-a: two\r\nEmpty:\r\n\r\n"
        let request = H.run(text, byteByByte: false).1[0].request
        XCTAssertEqual(request.headers.values(for: "X-A"), ["one", "two"])
        XCTAssertEqual(request.headers["empty"], "")
        XCTAssertEqual(request.headers.map(\.name), ["Host", "X-A", "x-a", "Empty"])
    }

    func test_parse_limitsExactlyMet_isAccepted() {
        var limits = HTTPServerLimits()
        limits.maxRequestLineBytes = 20  // "GET /aaaaaa HTTP/1.1" is exactly 20
        limits.maxHeaderCount = 2
        limits.maxBodyBytes = 4
        let text = "GET /aaaaaa HTTP/1.1\r\nHost: a\r\nB: b\r\nContent-Length: 4\r\n\r\nbody"
        XCTAssertEqual(H.errorStatus(text, limits: limits), 431)  // three fields
        let ok = "GET /aaaaaa HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
        XCTAssertEqual(H.outcomes(ok, limits: limits), [.request(method: "GET", target: "/aaaaaa", body: "body", keepAlive: true)])
    }

    func test_targetDecoding_percentAndPlus_areDecoded() {
        let request = HTTPRequest(method: "GET", target: "/a%20b?q=a+b%2Fc&empty&bad=%zz&k=1&k=2")
        XCTAssertEqual(request.path, "/a%20b")
        XCTAssertEqual(request.query, ["q": "a b/c", "empty": "", "bad": "%zz", "k": "2"])
        XCTAssertEqual(HTTPRequest(method: "GET", target: "http://host:1/p?x=1").path, "/p")
    }
}
