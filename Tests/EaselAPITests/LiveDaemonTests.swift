import EaselJSON
import Crypto
import EaselAPI
import EaselJobs
import Foundation
import XCTest

/// The real daemon in-process on 127.0.0.1 (ephemeral port): concurrent submissions batch together, a webhook
/// arrives signed per Standard Webhooks, the server's own limits answer in JSON.
final class LiveDaemonTests: XCTestCase {
    func testConcurrentJobsBatchAndWebhookIsSigned() throws {
        let receiver = try WebhookReceiver()
        defer { receiver.close() }
        let daemon = try makeDaemon { $0.allowPrivateNetworks = true }
        defer { daemon.stop() }
        let port = try daemon.start()
        XCTAssertEqual(try LoopbackClient.request(port: port, "GET", "/healthz").status, 200)

        // 12 submissions at once; the first carries a webhook.
        let lock = NSLock()
        var ids = [Int: String]()
        var statuses = [Int]()
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            let hook = i == 0 ? #", "webhook_url": "\#(receiver.url)", "metadata": {"n": 0}"# : ""
            let a = try? LoopbackClient.json(port: port, "POST", "/v1/generate",
                                             #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": \#(i)\#(hook)}"#)
            lock.withLock {
                statuses.append(a?.status ?? 0)
                ids[i] = a?.json["id"]?.stringValue
            }
        }
        XCTAssertEqual(statuses, Array(repeating: 202, count: 12))
        XCTAssertEqual(ids.count, 12)

        var jobs: [JSONValue] = []
        eventually(timeout: 90, "all 12 succeeded") {
            jobs = ids.values.compactMap { try? LoopbackClient.request(port: port, "GET", "/v1/jobs/\($0)").json }
            return jobs.count == 12 && jobs.allSatisfy { $0["status"]?.stringValue == "succeeded" }
        }
        let sizes = jobs.compactMap { $0["metrics"]?["batch_size"]?.intValue }
        XCTAssertGreaterThan(sizes.max() ?? 0, 1, "some jobs ran batched: \(sizes)")
        let metrics = try LoopbackClient.request(port: port, "GET", "/metrics").text
        XCTAssertTrue(metrics.contains("easel_jobs_total{model=\"easel-shapes\",status=\"succeeded\"} 12"), metrics)

        // The webhook: Standard Webhooks v1 signature over "<id>.<timestamp>.<body>".
        eventually(timeout: 20, "webhook delivered") { !receiver.requests.isEmpty }
        let delivery = try XCTUnwrap(receiver.requests.first)
        let id = try XCTUnwrap(delivery.headers["webhook-id"])
        let timestamp = try XCTUnwrap(delivery.headers["webhook-timestamp"])
        let signature = try XCTUnwrap(delivery.headers["webhook-signature"])
        XCTAssertTrue(signature.hasPrefix("v1,"))
        let key = try XCTUnwrap(Data(base64Encoded: String(daemon.webhookSecret.dropFirst("whsec_".count))))
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).".utf8) + delivery.body,
                                                  using: SymmetricKey(data: key))
        XCTAssertEqual(String(signature.dropFirst(3)), Data(mac).base64EncodedString())
        XCTAssertLessThan(abs(Double(timestamp)! - Date().timeIntervalSince1970), 60)
        let payload = try JSONValue.parse(delivery.body)
        XCTAssertEqual(payload["type"]?.stringValue, "job.succeeded")
        XCTAssertEqual(payload["data"]?["id"]?.stringValue, ids[0])
        XCTAssertEqual(payload["data"]?["metadata"]?["n"]?.intValue, 0)
        XCTAssertEqual(delivery.headers["content-type"], "application/json")
        XCTAssertTrue(delivery.headers["user-agent"]?.hasPrefix("Easel/") ?? false)
        eventually(timeout: 5, "delivery recorded") {
            (try? LoopbackClient.request(port: port, "GET", "/v1/jobs/\(ids[0]!)").json["webhook"]?["state"]?.stringValue)
                == "delivered"
        }
        XCTAssertTrue(try LoopbackClient.request(port: port, "GET", "/metrics").text
            .contains("easel_webhook_deliveries_total{result=\"delivered\"} 1"))
    }

    func testServerLimitsAnswerInJSONAndEventsStreamOverHTTP() throws {
        let daemon = try makeDaemon { $0.maxBodyBytes = 2048 }
        defer { daemon.stop() }
        let port = try daemon.start()
        let big = #"{"model": "easel-shapes", "prompt": "\#(String(repeating: "a", count: 5000))"}"#
        let tooBig = try LoopbackClient.json(port: port, "POST", "/v1/generate", big)
        XCTAssertEqual(tooBig.status, 413)
        XCTAssertEqual(tooBig.errorCode, "payload_too_large")

        let a = try LoopbackClient.json(port: port, "POST", "/v1/generate",
                                        #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": 1}"#)
        XCTAssertEqual(a.status, 202)
        XCTAssertEqual(a.headers["Location"], "/v1/jobs/\(a.json["id"]!.stringValue!)")
        let stream = try LoopbackClient.request(port: port, "GET", "\(a.headers["Location"]!)/events", timeout: 60)
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers["Content-Type"], "text/event-stream")
        let events = stream.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: status") }
        XCTAssertGreaterThanOrEqual(events.count, 2)
        XCTAssertTrue(events.last?.contains(#""status":"succeeded""#) ?? false, stream.text)
    }
}
