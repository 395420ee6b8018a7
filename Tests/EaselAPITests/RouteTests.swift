import EaselJSON
import EaselAPI
import EaselEngine
import EaselHTTP
import EaselJobs
import XCTest

/// Every route and error, through the handler directly (no sockets). The scheduler is not started, so jobs stay queued
/// unless a test runs them.
final class RouteTests: XCTestCase {
    var daemon: EaselDaemon!
    var api: APIHandler { daemon.api }

    override func setUpWithError() throws { daemon = try makeDaemon() }
    override func tearDown() { daemon.stop() }

    func submit(_ extra: String = "", headers: [(String, String)] = []) -> Answer {
        call(api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)"\#(extra)}"#,
             headers: headers)
    }

    func testHealthReadyAndModels() {
        XCTAssertEqual(call(api, "GET", "/healthz").json, try JSONValue.parse(#"{"status":"ok"}"#))
        XCTAssertEqual(call(api, "GET", "/readyz").status, 200)
        let models = call(api, "GET", "/v1/models")
        XCTAssertEqual(models.status, 200)
        guard case .array(let list)? = models.json["models"] else { return XCTFail(models.text) }
        XCTAssertEqual(list.count, 1)
        let m = list[0]
        XCTAssertEqual(m["id"]?.stringValue, "easel-shapes")
        XCTAssertEqual(m["family"]?.stringValue, "flux")
        XCTAssertEqual(m["backend"]?.stringValue, "cpu")
        XCTAssertEqual(m["loaded"]?.boolValue, true)
        XCTAssertEqual(m["max_batch_size"]?.intValue, 8)
        XCTAssertEqual(m["defaults"]?["steps"]?.intValue, 8)
        XCTAssertEqual(m["limits"]?["max_steps"]?.intValue, 50)
        XCTAssertNotNil(m["description"]?.stringValue)
        XCTAssertEqual(call(api, "GET", "/v1/models/easel-shapes").json, m)
        XCTAssertEqual(call(api, "GET", "/v1/models/nope").errorCode, "model_not_found")
    }

    func testReadyzWaitsForStartupModelsAndReportsCudaFailure() throws {
        let d = try makeDaemon {
            var cuda = shapesConfig(id: "gpu-shapes")
            cuda.backend = .cuda
            $0.models.append(cuda)
        }
        defer { d.stop() }
        let before = call(d.api, "GET", "/readyz")
        XCTAssertEqual(before.status, 503)
        XCTAssertEqual(before.errorCode, "unavailable")
        d.registry.loadStartupModels()
        let after = call(d.api, "GET", "/readyz")
        XCTAssertEqual(after.status, 503)
        XCTAssertTrue(after.text.contains("cuda"), after.text)
        let model = call(d.api, "GET", "/v1/models/gpu-shapes").json
        XCTAssertEqual(model["loaded"]?.boolValue, false)
        XCTAssertTrue(model["load_error"]?.stringValue?.contains("CUDA") ?? false, model.serialized)
        let a = call(d.api, "POST", "/v1/generate", json: #"{"model": "gpu-shapes", "prompt": "x"}"#)
        XCTAssertEqual(a.status, 503)
        XCTAssertEqual(a.errorCode, "unavailable")
    }

    func testNotFoundMethodNotAllowedMediaTypeAndSize() {
        XCTAssertEqual(call(api, "GET", "/nope").status, 404)
        XCTAssertEqual(call(api, "GET", "/nope").errorCode, "not_found")
        XCTAssertEqual(call(api, "GET", "/v1/jobs/job_missing").errorCode, "job_not_found")
        XCTAssertEqual(call(api, "GET", "/v1/jobs/job_missing").status, 404)
        XCTAssertEqual(call(api, "DELETE", "/v1/jobs/job_missing").errorCode, "job_not_found")
        XCTAssertEqual(call(api, "GET", "/v1/jobs/job_missing/events").status, 404)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/job_missing/images/0.png").status, 404)

        let get = call(api, "GET", "/v1/generate")
        XCTAssertEqual(get.status, 405)
        XCTAssertEqual(get.errorCode, "method_not_allowed")
        XCTAssertEqual(get.headers["Allow"], "POST")
        let put = call(api, "PUT", "/v1/jobs/abc")
        XCTAssertEqual(put.status, 405)
        XCTAssertEqual(put.headers["Allow"], "GET, DELETE, HEAD")
        XCTAssertEqual(call(api, "POST", "/healthz").status, 405)
        XCTAssertEqual(call(api, "HEAD", "/healthz").status, 200)

        let text = call(api, "POST", "/v1/generate", json: "{}", headers: [("Content-Type", "text/plain")])
        XCTAssertEqual(text.status, 415)
        XCTAssertEqual(text.errorCode, "unsupported_media_type")
        let none = call(api, "POST", "/v1/generate")
        XCTAssertEqual(none.status, 415)
        let charset = submit(headers: [("Content-Type", "application/json; charset=utf-8")])
        XCTAssertEqual(charset.status, 202, charset.text)
    }

    func testPayloadTooLargeViaLimits() throws {
        let small = try makeDaemon { $0.maxBodyBytes = 2048 }
        defer { small.stop() }
        let big = #"{"model": "easel-shapes", "prompt": "\#(String(repeating: "a", count: 3000))"}"#
        let a = call(small.api, "POST", "/v1/generate", json: big)
        XCTAssertEqual(a.status, 413)
        XCTAssertEqual(a.errorCode, "payload_too_large")
    }

    func testAuth() throws {
        let locked = try makeDaemon { $0.apiKeys = ["k-one", "k-two"] }
        defer { locked.stop() }
        let api = locked.api
        XCTAssertEqual(call(api, "GET", "/v1/models").status, 401)
        XCTAssertEqual(call(api, "GET", "/v1/models").errorCode, "unauthorized")
        XCTAssertEqual(call(api, "GET", "/v1/models").headers["WWW-Authenticate"], "Bearer")
        XCTAssertEqual(call(api, "GET", "/v1/models", headers: [("Authorization", "Bearer k-one")]).status, 200)
        XCTAssertEqual(call(api, "GET", "/v1/models", headers: [("Authorization", "Key k-two")]).status, 200)
        XCTAssertEqual(call(api, "GET", "/v1/models", headers: [("Authorization", "bearer k-two")]).status, 200)
        XCTAssertEqual(call(api, "GET", "/v1/models", headers: [("Authorization", "Bearer k-on")]).status, 401)
        XCTAssertEqual(call(api, "GET", "/v1/models", headers: [("Authorization", "Basic k-one")]).status, 401)
        XCTAssertEqual(call(api, "POST", "/v1/generate", json: "{}").status, 401)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/x").status, 401)
        // A job poll answered from the read cache on the event loop is checked the same way.
        let key = [("Authorization", "Bearer k-one")]
        let id = try XCTUnwrap(call(api, "POST", "/v1/generate", json: #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)"}"#,
                                    headers: key).json["id"]?.stringValue)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/\(id)", headers: key).status, 200)  // now cached
        var inlineStatus: Int?
        XCTAssertTrue(api.handleInline(HTTPRequest(method: "GET", target: "/v1/jobs/\(id)")) { inlineStatus = $0.status })
        XCTAssertEqual(inlineStatus, 401)
        for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            XCTAssertEqual(call(api, "GET", open).status, 200, open)
        }
    }

    func testIdempotency() {
        let body = #", "seed": 5"#
        let first = submit(body, headers: [("Idempotency-Key", "abc")])
        XCTAssertEqual(first.status, 202)
        let again = submit(body, headers: [("Idempotency-Key", "abc")])
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.json["id"], first.json["id"])
        let conflict = submit(#", "seed": 6"#, headers: [("Idempotency-Key", "abc")])
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(conflict.errorCode, "conflict")
        let tooLong = submit(body, headers: [("Idempotency-Key", String(repeating: "k", count: 256))])
        XCTAssertEqual(tooLong.status, 400)
        XCTAssertEqual(tooLong.errorField, "Idempotency-Key")
        // The length is counted as the OpenAPI maxLength counts it, in code points (schemathesis found 255 "é" refused).
        XCTAssertEqual(submit(body, headers: [("Idempotency-Key", String(repeating: "é", count: 255))]).status, 202)
        XCTAssertEqual(submit(body, headers: [("Idempotency-Key", String(repeating: "é", count: 256))]).status, 400)
        // Without a seed the replay still finds the job (the raw body is what is compared).
        let noSeed1 = submit("", headers: [("Idempotency-Key", "def")])
        let noSeed2 = submit("", headers: [("Idempotency-Key", "def")])
        XCTAssertEqual(noSeed1.json["id"], noSeed2.json["id"])
        XCTAssertEqual(noSeed2.json["input"]?["seed"], noSeed1.json["input"]?["seed"])
    }

    func testQueueFull() throws {
        let tiny = try makeDaemon { $0.maxQueued = 2 }
        defer { tiny.stop() }
        let body = #"{"model": "easel-shapes", "prompt": "x"}"#
        XCTAssertEqual(call(tiny.api, "POST", "/v1/generate", json: body).status, 202)
        XCTAssertEqual(call(tiny.api, "POST", "/v1/generate", json: body).status, 202)
        let full = call(tiny.api, "POST", "/v1/generate", json: body)
        XCTAssertEqual(full.status, 429)
        XCTAssertEqual(full.errorCode, "queue_full")
        XCTAssertNotNil(full.headers["Retry-After"].flatMap(Int.init))
    }

    func testPreferWaitTimesOutWith202() {
        let start = Date()
        let a = submit(headers: [("Prefer", "wait=1")])
        XCTAssertEqual(a.status, 202)
        XCTAssertEqual(a.json["status"]?.stringValue, "queued")
        XCTAssertEqual(a.headers["Preference-Applied"], "wait=1")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.9)
        XCTAssertEqual(submit(headers: [("Prefer", "wait=abc")]).errorField, "Prefer")
    }

    func testPreferWaitReturnsTerminalJobWith200() throws {
        daemon.scheduler.start()
        let a = submit(#", "seed": 3"#, headers: [("Prefer", "wait=60")])
        XCTAssertEqual(a.status, 200, a.text)
        XCTAssertEqual(a.json["status"]?.stringValue, "succeeded")
        XCTAssertEqual(a.json["images"]?.serialized.contains("/images/0.png"), true)
    }

    func testCancelStates() throws {
        let queued = submit()
        let id = queued.json["id"]!.stringValue!
        let canceled = call(api, "DELETE", "/v1/jobs/\(id)")
        XCTAssertEqual(canceled.status, 200)
        XCTAssertEqual(canceled.json["status"]?.stringValue, "canceled")
        let again = call(api, "DELETE", "/v1/jobs/\(id)")
        XCTAssertEqual(again.status, 409)
        XCTAssertEqual(again.errorCode, "conflict")

        // A long job: cancel while running → 202, then canceled at a step boundary.
        daemon.scheduler.start()
        let long = submit(#", "steps": 50, "num_images": 8"#)
        let longID = long.json["id"]!.stringValue!
        try eventually("running") { try daemon.store.get(longID)?.status == .running }
        let requested = call(api, "DELETE", "/v1/jobs/\(longID)")
        XCTAssertEqual(requested.status, 202, requested.text)
        XCTAssertEqual(requested.json["cancel_requested"]?.boolValue, true)
        try eventually("canceled") { try daemon.store.get(longID)?.status == .canceled }
        let job = call(api, "GET", "/v1/jobs/\(longID)").json
        XCTAssertEqual(job["error"]?["code"]?.stringValue, "canceled")
        XCTAssertLessThan(job["progress"]?["step"]?.intValue ?? 400, 400)
    }

    func testListPaging() throws {
        var ids: [String] = []
        for i in 0..<5 { ids.append(submit(#", "seed": \#(i)"#).json["id"]!.stringValue!) }
        _ = call(api, "DELETE", "/v1/jobs/\(ids[0])")
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = call(api, "GET", "/v1/jobs?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
            XCTAssertEqual(page.status, 200, page.text)
            guard case .array(let jobs)? = page.json["jobs"] else { return XCTFail(page.text) }
            XCTAssertLessThanOrEqual(jobs.count, 2)
            seen += jobs.compactMap { $0["id"]?.stringValue }
            cursor = page.json["next_cursor"]?.stringValue?
                .addingPercentEncoding(withAllowedCharacters: .alphanumerics)
        } while cursor != nil
        XCTAssertEqual(seen, ids.reversed(), "newest first, every job once")
        let canceled = call(api, "GET", "/v1/jobs?status=canceled").json["jobs"]
        XCTAssertEqual(canceled, .array([call(api, "GET", "/v1/jobs/\(ids[0])").json]))
        XCTAssertEqual(call(api, "GET", "/v1/jobs?model=other").json["jobs"], .array([]))
        XCTAssertEqual(call(api, "GET", "/v1/jobs?status=done").errorField, "status")
        // An empty filter is a mistake, not "every job" (hardening probe).
        let empty = call(api, "GET", "/v1/jobs?status=")
        XCTAssertEqual(empty.status, 400)
        XCTAssertEqual(empty.errorField, "status")
        XCTAssertEqual(call(api, "GET", "/v1/jobs?limit=101").errorField, "limit")
        XCTAssertEqual(call(api, "GET", "/v1/jobs?limit=0").errorField, "limit")
        XCTAssertEqual(call(api, "GET", "/v1/jobs?cursor=bogus").errorField, "cursor")
        XCTAssertEqual(call(api, "GET", "/v1/jobs?limt=2").errorField, "limt")
    }

    func testImagesWithETag() throws {
        daemon.scheduler.start()
        let a = submit(#", "seed": 11, "num_images": 2"#, headers: [("Prefer", "wait")])
        XCTAssertEqual(a.status, 200, a.text)
        let id = a.json["id"]!.stringValue!
        XCTAssertEqual(a.json["images"]?.serialized.contains(#""seed":12"#), true, "image 1 uses seed + 1")
        let png = call(api, "GET", "/v1/jobs/\(id)/images/1.png")
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(png.headers["Content-Type"], "image/png")
        XCTAssertEqual(Array(png.body.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        XCTAssertTrue(png.headers["Cache-Control"]?.contains("immutable") ?? false)
        let etag = try XCTUnwrap(png.headers["ETag"])
        let cached = call(api, "GET", "/v1/jobs/\(id)/images/1.png", headers: [("If-None-Match", etag)])
        XCTAssertEqual(cached.status, 304)
        XCTAssertTrue(cached.body.isEmpty)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/\(id)/images/2.png").status, 404)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/\(id)/images/x.png").status, 404)
        XCTAssertEqual(call(api, "GET", "/v1/jobs/\(id)/images/0.jpg").status, 404)
        // The same seed and inputs give the same image.
        let b = submit(#", "seed": 11, "num_images": 2"#, headers: [("Prefer", "wait")])
        let other = call(api, "GET", "/v1/jobs/\(b.json["id"]!.stringValue!)/images/1.png")
        XCTAssertEqual(other.body, png.body)
        // Image 1 of that job (seed 12) and a job with seed 12 alone: the same picture up to float rounding of the
        // batched matrix products.
        let c = submit(#", "seed": 12"#, headers: [("Prefer", "wait")])
        let alone = call(api, "GET", "/v1/jobs/\(c.json["id"]!.stringValue!)/images/0.png")
        let x = try PNGEncoder.decode(png.body), y = try PNGEncoder.decode(alone.body)
        XCTAssertEqual(x.rgb.count, y.rgb.count)
        let worst = zip(x.rgb, y.rgb).map { abs(Int($0) - Int($1)) }.max() ?? 255
        XCTAssertLessThanOrEqual(worst, 2, "pixel values differ by at most 2 levels")
    }

    func testMetricsNames() throws {
        daemon.scheduler.start()
        _ = submit(headers: [("Prefer", "wait")])
        _ = call(api, "GET", "/nope")
        // Job observers run on the store's event fan-out, which may reach a `Prefer: wait` waiter before the
        // metrics observer: the counters are eventually consistent, so read /metrics until they settle.
        let expected = ["easel_jobs_total{model=\"easel-shapes\",status=\"succeeded\"} 1",
                        "easel_jobs_total{model=\"easel-shapes\",status=\"queued\"} 1",
                        "easel_queue_depth{model=\"easel-shapes\"} 0",
                        "easel_batch_size_bucket{le=\"1\"} 1", "easel_batch_size_count 1",
                        "easel_step_seconds_count 8", "easel_job_seconds_count 1",
                        "# TYPE easel_webhook_deliveries_total counter",
                        "easel_http_requests_total{route=\"/v1/generate\",code=\"200\"} 1",
                        "easel_http_requests_total{route=\"unmatched\",code=\"404\"} 1"]
        var text = ""
        eventually(timeout: 5, "metrics to settle") {
            text = call(api, "GET", "/metrics").text
            return expected.allSatisfy { text.contains($0) }
        }
        for name in expected {
            XCTAssertTrue(text.contains(name), "missing \(name) in\n\(text)")
        }
    }

    /// What the server may answer on its event loop: memory-only routes, and job polls once the row is cached.
    func testInlineAnswersOnlyFromMemory() throws {
        var lastBody = Data()
        func inline(_ method: String, _ target: String) -> Int? {
            var status: Int?
            let request = HTTPRequest(method: method, target: target, remoteAddress: "127.0.0.1:1")
            let handled = api.handleInline(request) {
                status = $0.status
                if case .data(let d) = $0.body { lastBody = d }
            }
            if handled { XCTAssertNotNil(status, "\(target) claimed inline but gave no answer before returning") }
            return handled ? status : nil
        }
        XCTAssertEqual(inline("GET", "/healthz"), 200)
        XCTAssertEqual(inline("GET", "/v1/models"), 200)
        XCTAssertEqual(inline("GET", "/nope"), 404)
        XCTAssertEqual(inline("PUT", "/healthz"), 405)
        XCTAssertNil(inline("GET", "/metrics"), "reads queue depths from SQLite")
        XCTAssertNil(inline("GET", "/v1/jobs"))
        let id = try XCTUnwrap(submit().json["id"]?.stringValue)
        XCTAssertNil(inline("DELETE", "/v1/jobs/\(id)"))
        let queued = call(api, "GET", "/v1/jobs/\(id)")  // the queue path reads the row into the cache
        XCTAssertEqual(inline("GET", "/v1/jobs/\(id)"), 200)
        XCTAssertEqual(lastBody, queued.body, "the inline answer is the same job object")
        XCTAssertNil(inline("GET", "/v1/jobs/job_unknown"), "a miss goes to SQLite, off the loop")
        _ = submit()  // any write empties the cache
        XCTAssertNil(inline("GET", "/v1/jobs/\(id)"))
    }

    func testOpenAPICoversEveryRoute() throws {
        let a = call(api, "GET", "/openapi.json")
        XCTAssertEqual(a.status, 200)
        let doc = a.json
        XCTAssertEqual(doc["openapi"]?.stringValue, "3.1.0")
        guard case .object(let paths)? = doc["paths"] else { return XCTFail("no paths") }
        var documented = Set<String>()
        for (path, item) in paths {
            guard case .object(let ops) = item else { continue }
            for (method, _) in ops where method != "parameters" { documented.insert("\(method.uppercased()) \(path)") }
        }
        let routed = Set(Router.routes.map { "\($0.method) \($0.pattern)" })
        XCTAssertEqual(documented, routed)
        // Every field the validator accepts is in the request schema, and no other.
        guard case .object(let props)? = doc["components"]?["schemas"]?["GenerateRequest"]?["properties"] else {
            return XCTFail("no GenerateRequest")
        }
        XCTAssertEqual(Set(props.map(\.0)), Set(GenerateRequestValidator.fields))
    }
}
