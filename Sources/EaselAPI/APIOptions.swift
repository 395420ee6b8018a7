import Foundation

/// What the routes need from the configuration.
public struct APIOptions: Sendable {
    public var apiKeys: [String] = []
    public var maxBodyBytes = 16 * 1024 * 1024
    /// `server.public_url` without a trailing slash, or "" for relative image URLs.
    public var imageURLBase = ""
    public var allowPrivateNetworks = false
    /// SSE comment interval.
    public var keepaliveInterval: TimeInterval = 15
    /// Longest `Prefer: wait=N`.
    public var maxWaitSeconds = 60
    /// Seconds suggested in `Retry-After` when the queue is full.
    public var queueFullRetryAfter = 5
    /// Where request images are kept (nil: image inputs refused) and the LoRA folder (nil: LoRAs refused).
    public var inputs: InputStore?
    public var loras: LoRALibrary?
    /// `uploads.max_bytes`: the largest file (PNG, JPEG or WebP) `POST /v1/uploads` takes; how long an upload is kept unused (`queue.retention_hours`).
    public var maxUploadBytes = 16 * 1024 * 1024
    public var uploadRetention: TimeInterval = 24 * 3600
    /// Latest previews of running jobs, shared with the executors.
    public var previews = PreviewHub()

    public init() {}

    public init(config: ServerConfig) {
        apiKeys = config.apiKeys
        maxBodyBytes = config.maxBodyBytes
        imageURLBase = config.imageURLBase
        allowPrivateNetworks = config.allowPrivateNetworks
        inputs = InputStore(dataDir: config.dataDir)
        maxUploadBytes = config.maxUploadBytes
        uploadRetention = config.retentionHours * 3600
        loras = config.loraLibrary()
    }
}
