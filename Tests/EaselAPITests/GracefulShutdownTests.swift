import EaselAPI
import Foundation
import XCTest

/// SIGTERM to the built `easel serve` while a job runs: the process exits by itself with status 0, and after a
/// restart on the same data dir every acknowledged job is there and succeeds (the running batch finished or was
/// re-queued, nothing was lost).
final class GracefulShutdownTests: XCTestCase {
    func testSigtermExitsCleanlyAndLosesNoJob() throws {
        let binary = CrashRecoveryTests.easelBinary
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            return XCTFail("build the easel executable first (swift build): \(binary.path) is missing")
        }
        let dir = try makeTempDir()
        let config = dir.appendingPathComponent("easel.json")
        try Data("""
        {"server": {"data_dir": "data"},
         "models": [{"id": "easel-shapes", "path": "\(shapesFolder.path)", "max_batch_size": 1, "max_queue_delay_ms": 0,
                     "defaults": {"width": 64, "height": 64, "steps": 8, "guidance": 2.5}}]}
        """.utf8).write(to: config)

        let first = try CrashRecoveryTests.Daemon(config: config)
        defer { first.stop() }
        eventually(timeout: 30, "ready") {
            (try? LoopbackClient.request(port: first.port, "GET", "/readyz").status) == 200
        }
        var ids: [String] = []
        for i in 0..<4 {
            let a = try LoopbackClient.json(port: first.port, "POST", "/v1/generate",
                                            #"{"model": "easel-shapes", "prompt": "\#(goodPrompt)", "seed": \#(i), "steps": 12}"#)
            XCTAssertEqual(a.status, 202, a.text)
            ids.append(try XCTUnwrap(a.json["id"]?.stringValue))
        }
        eventually(timeout: 30, "a job running") {
            (try? LoopbackClient.request(port: first.port, "GET", "/v1/jobs?status=running").json["jobs"])
                .map { $0 != .array([]) } ?? false
        }
        let sent = Date()
        kill(first.process.processIdentifier, SIGTERM)
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { first.process.waitUntilExit(); exited.signal() }
        XCTAssertEqual(exited.wait(timeout: .now() + 30), .success, "easel serve exits within 30 s of SIGTERM")
        XCTAssertEqual(first.process.terminationReason, .exit)
        XCTAssertEqual(first.process.terminationStatus, 0, "clean exit status after SIGTERM")
        XCTAssertLessThan(Date().timeIntervalSince(sent), 30)

        let second = try CrashRecoveryTests.Daemon(config: config)
        defer { second.stop() }
        var jobs: [JSONValue] = []
        eventually(timeout: 90, "every acknowledged job succeeded after the restart") {
            jobs = ids.compactMap { try? LoopbackClient.request(port: second.port, "GET", "/v1/jobs/\($0)").json }
            return jobs.count == ids.count && jobs.allSatisfy { $0["status"]?.stringValue == "succeeded" }
        }
        XCTAssertEqual(jobs.compactMap { $0["id"]?.stringValue }, ids)
    }
}
