import Foundation

/// Decides what an attempt's answer means: 2xx delivered; 410 failed at once; anything else (or no answer) retried
/// after the schedule's next delay plus up to `jitter` of it, at least Retry-After for 429/503, until the schedule
/// runs out.
public struct WebhookRetryPolicy: Sendable {
    public var schedule: [TimeInterval]
    public var jitter: Double

    public init(schedule: [TimeInterval] = [5, 30, 120, 600, 1800, 3600, 10800], jitter: Double = 0.1) {
        self.schedule = schedule
        self.jitter = jitter
    }

    /// `attempts` counts this attempt (1 after the first).
    public func decide(_ response: WebhookHTTPResponse, attempts: Int, now: Date,
                       random: Double = Double.random(in: 0...1)) -> WebhookAttemptResult {
        var status: Int?
        var error: String?
        var retryAfter: TimeInterval?
        switch response {
        case .status(let code, let after):
            if (200...299).contains(code) { return .delivered(status: code) }
            status = code
            error = (300...399).contains(code) ? "redirect not followed" : "HTTP \(code)"
            if code == 410 { return .failed(status: code, error: "410 Gone: endpoint disabled") }
            if code == 429 || code == 503 { retryAfter = after }
        case .transportError(let message):
            error = message
        }
        guard attempts >= 1, attempts <= schedule.count else { return .failed(status: status, error: error) }
        var delay = schedule[attempts - 1] * (1 + jitter * min(max(random, 0), 1))
        if let retryAfter { delay = max(delay, retryAfter) }
        return .retry(at: now.addingTimeInterval(delay), status: status, error: error)
    }
}
