import EaselJSON
import EaselEngine
import EaselJobs
import Foundation

/// Reads and checks a POST /v1/generate body (docs/API.md table): unknown fields, wrong types and out-of-range values are
/// 400 `invalid_request` naming the field; an unknown model is 404 `model_not_found`.
public struct GenerateRequestValidator {
    public static let fields: [String] = [
        "model", "prompt", "negative_prompt", "width", "height", "steps", "guidance", "seed", "num_images", "image",
        "mask", "strength", "loras", "output_format", "output_quality", "webhook_url", "priority", "timeout_s", "metadata", "previews",
        "cache",
    ]
    static let fieldSet = Set(fields)

    public var catalog: any ModelCatalog
    public var allowPrivateNetworks: Bool
    /// Where request images go (nil: `image` refused) and the LoRA folder (nil: `loras` refused).
    public var inputs: InputStore?
    public var loras: LoRALibrary?
    /// Most LoRAs one request may stack.
    public static let maxLoRAs = 8
    /// Picks the seed when the request has none: below 2^53, so JavaScript clients can send it back exactly.
    public var randomSeed: () -> UInt64 = { UInt64.random(in: 0..<(1 << 53)) }

    public init(catalog: any ModelCatalog, allowPrivateNetworks: Bool) {
        self.catalog = catalog
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    public func validate(body: Data, idempotencyKey: String?) throws -> ValidatedGeneration {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch let error as JSONParseError {
            // The top-level member where reading failed, when there is one, is the field at fault.
            throw APIError.invalid(error.path.first, "the body is not valid JSON: \(error)")
        }
        guard case .object(let members) = json else { throw APIError.invalid(nil, "the body must be a JSON object") }
        if let unknown = members.first(where: { !Self.fieldSet.contains($0.0) }) {
            throw APIError.invalid(unknown.0, "unknown field \"\(unknown.0)\"")
        }
        func value(_ name: String) -> JSONValue? {
            guard let v = json[name], v != .null else { return nil }
            return v
        }

        guard let modelValue = value("model") else { throw APIError.invalid("model", "model is required") }
        guard let modelID = modelValue.stringValue else { throw APIError.invalid("model", "model must be a string") }
        guard let model = try catalog.capabilities(of: modelID) else {
            throw APIError.notFound("model_not_found", "no model \"\(modelID)\"; GET /v1/models lists them")
        }
        let limits = model.limits

        guard let promptValue = value("prompt") else { throw APIError.invalid("prompt", "prompt is required") }
        guard let prompt = promptValue.stringValue else { throw APIError.invalid("prompt", "prompt must be a string") }
        guard (1...4000).contains(prompt.count) else {
            throw APIError.invalid("prompt", "prompt must be 1 to 4000 characters")
        }

        // Image-to-image and inpainting: PNG, JPEG or WebP data URIs (kept as PNG), decoded here so that a bad image is
        // this request's 400.
        // Either a data URI or the id of an earlier upload.
        func pngBytes(_ s: String, field: String) throws -> Data {
            guard s.hasPrefix("sha256:") else {
                return try InputStore.decodeDataURI(s, field: field, maxPixels: limits.maxWidth * limits.maxHeight)
            }
            guard let inputs, inputs.has(s), let data = try? inputs.get(s) else {
                throw APIError.invalid(field, "no upload \"\(s.prefix(80))\" (POST /v1/uploads; an upload unused for queue.retention_hours is removed)")
            }
            return data
        }
        var imagePNG: Data?, imageSize: (width: Int, height: Int)?
        if let v = value("image") {
            guard let s = v.stringValue else { throw APIError.invalid("image", "image must be a string (a data:image/png;base64,… URI or an upload id)") }
            guard inputs != nil else { throw APIError.invalid("image", "this server does not take image inputs") }
            let png = try pngBytes(s, field: "image")
            let t: Tensor
            do { t = try ImageInput.image(png: png, maxPixels: limits.maxWidth * limits.maxHeight) } catch {
                throw APIError.invalid("image", "image is not a readable PNG within \(limits.maxWidth)x\(limits.maxHeight) pixels: \(error)")
            }
            imagePNG = png
            imageSize = (t.shape[2], t.shape[1])
        }
        var maskPNG: Data?
        if let v = value("mask") {
            guard let size = imageSize else { throw APIError.invalid("mask", "mask needs an image") }
            guard let s = v.stringValue else { throw APIError.invalid("mask", "mask must be a string (a data:image/png;base64,… URI or an upload id)") }
            let png = try pngBytes(s, field: "mask")
            let t: Tensor
            do { t = try ImageInput.mask(png: png, maxPixels: limits.maxWidth * limits.maxHeight) } catch {
                throw APIError.invalid("mask", "mask is not a readable PNG: \(error)")
            }
            guard t.shape[2] == size.width, t.shape[1] == size.height else {
                throw APIError.invalid("mask", "mask is \(t.shape[2])x\(t.shape[1]) but image is \(size.width)x\(size.height); they must match")
            }
            maskPNG = png
        }
        var strength: Double?
        if let v = value("strength") {
            guard imageSize != nil else { throw APIError.invalid("strength", "strength applies only with image") }
            guard let x = v.doubleValue, x.isFinite, x > 0, x <= 1 else {
                throw APIError.invalid("strength", "strength must be a number greater than 0 and at most 1")
            }
            strength = x
        } else if imageSize != nil {
            strength = 0.6
        }
        var loraRefs: [GenerationSpec.LoRARef]?
        if let v = value("loras") {
            guard case .array(let items) = v else { throw APIError.invalid("loras", "loras must be an array") }
            guard items.count <= Self.maxLoRAs else { throw APIError.invalid("loras", "at most \(Self.maxLoRAs) LoRAs per request") }
            var refs: [GenerationSpec.LoRARef] = []
            for (i, item) in items.enumerated() {
                let field = "loras[\(i)]"
                guard case .object(let members) = item else { throw APIError.invalid(field, "\(field) must be an object {\"path\": …, \"scale\": …}") }
                if let bad = members.first(where: { !["path", "scale"].contains($0.0) }) {
                    throw APIError.invalid("\(field).\(bad.0)", "unknown field \"\(bad.0)\" in \(field)")
                }
                guard let path = item["path"]?.stringValue else { throw APIError.invalid("\(field).path", "\(field).path must be a string") }
                var scale = 1.0
                if let sv = item.present("scale") {
                    guard let x = sv.doubleValue, x.isFinite, abs(x) <= 10 else {
                        throw APIError.invalid("\(field).scale", "\(field).scale must be a number from -10 to 10")
                    }
                    scale = x
                }
                guard let loras else { throw APIError.invalid("loras", "this server takes no LoRAs (no loras.dir, LoRA URLs off)") }
                try loras.check(name: path, field: "\(field).path")
                refs.append(.init(path: path, scale: scale))
            }
            if !refs.isEmpty { loraRefs = refs }
        }

        var outputFormat = ImageFormat.png
        if let v = value("output_format") {
            guard let s = v.stringValue, let f = ImageFormat(rawValue: s) else {
                throw APIError.invalid("output_format", "output_format must be \"png\", \"jpeg\" or \"webp\"")
            }
            outputFormat = f
        }
        var outputQuality: Int?
        if let v = value("output_quality") {
            guard let q = v.intValue, (1...100).contains(q) else {
                throw APIError.invalid("output_quality", "output_quality must be an integer from 1 to 100")
            }
            outputQuality = q
        }
        var priority = JobPriority.normal
        if let v = value("priority") {
            guard let s = v.stringValue, let p = JobPriority(rawValue: s) else {
                throw APIError.invalid("priority", "priority must be \"high\", \"normal\" or \"low\"")
            }
            priority = p
        }
        var timeout: Double?
        if let v = value("timeout_s") {
            guard let t = v.doubleValue, t.isFinite, t > 0, t <= 7 * 24 * 3600 else {
                throw APIError.invalid("timeout_s", "timeout_s must be a number of seconds > 0 (at most 604800)")
            }
            timeout = t
        }
        var metadata = JSONValue.object([])
        if let v = value("metadata") {
            guard case .object = v else { throw APIError.invalid("metadata", "metadata must be an object") }
            guard v.data.count <= 4096 else {
                throw APIError.invalid("metadata", "metadata must be at most 4 KiB serialized")
            }
            metadata = v
        }
        var webhookURL: String?
        if let v = value("webhook_url") {
            guard let s = v.stringValue else { throw APIError.invalid("webhook_url", "webhook_url must be a string") }
            guard s.utf8.count <= 2048 else {
                throw APIError.invalid("webhook_url", "webhook_url must be at most 2048 characters")
            }
            do {
                _ = try WebhookAddressGuard.check(s, allowPrivateNetworks: allowPrivateNetworks)
            } catch let error as WebhookURLError {
                throw APIError.invalid("webhook_url", "webhook_url refused: \(error.description)")
            }
            webhookURL = s
        }
        var seed: UInt64
        if let v = value("seed") {
            guard let s = v.uint64Value else {
                throw APIError.invalid("seed", "seed must be an integer from 0 to 18446744073709551615")
            }
            seed = s
        } else {
            seed = randomSeed()
        }
        var numImages = 1
        if let v = value("num_images") {
            guard let n = v.intValue, (1...limits.maxNumImages).contains(n) else {
                throw APIError.invalid("num_images", "num_images must be an integer from 1 to \(limits.maxNumImages)")
            }
            numImages = n
        }

        // The rest depends on the model itself.
        let defaults = model.defaults
        let step = model.sizeStep
        func size(_ name: String, _ fallback: Int, max: Int) throws -> Int {
            guard let v = value(name) else { return fallback }
            guard let n = v.intValue else { throw APIError.invalid(name, "\(name) must be an integer") }
            guard n >= step, n <= max else {
                throw APIError.invalid(name, "\(name) must be from \(step) to \(max) for model \(model.id)")
            }
            guard n % step == 0 else { throw APIError.invalid(name, "\(name) must be a multiple of \(step)") }
            return n
        }
        let width = try size("width", imageSize?.width ?? defaults.width, max: limits.maxWidth)
        let height = try size("height", imageSize?.height ?? defaults.height, max: limits.maxHeight)
        if outputFormat == .webp, max(width, height) > ImageFormat.maxWebPSide {
            throw APIError.invalid("output_format", "WebP images are at most \(ImageFormat.maxWebPSide) pixels a side; " +
                                   "this request is \(width)x\(height)")
        }
        if let imageSize, imageSize.width != width || imageSize.height != height {
            throw APIError.invalid("image", "image is \(imageSize.width)x\(imageSize.height) but the request asks for \(width)x\(height); omit width and height or send an image of that size")
        }
        if let imageSize, imageSize.width % step != 0 || imageSize.height % step != 0 {
            throw APIError.invalid("image", "image is \(imageSize.width)x\(imageSize.height); its sides must be multiples of \(step) for model \(model.id)")
        }
        var steps = defaults.steps
        if let v = value("steps") {
            guard let n = v.intValue, (1...limits.maxSteps).contains(n) else {
                throw APIError.invalid("steps", "steps must be an integer from 1 to \(limits.maxSteps)")
            }
            steps = n
        }
        var guidance = defaults.guidance
        if let v = value("guidance") {
            guard let g = v.doubleValue, g.isFinite, g >= 0, g <= 100 else {
                throw APIError.invalid("guidance", "guidance must be a number from 0 to 100")
            }
            guidance = g
        }
        var negativePrompt = ""
        if let v = value("negative_prompt") {
            guard let s = v.stringValue else {
                throw APIError.invalid("negative_prompt", "negative_prompt must be a string")
            }
            guard s.count <= 4000 else {
                throw APIError.invalid("negative_prompt", "negative_prompt must be at most 4000 characters")
            }
            if !s.isEmpty && !model.usesNegativePrompt {
                throw APIError.invalid("negative_prompt", "model \(model.id) does not use a negative prompt")
            }
            negativePrompt = s
        }

        var spec = GenerationSpec(model: model.id, prompt: prompt, width: width, height: height, steps: steps,
                                  guidance: guidance, seed: seed)
        spec.negativePrompt = negativePrompt
        spec.numImages = numImages
        spec.outputFormat = outputFormat.rawValue
        spec.outputQuality = outputQuality
        spec.priority = priority
        spec.timeoutS = timeout
        spec.webhookURL = webhookURL
        spec.strength = strength
        if let v = value("previews") {
            guard case .bool(let b) = v else { throw APIError.invalid("previews", "previews must be true or false") }
            if b { spec.previews = true }
        }
        spec.loras = loraRefs
        if let v = json["cache"] {
            switch v {
            case .null, .bool(false): spec.cache = nil
            case .bool(true): spec.cache = .init(threshold: model.cacheThreshold ?? StepCache.defaultThreshold)
            case .object(let members):
                if let unknown = members.first(where: { $0.0 != "threshold" }) {
                    throw APIError.invalid("cache", "unknown field \"cache.\(unknown.0)\"")
                }
                var t = model.cacheThreshold ?? StepCache.defaultThreshold
                if let tv = v["threshold"], tv != .null {
                    guard let x = tv.doubleValue, x.isFinite, x >= 0, x <= 1 else {
                        throw APIError.invalid("cache", "cache.threshold must be a number from 0 to 1")
                    }
                    t = x
                }
                spec.cache = t > 0 ? .init(threshold: t) : nil
            default:
                throw APIError.invalid("cache", "cache must be an object {\"threshold\": …}, true or false")
            }
        } else if let t = model.cacheThreshold, t > 0 {
            spec.cache = .init(threshold: t)
        }
        if let store = inputs {
            do {
                spec.image = try imagePNG.map(store.put)
                spec.mask = try maskPNG.map(store.put)
            } catch { throw APIError.internalError("storing the request image: \(error)") }
        }
        let input: JSONValue
        do { input = try JSONValueEncoder().encode(spec) } catch { throw APIError.internalError("\(error)") }
        let job = NewJob(model: model.id, batchKey: model.batchKey(spec), priority: priority,
                         steps: steps * numImages, input: input.data, metadata: metadata.data,
                         webhookURL: webhookURL, timeout: timeout, idempotencyKey: idempotencyKey,
                         idempotencyBody: idempotencyKey == nil ? nil : body)
        return ValidatedGeneration(spec: spec, job: job)
    }

    /// The spec stored as a job's `input` (the executor's side of `validate`).
    public static func spec(fromInput data: Data) throws -> GenerationSpec {
        try JSONValueDecoder().decode(GenerationSpec.self, from: JSONValue.parse(data))
    }
}
