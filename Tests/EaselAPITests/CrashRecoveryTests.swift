import EaselJSON
import EaselAPI
import Foundation
import XCTest

/// Spawns the built `easel serve`, SIGKILLs it with jobs queued and running, restarts it on the same data dir, and
/// checks every acknowledged job is there and succeeds.
final class CrashRecoveryTests: XCTestCase {
    /// `.build/<config>/easel`, next to the test bundle.
    static var easelBinary: URL {
        let bundle = Bundle(for: CrashRecoveryTests.self).bundleURL
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),  // Linux: the test executable
            bundle, bundle.deletingLastPathComponent(),                                  // an .xctest bundle folder
        ].map { $0.appendingPathComponent("easel") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    final class Daemon {
        let process = Process()
        let port: Int

        init(config: URL, file: StaticString = #filePath, line: UInt = #line) throws {
            process.executableURL = CrashRecoveryTests.easelBinary
            process.arguments = ["serve", "--config", config.path, "--port", "0", "--threads", "2"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Read stdout until the "listening on" line (bounded).
            var text = ""
            let deadline = Date().addingTimeInterval(30)
            var found: Int?
            while found == nil, Date() < deadline {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
                if let r = text.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    found = Int(text[r].split(separator: ":").last!)
                }
            }
            guard let found else {
                process.terminate()
                throw TestClient.Failure(description: "easel serve did not report its port: \(text)")
            }
            port = found
            // Keep draining stdout so the child never blocks on a full pipe.
            let handle = out.fileHandleForReading
            Thread { while !handle.availableData.isEmpty {} }.start()
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
        }
    }

    /// A config serving the bundled model one job at a time (so jobs queue behind a running one), under `dir`.
    static func writeSerialConfig(in dir: URL) throws -> URL {
        let config = dir.appendingPathComponent("easel.json")
        try Data("""
        {"server": {"data_dir": "data"},
         "models": [{"id": "easel-shapes", "path": "\(shapesFolder.path)", "max_batch_size": 1, "max_queue_delay_ms": 0,
                     "defaults": {"width": 64, "height": 64, "steps": 8, "guidance": 2.5}}]}
        """.utf8).write(to: config)
        return config
    }

    func testKillNineLosesNoAcknowledgedJob() throws {
        let binary = Self.easelBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            return XCTFail("build the easel executable first (swift build): \(binary.path) is missing")
        }
        let config = try Self.writeSerialConfig(in: try makeTempDir())

        let first = try Daemon(config: config)
        defer { first.stop() }
        let ids = try submitJobsUntilOneRuns(first, count: 6)
        first.kill9()

        let second = try Daemon(config: config)
        defer { second.stop() }
        let jobs = waitForAllSucceeded(second, ids)
        XCTAssertTrue(jobs.contains { ($0["attempts"]?.intValue ?? 0) >= 2 },
                      "the job running at the kill ran again: \(jobs.map { $0["attempts"]?.intValue ?? 0 })")
        for job in jobs {
            XCTAssertEqual(job["images"]?.serialized.contains("0.png"), true)
        }
    }

    /// kill -9 while a continuous running set holds a long job and short jobs admitted into it mid-flight, with more
    /// queued behind: after the restart every acknowledged job runs to success.
    func testKillNineDuringAContinuousBatchLosesNoAcknowledgedJob() throws {
        let binary = Self.easelBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            return XCTFail("build the easel executable first (swift build): \(binary.path) is missing")
        }
        let dir = try makeTempDir()
        let config = dir.appendingPathComponent("easel.json")
        try Data("""
        {"server": {"data_dir": "data"},
         "models": [{"id": "easel-shapes", "path": "\(shapesFolder.path)", "max_batch_size": 3, "max_queue_delay_ms": 0,
                     "batching": "continuous", "defaults": {"width": 64, "height": 64, "steps": 8, "guidance": 2.5}}]}
        """.utf8).write(to: config)
        let first = try Daemon(config: config)
        defer { first.stop() }
        eventually(timeout: 30, "ready") { (try? LoopbackClient.request(port: first.port, "GET", "/readyz").status) == 200 }
        func submit(_ d: Daemon, steps: Int, seed: Int) throws -> String {
            let a = try LoopbackClient.json(port: d.port, "POST", "/v1/generate",
                                            #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": \#(seed), "steps": \#(steps)}"#)
            XCTAssertEqual(a.status, 202, a.text)
            return try XCTUnwrap(a.json["id"]?.stringValue)
        }
        let long = try submit(first, steps: 50, seed: 1)
        eventually(timeout: 30, "the long job running") {
            ((try? LoopbackClient.request(port: first.port, "GET", "/v1/jobs/\(long)").json["progress"]?["step"]?.intValue) ?? 0) >= 2
        }
        var ids = [long]
        for i in 0..<6 { ids.append(try submit(first, steps: 30, seed: 10 + i)) }
        // Wait until a short job is running beside the long one (admitted into its set), then kill.
        eventually(timeout: 30, "a job admitted mid-flight") {
            ((try? LoopbackClient.request(port: first.port, "GET", "/v1/jobs/\(ids[1])").json["progress"]?["step"]?.intValue) ?? 0) >= 1
        }
        let before = try LoopbackClient.request(port: first.port, "GET", "/v1/jobs/\(ids[1])").json
        XCTAssertGreaterThanOrEqual(before["metrics"]?["batch_size"]?.intValue ?? 0, 2, "joined the long job's set")
        XCTAssertEqual(before["status"]?.stringValue, "running")
        first.kill9()

        let second = try Daemon(config: config)
        defer { second.stop() }
        let jobs = waitForAllSucceeded(second, ids)
        XCTAssertGreaterThanOrEqual(jobs[0]["attempts"]?.intValue ?? 0, 2, "the long job ran again")
        XCTAssertGreaterThanOrEqual(jobs[1]["attempts"]?.intValue ?? 0, 2, "the admitted job ran again")
        for job in jobs { XCTAssertEqual(job["images"]?.serialized.contains("0.png"), true) }
    }
}

// Steps shared by the tests that run the `easel serve` binary (crash recovery, graceful shutdown).

/// Waits for readiness, submits `count` 12-step jobs (each must get 202), and waits until one is running.
func submitJobsUntilOneRuns(_ daemon: CrashRecoveryTests.Daemon, count: Int) throws -> [String] {
    eventually(timeout: 30, "ready") {
        (try? LoopbackClient.request(port: daemon.port, "GET", "/readyz").status) == 200
    }
    var ids: [String] = []
    for i in 0..<count {
        let a = try LoopbackClient.json(port: daemon.port, "POST", "/v1/generate",
                                        #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": \#(i), "steps": 12}"#)
        XCTAssertEqual(a.status, 202, a.text)
        ids.append(try XCTUnwrap(a.json["id"]?.stringValue))
    }
    eventually(timeout: 30, "a job running") {
        (try? LoopbackClient.request(port: daemon.port, "GET", "/v1/jobs?status=running").json["jobs"])
            .map { $0 != .array([]) } ?? false
    }
    return ids
}

/// Waits until every job in `ids` has succeeded on `daemon`; returns them in order.
func waitForAllSucceeded(_ daemon: CrashRecoveryTests.Daemon, _ ids: [String]) -> [JSONValue] {
    var jobs: [JSONValue] = []
    eventually(timeout: 90, "every acknowledged job succeeded after the restart") {
        jobs = ids.compactMap { try? LoopbackClient.request(port: daemon.port, "GET", "/v1/jobs/\($0)").json }
        return jobs.count == ids.count && jobs.allSatisfy { $0["status"]?.stringValue == "succeeded" }
    }
    XCTAssertEqual(jobs.compactMap { $0["id"]?.stringValue }, ids)
    return jobs
}
