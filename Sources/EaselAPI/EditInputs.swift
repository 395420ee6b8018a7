import Crypto
import EaselEngine
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
        if !FileManager.default.fileExists(atPath: file.path) {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try png.write(to: file, options: .atomic)
        }
        return "sha256:" + hex
    }

    public func get(_ id: String) throws -> Data {
        guard id.hasPrefix("sha256:"), id.count == 71, id.dropFirst(7).allSatisfy({ $0.isHexDigit }) else {
            throw APIError.invalid(nil, "not an input id: \(id)")
        }
        return try Data(contentsOf: url(String(id.dropFirst(7))))
    }

    /// `data:image/png;base64,…` → the PNG bytes; anything else is a 400 naming `field`.
    public static func decodeDataURI(_ s: String, field: String) throws -> Data {
        let prefix = "data:image/png;base64,"
        guard s.hasPrefix(prefix) else {
            if s.hasPrefix("data:") { throw APIError.invalid(field, "\(field) must be a PNG (data:image/png;base64,…)") }
            throw APIError.invalid(field, "\(field) must be a data: URI (data:image/png;base64,…)")
        }
        guard let data = Data(base64Encoded: String(s.dropFirst(prefix.count))) else {
            throw APIError.invalid(field, "\(field) is not valid base64")
        }
        return data
    }
}

/// The operator's LoRA folder (`loras.dir`) and a bounded LRU cache of parsed LoRAs (`loras.cache_mb`), per model
/// since a LoRA is checked against the model it is applied to. A request names a file inside the folder, never a path.
public final class LoRALibrary: Sendable {
    public let directory: URL?
    public let cacheBytes: Int
    struct Cached { let adapter: LoRAAdapter; var lastUse: UInt64 }
    private let cache = Mutex<(entries: [String: Cached], clock: UInt64)>(([:], 0))

    public init(directory: URL?, cacheBytes: Int) {
        self.directory = directory
        self.cacheBytes = cacheBytes
    }

    /// A file name a request may use: no folders, no hidden files, a .safetensors file that exists.
    public func check(name: String, field: String) throws {
        guard let directory else { throw APIError.invalid(field, "this server has no LoRA folder configured (loras.dir)") }
        if name.hasPrefix("https://") || name.hasPrefix("http://") {
            throw APIError.invalid(field, "LoRA URLs are not supported yet; put the file in the server's LoRA folder and name it")
        }
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
        guard let directory else { throw EngineError("no LoRA folder configured (loras.dir)") }
        let key = model + "\u{0}" + name
        if let hit = cache.withLock({ c -> LoRAAdapter? in
            c.clock += 1
            guard var e = c.entries[key] else { return nil }
            e.lastUse = c.clock
            c.entries[key] = e
            return e.adapter
        }) { return hit }
        let adapter = try LoRALoader.load(url: directory.appendingPathComponent(name), name: name, targets: pipeline.loraTargets)
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
