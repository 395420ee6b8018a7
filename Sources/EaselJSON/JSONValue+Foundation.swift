import Foundation

extension JSONValue {
    /// Compact JSON text as `Data` (what HTTP bodies and SQLite blobs hold).
    public var data: Data { Data(bytes) }

    public static func parse(_ data: Data, limits: JSONLimits = .strict) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0, limits: limits) }
    }
}
