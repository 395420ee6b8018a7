import EaselEngine
import EaselJSON
import EaselAPI
import XCTest

/// The config file, environment overrides and flags (docs/API.md "Configuration").
final class ConfigTests: XCTestCase {
    let base = URL(fileURLWithPath: "/etc/easel")

    func testShippedConfigLoads() throws {
        let c = try ServerConfig.load(file: repoRoot.appendingPathComponent("Config/easel.json"), environment: [:])
        XCTAssertEqual(c.host, "127.0.0.1")
        XCTAssertEqual(c.port, 8080)
        XCTAssertEqual(c.models.first?.id, "easel-shapes")
        XCTAssertEqual(c.models.first?.path.standardizedFileURL.path, shapesFolder.standardizedFileURL.path)
        XCTAssertEqual(c.models.first?.load, .startup)
        XCTAssertEqual(c.models.first?.maxBatchSize, 8)
        XCTAssertEqual(c.models.first?.maxQueueDelayMs, 20)
        XCTAssertEqual(c.models.first?.defaults, ModelDefaults(width: 64, height: 64, steps: 8, guidance: 2.5))
        XCTAssertNil(c.webhookSecret)
    }

    func testAPIExampleParsesAndRelativePathsResolve() throws {
        let json = try JSONValue.parse("""
        {
          "server":   {"host": "127.0.0.1", "port": 8080, "data_dir": "data", "public_url": null, "max_body_bytes": 16777216},
          "auth":     {"api_keys": []},
          "queue":    {"max_queued": 1000, "max_attempts": 3, "retention_hours": 24},
          "webhooks": {"secret": null, "retry_schedule_s": [5, 30, 120, 600, 1800, 3600, 10800], "timeout_s": 15,
                       "allow_private_networks": false},
          "models": [
            {"id": "easel-shapes", "path": "models/easel-shapes", "backend": "auto", "load": "startup",
             "max_batch_size": 8, "max_queue_delay_ms": 20,
             "defaults": {"width": 64, "height": 64, "steps": 8, "guidance": 0}}
          ]
        }
        """)
        let c = try ServerConfig.parse(json, baseDirectory: base)
        XCTAssertEqual(c.dataDir.path, "/etc/easel/data")
        XCTAssertEqual(c.models[0].path.path, "/etc/easel/models/easel-shapes")
        XCTAssertEqual(c.retryScheduleSeconds, [5, 30, 120, 600, 1800, 3600, 10800])
        XCTAssertEqual(c.models[0].defaults.guidance, 0)
        XCTAssertNil(c.models[0].cacheThreshold, "step caching is opt-in")
        let cached = try ServerConfig.parse(try JSONValue.parse(#"{"models": [{"id": "a", "path": "p", "cache": {"threshold": 0.2}}, {"id": "b", "path": "p", "cache": {}}]}"#), baseDirectory: base)
        XCTAssertEqual(cached.models.map(\.cacheThreshold), [0.2, StepCache.defaultThreshold])
        XCTAssertNil(c.modelMemoryBudgetMB, "no budget unless configured")
        XCTAssertNil(c.modelMinTurnSeconds)
        let memory = try ServerConfig.parse(try JSONValue.parse(#"{"memory": {"budget_mb": 40000, "min_turn_s": 2.5, "usage_half_life_s": 30}, "models": [{"id": "a", "path": "p", "memory_mb": 23000}, {"id": "b", "path": "p"}]}"#), baseDirectory: base)
        XCTAssertEqual(memory.modelMemoryBudgetMB, 40000)
        XCTAssertEqual(memory.modelMinTurnSeconds, 2.5)
        XCTAssertEqual(memory.modelUsageHalfLifeSeconds, 30)
        XCTAssertEqual(c.modelUsageHalfLifeSeconds, ModelMemory.defaultUsageHalfLife)
        XCTAssertEqual(memory.models.map(\.memoryMB), [23000, nil])
    }

    func testSlowClientLimits_parseAndAreChecked() throws {
        let json = try JSONValue.parse(#"{"server": {"max_connections": 500, "request_timeout_s": 20, "min_request_bytes_per_s": 0}, "models": [{"id": "m", "path": "/m"}]}"#)
        let c = try ServerConfig.parse(json, baseDirectory: base)
        XCTAssertEqual(c.maxConnections, 500)
        XCTAssertEqual(c.requestTimeoutSeconds, 20)
        XCTAssertEqual(c.minRequestBytesPerSecond, 0)
        let defaults = try ServerConfig.parse(JSONValue.parse(#"{"models": [{"id": "m", "path": "/m"}]}"#), baseDirectory: base)
        XCTAssertNil(defaults.maxConnections)
        XCTAssertEqual(defaults.requestTimeoutSeconds, 60)
        XCTAssertEqual(defaults.minRequestBytesPerSecond, 1024)
        for bad in [#"{"max_connections": 0}"#, #"{"request_timeout_s": 0}"#, #"{"min_request_bytes_per_s": -1}"#] {
            let text = #"{"server": "# + bad + #", "models": [{"id": "m", "path": "/m"}]}"#
            XCTAssertThrowsError(try ServerConfig.parse(JSONValue.parse(text), baseDirectory: base), bad)
        }
    }

    func testEnvironmentThenFlagsOverride() throws {
        let json = try JSONValue.parse(#"{"server": {"host": "0.0.0.0", "port": 1, "data_dir": "/d", "public_url": "https://img.example.com/"}, "models": [{"id": "m", "path": "/m"}]}"#)
        let env = ["EASEL_HOST": "::1", "EASEL_PORT": "9000", "EASEL_DATA_DIR": "/env", "EASEL_API_KEYS": "a, b,",
                   "EASEL_WEBHOOK_SECRET": "whsec_AAAA"]
        let fromEnv = try ServerConfig.parse(json, baseDirectory: base, environment: env)
        XCTAssertEqual(fromEnv.host, "::1")
        XCTAssertEqual(fromEnv.port, 9000)
        XCTAssertEqual(fromEnv.dataDir.path, "/env")
        XCTAssertEqual(fromEnv.apiKeys, ["a", "b"])
        XCTAssertEqual(fromEnv.webhookSecret, "whsec_AAAA")
        XCTAssertEqual(fromEnv.imageURLBase, "https://img.example.com")
        let flags = try ServerConfig.parse(json, baseDirectory: base, environment: env,
                                           overrides: .init(host: "127.0.0.1", port: 0, dataDir: "/flag"))
        XCTAssertEqual(flags.host, "127.0.0.1")
        XCTAssertEqual(flags.port, 0)
        XCTAssertEqual(flags.dataDir.path, "/flag")
    }

    func testBadConfigsNameTheKey() {
        let bad: [(String, String)] = [
            (#"{"models": []}"#, "models"),
            (#"{"modles": [{"id": "m", "path": "p"}]}"#, "modles"),
            (#"{"server": {"prot": 1}, "models": [{"id": "m", "path": "p"}]}"#, "server.prot"),
            (#"{"models": [{"id": "m", "path": "p", "backend": "tpu"}]}"#, "backend"),
            (#"{"models": [{"id": "m", "path": "p", "load": "never"}]}"#, "load"),
            (#"{"models": [{"id": "m", "path": "p", "max_batch_size": 0}]}"#, "max_batch_size"),
            (#"{"models": [{"id": "m", "path": "p"}, {"id": "m", "path": "q"}]}"#, "duplicate"),
            (#"{"models": [{"id": "m", "path": "p", "defaults": {"seed": 1}}]}"#, "defaults.seed"),
            (#"{"server": {"port": 70000}, "models": [{"id": "m", "path": "p"}]}"#, "server.port"),
            (#"{"models": [{"id": "m", "path": "p", "cache": {"threshold": 2}}]}"#, "models[0].cache.threshold"),
            (#"{"models": [{"id": "m", "path": "p", "cache": {"threshold": -1}}]}"#, "models[0].cache.threshold"),
            (#"{"models": [{"id": "m", "path": "p", "cache": {"every": 2}}]}"#, "cache.every"),
            (#"{"memory": {"budget_mb": 0}, "models": [{"id": "m", "path": "p"}]}"#, "memory.budget_mb"),
            (#"{"memory": {"min_turn_s": -1}, "models": [{"id": "m", "path": "p"}]}"#, "memory.min_turn_s"),
            (#"{"memory": {"usage_half_life_s": 0}, "models": [{"id": "m", "path": "p"}]}"#, "memory.usage_half_life_s"),
            (#"{"memory": {"budget": 1}, "models": [{"id": "m", "path": "p"}]}"#, "memory.budget"),
            (#"{"models": [{"id": "m", "path": "p", "memory_mb": 0}]}"#, "models[0].memory_mb"),
        ]
        for (text, mention) in bad {
            XCTAssertThrowsError(try ServerConfig.parse(try JSONValue.parse(text), baseDirectory: base), text) { error in
                XCTAssertTrue("\(error)".contains(mention), "\(error) should mention \(mention)")
            }
        }
    }

    func testJSONReaderKeepsBigNumbersAndRejectsJunk() throws {
        let v = try JSONValue.parse(#"{"seed": 18446744073709551615, "s": "\u00e9\ud83d\ude00", "a": [1.5e3, true, null]}"#)
        XCTAssertEqual(v["seed"]?.uint64Value, UInt64.max)
        XCTAssertEqual(v["s"]?.stringValue, "é😀")
        XCTAssertEqual(v.serialized, #"{"seed":18446744073709551615,"s":"é😀","a":[1.5e3,true,null]}"#)
        for junk in ["{'a': 1}", "[1,]", "01", "{\"a\" 1}", "\"\\ud800\"", "nul", "[1] 2", "1.", "-"] {
            XCTAssertThrowsError(try JSONValue.parse(junk), junk)
        }
    }
}
