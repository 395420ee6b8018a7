import Foundation

/// How jobs are written for their readers. The store deals in rows and states; the public wire format (the API's
/// job object, its image URLs, the webhook envelope) belongs to the API layer, which hands the store these two
/// functions. The store calls them to fill its read cache and to fix a webhook's payload when the job finishes.
public struct JobRenderer: Sendable {
    /// The job object, as `GET /v1/jobs/{id}` answers it.
    public var job: @Sendable (JobRecord) -> Data
    /// The body of the webhook for a terminal job (sent as it is on every attempt).
    public var webhookPayload: @Sendable (JobRecord) -> Data

    public init(job: @escaping @Sendable (JobRecord) -> Data, webhookPayload: @escaping @Sendable (JobRecord) -> Data) {
        self.job = job
        self.webhookPayload = webhookPayload
    }
}
