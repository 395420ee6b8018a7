import Foundation

extension HTTPRequestParser {
    /// Longest chunk-size line we accept (size, extensions and CRLF).
    static let maxChunkLineBytes = 4096

    /// Advances through a chunked body: size line, data, CRLF, …, zero chunk, trailers (skipped), empty line.
    mutating func chunked() -> Result<HTTPParseEvent?, HTTPParseError> {
        while true {
            switch state {
            case .chunkSize:
                guard let lf = findLineEnd(limit: Self.maxChunkLineBytes) else {
                    if buffer.count - start > Self.maxChunkLineBytes { return .failure(HTTPParseError(400, "chunk size line too long")) }
                    return .success(nil)
                }
                guard let size = parseChunkSize(start..<lf) else { return .failure(HTTPParseError(400, "invalid chunk size line")) }
                if size > limits.maxBodyBytes - chunkedBody.count {
                    return .failure(HTTPParseError(413, "request body larger than \(limits.maxBodyBytes) bytes"))
                }
                start = lf + 1
                state = size == 0 ? .trailers : .chunkData(size)
            case .chunkData(let remaining):
                let available = min(remaining, buffer.count - start)
                if available == 0 { return .success(nil) }
                chunkedBody.append(contentsOf: buffer[start..<start + available])
                start += available
                state = remaining == available ? .chunkDataEnd : .chunkData(remaining - available)
            case .chunkDataEnd:
                if buffer.count - start >= 1 && buffer[start] != ByteClass.cr
                    || buffer.count - start >= 2 && buffer[start + 1] != ByteClass.lf {
                    return .failure(HTTPParseError(400, "chunk data not followed by CRLF"))
                }
                if buffer.count - start < 2 { return .success(nil) }
                start += 2
                state = .chunkSize
            case .trailers:
                guard let lf = findLineEnd(limit: limits.maxHeaderBytes - trailerBytes) else {
                    if buffer.count - start > limits.maxHeaderBytes - trailerBytes {
                        return .failure(HTTPParseError(431, "trailer fields too large"))
                    }
                    return .success(nil)
                }
                guard lf > start, buffer[lf - 1] == ByteClass.cr else { return .failure(HTTPParseError(400, "trailer line not terminated by CRLF")) }
                let isEnd = lf == start + 1
                trailerBytes += lf + 1 - start
                start = lf + 1
                if isEnd {
                    guard var parsed = pending else { return .failure(HTTPParseError(500, "parser state")) }
                    parsed.request.body = Data(chunkedBody)
                    chunkedBody = []
                    pending = nil
                    state = .head
                    scan = start
                    return .success(.request(parsed))
                }
            default:
                return .success(nil)
            }
            scan = start
        }
    }

    /// Index of the next LF at or after `start`, scanning at most `limit` bytes and remembering progress in `scan`.
    private mutating func findLineEnd(limit: Int) -> Int? {
        if scan < start { scan = start }
        let end = min(buffer.count, start + max(limit, 0) + 1)
        while scan < end {
            if buffer[scan] == ByteClass.lf { return scan }
            scan += 1
        }
        return nil
    }

    /// chunk-size [ BWS ";" chunk-ext ] CRLF, with chunk-size 1*HEXDIG (at most 15 digits).
    private func parseChunkSize(_ line: Range<Int>) -> Int? {
        guard line.count >= 2, buffer[line.upperBound - 1] == ByteClass.cr else { return nil }
        let end = line.upperBound - 1
        var i = line.lowerBound
        var size = 0
        while i < end, let digit = TargetDecoding.hexValue(buffer[i]) {
            size = size << 4 | Int(digit)
            i += 1
        }
        let digits = i - line.lowerBound
        guard digits > 0, digits <= 15 else { return nil }
        while i < end, buffer[i] == ByteClass.sp || buffer[i] == ByteClass.htab { i += 1 }
        if i == end { return size }
        guard buffer[i] == UInt8(ascii: ";") else { return nil }
        for j in i..<end where !ByteClass.fieldValue[Int(buffer[j])] { return nil }
        return size
    }
}
