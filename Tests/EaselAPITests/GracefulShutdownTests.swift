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
        let config = try CrashRecoveryTests.writeSerialConfig(in: try makeTempDir())
        let first = try CrashRecoveryTests.Daemon(config: config)
        defer { first.stop() }
        let ids = try submitJobsUntilOneRuns(first, count: 4)
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
        _ = waitForAllSucceeded(second, ids)
    }
}
