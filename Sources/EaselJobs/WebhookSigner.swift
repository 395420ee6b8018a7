import Crypto
import Foundation

/// Standard Webhooks v1 signatures: `v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>`, where the key is the
/// base64-decoded part of a `whsec_` secret.
public struct WebhookSigner: Sendable {
    private let key: Data

    public enum SecretError: Error, Equatable {
        case missingPrefix, notBase64, badLength(Int)
    }

    /// Accepts `whsec_` + base64 of 24 to 64 bytes.
    public init(secret: String) throws {
        guard secret.hasPrefix("whsec_") else { throw SecretError.missingPrefix }
        guard let bytes = Data(base64Encoded: String(secret.dropFirst(6))) else { throw SecretError.notBase64 }
        guard (24...64).contains(bytes.count) else { throw SecretError.badLength(bytes.count) }
        key = bytes
    }

    public func signature(id: String, timestamp: Int, body: Data) -> String {
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }
}
