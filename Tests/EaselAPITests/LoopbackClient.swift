import Foundation
import Glibc

/// A blocking HTTP/1.1 client for 127.0.0.1: one connection per request (`Connection: close`), read to EOF, with a
/// receive timeout so a test never hangs.
enum LoopbackClient {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func request(port: Int, _ method: String, _ path: String, headers: [(String, String)] = [],
                        body: Data = Data(), timeout: Double = 30) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure(description: "connect to \(port): errno \(errno)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (n, v) in headers { head += "\(n): \(v)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8) + Array(body)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may answer (413) before reading everything
            sent += n
        }
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        guard let end = data.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw Failure(description: "no response head (\(data.count) bytes)")
        }
        let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "bad status line") }
        var h = [(String, String)]()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            h.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var rest = Array(data[end.upperBound...])
        if h.contains(where: { $0.0.lowercased() == "transfer-encoding" }) { rest = dechunk(rest) }
        return Answer(status: status, headers: .init(h), body: Data(rest))
    }

    static func json(port: Int, _ method: String, _ path: String, _ body: String? = nil,
                     headers: [(String, String)] = []) throws -> Answer {
        var h = headers
        if body != nil { h.append(("Content-Type", "application/json")) }
        return try request(port: port, method, path, headers: h, body: Data((body ?? "").utf8))
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var i = 0
        while let lineEnd = bytes[i...].firstRange(of: [13, 10]) {
            let size = Int(String(decoding: bytes[i..<lineEnd.lowerBound], as: UTF8.self)
                .split(separator: ";")[0], radix: 16) ?? 0
            if size == 0 { break }
            out += bytes[lineEnd.upperBound..<min(bytes.count, lineEnd.upperBound + size)]
            i = lineEnd.upperBound + size + 2
            if i >= bytes.count { break }
        }
        return out
    }
}
