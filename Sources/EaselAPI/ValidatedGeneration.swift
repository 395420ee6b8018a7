import EaselJSON
import EaselEngine
import EaselJobs
import Foundation

/// A POST /v1/generate body that passed validation: the engine request, the normalized input stored with the job,
/// and the job to submit.
public struct ValidatedGeneration {
    public var model: ModelEntry
    public var request: GenerationRequest
    /// `input` of the job object: the request with defaults filled in and the seed used.
    public var input: JSONValue
    public var job: NewJob
}
