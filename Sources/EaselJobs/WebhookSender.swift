import Foundation

/// Webhook sender settings (API.md `webhooks.*`).
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

    public init(secret: String) { self.secret = secret }
}

/// The delivery worker. A delivery enters `pending` when its job finishes (`JobStore.terminate`, same transaction),
/// stays pending across retries and restarts, and leaves for `delivered` (2xx) or `failed` (410, refused address,
/// schedule exhausted). It runs on its own thread and a small pool, woken by the store's `finished` events and by its
/// own timer for the next due retry; the API and executors never wait for it.
public final class WebhookSender: @unchecked Sendable {
    private let store: JobStore
    private let options: WebhookSenderOptions
    private let signer: WebhookSigner
    private let client: WebhookHTTPClient
    private let condition = NSCondition()
    private var woken = true
    private var stopping = false
    private var inFlight: Set<String> = []
    private var token: JobEvents.Token?
    private let pool = DispatchQueue(label: "easel.webhooks.pool", attributes: .concurrent)
    private let done = DispatchSemaphore(value: 0)

    public init(store: JobStore, options: WebhookSenderOptions) throws {
        self.store = store
        self.options = options
        signer = try WebhookSigner(secret: options.secret)
        client = WebhookHTTPClient(timeout: options.timeout)
    }

    public func start() {
        token = store.events.observe { [weak self] event in
            if event.webhookEnqueued { self?.wake() }
        }
        let thread = Thread { [self] in
            loop()
            done.signal()
        }
        thread.name = "easel.webhooks"
        thread.start()
    }

    /// Stops scheduling attempts and waits for those in flight; pending ones stay stored for the next start.
    public func stop() {
        if let token { store.events.remove(token) }
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        done.wait()
        condition.lock()
        while !inFlight.isEmpty { condition.wait() }
        condition.unlock()
    }

    public func wake() {
        condition.lock()
        woken = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            let busy = inFlight
            let room = options.maxConcurrent - busy.count
            condition.unlock()
            if room > 0, let due = try? store.dueWebhookDeliveries(limit: room, excluding: busy) {
                for delivery in due {
                    condition.lock()
                    inFlight.insert(delivery.id)
                    condition.unlock()
                    pool.async { [self] in
                        attempt(delivery)
                        condition.lock()
                        inFlight.remove(delivery.id)
                        woken = true
                        condition.broadcast()
                        condition.unlock()
                    }
                }
            }
            condition.lock()
            let next = inFlight.count < options.maxConcurrent ? ((try? store.nextWebhookDue(excluding: inFlight)) ?? nil) : nil
            if !woken && !stopping {
                if let next {
                    _ = condition.wait(until: Date().addingTimeInterval(max(0, next.timeIntervalSince(store.now)) + 0.001))
                } else {
                    condition.wait()
                }
            }
            woken = false
            let stop = stopping
            condition.unlock()
            if stop { return }
        }
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
    }
}
