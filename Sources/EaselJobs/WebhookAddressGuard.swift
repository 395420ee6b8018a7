import Foundation

/// A webhook URL checked for delivery: the address to connect to was resolved and allowed; the sender connects only
/// to it (the URL's host still goes in the Host header and TLS name check).
public struct WebhookTarget: Sendable, Equatable {
    public var url: String
    public var host: String
    public var port: Int
    /// Numeric address, checked.
    public var address: String
    public var isIPv6: Bool
}

public enum WebhookURLError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case unresolvable(String)
    case forbiddenAddress(String)

    public var description: String {
        switch self {
        case .invalid(let m): return m
        case .unresolvable(let host): return "cannot resolve \(host)"
        case .forbiddenAddress(let a): return "address \(a) is not allowed (private, loopback, link-local or similar)"
        }
    }
}

/// The SSRF guard: a webhook URL must be absolute http(s) and its host must resolve only to public addresses unless
/// private networks are allowed. Used at submission (the API answers 400 on `webhook_url`) and again at delivery.
public enum WebhookAddressGuard {
    public static func check(_ urlString: String, allowPrivateNetworks: Bool) throws -> WebhookTarget {
        guard urlString.utf8.count <= 2048 else { throw WebhookURLError.invalid("webhook_url is longer than 2048 characters") }
        guard let components = URLComponents(string: urlString), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https" else {
            throw WebhookURLError.invalid("webhook_url must be an absolute http or https URL")
        }
        guard var host = components.host, !host.isEmpty else { throw WebhookURLError.invalid("webhook_url has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let port = components.port, !(1...65535).contains(port) { throw WebhookURLError.invalid("bad port") }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let addresses = try resolve(host)
        guard let first = addresses.first else { throw WebhookURLError.unresolvable(host) }
        if !allowPrivateNetworks {
            // Every address must pass: a name that also resolves to a private address is refused outright.
            if let bad = addresses.first(where: { isForbidden($0) }) {
                throw WebhookURLError.forbiddenAddress(format(bad))
            }
        }
        return WebhookTarget(url: urlString, host: host, port: port, address: format(first), isIPv6: first.count == 16)
    }

    /// True for loopback, private, link-local, unspecified, multicast, CGNAT and reserved addresses, including IPv4
    /// ones embedded in IPv6 (mapped, compatible, NAT64, 6to4). `bytes` is 4 or 16 bytes in network order.
    public static func isForbidden(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 { return isForbiddenV4(bytes) }
        guard bytes.count == 16 else { return true }
        let b = bytes
        if b.allSatisfy({ $0 == 0 }) { return true }                               // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }       // ::1
        if b[0] & 0xFE == 0xFC { return true }                                    // fc00::/7 unique local
        if b[0] == 0xFE && b[1] & 0xC0 == 0x80 { return true }                    // fe80::/10 link-local
        if b[0] == 0xFE && b[1] & 0xC0 == 0xC0 { return true }                    // fec0::/10 old site-local
        if b[0] == 0xFF { return true }                                           // ff00::/8 multicast
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {  // ::ffff:a.b.c.d mapped
            return isForbiddenV4(Array(b[12..<16]))
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) { return isForbiddenV4(Array(b[12..<16])) }  // ::a.b.c.d compatible
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..<12].allSatisfy({ $0 == 0 }) {
            return isForbiddenV4(Array(b[12..<16]))                               // 64:ff9b::/96 NAT64
        }
        if b[0] == 0x20 && b[1] == 0x02 { return isForbiddenV4(Array(b[2..<6])) } // 2002::/16 6to4
        return false
    }

    static func isForbiddenV4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1]) {
        case (0, _): return true                           // 0.0.0.0/8 unspecified / "this network"
        case (10, _): return true                          // 10/8
        case (127, _): return true                         // loopback
        case (169, 254): return true                       // link-local (cloud metadata lives here)
        case (172, 16...31): return true                   // 172.16/12
        case (192, 168): return true                       // 192.168/16
        case (100, 64...127): return true                  // 100.64/10 CGNAT
        case (192, 0) where b[2] == 0: return true         // 192.0.0/24 IETF protocol assignments
        case (198, 18...19): return true                   // 198.18/15 benchmarking
        case (224...255, _): return true                   // multicast 224/4, reserved 240/4, broadcast
        default: return false
        }
    }

    /// Parses a numeric IPv4 or IPv6 address; nil for anything else.
    public static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func format(_ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(out.count)) }
        return String(cString: out)
    }

    /// getaddrinfo, numeric results only, order kept, duplicates dropped.
    static func resolve(_ host: String) throws -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let list else { throw WebhookURLError.unresolvable(host) }
        defer { freeaddrinfo(list) }
        var result: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let info = cursor {
            if let sa = info.pointee.ai_addr {
                var bytes: [UInt8]?
                if info.pointee.ai_family == AF_INET {
                    bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                        var a = p.pointee.sin_addr
                        return withUnsafeBytes(of: &a) { Array($0) }
                    }
                } else if info.pointee.ai_family == AF_INET6 {
                    bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        var a = p.pointee.sin6_addr
                        return withUnsafeBytes(of: &a) { Array($0) }
                    }
                }
                if let bytes, !result.contains(bytes) { result.append(bytes) }
            }
            cursor = info.pointee.ai_next
        }
        return result
    }
}
