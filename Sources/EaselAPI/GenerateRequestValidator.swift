import EaselJSON
import EaselEngine
import EaselJobs
import Foundation

/// Reads and checks a POST /v1/generate body (docs/API.md table): unknown fields, wrong types and out-of-range values are
/// 400 `invalid_request` naming the field; an unknown model is 404 `model_not_found`.
public struct GenerateRequestValidator {
    public static let fields: [String] = [
        "model", "prompt", "negative_prompt", "width", "height", "steps", "guidance", "seed", "num_images", "image",
        "strength", "loras", "output_format", "webhook_url", "priority", "timeout_s", "metadata",
    ]
    static let fieldSet = Set(fields)

    public var catalog: any ModelCatalog
    public var allowPrivateNetworks: Bool
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

        // Unsupported inputs are refused before the model is needed.
        if value("image") != nil {
            throw APIError.invalid("image", "image-to-image input is not supported by this model")
        }
        if value("strength") != nil {
            throw APIError.invalid("strength", "strength is not supported by this model (it applies only with image)")
        }
        if let loras = value("loras") {
            guard case .array(let items) = loras else { throw APIError.invalid("loras", "loras must be an array") }
            if !items.isEmpty { throw APIError.invalid("loras", "LoRAs are not supported by this model") }
        }

        var outputFormat = "png"
        if let v = value("output_format") {
            guard let s = v.stringValue else { throw APIError.invalid("output_format", "output_format must be a string") }
            guard s == "png" else { throw APIError.invalid("output_format", "output_format must be \"png\"") }
            outputFormat = s
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
        let width = try size("width", defaults.width, max: limits.maxWidth)
        let height = try size("height", defaults.height, max: limits.maxHeight)
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
        spec.outputFormat = outputFormat
        spec.priority = priority
        spec.timeoutS = timeout
        spec.webhookURL = webhookURL
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
