import EaselJSON
import Foundation
@_exported import EaselTestSupport
import XCTest
@testable import EaselJobs

/// A clock tests move by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ start: Date = Date(timeIntervalSince1970: 1_764_168_373)) { current = start }

    var now: Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func advance(_ seconds: TimeInterval) {
        lock.lock()
        current = current.addingTimeInterval(seconds)
        lock.unlock()
    }
}

func storeOptions(clock: TestClock? = nil, _ edit: (inout JobStoreOptions) -> Void = { _ in }) -> JobStoreOptions {
    var options = JobStoreOptions()
    if let clock { options.clock = { clock.now } }
    edit(&options)
    return options
}

func newJob(model: String = "m", key: String = "64x64x8", priority: JobPriority = .normal, steps: Int = 8,
            prompt: String = "a cat", webhook: String? = nil, timeout: TimeInterval? = nil,
            idempotencyKey: String? = nil, body: String? = nil) -> NewJob {
    NewJob(model: model, batchKey: key, priority: priority, steps: steps,
           input: Data(#"{"prompt":"\#(prompt)","seed":18446744073709551615}"#.utf8),
           metadata: Data(#"{"user":"u1"}"#.utf8), webhookURL: webhook, timeout: timeout,
           idempotencyKey: idempotencyKey, idempotencyBody: body.map { Data($0.utf8) })
}

extension JobRenderer {
    /// A small rendering of the fields these tests read. The store only calls the renderer; the API's job object
    /// (`JobJSON`) has its own tests in EaselAPITests.
    static let summary = JobRenderer(job: { summaryJSON($0).data }, webhookPayload: { job in
        JSONValue.object([("type", .string("job.\(job.status.rawValue)")),
                          ("timestamp", .string(Timestamp.rfc3339(job.completedAt ?? Date()))),
                          ("data", summaryJSON(job))]).data
    })

    private static func summaryJSON(_ job: JobRecord) -> JSONValue {
        .object([("id", .string(job.id)), ("status", .string(job.status.rawValue)),
                 ("progress", .object([("step", .int(job.step)), ("steps", .int(job.steps))])),
                 ("error", job.error.map { .object([("code", .string($0.code)), ("message", .string($0.message))]) } ?? .null)])
    }
}

extension JobStore {
    /// A store rendering with `JobRenderer.summary`.
    convenience init(dataDir: URL, options: JobStoreOptions = JobStoreOptions()) throws {
        try self.init(dataDir: dataDir, options: options, renderer: .summary)
    }
}
