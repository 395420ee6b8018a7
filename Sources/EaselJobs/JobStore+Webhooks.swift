import Foundation

/// One stored webhook message. `id` is the `webhook-id`, the same on every attempt; `payload` is the exact body,
/// rendered when the job finished.
public struct WebhookDelivery: Sendable, Equatable {
    public var id: String
    public var jobID: String
    public var url: String
    public var payload: Data
    /// Attempts made so far.
    public var attempts: Int
    public var nextAttempt: Date
}

/// The outcome of one delivery attempt, as the sender records it.
public enum WebhookAttemptResult: Sendable, Equatable {
    case delivered(status: Int)
    case retry(at: Date, status: Int?, error: String?)
    case failed(status: Int?, error: String?)
}

extension JobStore {
    /// Pending deliveries due by now, oldest first, skipping the ones already in flight.
    public func dueWebhookDeliveries(limit: Int, excluding inFlight: Set<String> = []) throws -> [WebhookDelivery] {
        let rows = try read { db in
            try db.query("""
                SELECT id, job_id, url, payload, attempts, next_attempt_ms FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_ms <= ? ORDER BY next_attempt_ms, created_ms LIMIT ?
                """, [.int(Timestamp.milliseconds(now)), .int(limit + inFlight.count)]) {
                WebhookDelivery(id: $0.text(0), jobID: $0.text(1), url: $0.text(2), payload: $0.blob(3),
                                attempts: $0.int(4), nextAttempt: Timestamp.date(milliseconds: $0.int(5)))
            }
        }
        return Array(rows.filter { !inFlight.contains($0.id) }.prefix(limit))
    }

    /// When the next pending delivery not in flight is due; nil when none is pending.
    public func nextWebhookDue(excluding inFlight: Set<String> = []) throws -> Date? {
        try read { db in
            try db.query("SELECT id, next_attempt_ms FROM webhook_deliveries WHERE state = 'pending' "
                         + "ORDER BY next_attempt_ms LIMIT ?", [.int(inFlight.count + 1)]) { ($0.text(0), $0.int(1)) }
                .first { !inFlight.contains($0.0) }
                .map { Timestamp.date(milliseconds: $0.1) }
        }
    }

    /// Records an attempt on the delivery and mirrors it in the job's `webhook` object.
    public func recordWebhookAttempt(_ deliveryID: String, _ result: WebhookAttemptResult) throws {
        let (state, status, error, next): (String, Int?, String?, Int?) = {
            switch result {
            case .delivered(let status): return ("delivered", status, nil, nil)
            case .retry(let at, let status, let error): return ("pending", status, error, Timestamp.milliseconds(at))
            case .failed(let status, let error): return ("failed", status, error, nil)
            }
        }()
        try write {
            try writer.transaction {
                try writer.run("""
                    UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1,
                        next_attempt_ms = COALESCE(?, next_attempt_ms) WHERE id = ?
                    """, [.text(state), .int(next), .text(deliveryID)])
                try writer.run("""
                    UPDATE jobs SET webhook_state = ?, webhook_attempts = webhook_attempts + 1, webhook_last_status = ?,
                        webhook_last_error = ?
                    WHERE id = (SELECT job_id FROM webhook_deliveries WHERE id = ?)
                    """, [.text(state), .int(status), .text(error), .text(deliveryID)])
            }
        }
    }
}
