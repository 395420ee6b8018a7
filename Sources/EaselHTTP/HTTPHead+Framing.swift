extension HTTPHead {
    /// The header fields that decide framing and connection handling, gathered while parsing.
    struct Framing {
        var contentLength: Int?
        var contentLengthCount = 0
        var transferEncodings: [String] = []
        var hostCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var expect: String?
        var invalidContentLength = false

        mutating func note(_ field: (name: Range<Int>, value: Range<Int>), _ b: Bytes) {
            let name = UnsafeBufferPointer(rebasing: b[field.name])
            switch name.count {
            case 4 where matches(name, "host"):
                hostCount += 1
            case 6 where matches(name, "expect"):
                expect = HTTPHead.string(b, field.value)
            case 10 where matches(name, "connection"):
                for token in HTTPHead.string(b, field.value).split(separator: ",") {
                    let t = token.trimmingSpaces.lowercased()
                    if t == "close" { connectionClose = true } else if t == "keep-alive" { connectionKeepAlive = true }
                }
            case 14 where matches(name, "content-length"):
                contentLengthCount += 1
                contentLength = Self.parseLength(UnsafeBufferPointer(rebasing: b[field.value]))
                if contentLength == nil { invalidContentLength = true }
            case 17 where matches(name, "transfer-encoding"):
                transferEncodings.append(HTTPHead.string(b, field.value))
            default:
                break
            }
        }

        func apply(to head: inout HTTPHead, headers: HTTPHeaders) throws {
            if !transferEncodings.isEmpty {
                if contentLengthCount > 0 { throw HTTPParseError(400, "both Content-Length and Transfer-Encoding") }
                if head.isHTTP10 { throw HTTPParseError(400, "Transfer-Encoding in an HTTP/1.0 request") }
                let codings = transferEncodings.flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }
                if codings.contains(where: { $0 != "chunked" && !$0.isEmpty }) {
                    throw HTTPParseError(501, "only the chunked transfer coding is supported")
                }
                if codings.filter({ $0 == "chunked" }).count != 1 { throw HTTPParseError(400, "invalid Transfer-Encoding") }
                head.chunked = true
            }
            if invalidContentLength { throw HTTPParseError(400, "invalid Content-Length") }
            if contentLengthCount > 1 { throw HTTPParseError(400, "more than one Content-Length") }
            head.contentLength = contentLength ?? 0
            if hostCount > 1 { throw HTTPParseError(400, "more than one Host") }
            if hostCount == 0 && !head.isHTTP10 { throw HTTPParseError(400, "missing Host header") }
            head.keepAlive = head.isHTTP10 ? connectionKeepAlive && !connectionClose : !connectionClose
            if let expect {
                guard expect.lowercased() == "100-continue" else { throw HTTPParseError(417, "unsupported expectation") }
                head.expectsContinue = !head.isHTTP10 && (head.chunked || head.contentLength > 0)
            }
        }

        /// 1*DIGIT and nothing else (no sign, no inner space, no list), at most 18 digits.
        static func parseLength(_ v: Bytes) -> Int? {
            guard !v.isEmpty, v.count <= 18 else { return nil }
            var n = 0
            for c in v {
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(c - UInt8(ascii: "0"))
            }
            return n
        }

        private func matches(_ name: Bytes, _ lower: StaticString) -> Bool {
            let l = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
            for (c, d) in zip(name, l) where c.asciiLowercased != d { return false }
            return true
        }
    }
}
