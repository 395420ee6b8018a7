import Foundation
import Synchronization

/// ULID-shaped ids: 48-bit Unix milliseconds then 80 random bits, in Crockford base32 (26 characters), so ids sort by
/// creation time. Within one millisecond the random part is incremented, keeping ids from one process strictly ordered.
public final class JobIDGenerator: Sendable {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    private let last = Mutex<(ms: UInt64, random: (hi: UInt16, lo: UInt64))>((0, (0, 0)))

    public static let shared = JobIDGenerator()

    public init() {}

    /// `prefix` + 26 characters, e.g. "job_01JDY5…".
    public func next(prefix: String, now: Date = Date()) -> String {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (stamp, random): (UInt64, (hi: UInt16, lo: UInt64)) = last.withLock { last in
            var random: (hi: UInt16, lo: UInt64)
            if ms <= last.ms {
                random = last.random
                random.lo &+= 1
                if random.lo == 0 { random.hi &+= 1 }
            } else {
                var g = SystemRandomNumberGenerator()
                random = (g.next(), g.next())
                last.ms = ms
            }
            last.random = random
            return (max(ms, last.ms), random)
        }

        // 128 bits: 48 time | 16 random-hi | 64 random-lo, written 5 bits at a time from the top (2 pad bits first).
        let hi = (stamp << 16) | UInt64(random.hi)
        let lo = random.lo
        var chars = [UInt8](repeating: 0, count: 26)
        for i in 0..<26 {
            let shift = 125 - 5 * i  // bit offset of this digit's low bit within the 130-bit number
            let value: UInt64
            if shift >= 64 {
                value = hi >> UInt64(shift - 64)
            } else if shift > 59 {
                value = (hi << UInt64(64 - shift)) | (lo >> UInt64(shift))
            } else {
                value = lo >> UInt64(shift)
            }
            chars[i] = Self.alphabet[Int(value & 31)]
        }
        return prefix + String(decoding: chars, as: UTF8.self)
    }
}
