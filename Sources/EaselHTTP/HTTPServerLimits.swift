import Foundation
import Glibc

/// Limits and timeouts the server enforces per connection. Every field has a documented default;
/// change the ones you need on a `var limits = HTTPServerLimits()`.
public struct HTTPServerLimits: Sendable {
    /// Longest request line ("GET /path HTTP/1.1", without CRLF). Longer → 414. Default 8 KiB.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Longest header block after the request line (also bounds chunked trailers). Larger → 431. Default 32 KiB.
    public var maxHeaderBytes: Int = 32 * 1024
    /// Most header fields in one request. More → 431. Default 100.
    public var maxHeaderCount: Int = 100
    /// Largest request body (Content-Length or sum of chunks). Larger → 413. Default 16 MiB.
    public var maxBodyBytes: Int = 16 * 1024 * 1024
    /// How long a keep-alive connection may sit between requests, or a write may stall, before it is closed. Default 60 s.
    public var idleTimeout: TimeInterval = 60
    /// How long a client has to deliver a complete header block, counted from its first byte
    /// (or from accept, for a new connection). Default 10 s.
    public var headerTimeout: TimeInterval = 10
    /// How long a client has to deliver a whole request, head and body, counted from its first byte (or from accept).
    /// Later → 408 and the connection closes. Default 60 s.
    public var requestTimeout: TimeInterval = 60
    /// Slowest average rate, in bytes per second, at which a request may arrive once it has taken longer than
    /// `minRequestRateGrace`; slower → 408 and the connection closes. 0 turns the check off. Default 1024.
    public var minRequestBytesPerSecond: Int = 1024
    /// How long a request may take before the minimum rate applies (small requests never reach it). Default 5 s.
    public var minRequestRateGrace: TimeInterval = 5
    /// Open connections at most, all event loops together. One more is answered 503 and closed at once, so slow or
    /// idle clients cannot use up the process's descriptors. Default: the descriptor limit (RLIMIT_NOFILE) minus 256
    /// for the store, the models and the images, at least 64 and at most 16384.
    public var maxConnections: Int = HTTPServerLimits.defaultMaxConnections
    /// Most unsent bytes a streaming response may queue; a slower reader gets its connection dropped
    /// and `HTTPStreamWriter.write` returns false. Default 1 MiB.
    public var maxStreamBufferBytes: Int = 1024 * 1024
    /// How long `stop(graceful: true)` waits for in-flight requests before closing them. Default 30 s.
    public var gracefulStopTimeout: TimeInterval = 30
    /// Number of epoll event-loop threads. Default: half the CPUs this process may run on (its affinity mask, so a
    /// cpuset or `taskset` counts), at least 1 and at most 4. The loops only parse and write; the rest of the cores go
    /// to the handlers, the engine and SQLite, and a loop that shares its core with no other loop is not preempted in
    /// the middle of a batch of ready connections (on 2 cores under wrk, 1 loop gave p99 3–4 ms against 5–6 ms for 2).
    public var eventLoopCount: Int = max(1, min(4, HTTPServerLimits.usableCPUs / 2))

    /// `maxConnections`' default, from this process's soft descriptor limit.
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let soft = min(UInt64(limit.rlim_cur), 1 << 20)  // RLIM_INFINITY is the largest value
        return Int(max(64, min(16384, Int64(soft) - 256)))
    }

    /// CPUs in this process's affinity mask (`Cpus_allowed` in /proc/self/status), else the online count.
    public static var usableCPUs: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
            let n = line.dropFirst("Cpus_allowed:".count).reduce(0) { count, c in
                count + (c.hexDigitValue?.nonzeroBitCount ?? 0)
            }
            if n > 0 { return n }
        }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public init() {}
}
