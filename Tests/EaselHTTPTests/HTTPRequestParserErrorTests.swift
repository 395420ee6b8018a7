import Foundation
import XCTest
@testable import EaselHTTP

final class HTTPRequestParserErrorTests: XCTestCase {
    typealias H = ParserHarness
    let get = "GET / HTTP/1.1\r\nHost: a\r\n"

    func test_parse_bothContentLengthAndTransferEncoding_is400() {
        XCTAssertEqual(H.errorStatus(get + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus(get + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400)
    }

    func test_parse_duplicateContentLength_is400() {
        XCTAssertEqual(H.errorStatus(get + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"), 400)
        XCTAssertEqual(H.errorStatus(get + "Content-Length: 1, 1\r\n\r\nx"), 400)
    }

    func test_parse_invalidContentLength_is400() {
        for value in ["+1", "-1", "1 2", "0x10", "", "1.0", "abc", "99999999999999999999", "１"] {
            XCTAssertEqual(H.errorStatus(get + "Content-Length: \(value)\r\n\r\n"), 400, value)
        }
    }

    func test_parse_badChunkSize_is400() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        for body in ["g\r\n", "\r\n", "-1\r\n", "1111111111111111\r\nx", "5\nhello\r\n0\r\n\r\n", "5 x\r\n", "3\r\nabcX\r\n0\r\n\r\n",
                     "3\r\nabc\rX", "0\r\nbad trailer\n\r\n"] {
            XCTAssertEqual(H.errorStatus(head + body), 400, body.debugDescription)
        }
    }

    func test_parse_chunkedBodyOverLimit_is413() {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 8
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        XCTAssertEqual(H.errorStatus(head + "5\r\nhello\r\n4\r\n", limits: limits), 413)
        XCTAssertEqual(H.errorStatus(head + "ffffffffffff\r\n", limits: limits), 413)
    }

    func test_parse_obsFold_is400() {
        XCTAssertEqual(H.errorStatus(get + "X-A: one\r\n two\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus(get + "X-A: one\r\n\ttwo\r\n\r\n"), 400)
    }

    func test_parse_whitespaceBeforeColon_is400() {
        XCTAssertEqual(H.errorStatus(get + "X-A : one\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400)
    }

    func test_parse_invalidTokenCharacters_is400() {
        XCTAssertEqual(H.errorStatus("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus(get + "X@A: 1\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus(get + ": empty-name\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus(get + "X-A: a\u{1}b\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET /a\u{7f} HTTP/1.1\r\nHost: a\r\n\r\n"), 400)
    }

    func test_parse_bareLineFeeds_is400() {
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\r\nHost: a\n\n"), 400)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400)
    }

    func test_parse_missingHost_is400() {
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400)
    }

    func test_parse_unsupportedVersion_is505() {
        XCTAssertEqual(H.errorStatus("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505)
        XCTAssertEqual(H.errorStatus("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET / http/1.1\r\nHost: a\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("GET /\r\n\r\n"), 400)
    }

    func test_parse_transferEncodingOtherThanChunked_is501() {
        XCTAssertEqual(H.errorStatus(get + "Transfer-Encoding: gzip\r\n\r\n"), 501)
        XCTAssertEqual(H.errorStatus(get + "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501)
        XCTAssertEqual(H.errorStatus(get + "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400)
        XCTAssertEqual(H.errorStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400)
    }

    func test_parse_requestLineTooLong_is414() {
        var limits = HTTPServerLimits()
        limits.maxRequestLineBytes = 64
        let long = "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        XCTAssertEqual(H.errorStatus(long, limits: limits), 414)
        XCTAssertEqual(H.errorStatus(String(repeating: "a", count: 100), limits: limits), 414)  // before any CRLF
    }

    func test_parse_headersTooLarge_is431() {
        var limits = HTTPServerLimits()
        limits.maxHeaderBytes = 64
        XCTAssertEqual(H.errorStatus(get + "X: " + String(repeating: "v", count: 100) + "\r\n\r\n", limits: limits), 431)
        XCTAssertEqual(H.errorStatus(get + "X: " + String(repeating: "v", count: 100), limits: limits), 431)  // unterminated
        limits = HTTPServerLimits()
        limits.maxHeaderCount = 3
        XCTAssertEqual(H.errorStatus(get + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits), 431)
    }

    func test_parse_bodyTooLarge_is413BeforeBodyArrives() {
        var limits = HTTPServerLimits()
        limits.maxBodyBytes = 10
        XCTAssertEqual(H.outcomes(get + "Content-Length: 11\r\n\r\n", limits: limits), [.error(413)])
        XCTAssertEqual(H.outcomes(get + "Expect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits: limits), [.error(413)])
    }

    func test_parse_unknownExpectation_is417() {
        XCTAssertEqual(H.errorStatus(get + "Expect: teapot\r\nContent-Length: 1\r\n\r\nx"), 417)
    }

    func test_parse_afterError_yieldsNothingMore() {
        XCTAssertEqual(H.outcomes("BAD\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), [.error(400)])
    }
}
