import Foundation
import XCTest
@testable import EaselHTTP

/// Feeds bytes to a parser (all at once, or one byte at a time) and collects what comes out.
enum ParserHarness {
    enum Outcome: Equatable {
        case request(method: String, target: String, body: String, keepAlive: Bool)
        case expectContinue
        case error(Int)
    }

    static func run(_ text: String, limits: HTTPServerLimits = HTTPServerLimits(), byteByByte: Bool) -> ([Outcome], [ParsedRequest]) {
        var parser = HTTPRequestParser(limits: limits)
        var outcomes: [Outcome] = []
        var requests: [ParsedRequest] = []
        func drain() {
            while let event = parser.next() {
                switch event {
                case .request(let p):
                    outcomes.append(.request(method: p.request.method, target: p.request.target,
                                             body: String(decoding: p.request.body, as: UTF8.self), keepAlive: p.keepAlive))
                    requests.append(p)
                case .expectContinue: outcomes.append(.expectContinue)
                case .error(let e): outcomes.append(.error(e.status))
                }
            }
        }
        let bytes = Array(text.utf8)
        if byteByByte {
            for b in bytes {
                parser.append(contentsOf: [b])
                drain()
            }
        } else {
            parser.append(contentsOf: bytes)
            drain()
        }
        return (outcomes, requests)
    }

    /// Parses both ways, asserts both agree, returns the outcomes.
    @discardableResult
    static func outcomes(_ text: String, limits: HTTPServerLimits = HTTPServerLimits(),
                         file: StaticString = #filePath, line: UInt = #line) -> [Outcome] {
        let whole = run(text, limits: limits, byteByByte: false).0
        let bytewise = run(text, limits: limits, byteByByte: true).0
        XCTAssertEqual(whole, bytewise, "whole vs byte-by-byte", file: file, line: line)
        return whole
    }

    /// The status of the first error, asserting it is the last outcome.
    static func errorStatus(_ text: String, limits: HTTPServerLimits = HTTPServerLimits(),
                            file: StaticString = #filePath, line: UInt = #line) -> Int? {
        let all = outcomes(text, limits: limits, file: file, line: line)
        guard case .error(let status)? = all.last else { return nil }
        return status
    }
}
