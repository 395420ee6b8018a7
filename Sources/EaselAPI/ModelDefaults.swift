import EaselJSON

/// Request defaults for a model: the config's `defaults`, each missing one taken from the pipeline.
public struct ModelDefaults: Sendable, Equatable {
    public var width: Int?
    public var height: Int?
    public var steps: Int?
    public var guidance: Double?

    public init(width: Int? = nil, height: Int? = nil, steps: Int? = nil, guidance: Double? = nil) {
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
    }

    public var json: JSONValue {
        var m: [(String, JSONValue)] = []
        if let width { m.append(("width", .int(width))) }
        if let height { m.append(("height", .int(height))) }
        if let steps { m.append(("steps", .int(steps))) }
        if let guidance { m.append(("guidance", .double(guidance))) }
        return .object(m)
    }
}
