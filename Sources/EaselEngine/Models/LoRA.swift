import EaselJSON
import Foundation

/// One low-rank update of a Linear: Δy = scale · up · (down · x), with `scale` = alpha / rank as the file sets it.
public struct LoRAPair: Sendable {
    public let down: Tensor   // lora_A / lora_down: [rank, in]
    public let up: Tensor     // lora_B / lora_up:   [out, rank]
    public let scale: Float
    public var rank: Int { down.shape[0] }
}

/// Which model part a LoRA module belongs to.
public enum LoRAComponent: String, Sendable { case transformer, textEncoder = "text_encoder" }

/// A LoRA file, parsed and checked against one pipeline: every update names a Linear of the pipeline by its diffusers
/// module path ("transformer_blocks.0.attn.to_q", CLIP's "encoder.layers.0.self_attn.q_proj") and matches its shape.
/// Never merged into the base weights: each request's updates run beside the shared weights, so a batch can mix LoRAs.
public final class LoRAAdapter: Sendable {
    public let name: String
    public let transformer: [String: [LoRAPair]]
    public let textEncoder: [String: [LoRAPair]]
    /// Bytes the updates take in memory (f32), for the cache's budget.
    public let byteSize: Int
    /// "peft" (diffusers/PEFT keys) or "kohya" (sd-scripts / ai-toolkit FLUX keys).
    public let format: String

    public init(name: String, format: String, transformer: [String: [LoRAPair]], textEncoder: [String: [LoRAPair]]) {
        self.name = name; self.format = format
        self.transformer = transformer; self.textEncoder = textEncoder
        byteSize = (Array(transformer.values) + Array(textEncoder.values)).joined()
            .reduce(0) { $0 + 4 * ($1.down.count + $1.up.count) }
    }

    public func pairs(_ component: LoRAComponent, _ module: String) -> [LoRAPair] {
        (component == .transformer ? transformer : textEncoder)[module] ?? []
    }

    public var moduleCount: Int { transformer.count + textEncoder.count }
}

/// The LoRAs one request applies, each with its own strength.
public struct LoRAStack: Sendable {
    public struct Entry: Sendable {
        public let adapter: LoRAAdapter
        public let scale: Float
        public init(adapter: LoRAAdapter, scale: Float) { self.adapter = adapter; self.scale = scale }
    }
    public var entries: [Entry]
    public init(_ entries: [Entry]) { self.entries = entries }
    public var isEmpty: Bool { entries.allSatisfy { $0.scale == 0 || $0.adapter.moduleCount == 0 } }

    /// y[rows] += Σ s · pair.scale · up·(down·x[rows]) for this stack's updates of `module`.
    func addUpdates(_ component: LoRAComponent, _ module: String, x: Tensor, into y: inout Tensor, rowStart: Int, rows: Int) {
        var xi: Tensor?
        for e in entries where e.scale != 0 {
            for p in e.adapter.pairs(component, module) {
                if xi == nil { xi = Ops.rows(x, rowStart, rows) }
                let d = Ops.linear(Ops.linear(xi!, p.down, nil), p.up, nil)
                let s = e.scale * p.scale, width = y.lastDim
                y.data.withUnsafeMutableBufferPointer { yp in
                    d.data.withUnsafeBufferPointer { dp in
                        let base = rowStart * width
                        for j in 0..<(rows * width) { yp[base + j] += s * dp[j] }
                    }
                }
            }
        }
    }
}

extension Linear {
    /// This Linear over items stacked by rows (`rowsPerItem` each), plus each item's own LoRA updates (nil: none).
    func callAsFunction(_ x: Tensor, rowsPerItem: Int, loras: [LoRAStack?], _ component: LoRAComponent = .transformer) -> Tensor {
        var y = self(x)
        guard let name, loras.contains(where: { $0 != nil }) else { return y }
        for (i, stack) in loras.enumerated() {
            stack?.addUpdates(component, name, x: x, into: &y, rowStart: i * rowsPerItem, rows: rowsPerItem)
        }
        return y
    }
}

/// Reads LoRA files in the two formats FLUX LoRAs are published in and checks them against a pipeline.
public enum LoRALoader {
    /// Largest LoRA file header accepted (a LoRA of every FLUX.1 Linear has ~1,000 tensors: ~200 KB of header).
    public static let maxHeaderBytes = 8 << 20

    /// A Linear a LoRA may target: its module path and [out, in].
    public struct Target: Sendable { public let out: Int, inF: Int }

    /// Every Linear of the pipeline by component, as LoRA files name them.
    public struct Targets: Sendable {
        public var transformer: [String: Target]
        public var textEncoder: [String: Target]
        /// Fused kohya modules: the diffusers Linears in order, to split `lora_up`'s rows across.
        public var mlpWidth: Int
        public var dim: Int
    }

    public static func load(url: URL, name: String? = nil, targets: Targets) throws -> LoRAAdapter {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url, maxHeaderBytes: maxHeaderBytes) } catch let e as EngineError {
            throw EngineError("LoRA \(url.lastPathComponent): \(e.message)")
        }
        do {
            return try parse(file, name: name ?? url.lastPathComponent, targets: targets)
        } catch let e as EngineError {
            throw EngineError("LoRA \(name ?? url.lastPathComponent): \(e.message)")
        }
    }

    static func parse(_ file: SafeTensorsFile, name: String, targets: Targets) throws -> LoRAAdapter {
        let names = file.names
        if names.isEmpty { throw EngineError("the file holds no tensors") }
        if names.contains(where: { $0.hasPrefix("lora_unet_") || $0.hasPrefix("lora_te1_") || $0.hasPrefix("lora_te_") }) {
            return try parseKohya(file, name: name, targets: targets)
        }
        return try parsePEFT(file, name: name, targets: targets)
    }

    /// A tensor of the file, with a finite-values check (a NaN in a LoRA would turn every image it touches black).
    static func read(_ file: SafeTensorsFile, _ key: String, rank: Int? = nil) throws -> Tensor {
        guard let info = file.info(key) else { throw EngineError("missing tensor '\(key)'") }
        guard ["F32", "F16", "BF16", "F64"].contains(info.dtype) else {
            throw EngineError("tensor '\(key)' has dtype \(info.dtype); LoRA weights must be floating point")
        }
        let t = try file.tensor(key)
        if t.data.contains(where: { !$0.isFinite }) { throw EngineError("tensor '\(key)' holds NaN or infinite values") }
        return t
    }

    static func scalar(_ file: SafeTensorsFile, _ key: String) throws -> Float? {
        guard file.info(key) != nil else { return nil }
        let t = try read(file, key)
        guard t.count == 1 else { throw EngineError("'\(key)' must be a single number, has shape \(t.shape)") }
        guard t.data[0] > 0 else { throw EngineError("'\(key)' = \(t.data[0]) must be positive") }
        return t.data[0]
    }

    static func pair(_ file: SafeTensorsFile, down dk: String, up uk: String, alpha: Float?, module: String,
                     target: Target) throws -> LoRAPair {
        let down = try read(file, dk), up = try read(file, uk)
        guard down.rank == 2, up.rank == 2, down.shape[0] > 0, down.shape[0] == up.shape[1] else {
            throw EngineError("'\(dk)' \(down.shape) and '\(uk)' \(up.shape) are not a low-rank pair [rank, in] / [out, rank]")
        }
        guard down.shape[1] == target.inF, up.shape[0] == target.out else {
            throw EngineError("'\(module)' is [out \(target.out), in \(target.inF)] in this model, but the LoRA's update is [\(up.shape[0]), \(down.shape[1])] (a LoRA for another model?)")
        }
        let rank = down.shape[0]
        return LoRAPair(down: down, up: up, scale: (alpha ?? Float(rank)) / Float(rank))
    }

    /// diffusers / PEFT: `transformer.<module>.lora_A.weight` and `.lora_B.weight` (also `.lora_down`/`.lora_up`,
    /// the `base_model.model.` prefix and unprefixed transformer keys), `text_encoder.<module>…` for CLIP.
    /// Alpha: a `<module>.alpha` tensor where the file has one, else the `lora_adapter_metadata` header JSON
    /// (`lora_alpha`, `r`, `alpha_pattern`) diffusers writes, else alpha = rank (scale 1).
    static func parsePEFT(_ file: SafeTensorsFile, name: String, targets: Targets) throws -> LoRAAdapter {
        let meta = try adapterMetadata(file)
        var modules: [String: (component: LoRAComponent, module: String, down: String?, up: String?, alpha: String?)] = [:]
        for key in file.names {
            var k = key
            for p in ["base_model.model."] where k.hasPrefix(p) { k.removeFirst(p.count) }
            var component = LoRAComponent.transformer
            if k.hasPrefix("transformer.") { k.removeFirst("transformer.".count) }
            else if k.hasPrefix("text_encoder.") { k.removeFirst("text_encoder.".count); component = .textEncoder }
            else if k.hasPrefix("text_encoder_2.") {
                throw EngineError("'\(key)': LoRAs of text_encoder_2 (T5) are not supported (diffusers' FLUX pipelines do not load them either)")
            }
            if component == .textEncoder, k.hasPrefix("text_model.") { k.removeFirst("text_model.".count) }
            let suffixes: [(String, Int)] = [(".lora_A.weight", 0), (".lora_down.weight", 0), (".lora_B.weight", 1),
                                             (".lora_up.weight", 1), (".lora_A.default.weight", 0),
                                             (".lora_B.default.weight", 1), (".alpha", 2)]
            guard let (suffix, role) = suffixes.first(where: { k.hasSuffix($0.0) }) else {
                throw EngineError("unrecognised tensor '\(key)' (expected <module>.lora_A.weight / .lora_B.weight in the diffusers/PEFT format, or lora_unet_… keys in the kohya format)")
            }
            let module = String(k.dropLast(suffix.count))
            let id = component.rawValue + ":" + module
            var m = modules[id] ?? (component, module, nil, nil, nil)
            switch role {
            case 0: m.down = key
            case 1: m.up = key
            default: m.alpha = key
            }
            modules[id] = m
        }
        var tr: [String: [LoRAPair]] = [:], te: [String: [LoRAPair]] = [:]
        for (_, m) in modules.sorted(by: { $0.key < $1.key }) {
            guard let down = m.down, let up = m.up else {
                throw EngineError("module '\(m.module)' has \(m.down == nil ? "no lora_A (down)" : "no lora_B (up)") tensor")
            }
            let table = m.component == .transformer ? targets.transformer : targets.textEncoder
            guard let target = table[m.module] else {
                throw EngineError("'\(m.module)' is not a Linear of this model's \(m.component == .transformer ? "transformer" : "text encoder (CLIP)")")
            }
            let rank = file.info(down)?.shape.first ?? 0
            let alpha = try m.alpha.flatMap { try scalar(file, $0) } ?? meta?.alpha(component: m.component, module: m.module, rank: rank)
            let p = try pair(file, down: down, up: up, alpha: alpha, module: m.module, target: target)
            if m.component == .transformer { tr[m.module] = [p] } else { te[m.module] = [p] }
        }
        return LoRAAdapter(name: name, format: "peft", transformer: tr, textEncoder: te)
    }

    /// diffusers' `lora_adapter_metadata`: {"transformer.lora_alpha": 8, "transformer.r": 4, …} or nested
    /// {"transformer": {"lora_alpha": …}} depending on the writer; both read.
    struct AdapterMetadata {
        var alpha: [LoRAComponent: Float] = [:]
        var alphaPattern: [LoRAComponent: [String: Float]] = [:]
        func alpha(component: LoRAComponent, module: String, rank: Int) -> Float? {
            if let p = alphaPattern[component], let hit = p.first(where: { module == $0.key || module.hasSuffix("." + $0.key) }) {
                return hit.value
            }
            return alpha[component]
        }
    }

    static func adapterMetadata(_ file: SafeTensorsFile) throws -> AdapterMetadata? {
        guard let text = file.metadata["lora_adapter_metadata"] else { return nil }
        let value: JSONValue
        do { value = try JSONValue.parse(text, limits: .strict) } catch {
            throw EngineError("header metadata 'lora_adapter_metadata' is not valid JSON: \(error)")
        }
        guard case let .object(members) = value else { throw EngineError("header metadata 'lora_adapter_metadata' is not a JSON object") }
        var m = AdapterMetadata()
        func number(_ v: JSONValue?) -> Float? { if case let .number(s)? = v { return Float(s) }; return nil }
        func readConfig(_ c: LoRAComponent, _ fields: [(String, JSONValue)]) {
            for (k, v) in fields {
                if k == "lora_alpha", let a = number(v) { m.alpha[c] = a }
                if k == "alpha_pattern", case let .object(p) = v {
                    var table: [String: Float] = [:]
                    for (pk, pv) in p { if let a = number(pv) { table[pk] = a } }
                    m.alphaPattern[c] = table
                }
            }
        }
        for c in [LoRAComponent.transformer, .textEncoder] {
            if case let .object(fields)? = value[c.rawValue] { readConfig(c, fields) }
            let flat = members.filter { $0.0.hasPrefix(c.rawValue + ".") }.map { (String($0.0.dropFirst(c.rawValue.count + 1)), $0.1) }
            if !flat.isEmpty { readConfig(c, flat) }
        }
        return m
    }

    /// sd-scripts / ai-toolkit FLUX LoRAs: BFL's module names with `_` for `.` (`lora_unet_double_blocks_0_img_attn_qkv`),
    /// `.lora_down.weight` [rank, in], `.lora_up.weight` [out, rank], `.alpha`. Fused BFL Linears are split onto the
    /// diffusers ones by rows of `lora_up` (q, k, v; single blocks' linear1 also the MLP), sharing `lora_down`.
    /// `final_layer.adaLN_modulation.1` is (shift, scale) where diffusers' norm_out is (scale, shift): halves swapped.
    static func parseKohya(_ file: SafeTensorsFile, name: String, targets: Targets) throws -> LoRAAdapter {
        var groups: [String: (down: String?, up: String?, alpha: String?)] = [:]
        for key in file.names {
            let parts: [(String, Int)] = [(".lora_down.weight", 0), (".lora_up.weight", 1), (".alpha", 2)]
            guard let (suffix, role) = parts.first(where: { key.hasSuffix($0.0) }) else {
                throw EngineError("unrecognised tensor '\(key)' (kohya keys end in .lora_down.weight, .lora_up.weight or .alpha)")
            }
            let base = String(key.dropLast(suffix.count))
            var g = groups[base] ?? (nil, nil, nil)
            switch role { case 0: g.down = key; case 1: g.up = key; default: g.alpha = key }
            groups[base] = g
        }
        let d = targets.dim, mlp = targets.mlpWidth
        var tr: [String: [LoRAPair]] = [:], te: [String: [LoRAPair]] = [:]
        for (base, g) in groups.sorted(by: { $0.key < $1.key }) {
            guard let dk = g.down, let uk = g.up else {
                throw EngineError("module '\(base)' has \(g.down == nil ? "no lora_down" : "no lora_up") tensor")
            }
            let alpha = try g.alpha.flatMap { try scalar(file, $0) }
            let (component, split) = try kohyaTargets(base, dim: d, mlp: mlp)
            let table = component == .transformer ? targets.transformer : targets.textEncoder
            let down = try read(file, dk)
            var up = try read(file, uk)
            let total = split.reduce(0) { $0 + $1.rows }
            guard down.rank == 2, up.rank == 2, down.shape[0] > 0, up.shape[1] == down.shape[0] else {
                throw EngineError("'\(dk)' \(down.shape) and '\(uk)' \(up.shape) are not a low-rank pair [rank, in] / [out, rank]")
            }
            if split.count > 1 || split[0].rows > 0, up.shape[0] != total {
                throw EngineError("'\(uk)' has \(up.shape[0]) rows; this model's fused '\(base)' has \(total) (\(split.map(\.module).joined(separator: ", ")))")
            }
            if base == "lora_unet_final_layer_adaLN_modulation_1" {
                // BFL (shift, scale) → diffusers (scale, shift).
                let half = up.shape[0] / 2, r = up.shape[1]
                up = Tensor(shape: up.shape, data: Array(up.data[(half * r)...] + up.data[..<(half * r)]))
            }
            let rank = down.shape[0]
            var row = 0
            for s in split {
                let rows = s.rows > 0 ? s.rows : up.shape[0]
                guard let target = table[s.module] else {
                    throw EngineError("'\(base)' maps to '\(s.module)', which is not a Linear of this model's \(component == .transformer ? "transformer" : "text encoder (CLIP)")")
                }
                let part = Tensor(shape: [rows, rank], data: Array(up.data[(row * rank)..<((row + rows) * rank)]))
                guard down.shape[1] == target.inF, rows == target.out else {
                    throw EngineError("'\(s.module)' is [out \(target.out), in \(target.inF)] in this model, but '\(base)' gives [\(rows), \(down.shape[1])] (a LoRA for another model?)")
                }
                let p = LoRAPair(down: down, up: part, scale: (alpha ?? Float(rank)) / Float(rank))
                if component == .transformer { tr[s.module, default: []].append(p) } else { te[s.module, default: []].append(p) }
                row += rows
            }
        }
        return LoRAAdapter(name: name, format: "kohya", transformer: tr, textEncoder: te)
    }

    /// The diffusers Linears one kohya module covers, with the rows of `lora_up` each takes (0: all of them).
    static func kohyaTargets(_ base: String, dim d: Int, mlp: Int) throws -> (LoRAComponent, [(module: String, rows: Int)]) {
        func whole(_ m: String) -> [(module: String, rows: Int)] { [(m, 0)] }
        if base.hasPrefix("lora_te1_") || base.hasPrefix("lora_te_") {
            var rest = String(base.drop(while: { $0 != "_" }).dropFirst())   // "te1_text_model_…"
            rest = String(rest.drop(while: { $0 != "_" }).dropFirst())       // "text_model_…"
            guard rest.hasPrefix("text_model_encoder_layers_") else { throw EngineError("unrecognised text-encoder LoRA module '\(base)'") }
            let tail = rest.dropFirst("text_model_encoder_layers_".count)
            guard let us = tail.firstIndex(of: "_"), let i = Int(tail[..<us]) else { throw EngineError("unrecognised text-encoder LoRA module '\(base)'") }
            let leaf = String(tail[tail.index(after: us)...])
            let map = ["self_attn_q_proj": "self_attn.q_proj", "self_attn_k_proj": "self_attn.k_proj",
                       "self_attn_v_proj": "self_attn.v_proj", "self_attn_out_proj": "self_attn.out_proj",
                       "mlp_fc1": "mlp.fc1", "mlp_fc2": "mlp.fc2"]
            guard let m = map[leaf] else { throw EngineError("unrecognised text-encoder LoRA module '\(base)'") }
            return (.textEncoder, whole("encoder.layers.\(i).\(m)"))
        }
        guard base.hasPrefix("lora_unet_") else { throw EngineError("unrecognised LoRA module '\(base)'") }
        let s = String(base.dropFirst("lora_unet_".count))
        let fixed: [String: String] = [
            "img_in": "x_embedder", "txt_in": "context_embedder", "final_layer_linear": "proj_out",
            "final_layer_adaLN_modulation_1": "norm_out.linear",
            "time_in_in_layer": "time_text_embed.timestep_embedder.linear_1",
            "time_in_out_layer": "time_text_embed.timestep_embedder.linear_2",
            "vector_in_in_layer": "time_text_embed.text_embedder.linear_1",
            "vector_in_out_layer": "time_text_embed.text_embedder.linear_2",
            "guidance_in_in_layer": "time_text_embed.guidance_embedder.linear_1",
            "guidance_in_out_layer": "time_text_embed.guidance_embedder.linear_2"]
        if let m = fixed[s] { return (.transformer, whole(m)) }
        func indexed(_ prefix: String) -> (Int, String)? {
            guard s.hasPrefix(prefix) else { return nil }
            let tail = s.dropFirst(prefix.count)
            guard let us = tail.firstIndex(of: "_"), let i = Int(tail[..<us]) else { return nil }
            return (i, String(tail[tail.index(after: us)...]))
        }
        if let (i, leaf) = indexed("double_blocks_") {
            let p = "transformer_blocks.\(i)."
            switch leaf {
            case "img_attn_qkv": return (.transformer, [(p + "attn.to_q", d), (p + "attn.to_k", d), (p + "attn.to_v", d)])
            case "txt_attn_qkv": return (.transformer, [(p + "attn.add_q_proj", d), (p + "attn.add_k_proj", d), (p + "attn.add_v_proj", d)])
            case "img_attn_proj": return (.transformer, whole(p + "attn.to_out.0"))
            case "txt_attn_proj": return (.transformer, whole(p + "attn.to_add_out"))
            case "img_mlp_0": return (.transformer, whole(p + "ff.net.0.proj"))
            case "img_mlp_2": return (.transformer, whole(p + "ff.net.2"))
            case "txt_mlp_0": return (.transformer, whole(p + "ff_context.net.0.proj"))
            case "txt_mlp_2": return (.transformer, whole(p + "ff_context.net.2"))
            case "img_mod_lin": return (.transformer, whole(p + "norm1.linear"))
            case "txt_mod_lin": return (.transformer, whole(p + "norm1_context.linear"))
            default: break
            }
        }
        if let (i, leaf) = indexed("single_blocks_") {
            let p = "single_transformer_blocks.\(i)."
            switch leaf {
            case "linear1": return (.transformer, [(p + "attn.to_q", d), (p + "attn.to_k", d), (p + "attn.to_v", d), (p + "proj_mlp", mlp)])
            case "linear2": return (.transformer, whole(p + "proj_out"))
            case "modulation_lin": return (.transformer, whole(p + "norm.linear"))
            default: break
            }
        }
        throw EngineError("unrecognised FLUX LoRA module '\(base)'")
    }
}
