import Foundation
import Glibc
import Synchronization

/// The IMF-fixdate for the `Date` header, formatted at most once per second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, bytes: [UInt8])>((0, []))

    /// e.g. "Sun, 06 Nov 1994 08:49:37 GMT" as bytes.
    static func current() -> [UInt8] {
        let now = time(nil)
        return cache.withLock { c in
            if Int(now) != c.second || c.bytes.isEmpty {
                c = (Int(now), format(now))
            }
            return c.bytes
        }
    }

    static func format(_ t: time_t) -> [UInt8] {
        var t = t
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let text = "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        return Array(text.utf8)
    }
}
