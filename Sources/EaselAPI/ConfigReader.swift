import EaselEngine
import EaselJSON
import EaselJobs
import Foundation

/// Typed, strict access to the config file's JSON: unknown keys and wrong types are errors naming the key.
struct ConfigReader {
    let source: String
    let base: URL

    func fail(_ message: String) -> ServerConfig.Error { ServerConfig.Error("\(source): \(message)") }

    func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path).standardizedFileURL
            : base.appendingPathComponent(path).standardizedFileURL
    }

    func object(_ v: JSONValue, _ name: String, allowed: Set<String>) throws -> JSONValue {
        guard case .object(let members) = v else { throw fail("\(name.isEmpty ? "the config" : name) must be an object") }
        for (key, _) in members where !allowed.contains(key) {
            throw fail("unknown key \"\(name.isEmpty ? key : name + "." + key)\"")
        }
        return v
    }

    func string(_ v: JSONValue, _ name: String) throws -> String {
        guard let s = v.stringValue else { throw fail("\(name) must be a string") }
        return s
    }

    func strings(_ v: JSONValue, _ name: String) throws -> [String] {
        guard case .array(let items) = v else { throw fail("\(name) must be an array of strings") }
        return try items.map { try string($0, name) }
    }

    func int(_ v: JSONValue, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let i = v.intValue, range.contains(i) else {
            throw fail("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    func double(_ v: JSONValue, _ name: String, min: Double) throws -> Double {
        guard let d = v.doubleValue, d.isFinite, d >= min else { throw fail("\(name) must be a number ≥ \(min)") }
        return d
    }

    func bool(_ v: JSONValue, _ name: String) throws -> Bool {
        guard let b = v.boolValue else { throw fail("\(name) must be true or false") }
        return b
    }

    func model(_ v: JSONValue, index: Int) throws -> ModelConfig {
        let name = "models[\(index)]"
        let o = try object(v, name, allowed: ["id", "path", "backend", "load", "max_batch_size", "max_queue_delay_ms",
                                              "batching", "defaults", "limits", "description", "cache", "memory_mb"])
        guard let idValue = o["id"], let pathValue = o["path"] else { throw fail("\(name) needs \"id\" and \"path\"") }
        let id = try string(idValue, "\(name).id")
        guard !id.isEmpty, id.utf8.count <= 128, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw fail("\(name).id must be 1 to 128 letters, digits, '-', '_' or '.'")
        }
        var m = ModelConfig(id: id, path: resolve(try string(pathValue, "\(name).path")))
        if let b = o["backend"] {
            guard let backend = ModelConfig.Backend(rawValue: try string(b, "\(name).backend")) else {
                throw fail("\(name).backend must be auto, cpu or cuda")
            }
            m.backend = backend
        }
        if let l = o["load"] {
            guard let load = ModelConfig.LoadPolicy(rawValue: try string(l, "\(name).load")) else {
                throw fail("\(name).load must be startup or lazy")
            }
            m.load = load
        }
        if let x = o["max_batch_size"] { m.maxBatchSize = try int(x, "\(name).max_batch_size", 1...256) }
        if let x = o["max_queue_delay_ms"] { m.maxQueueDelayMs = try int(x, "\(name).max_queue_delay_ms", 0...60_000) }
        if let b = o["batching"] {
            guard let mode = BatchingMode(rawValue: try string(b, "\(name).batching")) else {
                throw fail("\(name).batching must be continuous or static")
            }
            m.batching = mode
        }
        if let x = o["memory_mb"], x != .null { m.memoryMB = try int(x, "\(name).memory_mb", 1...(1 << 30)) }
        if let x = o["description"] { m.description = try string(x, "\(name).description") }
        if let d = o["defaults"] {
            let dn = "\(name).defaults"
            let d = try object(d, dn, allowed: ["width", "height", "steps", "guidance"])
            if let x = d["width"] { m.defaults.width = try int(x, "\(dn).width", 1...16384) }
            if let x = d["height"] { m.defaults.height = try int(x, "\(dn).height", 1...16384) }
            if let x = d["steps"] { m.defaults.steps = try int(x, "\(dn).steps", 1...1000) }
            if let x = d["guidance"] { m.defaults.guidance = try double(x, "\(dn).guidance", min: 0) }
        }
        if let c = o["cache"] {
            let cn = "\(name).cache"
            let c = try object(c, cn, allowed: ["threshold"])
            m.cacheThreshold = try c["threshold"].map { try double($0, "\(cn).threshold", min: 0) } ?? StepCache.defaultThreshold
            if m.cacheThreshold! > 1 { throw fail("\(cn).threshold must be at most 1") }
        }
        if let l = o["limits"] {
            let ln = "\(name).limits"
            let l = try object(l, ln, allowed: ["max_width", "max_height", "max_steps", "max_num_images"])
            if let x = l["max_width"] { m.limits.maxWidth = try int(x, "\(ln).max_width", 1...16384) }
            if let x = l["max_height"] { m.limits.maxHeight = try int(x, "\(ln).max_height", 1...16384) }
            if let x = l["max_steps"] { m.limits.maxSteps = try int(x, "\(ln).max_steps", 1...1000) }
            if let x = l["max_num_images"] { m.limits.maxNumImages = try int(x, "\(ln).max_num_images", 1...8) }
        }
        return m
    }
}
