import Crypto
import EaselHTTP
import Foundation

/// Checks `Authorization: Bearer <key>` (or `Key <key>`) against the configured API keys. Keys are compared as
/// SHA-256 digests, byte by byte without early exit, against every configured key, so timing does not reveal how
/// much of a key matched or which one.
public struct APIKeyAuthenticator: Sendable {
    private let digests: [[UInt8]]

    public init(keys: [String]) { digests = keys.map { Array(SHA256.hash(data: Data($0.utf8))) } }

    public var isEnabled: Bool { !digests.isEmpty }

    public func isAuthorized(_ headers: HTTPHeaders) -> Bool {
        guard isEnabled else { return true }
        guard let value = headers["Authorization"] else { return false }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, ["bearer", "key"].contains(parts[0].lowercased()) else { return false }
        let presented = Array(SHA256.hash(data: Data(parts[1].trimmingCharacters(in: .whitespaces).utf8)))
        var matched = false
        for digest in digests {
            var diff: UInt8 = 0
            for i in 0..<digest.count { diff |= digest[i] ^ presented[i] }
            matched = matched || diff == 0
        }
        return matched
    }
}
