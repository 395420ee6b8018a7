import Crypto
import Foundation
import XCTest
@testable import EaselJobs

final class WebhookSignatureTests: XCTestCase {
    func test_signature_matchesTheStandardWebhooksSpecExample() throws {
        // The example from the Standard Webhooks specification and its reference libraries.
        let signer = try WebhookSigner(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        XCTAssertEqual(signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                        body: Data(#"{"test": 2432232314}"#.utf8)),
                       "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    func test_signature_matchesAnIndependentPythonVector() throws {
        // python3 -c 'import hmac,hashlib,base64; key=bytes(range(32));
        //   body=b"{\"type\":\"job.succeeded\",\"data\":{\"id\":\"job_X\"}}";
        //   print(base64.b64encode(hmac.new(key,b"msg_01TEST.1764168373."+body,hashlib.sha256).digest()).decode())'
        let secret = "whsec_" + Data(0..<32).base64EncodedString()
        XCTAssertEqual(secret, "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        let signer = try WebhookSigner(secret: secret)
        XCTAssertEqual(signer.signature(id: "msg_01TEST", timestamp: 1_764_168_373,
                                        body: Data(#"{"type":"job.succeeded","data":{"id":"job_X"}}"#.utf8)),
                       "v1,ErcaXV+hfrEZfgLs2BWNGYU+xH2jGxvDrKeWUUmlf64=")
    }

    func test_secret_rejectsBadForms() {
        XCTAssertThrowsError(try WebhookSigner(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        XCTAssertThrowsError(try WebhookSigner(secret: "whsec_!!!"))
        XCTAssertThrowsError(try WebhookSigner(secret: "whsec_" + Data(count: 16).base64EncodedString()))
        XCTAssertThrowsError(try WebhookSigner(secret: "whsec_" + Data(count: 65).base64EncodedString()))
    }

    func test_secret_generatedOnce_storedWith0600() throws {
        let dir = try makeTempDir()
        let (secret, created) = try WebhookSecret.loadOrCreate(dataDir: dir, configured: nil)
        XCTAssertTrue(created)
        XCTAssertTrue(secret.hasPrefix("whsec_"))
        XCTAssertEqual(Data(base64Encoded: String(secret.dropFirst(6)))?.count, 32)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("webhook_secret").path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let again = try WebhookSecret.loadOrCreate(dataDir: dir, configured: nil)
        XCTAssertEqual(again.secret, secret)
        XCTAssertFalse(again.created)
        XCTAssertEqual(try WebhookSecret.loadOrCreate(dataDir: dir, configured: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").secret,
                       "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    }
}

final class WebhookAddressGuardTests: XCTestCase {
    func test_addressTable() {
        let forbidden = [
            "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
            "0.0.0.0", "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.1.1.1", "255.255.255.255", "240.0.0.1",
            "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "ff02::1", "::ffff:127.0.0.1",
            "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a00:1", "2002:c0a8:101::1",
        ]
        let allowed = [
            "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "192.169.0.1",
            "169.253.0.1", "223.255.255.255", "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ]
        for text in forbidden {
            let bytes = WebhookAddressGuard.parse(text)
            XCTAssertNotNil(bytes, text)
            XCTAssertTrue(WebhookAddressGuard.isForbidden(bytes ?? []), "\(text) must be refused")
        }
        for text in allowed {
            XCTAssertFalse(WebhookAddressGuard.isForbidden(WebhookAddressGuard.parse(text) ?? []), "\(text) must pass")
        }
    }

    func test_urls_refusedUnlessPrivateNetworksAllowed() throws {
        for url in ["http://127.0.0.1/h", "http://localhost:8080/h", "http://[::1]/h", "http://2130706433/h",
                    "http://127.1/h", "https://10.0.0.5/h", "http://[::ffff:127.0.0.1]/h", "http://0/h"] {
            XCTAssertThrowsError(try WebhookAddressGuard.check(url, allowPrivateNetworks: false), url) {
                guard case WebhookURLError.forbiddenAddress = $0 else { return XCTFail("\(url): \($0)") }
            }
        }
        let target = try WebhookAddressGuard.check("http://127.0.0.1:9/h", allowPrivateNetworks: true)
        XCTAssertEqual(target.address, "127.0.0.1")
        XCTAssertEqual(target.port, 9)
        let v6 = try WebhookAddressGuard.check("https://[::1]/h", allowPrivateNetworks: true)
        XCTAssertEqual(v6.address, "::1")
        XCTAssertEqual(v6.port, 443)
        XCTAssertTrue(v6.isIPv6)
        let public4 = try WebhookAddressGuard.check("https://8.8.8.8/h", allowPrivateNetworks: false)
        XCTAssertEqual(public4.address, "8.8.8.8")
        for url in ["ftp://example.com/x", "/relative", "file:///etc/passwd", "http:///nohost",
                    "http://x/" + String(repeating: "a", count: 2048)] {
            XCTAssertThrowsError(try WebhookAddressGuard.check(url, allowPrivateNetworks: true), url)
        }
    }
}

final class WebhookRetryPolicyTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1000)
    let policy = WebhookRetryPolicy(schedule: [5, 30], jitter: 0.1)

    func test_decisions() {
        XCTAssertEqual(policy.decide(.status(204, retryAfter: nil), attempts: 1, now: now), .delivered(status: 204))
        XCTAssertEqual(policy.decide(.status(500, retryAfter: nil), attempts: 1, now: now, random: 0),
                       .retry(at: now.addingTimeInterval(5), status: 500, error: "HTTP 500"))
        XCTAssertEqual(policy.decide(.status(500, retryAfter: nil), attempts: 2, now: now, random: 1),
                       .retry(at: now.addingTimeInterval(33), status: 500, error: "HTTP 500"), "10% jitter at most")
        XCTAssertEqual(policy.decide(.status(500, retryAfter: nil), attempts: 3, now: now),
                       .failed(status: 500, error: "HTTP 500"), "schedule exhausted")
        XCTAssertEqual(policy.decide(.status(410, retryAfter: nil), attempts: 1, now: now),
                       .failed(status: 410, error: "410 Gone: endpoint disabled"))
        XCTAssertEqual(policy.decide(.status(429, retryAfter: 120), attempts: 1, now: now, random: 0),
                       .retry(at: now.addingTimeInterval(120), status: 429, error: "HTTP 429"))
        XCTAssertEqual(policy.decide(.status(500, retryAfter: 120), attempts: 1, now: now, random: 0),
                       .retry(at: now.addingTimeInterval(5), status: 500, error: "HTTP 500"), "only 429/503 honour it")
        XCTAssertEqual(policy.decide(.status(302, retryAfter: nil), attempts: 1, now: now, random: 0),
                       .retry(at: now.addingTimeInterval(5), status: 302, error: "redirect not followed"))
        XCTAssertEqual(policy.decide(.transportError("refused"), attempts: 1, now: now, random: 0),
                       .retry(at: now.addingTimeInterval(5), status: nil, error: "refused"))
        XCTAssertEqual(WebhookHTTPClient.parseRetryAfter("7"), 7)
        XCTAssertNil(WebhookHTTPClient.parseRetryAfter("soon"))
    }
}

final class WebhookSenderTests: XCTestCase {
    static let secret = "whsec_" + Data(0..<32).base64EncodedString()

    /// A store with one finished job whose webhook points at `url`, and a started sender.
    private func deliver(to url: String, schedule: [TimeInterval] = [0.05, 0.05], allowPrivate: Bool = true,
                         dir: URL? = nil) throws -> (JobStore, WebhookSender, String) {
        let store = try JobStore(dataDir: dir ?? makeTempDir())
        let job = try store.insert(newJob(webhook: url)).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)
        try store.finish(job.id, .failed(JobError(code: "internal", message: "boom"), inferenceMs: 1))
        let sender = try startSender(store, schedule: schedule, allowPrivate: allowPrivate)
        return (store, sender, job.id)
    }

    private func startSender(_ store: JobStore, schedule: [TimeInterval], allowPrivate: Bool = true) throws -> WebhookSender {
        var options = WebhookSenderOptions(secret: Self.secret)
        options.policy = WebhookRetryPolicy(schedule: schedule, jitter: 0.1)
        options.timeout = 2
        options.allowPrivateNetworks = allowPrivate
        options.userAgent = "Easel/test"
        let sender = try WebhookSender(store: store, options: options)
        sender.start()
        addTeardownBlock { sender.stop() }
        return sender
    }

    func test_500Then200_retriesWithTheSameIDAndAValidSignature() throws {
        let receiver = try WebhookReceiver(script: [.init(status: 500), .init(status: 200)])
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url)
        try eventually("delivered") { try store.get(jobID)?.webhook?.state == .delivered }
        let hook = try XCTUnwrap(store.get(jobID)?.webhook)
        XCTAssertEqual(hook.attempts, 2)
        XCTAssertEqual(hook.lastStatus, 200)
        XCTAssertNil(hook.lastError)

        let requests = receiver.requests
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests[0].headers["webhook-id"], requests[1].headers["webhook-id"])
        XCTAssertTrue(requests[0].headers["webhook-id"]?.hasPrefix("msg_") ?? false)
        for request in requests {
            XCTAssertEqual(request.method, "POST")
            XCTAssertEqual(request.path, "/hook")
            XCTAssertEqual(request.headers["content-type"], "application/json")
            XCTAssertEqual(request.headers["user-agent"], "Easel/test")
            XCTAssertEqual(request.headers["host"], "127.0.0.1:\(receiver.port)")
            // Verify as a receiver would, with HMAC computed here from the raw key.
            let id = try XCTUnwrap(request.headers["webhook-id"])
            let timestamp = try XCTUnwrap(request.headers["webhook-timestamp"])
            XCTAssertLessThan(abs(Double(timestamp)! - Date().timeIntervalSince1970), 60)
            var signed = Data("\(id).\(timestamp).".utf8)
            signed.append(request.body)
            let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(0..<32)))
            XCTAssertEqual(request.headers["webhook-signature"], "v1," + Data(mac).base64EncodedString())
        }
        let payload = try XCTUnwrap(JSONSerialization.jsonObject(with: requests[0].body) as? [String: Any])
        XCTAssertEqual(payload["type"] as? String, "job.failed")
        XCTAssertNotNil(payload["timestamp"] as? String)
        let data = try XCTUnwrap(payload["data"] as? [String: Any])
        XCTAssertEqual(data["id"] as? String, jobID)
        XCTAssertEqual((data["error"] as? [String: Any])?["code"] as? String, "internal")
        XCTAssertEqual(requests[0].body, requests[1].body, "the same message on every attempt")
    }

    func test_410_stopsAtOnce() throws {
        let receiver = try WebhookReceiver(script: [.init(status: 410)])
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url)
        try eventually("failed") { try store.get(jobID)?.webhook?.state == .failed }
        XCTAssertEqual(try store.get(jobID)?.webhook?.lastStatus, 410)
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(receiver.requests.count, 1)
    }

    func test_scheduleExhausted_endsFailed() throws {
        let receiver = try WebhookReceiver(script: Array(repeating: .init(status: 500), count: 5))
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url, schedule: [0.02, 0.02])
        try eventually("failed") { try store.get(jobID)?.webhook?.state == .failed }
        XCTAssertEqual(receiver.requests.count, 3, "the first attempt and one per schedule entry")
        XCTAssertEqual(try store.get(jobID)?.webhook?.attempts, 3)
    }

    func test_503WithRetryAfter_waitsAtLeastThatLong() throws {
        let receiver = try WebhookReceiver(script: [.init(status: 503, headers: [("Retry-After", "1")]),
                                                        .init(status: 200)])
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url, schedule: [0.01])
        try eventually("delivered") { try store.get(jobID)?.webhook?.state == .delivered }
        let requests = receiver.requests
        XCTAssertEqual(requests.count, 2)
        XCTAssertGreaterThanOrEqual(requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt), 0.95)
    }

    func test_redirect_isNotFollowed() throws {
        let receiver = try WebhookReceiver(script: [.init(status: 307, headers: [("Location", "/elsewhere")])])
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url, schedule: [60])
        try eventually("attempt recorded") { try store.get(jobID)?.webhook?.attempts == 1 }
        let hook = try XCTUnwrap(store.get(jobID)?.webhook)
        XCTAssertEqual(hook.state, .pending)
        XCTAssertEqual(hook.lastStatus, 307)
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertEqual(receiver.requests.map(\.path), ["/hook"])
    }

    func test_privateAddress_refusedAtDeliveryWithoutConnecting() throws {
        let receiver = try WebhookReceiver(script: [])
        defer { receiver.close() }
        let (store, _, jobID) = try deliver(to: receiver.url, allowPrivate: false)
        try eventually("failed") { try store.get(jobID)?.webhook?.state == .failed }
        XCTAssertTrue(try store.get(jobID)?.webhook?.lastError?.contains("127.0.0.1") ?? false)
        XCTAssertEqual(receiver.requests.count, 0)
    }

    func test_connectionRefused_isRetried() throws {
        let receiver = try WebhookReceiver(script: [])
        let url = receiver.url
        receiver.close()
        let (store, _, jobID) = try deliver(to: url, schedule: [60])
        try eventually("attempt recorded") { try store.get(jobID)?.webhook?.attempts == 1 }
        let hook = try XCTUnwrap(store.get(jobID)?.webhook)
        XCTAssertEqual(hook.state, .pending)
        XCTAssertNil(hook.lastStatus)
        XCTAssertNotNil(hook.lastError)
    }

    func test_pendingDelivery_resumesAfterRestart() throws {
        let receiver = try WebhookReceiver(script: [.init(status: 200)])
        defer { receiver.close() }
        let dir = try makeTempDir()
        let first = try JobStore(dataDir: dir)
        let job = try first.insert(newJob(webhook: receiver.url)).job
        _ = try first.claimBatch(model: "m", maxBatchSize: 1)
        try first.finish(job.id, .canceled(inferenceMs: nil))
        first.close()  // stopped before any sender ran

        let store = try JobStore(dataDir: dir)
        XCTAssertEqual(store.recovery.pendingWebhooks, 1)
        _ = try startSender(store, schedule: [0.05])
        try eventually("delivered") { try store.get(job.id)?.webhook?.state == .delivered }
        let payload = try XCTUnwrap(JSONSerialization.jsonObject(with: receiver.requests[0].body) as? [String: Any])
        XCTAssertEqual(payload["type"] as? String, "job.canceled")
    }
}
