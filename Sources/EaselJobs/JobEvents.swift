import Foundation
import Synchronization

/// A committed change to a job, published after the write returns (never while the store's writer is held).
public struct JobEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case queued, started, progress, cancelRequested = "cancel_requested", finished
    }
    public var kind: Kind
    public var jobID: String
    public var model: String
    public var status: JobStatus
    public var step: Int
    public var steps: Int
    /// True when a finished job enqueued a webhook delivery.
    public var webhookEnqueued: Bool
}

/// Fan-out of job events to observers: the scheduler (wake-ups), the webhook sender, and the HTTP layer's SSE streams.
/// Observers run on the thread that made the change and must return quickly.
public final class JobEvents: Sendable {
    public typealias Token = Int
    private let observers = Mutex<(next: Token, byToken: [Token: @Sendable (JobEvent) -> Void])>((0, [:]))

    public init() {}

    @discardableResult
    public func observe(_ observer: @escaping @Sendable (JobEvent) -> Void) -> Token {
        observers.withLock { o in
            o.next += 1
            o.byToken[o.next] = observer
            return o.next
        }
    }

    public func remove(_ token: Token) {
        _ = observers.withLock { $0.byToken.removeValue(forKey: token) }
    }

    /// The events of one job until (and including) its terminal event; for `GET /v1/jobs/{id}/events`.
    public func stream(jobID: String) -> AsyncStream<JobEvent> {
        AsyncStream { continuation in
            let token = observe { event in
                guard event.jobID == jobID else { return }
                continuation.yield(event)
                if event.status.isTerminal { continuation.finish() }
            }
            continuation.onTermination = { [weak self] _ in self?.remove(token) }
        }
    }

    func publish(_ events: [JobEvent]) {
        guard !events.isEmpty else { return }
        let current = observers.withLock { Array($0.byToken.values) }
        for event in events { for observer in current { observer(event) } }
    }
}
