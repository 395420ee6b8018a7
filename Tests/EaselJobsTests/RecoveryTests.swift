import Foundation
import XCTest
@testable import EaselJobs

/// A crash is simulated by copying the database files while the store is still open with jobs running (what kill -9
/// leaves on disk: the committed WAL, no clean close), then opening a new store on the copy.
final class RecoveryTests: XCTestCase {
    private func crashCopy(of dir: URL) throws -> URL {
        let copy = try makeTempDir("crash")
        for name in ["jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"] {
            let source = dir.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: source.path) {
                try FileManager.default.copyItem(at: source, to: copy.appendingPathComponent(name))
            }
        }
        return copy
    }

    func test_reopenAfterCrash_runningJobsRequeuedInOrder_queuedStayQueued() throws {
        let dir = try makeTempDir()
        let store = try JobStore(dataDir: dir)
        let a = try store.insert(newJob()).job
        let b = try store.insert(newJob()).job
        let c = try store.insert(newJob()).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 2)  // a, b running
        store.recordProgress(a.id, step: 2, steps: 8)

        let reopened = try JobStore(dataDir: try crashCopy(of: dir))
        XCTAssertEqual(reopened.recovery.requeued, [a.id, b.id])
        for id in [a.id, b.id] {
            let job = try XCTUnwrap(reopened.get(id))
            XCTAssertEqual(job.status, .queued)
            XCTAssertEqual(job.attempts, 1, "the start that was lost is counted once")
            XCTAssertNil(job.startedAt)
            XCTAssertEqual(job.step, 0)
        }
        XCTAssertEqual(try reopened.get(c.id)?.status, .queued)
        let order = try reopened.claimBatch(model: "m", maxBatchSize: 3).map(\.id)
        XCTAssertEqual(order, [a.id, b.id, c.id])
        XCTAssertEqual(try reopened.get(a.id)?.attempts, 2)
        store.close()
    }

    func test_reopenAfterCrash_atMaxAttempts_failsWithWorkerLost() throws {
        var dir = try makeTempDir()
        let options = storeOptions { $0.maxAttempts = 2 }
        var store = try JobStore(dataDir: dir, options: options)
        let job = try store.insert(newJob(webhook: "http://example.com/h")).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)              // attempt 1, then crash
        dir = try crashCopy(of: dir)
        store = try JobStore(dataDir: dir, options: options)
        XCTAssertEqual(store.recovery.requeued, [job.id])
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)              // attempt 2, then crash
        store = try JobStore(dataDir: try crashCopy(of: dir), options: options)
        XCTAssertEqual(store.recovery.workerLost, [job.id])
        let lost = try XCTUnwrap(store.get(job.id))
        XCTAssertEqual(lost.status, .failed)
        XCTAssertEqual(lost.error?.code, "worker_lost")
        XCTAssertEqual(lost.attempts, 2)
        XCTAssertEqual(lost.webhook?.state, .pending)
        XCTAssertEqual(store.recovery.pendingWebhooks, 1, "the failure's webhook is queued for the sender")
    }

    func test_reopenAfterCrash_cancelRequested_endsCanceled() throws {
        let dir = try makeTempDir()
        let store = try JobStore(dataDir: dir)
        let job = try store.insert(newJob()).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)
        _ = try store.cancel(job.id)
        let reopened = try JobStore(dataDir: try crashCopy(of: dir))
        XCTAssertEqual(reopened.recovery.canceled, [job.id])
        XCTAssertEqual(try reopened.get(job.id)?.status, .canceled)
    }

    func test_committedInsert_isOnDiskWhenInsertReturns() throws {
        let dir = try makeTempDir()
        let store = try JobStore(dataDir: dir)
        let job = try store.insert(newJob()).job
        let reopened = try JobStore(dataDir: try crashCopy(of: dir))
        XCTAssertEqual(try reopened.get(job.id)?.id, job.id)
        XCTAssertEqual(try reopened.queuedCount(), 1)
    }
}
