import EaselJSON

/// Per-model request limits (config `models[].limits`); the defaults suit FLUX-size models.
public struct ModelLimits: Sendable, Equatable {
    public var maxWidth = 2048
    public var maxHeight = 2048
    public var maxSteps = 100
    public var maxNumImages = 8

    public init() {}

    public var json: JSONValue {
        .object([("max_width", .int(maxWidth)), ("max_height", .int(maxHeight)), ("max_steps", .int(maxSteps)),
                 ("max_num_images", .int(maxNumImages))])
    }
}
