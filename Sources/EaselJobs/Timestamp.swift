import Foundation

/// RFC 3339 UTC with milliseconds (`2026-11-26T14:46:13.123Z`), and the integer milliseconds the store keeps.
public enum Timestamp {
    /// Nearest millisecond, so a stored value read back as a Date converts to the same number.
    public static func milliseconds(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded()) }

    public static func date(milliseconds ms: Int) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    public static func rfc3339(_ date: Date) -> String { rfc3339(milliseconds: milliseconds(date)) }

    public static func rfc3339(milliseconds ms: Int) -> String {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let millis = ms - Int(seconds) * 1000
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
