import Foundation
import Glibc

/// Accepts webhook POSTs on 127.0.0.1 (one connection at a time), records them and answers 200.
final class WebhookReceiver: @unchecked Sendable {
    struct Delivery {
        var headers: [String: String]
        var body: Data
    }

    let port: Int
    private let fd: Int32
    private let lock = NSLock()
    private var received: [Delivery] = []

    var deliveries: [Delivery] { lock.withLock { received } }
    var url: String { "http://127.0.0.1:\(port)/hook" }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0, listen(fd, 16) == 0 else { throw LoopbackClient.Failure(description: "bind") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: sa.sin_port))
        Thread { [self] in serve() }.start()
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var data = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 65536)
            var headers: [String: String] = [:]
            var bodyStart = -1
            while true {
                let n = recv(client, &chunk, chunk.count, 0)
                if n <= 0 { break }
                data += chunk[0..<n]
                if bodyStart < 0, let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                    bodyStart = end.upperBound
                    for line in String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n").dropFirst() {
                        guard let c = line.firstIndex(of: ":") else { continue }
                        headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
                    }
                }
                if bodyStart >= 0, data.count - bodyStart >= Int(headers["content-length"] ?? "0") ?? 0 { break }
            }
            if bodyStart >= 0 {
                lock.withLock { received.append(Delivery(headers: headers, body: Data(data[bodyStart...]))) }
            }
            let reply = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = send(client, reply, reply.count, Int32(MSG_NOSIGNAL))
            Glibc.close(client)
        }
    }
}
