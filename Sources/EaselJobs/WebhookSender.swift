import Foundation
import Synchronization

/// Webhook sender settings (docs/API.md `webhooks.*`).
public struct WebhookSenderOptions: Sendable {
    /// `whsec_…`, e.g. from `WebhookSecret.loadOrCreate`.
    public var secret: String
    public var policy = WebhookRetryPolicy()
    /// Per attempt: connect, send, and the answer.
    public var timeout: TimeInterval = 15
    public var allowPrivateNetworks = false
    /// `Easel/<version>`.
    public var userAgent = "Easel/0.1"
    /// Deliveries in flight at once, so one slow receiver does not hold up the others.
    public var maxConcurrent = 4
    /// Called after every recorded attempt (metrics); on a pool thread.
    public var onAttempt: (@Sendable (WebhookAttemptResult) -> Void)?

    public init(secret: String) { self.secret = secret }
}

/// The delivery worker. A delivery enters `pending` when its job finishes (`JobStore.terminate`, same transaction),
/// stays pending across retries and restarts, and leaves for `delivered` (2xx) or `failed` (410, refused address,
/// schedule exhausted). It runs on its own thread and a small pool, woken by the store's `finished` events and by its
/// own timer for the next due retry; the API and executors never wait for it.
public final class WebhookSender: Sendable {
    private let store: JobStore
    private let options: WebhookSenderOptions
    private let signer: WebhookSigner
    private let client: WebhookHTTPClient
    private let worker = WorkerThread(name: "easel.webhooks")
    /// Deliveries being attempted now, so a retry never overlaps its previous attempt.
    private let inFlight = Mutex<Set<String>>([])
    private let attempts = DispatchGroup()
    private let token = Mutex<JobEvents.Token?>(nil)
    private let pool = DispatchQueue(label: "easel.webhooks.pool", attributes: .concurrent)

    public init(store: JobStore, options: WebhookSenderOptions) throws {
        self.store = store
        self.options = options
        signer = try WebhookSigner(secret: options.secret)
        client = WebhookHTTPClient(timeout: options.timeout)
    }

    public func start() {
        let observer = store.events.observe { [weak self] event in
            if event.webhookEnqueued { self?.wake() }
        }
        token.withLock { $0 = observer }
        worker.start { [self] in loop() }
    }

    /// Stops scheduling attempts and waits for those in flight; pending ones stay stored for the next start.
    public func stop() {
        if let observer = token.withLock({ $0 }) { store.events.remove(observer) }
        worker.stop()
        attempts.wait()
    }

    public func wake() { worker.wake() }

    private func loop() {
        repeat {
            let busy = inFlight.withLock { $0 }
            let room = options.maxConcurrent - busy.count
            let due = room > 0 ? ((try? store.dueWebhookDeliveries(limit: room, excluding: busy)) ?? []) : []
            for delivery in due {
                _ = inFlight.withLock { $0.insert(delivery.id) }
                pool.async(group: attempts) { [self] in
                    attempt(delivery)
                    _ = inFlight.withLock { $0.remove(delivery.id) }
                    worker.wake()
                }
            }
        } while worker.sleep(timeout: nextWake())
    }

    /// Until the next due retry; nil (until woken) when none is pending or every slot is busy.
    private func nextWake() -> TimeInterval? {
        let busy = inFlight.withLock { $0 }
        guard busy.count < options.maxConcurrent, let next = (try? store.nextWebhookDue(excluding: busy)) ?? nil else {
            return nil
        }
        return next.timeIntervalSince(store.now) + 0.001
    }

    /// One POST: re-check the address (DNS may have changed since submission), sign with this attempt's timestamp,
    /// send, record.
    func attempt(_ delivery: WebhookDelivery) {
        let now = store.now
        let result: WebhookAttemptResult
        do {
            let target = try WebhookAddressGuard.check(delivery.url, allowPrivateNetworks: options.allowPrivateNetworks)
            let timestamp = Int(now.timeIntervalSince1970)
            let headers = [
                ("webhook-id", delivery.id),
                ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", signer.signature(id: delivery.id, timestamp: timestamp, body: delivery.payload)),
                ("Content-Type", "application/json"),
                ("User-Agent", options.userAgent),
            ]
            let response = client.post(to: target, body: delivery.payload, headers: headers)
            result = options.policy.decide(response, attempts: delivery.attempts + 1, now: store.now)
        } catch WebhookURLError.forbiddenAddress(let address) {
            result = .failed(status: nil, error: WebhookURLError.forbiddenAddress(address).description)
        } catch {
            result = options.policy.decide(.transportError("\(error)"), attempts: delivery.attempts + 1, now: store.now)
        }
        try? store.recordWebhookAttempt(delivery.id, result)
        options.onAttempt?(result)
    }
}
