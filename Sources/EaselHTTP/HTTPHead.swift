/// Parses and validates one complete head (request line + header block, ending with its empty line).
struct HTTPHead {
    var request: HTTPRequest
    var isHTTP10: Bool
    var keepAlive: Bool
    var contentLength = 0
    var chunked = false
    var expectsContinue = false

    typealias Bytes = UnsafeBufferPointer<UInt8>

    static func parse(_ b: Bytes, requestLineLength: Int, limits: HTTPServerLimits) throws -> HTTPHead {
        let (method, target, isHTTP10) = try parseRequestLine(b, end: requestLineLength - 1)
        var headers = HTTPHeaders()
        var framing = Framing()
        var i = requestLineLength
        while true {
            guard let lf = b[i...].firstIndex(of: ByteClass.lf), lf > i, b[lf - 1] == ByteClass.cr else {
                throw HTTPParseError(400, "header line not terminated by CRLF")
            }
            if lf == i + 1 { break }  // the empty line
            if headers.count == limits.maxHeaderCount {
                throw HTTPParseError(431, "more than \(limits.maxHeaderCount) header fields")
            }
            let field = try parseField(b, from: i, to: lf - 1)
            framing.note(field, b)
            headers.fields.append((name: string(b, field.name), value: string(b, field.value)))
            i = lf + 1
        }
        var head = HTTPHead(request: HTTPRequest(method: method, target: target, headers: headers,
                                                 version: isHTTP10 ? "HTTP/1.0" : "HTTP/1.1"),
                            isHTTP10: isHTTP10, keepAlive: true)
        try framing.apply(to: &head, headers: headers)
        return head
    }

    /// method SP request-target SP HTTP-version, exactly.
    private static func parseRequestLine(_ b: Bytes, end: Int) throws -> (String, String, Bool) {
        guard end > 0, b[end - 1] == ByteClass.cr else { throw HTTPParseError(400, "request line not terminated by CRLF") }
        let lineEnd = end - 1
        var i = 0
        while i < lineEnd, ByteClass.token[Int(b[i])] { i += 1 }
        guard i > 0, i < lineEnd, b[i] == ByteClass.sp else { throw HTTPParseError(400, "invalid method") }
        let method = string(b, 0..<i)
        let targetStart = i + 1
        i = targetStart
        while i < lineEnd, ByteClass.target[Int(b[i])] { i += 1 }
        guard i > targetStart, i < lineEnd, b[i] == ByteClass.sp else { throw HTTPParseError(400, "invalid request target") }
        let target = string(b, targetStart..<i)
        let version = Array(b[(i + 1)..<lineEnd])
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), version[6] == UInt8(ascii: "."),
              let major = digit(version[5]), let minor = digit(version[7]) else {
            throw HTTPParseError(400, "invalid HTTP version")
        }
        guard major == 1, minor <= 1 else { throw HTTPParseError(505, "only HTTP/1.0 and HTTP/1.1 are supported") }
        return (method, target, minor == 0)
    }

    /// name ":" OWS value OWS, with name a token and value free of control characters.
    private static func parseField(_ b: Bytes, from: Int, to end: Int) throws -> (name: Range<Int>, value: Range<Int>) {
        if b[from] == ByteClass.sp || b[from] == ByteClass.htab {
            throw HTTPParseError(400, "obsolete line folding is not accepted")
        }
        var i = from
        while i < end, ByteClass.token[Int(b[i])] { i += 1 }
        guard i < end, b[i] == UInt8(ascii: ":") else {
            throw HTTPParseError(400, i < end && (b[i] == ByteClass.sp || b[i] == ByteClass.htab)
                                 ? "whitespace between header name and colon" : "invalid header name")
        }
        guard i > from else { throw HTTPParseError(400, "empty header name") }
        let name = from..<i
        var valueStart = i + 1
        while valueStart < end, b[valueStart] == ByteClass.sp || b[valueStart] == ByteClass.htab { valueStart += 1 }
        var valueEnd = end
        while valueEnd > valueStart, b[valueEnd - 1] == ByteClass.sp || b[valueEnd - 1] == ByteClass.htab { valueEnd -= 1 }
        for j in valueStart..<valueEnd where !ByteClass.fieldValue[Int(b[j])] {
            throw HTTPParseError(400, "invalid character in header value")
        }
        return (name, valueStart..<valueEnd)
    }

    static func string(_ b: Bytes, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b[range]), as: UTF8.self)
    }

    private static func digit(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? Int(c - UInt8(ascii: "0")) : nil
    }
}
