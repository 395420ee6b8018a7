import EaselAPI
import EaselEngine
import EaselJSON
import EaselJobs
import Foundation
import Synchronization
import XCTest

/// Two (or three) models under one memory budget through the live daemon: easel-shapes under several ids, each
/// loaded from its folder by the real loader (wrapped to count loads and, where a test needs it, to hold one up).
/// easel-shapes' weights take 11.2 MiB as the CPU engine holds them, so a 16 MiB budget fits one model and 24 MiB two.
final class MultiModelAPITests: XCTestCase {
    final class Hooks: Sendable {
        let loads = Mutex<[String: Int]>([:])
        /// Runs on the loading lane's thread before the load (the model id and which load of it this is).
        let before = Mutex<(@Sendable (String, Int) -> Void)?>(nil)
        subscript(id: String) -> Int { loads.withLock { $0[id] ?? 0 } }
        var loader: ModelEntry.Loader {
            { [self] config in
                let n = loads.withLock { l -> Int in l[config.id, default: 0] += 1; return l[config.id]! }
                before.withLock { $0 }?(config.id, n)
                return try FluxPipeline(folder: config.path)
            }
        }
    }

    func daemon(_ name: String = #function, ids: [String], budgetMB: Int?, minTurn: Double? = nil, hooks: Hooks,
                edit: (inout ServerConfig) -> Void = { _ in }) throws -> EaselDaemon {
        var config = ServerConfig(dataDir: try makeTempDir(name), models: ids.map {
            var m = shapesConfig(id: $0)
            m.load = .lazy
            m.maxQueueDelayMs = 0
            return m
        })
        config.port = 0
        config.webhookSecret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
        config.modelMemoryBudgetMB = budgetMB
        config.modelMinTurnSeconds = minTurn
        edit(&config)
        let entries = config.models.map { ModelEntry(config: $0, logger: quietLogger, loader: hooks.loader) }
        return try EaselDaemon(config: config, registry: ModelRegistry(entries: entries), logger: quietLogger)
    }

    func body(_ model: String, seed: Int, steps: Int = 8, size: Int = 64) -> String {
        #"{"model": "\#(model)", "prompt": "a large red circle in the center on a blue background", "seed": \#(seed), "steps": \#(steps), "width": \#(size), "height": \#(size)}"#
    }

    func submit(_ port: Int, _ body: String) throws -> String { try LoopbackClient.submit(port: port, body) }
    func job(_ port: Int, _ id: String) throws -> JSONValue { try LoopbackClient.job(port: port, id) }
    func wait(_ port: Int, _ ids: [String], for status: String = "succeeded", timeout: TimeInterval = 120) {
        LoopbackClient.wait(port: port, ids, for: status, timeout: timeout)
    }

    func png(_ port: Int, _ id: String) throws -> Data {
        try LoopbackClient.request(port: port, "GET", "/v1/jobs/\(id)/images/0.png").body
    }

    func states(_ port: Int) throws -> [String: String] {
        let models = try LoopbackClient.request(port: port, "GET", "/v1/models").json["models"]?.arrayValue ?? []
        return Dictionary(uniqueKeysWithValues: models.map { ($0["id"]!.stringValue!, $0["state"]!.stringValue!) })
    }

    func testModelsLoadOnFirstUseAndTheIdleOneIsEvictedForTheOther() throws {
        let hooks = Hooks()
        let d = try daemon(ids: ["shapes-a", "shapes-b"], budgetMB: 16, hooks: hooks)
        defer { d.stop() }
        let port = try d.start()
        XCTAssertEqual(try states(port), ["shapes-a": "not_loaded", "shapes-b": "not_loaded"])
        XCTAssertEqual(try LoopbackClient.request(port: port, "GET", "/readyz").status, 200, "lazy models do not hold up readiness")
        let memory = try LoopbackClient.request(port: port, "GET", "/v1/models").json["memory"]
        XCTAssertEqual(memory?["budget_mb"]?.intValue, 16)
        XCTAssertEqual(memory?["resident_mb"]?.doubleValue, 0)

        let a1 = try submit(port, body("shapes-a", seed: 3))
        wait(port, [a1])
        XCTAssertEqual(try states(port), ["shapes-a": "loaded", "shapes-b": "not_loaded"])
        let b1 = try submit(port, body("shapes-b", seed: 4))
        wait(port, [b1])
        XCTAssertEqual(try states(port), ["shapes-a": "evicted", "shapes-b": "loaded"])
        let a2 = try submit(port, body("shapes-a", seed: 3))
        wait(port, [a2])
        XCTAssertEqual(try states(port), ["shapes-a": "loaded", "shapes-b": "evicted"])
        XCTAssertEqual(try png(port, a2), try png(port, a1), "the reloaded model gives the same bytes")
        XCTAssertEqual(hooks["shapes-a"], 2)
        XCTAssertEqual(hooks["shapes-b"], 1)

        let metrics = try LoopbackClient.request(port: port, "GET", "/metrics").text
        for line in [#"easel_model_loads_total{model="shapes-a",result="ok"} 2"#,
                     #"easel_model_evictions_total{model="shapes-a",reason="idle"} 1"#,
                     #"easel_model_evictions_total{model="shapes-b",reason="idle"} 1"#,
                     #"easel_model_resident_bytes{model="shapes-b"} 0"#,
                     "easel_model_memory_budget_bytes 16777216", "easel_model_load_seconds_count 3"] {
            XCTAssertTrue(metrics.contains(line), "\(line) in\n\(metrics)")
        }
    }

    func testTheLeastRecentlyUsedOfTwoResidentModelsMakesRoomForAThird() throws {
        let hooks = Hooks()
        let d = try daemon(ids: ["m1", "m2", "m3"], budgetMB: 24, hooks: hooks)
        defer { d.stop() }
        let port = try d.start()
        for (i, m) in ["m1", "m2", "m1"].enumerated() { wait(port, [try submit(port, body(m, seed: i))]) }
        XCTAssertEqual(try states(port), ["m1": "loaded", "m2": "loaded", "m3": "not_loaded"])
        wait(port, [try submit(port, body("m3", seed: 9))])
        XCTAssertEqual(try states(port), ["m1": "loaded", "m2": "evicted", "m3": "loaded"])
        XCTAssertEqual([hooks["m1"], hooks["m2"], hooks["m3"]], [1, 1, 1])
    }

    /// A burst on one model and one job for another that does not fit beside it: the busy model's running set
    /// yields at its next step boundary and waits with its latents; the other model loads and runs; the burst resumes
    /// and every image is byte-identical to the same request run alone.
    func testABurstYieldsWithinOneStepAndResumesWithTheSameBytes() throws {
        let hooks = Hooks()
        // A turn of 1 s: the busy model has held the memory longer than that when the other job comes, and the other
        // model finishes its job inside its own turn.
        let d = try daemon(ids: ["busy", "other"], budgetMB: 16, minTurn: 1, hooks: hooks) { $0.models[0].maxBatchSize = 2 }
        defer { d.stop() }
        let port = try d.start()
        let burst = (0..<3).map { body("busy", seed: 10 + $0, steps: 40) }
        let started = Date()
        let ids = try burst.map { try submit(port, $0) }
        @Sendable func busyProgress() -> [Int] {
            ids.map { (try? LoopbackClient.request(port: port, "GET", "/v1/jobs/\($0)").json["progress"]?["step"]?.intValue) ?? 0 }
        }
        eventually(timeout: 60, "the burst past step 3") { busyProgress()[0] >= 3 }
        Thread.sleep(until: started.addingTimeInterval(1.2))
        XCTAssertLessThan(busyProgress()[0], 30, "the burst is still running")

        // What the burst has done when the other model starts loading, and when the busy one loads again.
        let atOtherLoad = Mutex<[Int]>([]), atReload = Mutex<[Int]>([])
        hooks.before.withLock { $0 = { id, n in
            if id == "other" && n == 1 { atOtherLoad.withLock { $0 = busyProgress() } }
            if id == "busy" && n == 2 { atReload.withLock { $0 = busyProgress() } }
        } }
        let before = busyProgress()
        let other = try submit(port, body("other", seed: 5))
        wait(port, [other])
        let otherDone = try job(port, other)
        wait(port, ids)

        let p0 = before, p1 = atOtherLoad.withLock { $0 }, p2 = atReload.withLock { $0 }
        XCTAssertEqual(p1.count, 3)
        for i in 0..<2 {
            XCTAssertLessThanOrEqual(p1[i] - p0[i], 1, "job \(i): at most one step between the submit and the yield (\(p0) → \(p1))")
        }
        XCTAssertEqual(p2, p1, "the suspended burst took no step while the other model ran")
        XCTAssertEqual(hooks["busy"], 2)
        XCTAssertEqual(hooks["other"], 1)
        for id in ids {
            XCTAssertLessThan(otherDone["completed_at"]!.stringValue!, try job(port, id)["completed_at"]!.stringValue!,
                              "the other model's job did not wait for the burst")
        }
        let metrics = try LoopbackClient.request(port: port, "GET", "/metrics").text
        XCTAssertTrue(metrics.contains(#"easel_model_evictions_total{model="busy",reason="preempted"} 1"#), metrics)

        // The same requests alone, on a daemon with no budget: the same bytes.
        let plain = try daemon("plain", ids: ["busy"], budgetMB: nil, hooks: Hooks())
        defer { plain.stop() }
        let pp = try plain.start()
        for (b, id) in zip(burst, ids) {
            let alone = try submit(pp, b)
            wait(pp, [alone])
            XCTAssertEqual(try png(pp, alone), try png(port, id), "suspended and resumed: the same bytes as alone")
        }
    }

    func testAJobCanceledWhileItsModelWaitsForMemoryStopsAtOnce() throws {
        let hooks = Hooks()
        let gate = DispatchSemaphore(value: 0)
        let d = try daemon(ids: ["busy", "other"], budgetMB: 16, hooks: hooks)
        defer { d.stop() }
        let port = try d.start()
        let a = try submit(port, body("busy", seed: 1, steps: 40))
        let a2 = try submit(port, body("busy", seed: 2, steps: 40))
        eventually(timeout: 60, "a past step 2") { ((try? job(port, a)["progress"]?["step"]?.intValue) ?? 0) >= 2 }
        hooks.before.withLock { $0 = { id, n in if id == "other" && n == 1 { gate.wait() } } }
        let b = try submit(port, body("other", seed: 3))
        eventually(timeout: 30, "other loading") { (try? states(port)["other"]) == "loading" }
        XCTAssertEqual(try states(port)["busy"], "evicted", "the busy set yielded and waits")
        XCTAssertEqual(try LoopbackClient.request(port: port, "DELETE", "/v1/jobs/\(a)").status, 202)
        wait(port, [a], for: "canceled", timeout: 10)
        XCTAssertEqual(try job(port, b)["status"]?.stringValue, "running", "canceled before the other model even loaded")
        gate.signal()
        wait(port, [b, a2])
    }

    func testAModelStillLoadingDoesNotHoldUpAResidentOne() throws {
        let hooks = Hooks()
        let gate = DispatchSemaphore(value: 0)
        let d = try daemon(ids: ["fast", "slow"], budgetMB: 24, hooks: hooks)
        defer { d.stop() }
        let port = try d.start()
        wait(port, [try submit(port, body("fast", seed: 1))])
        hooks.before.withLock { $0 = { id, _ in if id == "slow" { gate.wait() } } }
        let slow = try submit(port, body("slow", seed: 2))
        eventually(timeout: 30, "slow loading") { (try? states(port)["slow"]) == "loading" }
        let fast = try (0..<2).map { try submit(port, body("fast", seed: 3 + $0)) }
        wait(port, fast, timeout: 60)
        XCTAssertEqual(try states(port), ["fast": "loaded", "slow": "loading"], "the fast model ran while the slow one loaded")
        XCTAssertEqual(try LoopbackClient.request(port: port, "GET", "/v1/models").json["memory"]?["waiting"]?.arrayValue?.count, 0,
                       "a load in progress already has its room")
        gate.signal()
        wait(port, [slow])
        XCTAssertEqual(try states(port), ["fast": "loaded", "slow": "loaded"])
    }

    func testAModelThatFailsToLoadFailsItsJobsAndTheOtherKeepsRunning() throws {
        let broken = try makeTempDir("broken-model")
        for part in ["model_index.json", "easel.json", "scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"] {
            try FileManager.default.copyItem(at: shapesFolder.appendingPathComponent(part), to: broken.appendingPathComponent(part))
        }
        let t = broken.appendingPathComponent("transformer")
        try FileManager.default.createDirectory(at: t, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: shapesFolder.appendingPathComponent("transformer/config.json"),
                                         to: t.appendingPathComponent("config.json"))
        try Data("not a safetensors file".utf8).write(to: t.appendingPathComponent("diffusion_pytorch_model.safetensors"))
        let hooks = Hooks()
        let d = try daemon(ids: ["good", "bad"], budgetMB: 16, hooks: hooks) { $0.models[1].path = broken }
        defer { d.stop() }
        let port = try d.start()
        let bad = try submit(port, body("bad", seed: 1))
        let good = try submit(port, body("good", seed: 2))
        wait(port, [bad], for: "failed")
        wait(port, [good])
        let j = try job(port, bad)
        XCTAssertEqual(j["error"]?["code"]?.stringValue, "model_unavailable")
        XCTAssertTrue(j["error"]?["message"]?.stringValue?.contains("bad") == true, "\(j)")
        XCTAssertEqual(try states(port), ["good": "loaded", "bad": "failed"])
        let again = try LoopbackClient.json(port: port, "POST", "/v1/generate", body("bad", seed: 3))
        XCTAssertEqual(again.status, 503, again.text)
        wait(port, [try submit(port, body("good", seed: 4))])
    }

    func testABudgetNoModelFitsIsAStartupErrorNamingIt() throws {
        XCTAssertThrowsError(try daemon(ids: ["shapes-a"], budgetMB: 8, hooks: Hooks())) { error in
            XCTAssertTrue(error is ServerConfig.Error, "\(error)")
            XCTAssertTrue("\(error)".contains("model \"shapes-a\" needs 11.2 MiB"), "\(error)")
        }
    }

    func testAnEvictedStartupModelStaysReady() throws {
        let hooks = Hooks()
        let d = try daemon(ids: ["first", "second"], budgetMB: 16, hooks: hooks) { $0.models[0].load = .startup }
        defer { d.stop() }
        let port = try d.start()
        eventually(timeout: 30, "ready") { (try? LoopbackClient.request(port: port, "GET", "/readyz").status) == 200 }
        wait(port, [try submit(port, body("second", seed: 1))])
        XCTAssertEqual(try states(port)["first"], "evicted")
        XCTAssertEqual(try LoopbackClient.request(port: port, "GET", "/readyz").status, 200)
    }
}
