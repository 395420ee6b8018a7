import Foundation

/// Incremental HTTP/1.1 request parser over bytes. Feed with `append`, then call `next()` until it
/// returns nil (needs more bytes). Requests come out in order, so pipelining is just more bytes.
/// After an `.error` it produces nothing more: the connection answers and closes.
struct HTTPRequestParser {
    enum State: Equatable {
        case head, fixedBody(Int), chunkSize, chunkData(Int), chunkDataEnd, trailers, failed
    }

    let limits: HTTPServerLimits
    private(set) var buffer: [UInt8] = []
    /// First unconsumed byte.
    var start = 0
    /// Where to resume looking for a line end (avoids rescanning when bytes trickle in).
    var scan = 0
    /// End (LF index) of the request line, once seen.
    var requestLineEnd: Int?
    var state = State.head
    /// Head of the request whose body is being read.
    var pending: ParsedRequest?
    var chunkedBody: [UInt8] = []
    var trailerBytes = 0

    init(limits: HTTPServerLimits) { self.limits = limits }

    /// Bytes received but not yet consumed by a complete request.
    var bufferedCount: Int { buffer.count - start }
    /// True between the first byte of a request and its completion.
    var isMidRequest: Bool { state != .head || start < buffer.count }
    var hasFailed: Bool { state == .failed }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    mutating func append<S: Sequence>(contentsOf bytes: S) where S.Element == UInt8 {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Drops consumed bytes, cheaply: all at once when everything was consumed, else when it is most of the buffer.
    private mutating func compact() {
        guard start > 0 else { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
        } else if start >= 4096 && start * 2 >= buffer.count {
            buffer.removeSubrange(0..<start)
        } else {
            return
        }
        scan -= start
        if let end = requestLineEnd { requestLineEnd = end - start }
        start = 0
    }

    mutating func next() -> HTTPParseEvent? {
        let result: Result<HTTPParseEvent?, HTTPParseError>
        switch state {
        case .failed: return nil
        case .head: result = parseHead()
        case .fixedBody(let length): result = .success(fixedBody(length))
        case .chunkSize, .chunkData, .chunkDataEnd, .trailers: result = chunked()
        }
        switch result {
        case .success(let event): return event
        case .failure(let error):
            state = .failed
            pending = nil
            chunkedBody = []
            return .error(error)
        }
    }

    private mutating func parseHead() -> Result<HTTPParseEvent?, HTTPParseError> {
        // RFC 9112 §2.2: ignore empty lines before the request line.
        while requestLineEnd == nil, buffer.count - start >= 2, buffer[start] == ByteClass.cr, buffer[start + 1] == ByteClass.lf {
            start += 2
        }
        if scan < start { scan = start }
        let count = buffer.count
        var headEnd: Int?
        buffer.withUnsafeBufferPointer { b in
            var i = scan
            while i < count {
                if b[i] == ByteClass.lf {
                    guard let lineEnd = requestLineEnd else {
                        requestLineEnd = i
                        i += 1
                        continue
                    }
                    // An empty line ends the head: "\n\r\n", or "\n\n" (bare LF, refused by the head parser).
                    if (i - 2 >= lineEnd && b[i - 1] == ByteClass.cr && b[i - 2] == ByteClass.lf) || b[i - 1] == ByteClass.lf {
                        headEnd = i + 1
                        break
                    }
                }
                i += 1
            }
            scan = i
        }
        guard let lineEnd = requestLineEnd else {
            if count - start > limits.maxRequestLineBytes + 1 { return .failure(HTTPParseError(414, "request line too long")) }
            return .success(nil)
        }
        if lineEnd - start > limits.maxRequestLineBytes + 1 { return .failure(HTTPParseError(414, "request line too long")) }
        guard let end = headEnd else {
            if count - lineEnd - 1 > limits.maxHeaderBytes + 2 { return .failure(HTTPParseError(431, "header fields too large")) }
            return .success(nil)
        }
        if end - lineEnd - 1 > limits.maxHeaderBytes + 2 { return .failure(HTTPParseError(431, "header fields too large")) }

        let head: HTTPHead
        do {
            head = try buffer.withUnsafeBufferPointer { b in
                try HTTPHead.parse(UnsafeBufferPointer(rebasing: b[start..<end]), requestLineLength: lineEnd + 1 - start, limits: limits)
            }
        } catch let error as HTTPParseError {
            return .failure(error)
        } catch {
            return .failure(HTTPParseError(400, "\(error)"))
        }
        start = end
        scan = end
        requestLineEnd = nil

        let parsed = ParsedRequest(request: head.request, keepAlive: head.keepAlive, isHTTP10: head.isHTTP10)
        if head.chunked {
            state = .chunkSize
            chunkedBody = []
            trailerBytes = 0
        } else if head.contentLength > limits.maxBodyBytes {
            return .failure(HTTPParseError(413, "request body larger than \(limits.maxBodyBytes) bytes"))
        } else if head.contentLength > 0 {
            state = .fixedBody(head.contentLength)
        } else {
            return .success(.request(parsed))
        }
        pending = parsed
        return .success(head.expectsContinue ? .expectContinue : next())
    }

    private mutating func fixedBody(_ length: Int) -> HTTPParseEvent? {
        guard buffer.count - start >= length, var parsed = pending else { return nil }
        parsed.request.body = Data(buffer[start..<start + length])
        start += length
        scan = start
        pending = nil
        state = .head
        return .request(parsed)
    }
}
