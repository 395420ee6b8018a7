import EaselJobs
import Foundation

/// A POST /v1/generate body that passed validation: the spec (defaults filled in, the seed chosen) and the job to
/// submit, whose `input` is that spec encoded.
public struct ValidatedGeneration: Sendable {
    public var spec: GenerationSpec
    public var job: NewJob
}
