import EaselAPI
import EaselJobs
import XCTest

/// POST /v1/generate: every bad field is a 400 naming it; unknown models 404; good bodies are normalized.
final class ValidationTests: XCTestCase {
    var daemon: EaselDaemon!

    override func setUpWithError() throws { daemon = try makeDaemon() }
    override func tearDown() { daemon.stop() }

    func post(_ body: String, headers: [(String, String)] = []) -> Answer {
        call(daemon.api, "POST", "/v1/generate", json: body, headers: headers)
    }

    func testEachBadFieldIsNamed() {
        let m = #""model": "easel-shapes", "prompt": "a red circle""#
        let long = String(repeating: "a", count: 4001)
        let cases: [(String, String)] = [
            (#"{"prompt": "x"}"#, "model"),
            (#"{"model": 3, "prompt": "x"}"#, "model"),
            (#"{"model": "easel-shapes"}"#, "prompt"),
            (#"{"model": "easel-shapes", "prompt": ""}"#, "prompt"),
            (#"{"model": "easel-shapes", "prompt": "\#(long)"}"#, "prompt"),
            (#"{"model": "easel-shapes", "prompt": 5}"#, "prompt"),
            ("{\(m), \"stpes\": 4}", "stpes"),
            ("{\(m), \"width\": 65}", "width"),
            ("{\(m), \"width\": 0}", "width"),
            ("{\(m), \"width\": 1024}", "width"),
            ("{\(m), \"width\": \"64\"}", "width"),
            ("{\(m), \"height\": 62}", "height"),
            ("{\(m), \"height\": 64.5}", "height"),
            ("{\(m), \"steps\": 0}", "steps"),
            ("{\(m), \"steps\": 51}", "steps"),
            ("{\(m), \"guidance\": -1}", "guidance"),
            ("{\(m), \"guidance\": \"high\"}", "guidance"),
            ("{\(m), \"seed\": -1}", "seed"),
            ("{\(m), \"seed\": 18446744073709551616}", "seed"),
            ("{\(m), \"seed\": 1.5}", "seed"),
            ("{\(m), \"num_images\": 0}", "num_images"),
            ("{\(m), \"num_images\": 9}", "num_images"),
            ("{\(m), \"image\": \"iVBORw0KGgo=\"}", "image"),
            ("{\(m), \"image\": \"data:image/jpeg;base64,AAAA\"}", "image"),
            ("{\(m), \"image\": \"data:image/png;base64,!!!\"}", "image"),
            ("{\(m), \"image\": \"data:image/png;base64,iVBORw0KGgo=\"}", "image"),
            ("{\(m), \"mask\": \"data:image/png;base64,iVBORw0KGgo=\"}", "mask"),
            ("{\(m), \"strength\": 0.5}", "strength"),
            ("{\(m), \"loras\": [{\"name\": \"x\", \"scale\": 1}]}", "loras[0].name"),
            ("{\(m), \"loras\": [{\"path\": \"x.safetensors\"}]}", "loras[0].path"),
            ("{\(m), \"loras\": [1]}", "loras[0]"),
            ("{\(m), \"loras\": 3}", "loras"),
            ("{\(m), \"output_format\": \"gif\"}", "output_format"),
            ("{\(m), \"output_format\": \"JPEG\"}", "output_format"),
            ("{\(m), \"output_format\": 1}", "output_format"),
            ("{\(m), \"output_quality\": 0}", "output_quality"),
            ("{\(m), \"output_quality\": 101}", "output_quality"),
            ("{\(m), \"output_quality\": 9.5}", "output_quality"),
            ("{\(m), \"webhook_url\": \"ftp://example.com/x\"}", "webhook_url"),
            ("{\(m), \"webhook_url\": \"not a url\"}", "webhook_url"),
            ("{\(m), \"webhook_url\": \"http://127.0.0.1:9/hook\"}", "webhook_url"),
            ("{\(m), \"webhook_url\": \"http://169.254.169.254/latest\"}", "webhook_url"),
            ("{\(m), \"webhook_url\": \"http://10.0.0.1/x\"}", "webhook_url"),
            ("{\(m), \"webhook_url\": \"https://example.com/\(String(repeating: "a", count: 2048))\"}", "webhook_url"),
            ("{\(m), \"priority\": \"urgent\"}", "priority"),
            ("{\(m), \"timeout_s\": 0}", "timeout_s"),
            ("{\(m), \"timeout_s\": \"10\"}", "timeout_s"),
            ("{\(m), \"metadata\": [1]}", "metadata"),
            ("{\(m), \"metadata\": {\"x\": \"\(String(repeating: "y", count: 4100))\"}}", "metadata"),
            ("{\(m), \"negative_prompt\": 1}", "negative_prompt"),
        ]
        for (body, field) in cases {
            let a = post(body)
            XCTAssertEqual(a.status, 400, "\(body.prefix(120)) → \(a.text.prefix(200))")
            XCTAssertEqual(a.errorCode, "invalid_request", body)
            XCTAssertEqual(a.errorField, field, "\(body.prefix(120)) → \(a.text.prefix(200))")
        }
        XCTAssertEqual(try daemon.store.queuedCount(), 0, "no bad request was queued")
    }

    func testMalformedBodies() {
        for body in ["", "{", "[1]", "\"x\"", "{} x"] {
            let a = post(body)
            XCTAssertEqual(a.status, 400, body)
            XCTAssertEqual(a.errorCode, "invalid_request", body)
            XCTAssertNil(a.errorField, body)
        }
        // Issue 12: a parse error inside a member names it (this case asserted no field before that change).
        let duplicate = post(#"{"model": "easel-shapes", "model": "x", "prompt": "p"}"#)
        XCTAssertEqual(duplicate.status, 400)
        XCTAssertEqual(duplicate.errorCode, "invalid_request")
        XCTAssertEqual(duplicate.errorField, "model")
    }

    func testUnknownModelIs404() {
        let a = post(#"{"model": "flux-dev", "prompt": "x"}"#)
        XCTAssertEqual(a.status, 404)
        XCTAssertEqual(a.errorCode, "model_not_found")
    }

    func testDefaultsAndSeedAreReported() throws {
        daemon.api.setRandomSeed { 4242 }
        let a = post(#"{"model": "easel-shapes", "prompt": "a red circle", "metadata": {"user": "u1"}, "priority": "high", "timeout_s": 30, "loras": []}"#)
        XCTAssertEqual(a.status, 202, a.text)
        XCTAssertEqual(a.headers["Location"], "/v1/jobs/\(a.json["id"]!.stringValue!)")
        let input = try XCTUnwrap(a.json["input"])
        XCTAssertEqual(input["width"]?.intValue, 64)
        XCTAssertEqual(input["height"]?.intValue, 64)
        XCTAssertEqual(input["steps"]?.intValue, 8)
        XCTAssertEqual(input["guidance"]?.doubleValue, 2.5)
        XCTAssertEqual(input["seed"]?.uint64Value, 4242)
        XCTAssertEqual(input["num_images"]?.intValue, 1)
        XCTAssertEqual(input["priority"]?.stringValue, "high")
        XCTAssertEqual(input["timeout_s"]?.doubleValue, 30)
        XCTAssertEqual(a.json["metadata"]?["user"]?.stringValue, "u1")
        XCTAssertEqual(a.json["status"]?.stringValue, "queued")
        XCTAssertEqual(a.json["progress"]?["steps"]?.intValue, 8)
    }

    func testLargestSeedSurvivesExactly() throws {
        let a = post(#"{"model": "easel-shapes", "prompt": "a red circle", "seed": 18446744073709551615, "num_images": 3}"#)
        XCTAssertEqual(a.status, 202, a.text)
        XCTAssertTrue(a.text.contains(#""seed":18446744073709551615"#), a.text)
        XCTAssertEqual(a.json["progress"]?["steps"]?.intValue, 24, "steps × num_images")
    }

    func testPrivateWebhookAllowedWhenConfigured() throws {
        let open = try makeDaemon { $0.allowPrivateNetworks = true }
        defer { open.stop() }
        let a = call(open.api, "POST", "/v1/generate",
                     json: #"{"model": "easel-shapes", "prompt": "x", "webhook_url": "http://127.0.0.1:9/hook"}"#)
        XCTAssertEqual(a.status, 202, a.text)
        XCTAssertEqual(a.json["webhook"]?["url"]?.stringValue, "http://127.0.0.1:9/hook")
    }
}
