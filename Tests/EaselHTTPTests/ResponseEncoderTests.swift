import Foundation
import XCTest
@testable import EaselHTTP

final class ResponseEncoderTests: XCTestCase {
    private func text(_ response: HTTPResponse, head: Bool = false, http10: Bool = false, keepAlive: Bool = true) -> String {
        String(decoding: ResponseEncoder.encode(response, .init(isHead: head, isHTTP10: http10, keepAlive: keepAlive)).bytes, as: UTF8.self)
    }

    func test_encode_fixedBody_hasServerDateAndContentLength() {
        let out = text(.text("hi"))
        XCTAssertTrue(out.hasPrefix("HTTP/1.1 200 OK\r\nServer: Easel\r\nDate: "), out)
        XCTAssertTrue(out.contains("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nhi"), out)
        XCTAssertFalse(out.contains("Connection:"))
    }

    func test_encode_head_keepsContentLengthDropsBody() {
        let out = text(.text("hello"), head: true)
        XCTAssertTrue(out.hasSuffix("Content-Length: 5\r\n\r\n"), out)
    }

    func test_encode_noContentStatus_hasNoLengthOrBody() {
        let out = text(HTTPResponse(status: 204, body: .data(Data("x".utf8))))
        XCTAssertFalse(out.contains("Content-Length"))
        XCTAssertTrue(out.hasSuffix("\r\n\r\n"))
    }

    func test_encode_handlerFramingAndInjectedHeaders_areDropped() {
        var response = HTTPResponse.text("ok")
        response.headers.add("Content-Length", "999")
        response.headers.add("Transfer-Encoding", "chunked")
        response.headers.add("X-Evil", "a\r\nSet-Cookie: b")
        let out = text(response)
        XCTAssertFalse(out.contains("999"))
        XCTAssertFalse(out.contains("Set-Cookie"))
        XCTAssertFalse(out.contains("Transfer-Encoding"))
    }

    func test_encode_streamOnHTTP11_isChunked_onHTTP10_closes() {
        let stream = HTTPResponse(body: .stream { $0.finish() })
        let result11 = ResponseEncoder.encode(stream, .init(isHead: false, isHTTP10: false, keepAlive: true))
        XCTAssertTrue(String(decoding: result11.bytes, as: UTF8.self).contains("Transfer-Encoding: chunked\r\n"))
        XCTAssertNotNil(result11.stream)
        XCTAssertTrue(result11.keepAlive)
        let result10 = ResponseEncoder.encode(stream, .init(isHead: false, isHTTP10: true, keepAlive: true))
        XCTAssertTrue(String(decoding: result10.bytes, as: UTF8.self).contains("Connection: close\r\n"))
        XCTAssertFalse(result10.keepAlive)
        XCTAssertNil(ResponseEncoder.encode(stream, .init(isHead: true, isHTTP10: false, keepAlive: true)).stream)
    }

    func test_errorResponse_isJSONWithConventionalCode() throws {
        let response = HTTPResponse.error(status: 413, message: "too \"big\"\n")
        guard case .data(let body) = response.body else { return XCTFail("not data") }
        let json = try JSONSerialization.jsonObject(with: body) as? [String: [String: String]]
        XCTAssertEqual(json?["error"]?["code"], "payload_too_large")
        XCTAssertEqual(json?["error"]?["message"], "too \"big\"\n")
        XCTAssertEqual(response.headers["content-type"], "application/json")
    }

    func test_headers_caseInsensitiveLookupAndTokens() {
        var headers: HTTPHeaders = ["Connection": "keep-alive, Upgrade"]
        headers.add("connection", "close")
        XCTAssertEqual(headers["CONNECTION"], "keep-alive, Upgrade")
        XCTAssertTrue(headers.containsToken("upgrade", in: "Connection"))
        XCTAssertTrue(headers.containsToken("Close", in: "connection"))
        headers.set("Connection", "x")
        XCTAssertEqual(headers.values(for: "connection"), ["x"])
        XCTAssertFalse(HTTPHeaders.equalsIgnoringCase("a-b", "A_B"))
    }

    func test_streamWriter_afterFinish_refusesWrites() {
        let channel = StreamChannel(cap: 1024, chunked: true) {}
        let writer = HTTPStreamWriter(channel: channel)
        XCTAssertTrue(writer.write("abc"))
        writer.finish()
        XCTAssertFalse(writer.write("more"))
        let (bytes, outcome) = channel.take()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "3\r\nabc\r\n0\r\n\r\n")
        XCTAssertEqual(outcome, .finished)
    }
}
