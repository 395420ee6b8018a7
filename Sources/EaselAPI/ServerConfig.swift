import EaselJSON
import Foundation

/// The daemon's configuration (docs/API.md "Configuration"): the file, then `EASEL_*` environment variables, then
/// command-line flags, each overriding the one before. Relative paths resolve against the config file's folder.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDir: URL
    /// Without a trailing slash; nil for relative image URLs.
    public var publicURL: String?
    public var maxBodyBytes = 16 * 1024 * 1024
    /// `server.max_connections`: nil for HTTPServerLimits' default (the descriptor limit minus 256, ≤ 16384).
    public var maxConnections: Int?
    public var requestTimeoutSeconds: Double = 60
    public var minRequestBytesPerSecond = 1024
    public var apiKeys: [String] = []
    public var maxQueued = 1000
    public var maxAttempts = 3
    public var retentionHours: Double = 24
    public var webhookSecret: String?
    public var retryScheduleSeconds: [Double] = [5, 30, 120, 600, 1800, 3600, 10800]
    public var webhookTimeoutSeconds: Double = 15
    public var allowPrivateNetworks = false
    public var models: [ModelConfig] = []
    /// `loras.dir`: the folder requests pick LoRA files from (nil: LoRAs refused); `loras.cache_mb`: parsed LoRAs kept.
    public var loraDir: URL?
    public var loraCacheMB = 512
    /// `loras.allow_urls`, `max_download_mb`, `disk_cache_mb`, `allow_http`: LoRAs named by URL.
    public var loraAllowURLs = true
    public var loraMaxDownloadMB = 512
    public var loraDiskCacheMB = 4096
    public var loraAllowHTTP = false
    /// `uploads.max_bytes`: the largest file (PNG, JPEG or WebP) `POST /v1/uploads` takes.
    public var maxUploadBytes = 16 * 1024 * 1024
    /// `memory.budget_mb`: the most MiB of model weights resident at once (nil: no limit, nothing is evicted).
    public var modelMemoryBudgetMB: Int?
    /// `memory.min_turn_s`: how many seconds a busy model's usage must exceed a waiting model's before it yields to
    /// it (nil: as long as its own load took, and at least 1 s).
    public var modelMinTurnSeconds: Double?
    /// `memory.usage_half_life_s`: usage (seconds of memory held while busy) halves every this many seconds.
    public var modelUsageHalfLifeSeconds = ModelMemory.defaultUsageHalfLife

    public init(dataDir: URL, models: [ModelConfig] = []) {
        self.dataDir = dataDir
        self.models = models
    }

    /// Flags given on the command line (`--host`, `--port`, `--data-dir`).
    public struct Overrides: Sendable {
        public var host: String?
        public var port: Int?
        public var dataDir: String?
        public init(host: String? = nil, port: Int? = nil, dataDir: String? = nil) {
            self.host = host
            self.port = port
            self.dataDir = dataDir
        }
    }

    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Reads `file`, applies `environment` and `overrides`, and checks the result.
    public static func load(file: URL, environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: Overrides = Overrides()) throws -> ServerConfig {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw Error("cannot read config \(file.path): \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw Error("\(file.path): invalid JSON: \(error)") }
        return try parse(json, baseDirectory: file.deletingLastPathComponent(), environment: environment,
                         overrides: overrides, source: file.path)
    }

    public static func parse(_ json: JSONValue, baseDirectory: URL, environment: [String: String] = [:],
                             overrides: Overrides = Overrides(), source: String = "config") throws -> ServerConfig {
        let reader = ConfigReader(source: source, base: baseDirectory)
        let root = try reader.object(json, "", allowed: ["server", "auth", "queue", "webhooks", "loras", "uploads", "memory",
                                                            "models"])
        var c = ServerConfig(dataDir: reader.resolve("data"))

        if let server = try root["server"].map({ try reader.object($0, "server", allowed: [
            "host", "port", "data_dir", "public_url", "max_body_bytes", "max_connections", "request_timeout_s",
            "min_request_bytes_per_s"]) }) {
            if let v = server["host"] { c.host = try reader.string(v, "server.host") }
            if let v = server["port"] { c.port = try reader.int(v, "server.port", 0...65535) }
            if let v = server["data_dir"] { c.dataDir = reader.resolve(try reader.string(v, "server.data_dir")) }
            if let v = server["public_url"], v != .null {
                c.publicURL = try reader.string(v, "server.public_url")
            }
            if let v = server["max_body_bytes"] {
                c.maxBodyBytes = try reader.int(v, "server.max_body_bytes", 1024...(1 << 30))
            }
            if let v = server["max_connections"], v != .null {
                c.maxConnections = try reader.int(v, "server.max_connections", 1...1_000_000)
            }
            if let v = server["request_timeout_s"] {
                c.requestTimeoutSeconds = try reader.double(v, "server.request_timeout_s", min: 0.1)
            }
            if let v = server["min_request_bytes_per_s"] {
                c.minRequestBytesPerSecond = try reader.int(v, "server.min_request_bytes_per_s", 0...(1 << 30))
            }
        }
        if let auth = try root["auth"].map({ try reader.object($0, "auth", allowed: ["api_keys"]) }),
           let keys = auth["api_keys"] {
            c.apiKeys = try reader.strings(keys, "auth.api_keys")
        }
        if let queue = try root["queue"].map({ try reader.object($0, "queue", allowed: [
            "max_queued", "max_attempts", "retention_hours"]) }) {
            if let v = queue["max_queued"] { c.maxQueued = try reader.int(v, "queue.max_queued", 1...10_000_000) }
            if let v = queue["max_attempts"] { c.maxAttempts = try reader.int(v, "queue.max_attempts", 1...100) }
            if let v = queue["retention_hours"] { c.retentionHours = try reader.double(v, "queue.retention_hours", min: 0) }
        }
        if let hooks = try root["webhooks"].map({ try reader.object($0, "webhooks", allowed: [
            "secret", "retry_schedule_s", "timeout_s", "allow_private_networks"]) }) {
            if let v = hooks["secret"], v != .null { c.webhookSecret = try reader.string(v, "webhooks.secret") }
            if let v = hooks["retry_schedule_s"] {
                guard case .array(let items) = v else { throw Error("\(source): webhooks.retry_schedule_s must be an array") }
                c.retryScheduleSeconds = try items.map { try reader.double($0, "webhooks.retry_schedule_s", min: 0) }
            }
            if let v = hooks["timeout_s"] { c.webhookTimeoutSeconds = try reader.double(v, "webhooks.timeout_s", min: 0.001) }
            if let v = hooks["allow_private_networks"] {
                c.allowPrivateNetworks = try reader.bool(v, "webhooks.allow_private_networks")
            }
        }
        if let loras = try root["loras"].map({ try reader.object($0, "loras", allowed: [
            "dir", "cache_mb", "allow_urls", "max_download_mb", "disk_cache_mb", "allow_http"]) }) {
            if let v = loras["dir"], v != .null { c.loraDir = reader.resolve(try reader.string(v, "loras.dir")) }
            if let v = loras["cache_mb"] { c.loraCacheMB = try reader.int(v, "loras.cache_mb", 1...(1 << 20)) }
            if let v = loras["allow_urls"] { c.loraAllowURLs = try reader.bool(v, "loras.allow_urls") }
            if let v = loras["max_download_mb"] { c.loraMaxDownloadMB = try reader.int(v, "loras.max_download_mb", 1...(1 << 16)) }
            if let v = loras["disk_cache_mb"] { c.loraDiskCacheMB = try reader.int(v, "loras.disk_cache_mb", 1...(1 << 24)) }
            if let v = loras["allow_http"] { c.loraAllowHTTP = try reader.bool(v, "loras.allow_http") }
        }
        if let uploads = try root["uploads"].map({ try reader.object($0, "uploads", allowed: ["max_bytes"]) }) {
            if let v = uploads["max_bytes"] { c.maxUploadBytes = try reader.int(v, "uploads.max_bytes", 1...(1 << 30)) }
        }
        if let memory = try root["memory"].map({ try reader.object($0, "memory", allowed: ["budget_mb", "min_turn_s", "usage_half_life_s"]) }) {
            if let v = memory["budget_mb"], v != .null { c.modelMemoryBudgetMB = try reader.int(v, "memory.budget_mb", 1...(1 << 30)) }
            if let v = memory["min_turn_s"], v != .null { c.modelMinTurnSeconds = try reader.double(v, "memory.min_turn_s", min: 0) }
            if let v = memory["usage_half_life_s"], v != .null {
                c.modelUsageHalfLifeSeconds = try reader.double(v, "memory.usage_half_life_s", min: 0.001)
            }
        }
        guard let models = root["models"], case .array(let list) = models, !list.isEmpty else {
            throw Error("\(source): \"models\" must be a non-empty array")
        }
        c.models = try list.enumerated().map { try reader.model($1, index: $0) }
        var seen = Set<String>()
        for m in c.models where !seen.insert(m.id).inserted { throw Error("\(source): duplicate model id \"\(m.id)\"") }

        // Environment, then flags.
        if let v = environment["EASEL_HOST"], !v.isEmpty { c.host = v }
        if let v = environment["EASEL_PORT"], !v.isEmpty {
            guard let p = Int(v), (0...65535).contains(p) else { throw Error("EASEL_PORT must be a port number") }
            c.port = p
        }
        if let v = environment["EASEL_DATA_DIR"], !v.isEmpty { c.dataDir = URL(fileURLWithPath: v) }
        if let v = environment["EASEL_API_KEYS"] {
            c.apiKeys = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let v = environment["EASEL_WEBHOOK_SECRET"], !v.isEmpty { c.webhookSecret = v }
        if let v = overrides.host { c.host = v }
        if let v = overrides.port { c.port = v }
        if let v = overrides.dataDir { c.dataDir = URL(fileURLWithPath: v) }
        if let url = c.publicURL {
            guard let u = URLComponents(string: url), u.scheme == "http" || u.scheme == "https", u.host != nil else {
                throw Error("\(source): server.public_url must be an absolute http(s) URL")
            }
            c.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        return c
    }

    public var imageURLBase: String { publicURL ?? "" }
}

extension ServerConfig {
    /// The LoRA folder and URL policy this config describes (nil: requests may name no LoRA at all).
    public func loraLibrary() -> LoRALibrary? {
        var urls: LoRAURLPolicy?
        if loraAllowURLs {
            var p = LoRAURLPolicy(cacheDirectory: dataDir.appendingPathComponent("lora-downloads", isDirectory: true))
            p.maxBytes = loraMaxDownloadMB << 20
            p.diskCacheBytes = loraDiskCacheMB << 20
            p.allowHTTP = loraAllowHTTP
            p.allowPrivateNetworks = allowPrivateNetworks
            urls = p
        }
        guard loraDir != nil || urls != nil else { return nil }
        return LoRALibrary(directory: loraDir, cacheBytes: loraCacheMB << 20, urls: urls)
    }
}
