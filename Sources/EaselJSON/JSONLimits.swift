/// What a reader accepts. Every JSON text Easel reads comes from outside (a client, a config, a downloaded
/// checkpoint), so each reader states its bounds instead of inheriting a library's.
public struct JSONLimits: Sendable {
    public enum DuplicateKeys: Sendable {
        /// A repeated key is an error: request bodies, configs and safetensors headers, where a silently dropped
        /// member would hide a tensor or a setting.
        case reject
        /// Kept in order; lookups take the last (tokenizer files, which the `tokenizers` library reads that way).
        case lastWins
    }

    /// Largest document in bytes.
    public var maxBytes: Int
    /// Deepest nesting of arrays and objects.
    public var maxDepth: Int
    public var duplicateKeys: DuplicateKeys

    public init(maxBytes: Int, maxDepth: Int, duplicateKeys: DuplicateKeys = .reject) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.duplicateKeys = duplicateKeys
    }

    /// Request bodies, stored job input, the server config and component configs: 64 levels, duplicates refused.
    /// (HTTP bodies are bounded before they reach the parser, by the server's own body limit.)
    public static let strict = JSONLimits(maxBytes: 64 << 20, maxDepth: 64)
    /// safetensors headers (the format caps them at 100 MB) and shard indexes.
    public static let safetensorsHeader = JSONLimits(maxBytes: 100_000_000, maxDepth: 64)
    /// tokenizer.json, vocab.json and tokenizer_config.json: large vocabularies, serde's duplicate rule.
    public static let tokenizer = JSONLimits(maxBytes: 1 << 30, maxDepth: 512, duplicateKeys: .lastWins)
}
