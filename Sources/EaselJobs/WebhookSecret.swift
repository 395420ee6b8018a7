import Foundation

/// The signing secret: the configured one, or `<dataDir>/webhook_secret` (0600), generated on first start as
/// `whsec_` + base64 of 32 random bytes.
public enum WebhookSecret {
    public static let fileName = "webhook_secret"

    /// The secret to sign with, and whether it was just generated (the CLI prints it once then).
    public static func loadOrCreate(dataDir: URL, configured: String?) throws -> (secret: String, created: Bool) {
        if let configured, !configured.isEmpty {
            _ = try WebhookSigner(secret: configured)
            return (configured, false)
        }
        let file = dataDir.appendingPathComponent(fileName)
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try WebhookSigner(secret: secret)
            return (secret, false)
        }
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()  // getrandom(2): suitable for keys
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let secret = "whsec_" + Data(bytes).base64EncodedString()
        // O_EXCL: two processes starting at once must not each write (and print) a different secret.
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return try loadOrCreate(dataDir: dataDir, configured: nil) }
            throw POSIXError(errno)
        }
        defer { close(fd) }
        let line = Array((secret + "\n").utf8)
        guard Foundation.write(fd, line, line.count) == line.count, fsync(fd) == 0 else { throw POSIXError(errno) }
        return (secret, true)
    }
}
