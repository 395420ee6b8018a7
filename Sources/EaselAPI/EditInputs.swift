import Crypto
import EaselEngine
import EaselJobs
import Foundation
import Synchronization

/// Request images (image-to-image, inpainting masks) as the daemon keeps them: content-addressed PNG files under
/// `<data_dir>/inputs/<sha256>.png`, so a job's stored input names its image by hash (the job object stays small)
/// and a retried or recovered job reads the same bytes.
public struct InputStore: Sendable {
    public let directory: URL
    public init(dataDir: URL) { directory = dataDir.appendingPathComponent("inputs", isDirectory: true) }

    func url(_ id: String) -> URL { directory.appendingPathComponent(id + ".png") }

    /// Writes `png` (already checked to decode) once; returns its id "sha256:<hex>".
    public func put(_ png: Data) throws -> String {
        let hex = SHA256.hash(data: png).map { String(format: "%02x", $0) }.joined()
        let file = url(hex)
        if FileManager.default.fileExists(atPath: file.path) {
            // Each use restarts its retention clock (`prune`).
            try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: file.path)
        } else {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try png.write(to: file, options: .atomic)
        }
        return "sha256:" + hex
    }

    /// Whether `id` names a stored input (an upload or an earlier request's image).
    public func has(_ id: String) -> Bool {
        Self.isID(id) && FileManager.default.fileExists(atPath: url(String(id.dropFirst(7))).path)
    }

    static func isID(_ id: String) -> Bool {
        id.hasPrefix("sha256:") && id.utf8.count == 71 && id.utf8.dropFirst(7).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Removes inputs last used more than `retention` ago that no kept job names (`referenced`); returns their ids.
    /// Files that are not inputs (temporary files of an interrupted write) older than `retention` go too.
    @discardableResult
    public func prune(retention: TimeInterval, referenced: Set<String>, now: Date = Date()) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for name in names {
            let path = directory.appendingPathComponent(name).path
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
                  let modified = attrs[.modificationDate] as? Date, now.timeIntervalSince(modified) > retention else { continue }
            let id = name.hasSuffix(".png") ? "sha256:" + name.dropLast(4) : name
            if referenced.contains(id) { continue }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(id) }
        }
        return removed
    }

    /// Every input id ("sha256:<64 hex>") that appears in `text` (a job's stored input).
    public static func ids(in text: Data) -> [String] {
        var out: [String] = []
        let bytes = [UInt8](text), tag = Array("sha256:".utf8)
        var i = 0
        while i + 71 <= bytes.count {
            if bytes[i] == tag[0], Array(bytes[i..<(i + 7)]) == tag {
                let candidate = String(decoding: bytes[i..<(i + 71)], as: UTF8.self)
                if isID(candidate) { out.append(candidate); i += 71; continue }
            }
            i += 1
        }
        return out
    }

    public func get(_ id: String) throws -> Data {
        guard Self.isID(id) else {
            throw APIError.invalid(nil, "not an input id: \(id)")
        }
        return try Data(contentsOf: url(String(id.dropFirst(7))))
    }

    /// `data:image/png;base64,…` → the PNG bytes; anything else is a 400 naming `field`.
    /// The image of a `data:image/png|jpeg|webp;base64,…` URI as the store keeps it: PNG (JPEG and WebP are decoded,
    /// at most `maxPixels`, and re-encoded losslessly).
    public static func decodeDataURI(_ s: String, field: String, maxPixels: Int = PNGEncoder.defaultMaxPixels) throws -> Data {
        let types: [(String, ImageFormat)] = [("png", .png), ("jpeg", .jpeg), ("jpg", .jpeg), ("webp", .webp)]
        guard let (name, format) = types.first(where: { s.hasPrefix("data:image/\($0.0);base64,") }) else {
            if s.hasPrefix("data:") {
                throw APIError.invalid(field, "\(field) must be a PNG, JPEG or WebP (data:image/png;base64,…, image/jpeg, image/webp)")
            }
            throw APIError.invalid(field, "\(field) must be a data: URI (data:image/png;base64,…) or an upload id")
        }
        guard let data = Data(base64Encoded: String(s.dropFirst("data:image/\(name);base64,".count))) else {
            throw APIError.invalid(field, "\(field) is not valid base64")
        }
        return try asPNG(data, format: format, field: field, maxPixels: maxPixels)
    }

    /// `data` in `format` as the PNG the store keeps: PNG as it is, JPEG and WebP decoded (at most `maxPixels`) and
    /// re-encoded losslessly, so the same upload always gives the same id.
    public static func asPNG(_ data: Data, format: ImageFormat, field: String?, maxPixels: Int) throws -> Data {
        guard format != .png else { return data }
        do {
            let d = try format.decode(data, maxPixels: maxPixels)
            return try ImageFormat.png.encode(rgb: d.rgb, width: d.width, height: d.height)
        } catch {
            throw APIError.invalid(field, "\(field ?? "the upload") is not a readable \(format.rawValue.uppercased()) of at most \(maxPixels) pixels: \(error)")
        }
    }
}

/// How LoRAs named by URL are fetched (`loras.allow_urls`, `max_download_mb`, `disk_cache_mb`, `allow_http`):
/// through the webhook SSRF guard, size-capped, and kept on disk by the URL's SHA-256 so each is fetched once.
public struct LoRAURLPolicy: Sendable {
    public var cacheDirectory: URL
    public var maxBytes = 512 << 20
    /// Downloaded files kept, least recently used out first.
    public var diskCacheBytes = 4096 << 20
    public var allowHTTP = false
    public var allowPrivateNetworks = false
    public var timeout: TimeInterval = 300
    public init(cacheDirectory: URL) { self.cacheDirectory = cacheDirectory }
}

/// The operator's LoRA folder (`loras.dir`), LoRAs by URL (`LoRAURLPolicy`) and a bounded LRU cache of parsed LoRAs
/// (`loras.cache_mb`), per model since a LoRA is checked against the model it is applied to. A request names a file
/// inside the folder or a URL, never a path.
public final class LoRALibrary: Sendable {
    public let directory: URL?
    public let cacheBytes: Int
    public let urls: LoRAURLPolicy?
    struct Cached { let adapter: LoRAAdapter; var lastUse: UInt64 }
    private let cache = Mutex<(entries: [String: Cached], clock: UInt64)>(([:], 0))
    /// One download at a time per URL (a second job for the same URL waits and then reads the file).
    private let downloads = Mutex<Void>(())

    public init(directory: URL?, cacheBytes: Int, urls: LoRAURLPolicy? = nil) {
        self.directory = directory
        self.cacheBytes = cacheBytes
        self.urls = urls
    }

    static func isURL(_ name: String) -> Bool {
        let lower = name.prefix(8).lowercased()
        return lower.hasPrefix("https://") || lower.hasPrefix("http://")
    }

    /// A file name a request may use (no folders, no hidden files, a .safetensors file that exists), or a URL the
    /// policy allows and the SSRF guard passes now (it is checked again when fetched).
    public func check(name: String, field: String) throws {
        if Self.isURL(name) {
            guard let urls else { throw APIError.invalid(field, "this server does not fetch LoRAs by URL (loras.allow_urls)") }
            guard name.utf8.count <= 2048 else { throw APIError.invalid(field, "\(field) is longer than 2048 characters") }
            let scheme = URLComponents(string: name)?.scheme?.lowercased()
            guard scheme == "https" || (urls.allowHTTP && scheme == "http") else {
                throw APIError.invalid(field, "\(field) must be an https URL")
            }
            do { _ = try WebhookAddressGuard.check(name, allowPrivateNetworks: urls.allowPrivateNetworks) } catch {
                throw APIError.invalid(field, "\(field) refused: \(error)")
            }
            return
        }
        if name.contains("://") { throw APIError.invalid(field, "\(field): only https URLs are fetched") }
        guard let directory else { throw APIError.invalid(field, "this server has no LoRA folder configured (loras.dir)") }
        guard !name.isEmpty, name.utf8.count <= 255, !name.contains("/"), !name.contains("\\"), !name.hasPrefix("."),
              name.hasSuffix(".safetensors") else {
            throw APIError.invalid(field, "\(field) must be the name of a .safetensors file in the server's LoRA folder")
        }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) else {
            throw APIError.invalid(field, "no LoRA \"\(name)\" in the server's LoRA folder")
        }
    }

    /// The parsed LoRA `name` for `model`, from the cache or the folder.
    public func adapter(name: String, model: String, pipeline: FluxPipeline) throws -> LoRAAdapter {
        let key = model + "\u{0}" + name
        if let hit = cache.withLock({ c -> LoRAAdapter? in
            c.clock += 1
            guard var e = c.entries[key] else { return nil }
            e.lastUse = c.clock
            c.entries[key] = e
            return e.adapter
        }) { return hit }
        let file: URL
        if Self.isURL(name) {
            file = try fetch(name)
        } else {
            guard let directory else { throw EngineError("no LoRA folder configured (loras.dir)") }
            file = directory.appendingPathComponent(name)
        }
        let adapter = try LoRALoader.load(url: file, name: name, targets: pipeline.loraTargets)
        cache.withLock { c in
            c.clock += 1
            c.entries[key] = Cached(adapter: adapter, lastUse: c.clock)
            // Least recently used first out, until the cache fits (one LoRA larger than the budget is used uncached).
            while c.entries.values.reduce(0, { $0 + $1.adapter.byteSize }) > cacheBytes,
                  let oldest = c.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                c.entries[oldest.key] = nil
            }
        }
        return adapter
    }

    public var cachedCount: Int { cache.withLock { $0.entries.count } }

    /// The local copy of a LoRA URL: `<cache dir>/<sha256 of the URL>.safetensors`, downloaded the first time.
    func fetch(_ url: String) throws -> URL {
        guard let policy = urls else { throw EngineError("this server does not fetch LoRAs by URL") }
        let hex = SHA256.hash(data: Data(url.utf8)).map { String(format: "%02x", $0) }.joined()
        let file = policy.cacheDirectory.appendingPathComponent(hex + ".safetensors")
        return try downloads.withLock { _ in
            let fm = FileManager.default
            if fm.fileExists(atPath: file.path) {
                try? fm.setAttributes([.modificationDate: Date()], ofItemAtPath: file.path)
                return file
            }
            let data: Data
            switch GuardedDownload.get(url, maxBytes: policy.maxBytes, timeout: policy.timeout,
                                       allowPrivateNetworks: policy.allowPrivateNetworks, allowHTTP: policy.allowHTTP) {
            case .success(let d): data = d
            case .failure(let f): throw EngineError("could not fetch the LoRA \(url.prefix(200)): \(f)")
            }
            try fm.createDirectory(at: policy.cacheDirectory, withIntermediateDirectories: true)
            try data.write(to: file, options: .atomic)
            trimDiskCache(policy, keeping: file)
            return file
        }
    }

    /// Removes the least recently used downloads until the folder fits `diskCacheBytes` (never `keeping`).
    func trimDiskCache(_ policy: LoRAURLPolicy, keeping: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: policy.cacheDirectory.path) else { return }
        var files: [(url: URL, size: Int, used: Date)] = names.compactMap { name in
            let u = policy.cacheDirectory.appendingPathComponent(name)
            guard let a = try? fm.attributesOfItem(atPath: u.path) else { return nil }
            return (u, (a[.size] as? NSNumber)?.intValue ?? 0, a[.modificationDate] as? Date ?? .distantPast)
        }
        var total = files.reduce(0) { $0 + $1.size }
        files.sort { $0.used < $1.used }
        for f in files where total > policy.diskCacheBytes && f.url.lastPathComponent != keeping.lastPathComponent {
            if (try? fm.removeItem(at: f.url)) != nil { total -= f.size }
        }
    }
}

/// The latest preview of each running job that asked for them (`previews: true`): a small PNG as a data URI and the
/// step it shows. Only the newest is kept, so a slow SSE reader skips previews instead of queueing them.
public final class PreviewHub: Sendable {
    public struct Preview: Sendable, Equatable { public let step: Int; public let dataURI: String }
    private let latest = Mutex<[String: Preview]>([:])
    public init() {}
    public func set(_ jobID: String, _ p: Preview) { latest.withLock { $0[jobID] = p } }
    public func get(_ jobID: String) -> Preview? { latest.withLock { $0[jobID] } }
    public func remove(_ jobID: String) { _ = latest.withLock { $0.removeValue(forKey: jobID) } }
}
