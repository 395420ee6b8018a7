import EaselJSON
import Foundation

/// The weights of one diffusers component folder (e.g. `transformer/`, `vae/`, `text_encoder/`).
///
/// Looks for, in order: `<base>.safetensors`; the sharded set named by
/// `<base>.safetensors.index.json`; or, failing both, the only `*.safetensors` file in the folder.
/// Every `tensor(_:)` call is recorded so that `unusedNames()` can report weights the model
/// never asked for (usually a sign of a mapping mistake).
/// Unchecked Sendable: the files are read-only mappings after `init`; the record of used names is only touched with
/// `lock` held.
public final class WeightStore: @unchecked Sendable {
    public let folder: URL
    /// Component name used in messages (the folder's last path component).
    public let component: String
    /// The files backing this store, in load order.
    public let files: [SafeTensorsFile]

    private let location: [String: Int]  // tensor name → index into `files`
    private let lock = NSLock()
    private var used = Set<String>()

    public convenience init(folder: URL, baseName: String) throws {
        try self.init(folder: folder, baseName: baseName, maxHeaderBytes: SafeTensorsFile.defaultMaxHeaderBytes)
    }

    public init(folder: URL, baseName: String, maxHeaderBytes: Int) throws {
        self.folder = folder
        let component = folder.lastPathComponent
        self.component = component
        let fm = FileManager.default
        func err(_ msg: String) -> EngineError { EngineError("component \(component): \(msg)") }

        let single = folder.appendingPathComponent("\(baseName).safetensors")
        let index = folder.appendingPathComponent("\(baseName).safetensors.index.json")
        var files: [SafeTensorsFile] = []
        var location: [String: Int] = [:]

        func add(_ file: SafeTensorsFile) throws {
            let i = files.count
            for name in file.names {
                if let j = location[name] {
                    throw err("tensor '\(name)' appears in both \(files[j].url.lastPathComponent) and \(file.url.lastPathComponent)")
                }
                location[name] = i
            }
            files.append(file)
        }

        if fm.fileExists(atPath: single.path) {
            try add(SafeTensorsFile(url: single, maxHeaderBytes: maxHeaderBytes))
        } else if fm.fileExists(atPath: index.path) {
            let weightMap = try Self.readIndex(index, err: err)
            // Open each shard once, in sorted order for deterministic messages.
            var shardFiles: [String: SafeTensorsFile] = [:]
            for shard in Set(weightMap.values).sorted() {
                let url = folder.appendingPathComponent(shard)
                guard fm.fileExists(atPath: url.path) else {
                    throw err("index \(index.lastPathComponent) names shard '\(shard)', which does not exist")
                }
                let f = try SafeTensorsFile(url: url, maxHeaderBytes: maxHeaderBytes)
                shardFiles[shard] = f
                try add(f)
            }
            for (name, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
                guard shardFiles[shard]!.entries[name] != nil else {
                    throw err("index \(index.lastPathComponent) puts weight '\(name)' in \(shard), but that shard has no such tensor")
                }
            }
        } else {
            let contents = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
            let candidates = contents.filter { $0.hasSuffix(".safetensors") }.sorted()
            guard candidates.count == 1 else {
                if candidates.isEmpty {
                    throw err("no \(baseName).safetensors, \(baseName).safetensors.index.json or other .safetensors file in \(folder.path)")
                }
                throw err("no \(baseName).safetensors or index in \(folder.path), and several candidates: \(candidates.joined(separator: ", "))")
            }
            try add(SafeTensorsFile(url: folder.appendingPathComponent(candidates[0]), maxHeaderBytes: maxHeaderBytes))
        }
        self.files = files
        self.location = location
    }

    /// Reads `weight_map` from a sharded-checkpoint index: tensor name → shard file name.
    private static func readIndex(_ url: URL, err: (String) -> EngineError) throws -> [String: String] {
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)??.intValue ?? 0
        guard size <= SafeTensorsFile.defaultMaxHeaderBytes else {
            throw err("\(url.lastPathComponent) is \(size) bytes, implausibly large for an index")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw err("cannot read \(url.lastPathComponent): \(error.localizedDescription)")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data, limits: .safetensorsHeader) } catch {
            throw err("\(url.lastPathComponent): \(error)")
        }
        guard case let .object(entries)? = json["weight_map"] else {
            throw err("\(url.lastPathComponent) has no 'weight_map' object")
        }
        var map: [String: String] = [:]
        for (name, v) in entries {
            guard case let .string(shard) = v else {
                throw err("\(url.lastPathComponent): weight '\(name)' maps to a \(v.typeName), expected a file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw err("\(url.lastPathComponent): weight '\(name)' maps to '\(shard)', which is not a plain file name")
            }
            map[name] = shard
        }
        return map
    }

    /// All tensor names across the component's files.
    public var names: Set<String> { Set(location.keys) }

    public func has(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) -> (dtype: String, shape: [Int])? {
        guard let i = location[name] else { return nil }
        return files[i].info(name)
    }

    /// "component transformer: weight 'x_embedder.weight' in diffusion_pytorch_model.safetensors".
    public func describeWeight(_ name: String) -> String {
        let file = location[name].map { " in \(files[$0].url.lastPathComponent)" } ?? ""
        return "component \(component): weight '\(name)'\(file)"
    }

    /// Reads a weight widened to f32 and records it as used.
    public func tensor(_ name: String) throws -> Tensor {
        guard let i = location[name] else { throw EngineError("component \(component): missing weight '\(name)'") }
        lock.lock()
        used.insert(name)
        lock.unlock()
        return try files[i].tensor(name)
    }

    /// Names that were never read through `tensor(_:)`, sorted.
    public func unusedNames() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return location.keys.filter { !used.contains($0) }.sorted()
    }

    /// Names read so far, sorted.
    public func usedNames() -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return used.sorted()
    }
}
