import Foundation
import XCTest
@testable import EaselHTTP

final class HTTPRequestParserFuzzTests: XCTestCase {
    /// Deterministic xorshift so failures reproduce.
    struct Rng {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(bound))
        }
    }

    private func outcomes(_ bytes: [UInt8], splits: [Int], limits: HTTPServerLimits) -> [ParserHarness.Outcome] {
        var parser = HTTPRequestParser(limits: limits)
        var result: [ParserHarness.Outcome] = []
        var offset = 0
        for cut in splits + [bytes.count] where cut >= offset {
            parser.append(contentsOf: bytes[offset..<min(cut, bytes.count)])
            offset = min(cut, bytes.count)
            while let event = parser.next() {
                switch event {
                case .request(let p): result.append(.request(method: p.request.method, target: p.request.target,
                                                             body: String(decoding: p.request.body, as: UTF8.self), keepAlive: p.keepAlive))
                case .expectContinue: result.append(.expectContinue)
                case .error(let e): result.append(.error(e.status))
                }
            }
        }
        return result
    }

    func test_parse_mutatedRequestsInRandomSplits_neverCrashAndAgreeWithWholeFeed() {
        let seeds = [
            "POST /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n0\r\nT: 1\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n",
        ]
        var limits = HTTPServerLimits()
        limits.maxRequestLineBytes = 40
        limits.maxHeaderBytes = 80
        limits.maxHeaderCount = 4
        limits.maxBodyBytes = 16
        let alphabet = Array("\r\n :;0123456789abcdefABCDEF-\t\u{0}\u{7f}GETHPOST/".utf8)
        var rng = Rng(state: 0x9E3779B97F4A7C15)
        for _ in 0..<3000 {
            var bytes = Array(seeds[rng.next(seeds.count)].utf8)
            for _ in 0..<(1 + rng.next(4)) {
                let at = rng.next(bytes.count)
                switch rng.next(3) {
                case 0: bytes[at] = alphabet[rng.next(alphabet.count)]
                case 1: bytes.insert(alphabet[rng.next(alphabet.count)], at: at)
                default: bytes.remove(at: at)
                }
            }
            let splits = (0..<rng.next(6)).map { _ in rng.next(bytes.count + 1) }.sorted()
            let whole = outcomes(bytes, splits: [], limits: limits)
            let split = outcomes(bytes, splits: splits, limits: limits)
            XCTAssertEqual(whole, split, String(decoding: bytes, as: UTF8.self).debugDescription)
        }
    }
}
