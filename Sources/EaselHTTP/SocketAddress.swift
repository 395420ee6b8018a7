import Glibc

/// Listening-socket setup and address formatting over POSIX calls.
enum SocketAddress {
    /// A non-blocking listening socket bound to an IPv4 or IPv6 literal ("localhost" means 127.0.0.1),
    /// with SO_REUSEADDR. Returns the descriptor and the bound port.
    static func listen(host: String, port: Int, backlog: Int32 = 4096) throws -> (fd: Int32, port: Int) {
        var host = host
        if host == "localhost" { host = "127.0.0.1" }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard (0...65535).contains(port) else { throw HTTPServerError.invalidAddress("port \(port)") }
        var v4 = in_addr()
        var v6 = in6_addr()
        let family: Int32
        if inet_pton(AF_INET, host, &v4) == 1 { family = AF_INET } else if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
        } else {
            throw HTTPServerError.invalidAddress(host)
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HTTPServerError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if family == AF_INET {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = UInt16(port).bigEndian
            sa.sin_addr = v4
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        } else {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = UInt16(port).bigEndian
            sa.sin6_addr = v6
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.system("bind \(host):\(port)", e)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let e = errno
            close(fd)
            throw HTTPServerError.system("listen", e)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            getsockname(fd, $0, &length) } }
        return (fd, boundPort(storage))
    }

    static func boundPort(_ storage: sockaddr_storage) -> Int {
        var storage = storage
        let isV6 = Int32(storage.ss_family) == AF_INET6
        return withUnsafePointer(to: &storage) { p in
            if isV6 {
                return Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }))
            }
            return Int(UInt16(bigEndian: p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }))
        }
    }

    /// "1.2.3.4:port" or "[::1]:port".
    static func describe(_ storage: sockaddr_storage) -> String {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let isV6 = Int32(storage.ss_family) == AF_INET6
        withUnsafePointer(to: &storage) { p in
            if isV6 {
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sa in
                    var addr = sa.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                }
            } else {
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sa in
                    var addr = sa.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                }
            }
        }
        let ip = String(cString: text)
        let port = boundPort(storage)
        return isV6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
