import Foundation
import XCTest
@testable import EaselJobs

final class JobStoreTests: XCTestCase {
    func test_insertThenGet_roundTripsEveryField() throws {
        let clock = TestClock()
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions(clock: clock))
        let created = try store.insert(newJob(priority: .high, webhook: "http://example.com/hook", timeout: 30))
        guard case .created(let job) = created else { return XCTFail("expected a new job") }
        XCTAssertTrue(job.id.hasPrefix("job_"))
        XCTAssertEqual(job.id.count, 30)

        let read = try XCTUnwrap(store.get(job.id))
        XCTAssertEqual(read.status, .queued)
        XCTAssertEqual(read.model, "m")
        XCTAssertEqual(read.batchKey, "64x64x8")
        XCTAssertEqual(read.priority, .high)
        XCTAssertEqual(read.createdAt, clock.now)
        XCTAssertEqual(read.deadline, clock.now.addingTimeInterval(30))
        XCTAssertEqual(read.steps, 8)
        XCTAssertEqual(read.attempts, 0)
        XCTAssertEqual(read.queuePosition, 0)
        XCTAssertEqual(String(decoding: read.input, as: UTF8.self), #"{"prompt":"a cat","seed":18446744073709551615}"#)
        XCTAssertEqual(read.webhook, JobWebhook(url: "http://example.com/hook", state: nil, attempts: 0))
        XCTAssertNil(try store.get("job_missing"))
    }

    func test_idempotency_sameKeySameBody_returnsTheSameJob() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        let first = try store.insert(newJob(idempotencyKey: "k1", body: #"{"prompt":"a cat"}"#))
        let second = try store.insert(newJob(idempotencyKey: "k1", body: #"{"prompt":"a cat"}"#))
        guard case .created(let a) = first, case .existing(let b) = second else { return XCTFail("\(first) \(second)") }
        XCTAssertEqual(a.id, b.id)
        XCTAssertEqual(try store.list().jobs.count, 1)
    }

    func test_idempotency_sameKeyDifferentBody_conflicts() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        let first = try store.insert(newJob(idempotencyKey: "k1", body: #"{"prompt":"a cat"}"#)).job
        XCTAssertThrowsError(try store.insert(newJob(idempotencyKey: "k1", body: #"{"prompt":"a dog"}"#))) {
            XCTAssertEqual($0 as? JobStoreError, .idempotencyConflict(existingJobID: first.id))
        }
    }

    func test_insert_whenQueueFull_throwsQueueFull() throws {
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions { $0.maxQueued = 2 })
        _ = try store.insert(newJob())
        _ = try store.insert(newJob())
        XCTAssertThrowsError(try store.insert(newJob())) { XCTAssertEqual($0 as? JobStoreError, .queueFull) }
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)
        XCTAssertNoThrow(try store.insert(newJob()), "running jobs do not count against the queue")
    }

    func test_claim_takesHighPriorityFirstThenFIFO() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        let low = try store.insert(newJob(priority: .low)).job
        let normal1 = try store.insert(newJob(priority: .normal)).job
        let high = try store.insert(newJob(priority: .high)).job
        let normal2 = try store.insert(newJob(priority: .normal)).job
        XCTAssertEqual(try store.get(low.id)?.queuePosition, 3)
        XCTAssertEqual(try store.get(normal2.id)?.queuePosition, 2)
        XCTAssertEqual(try store.get(high.id)?.queuePosition, 0)

        var order: [String] = []
        while let job = try store.claimBatch(model: "m", maxBatchSize: 1).first { order.append(job.id) }
        XCTAssertEqual(order, [high.id, normal1.id, normal2.id, low.id])
    }

    /// Status reads are served from a cache between writes; every write must make the next read current.
    func test_get_afterEveryKindOfWrite_seesTheNewState() throws {
        let clock = TestClock()
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions(clock: clock))
        let a = try store.insert(newJob(timeout: 10)).job
        let b = try store.insert(newJob()).job
        let c = try store.insert(newJob()).job
        for _ in 0..<2 { XCTAssertEqual(try store.get(c.id)?.queuePosition, 2) }  // second read is a cache hit
        func assertJSONCurrent(_ id: String, line: UInt = #line) throws {
            for _ in 0..<2 {  // the second answer may come from the cached rendering
                let answer = try XCTUnwrap(store.getJSON(id), line: line)
                XCTAssertEqual(answer.json, store.renderer.job(try XCTUnwrap(store.get(id))),
                               line: line)
            }
        }
        try assertJSONCurrent(c.id)
        _ = try store.insert(newJob(priority: .high))
        XCTAssertEqual(try store.get(c.id)?.queuePosition, 3, "a job inserted ahead moves it back")
        try assertJSONCurrent(c.id)
        XCTAssertEqual(try store.cancel(b.id), .canceled(try XCTUnwrap(store.get(b.id))))
        XCTAssertEqual(try store.get(b.id)?.status, .canceled)
        XCTAssertEqual(try store.get(c.id)?.queuePosition, 2)
        let high = try XCTUnwrap(store.claimBatch(model: "m", maxBatchSize: 1).first)
        XCTAssertEqual(try store.get(high.id)?.status, .running)
        XCTAssertEqual(try store.get(c.id)?.queuePosition, 1)
        store.recordProgress(high.id, step: 3, steps: 8)
        XCTAssertEqual(try store.get(high.id)?.step, 3, "live progress overlays a cached row")
        try assertJSONCurrent(high.id)
        store.recordProgress(high.id, step: 4, steps: 8)
        XCTAssertTrue(String(decoding: try XCTUnwrap(store.getJSON(high.id)).json, as: UTF8.self)
            .contains(#""progress":{"step":4,"steps":8}"#))
        _ = try store.cancel(high.id)
        XCTAssertEqual(try store.get(high.id)?.cancelRequested, true)
        _ = try store.finish(high.id, .canceled(inferenceMs: 5))
        XCTAssertEqual(try store.get(high.id)?.status, .canceled)
        try assertJSONCurrent(high.id)
        XCTAssertNil(try store.getJSON("job_missing"))
        clock.advance(11)
        XCTAssertEqual(try store.expireDeadlines().map(\.id), [a.id])
        XCTAssertEqual(try store.get(a.id)?.status, .failed)
        XCTAssertEqual(try store.get(c.id)?.queuePosition, 0)
        try assertJSONCurrent(c.id)
    }

    /// The read cache holds at most `readCacheBytes`: a job with a huge input is read from SQLite every time, and
    /// many small ones make it start over rather than grow.
    func test_readCache_isBoundedInBytes() throws {
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions {
            $0.readCacheBytes = 16 * 1024
            $0.maxQueued = 100
        })
        let huge = try store.insert(newJob(prompt: String(repeating: "x", count: 5000))).job
        XCTAssertNotNil(try store.getJSON(huge.id))
        XCTAssertFalse(store.isCached(huge.id), "a job above a quarter of the budget is not cached")
        var ids: [String] = []
        for _ in 0..<40 { ids.append(try store.insert(newJob()).job.id) }
        for id in ids {
            XCTAssertNotNil(try store.getJSON(id))
            XCTAssertTrue(store.isCached(id))
            XCTAssertLessThanOrEqual(store.cache.heldBytes, 16 * 1024)
        }
        XCTAssertFalse(store.isCached(ids[0]), "the cache started over instead of growing past its budget")
    }

    func test_claim_batchesOnlyTheHeadsBatchKey_upToMax() throws {
        let clock = TestClock()
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions(clock: clock))
        let a1 = try store.insert(newJob(key: "A")).job
        let b1 = try store.insert(newJob(key: "B")).job
        let a2 = try store.insert(newJob(key: "A")).job
        let a3 = try store.insert(newJob(key: "A")).job
        let a4 = try store.insert(newJob(key: "A")).job
        _ = try store.insert(newJob(model: "other", key: "A"))
        XCTAssertEqual(try store.queueHead(model: "m"), QueueHead(batchKey: "A", createdAt: clock.now, compatible: 4))

        clock.advance(0.25)
        let batch = try store.claimBatch(model: "m", maxBatchSize: 3)
        XCTAssertEqual(batch.map(\.id), [a1.id, a2.id, a3.id])
        XCTAssertTrue(batch.allSatisfy { $0.status == .running && $0.attempts == 1 && $0.batchSize == 3 })
        XCTAssertEqual(batch[0].queueMs, 250)
        XCTAssertEqual(try store.claimBatch(model: "m", maxBatchSize: 3).map(\.id), [b1.id])
        XCTAssertEqual(try store.claimBatch(model: "m", maxBatchSize: 3).map(\.id), [a4.id])
        XCTAssertEqual(try store.claimBatch(model: "m", maxBatchSize: 3), [])
        XCTAssertEqual(try store.queueDepths(), ["other": 1])
    }

    func test_cancel_queuedNow_runningAtStepBoundary_terminalConflicts() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        let running = try store.insert(newJob()).job
        let queued = try store.insert(newJob(key: "other")).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 1)

        guard case .canceled(let c) = try store.cancel(queued.id) else { return XCTFail("queued job not canceled") }
        XCTAssertEqual(c.status, .canceled)
        XCTAssertEqual(c.error?.code, "canceled")
        XCTAssertNotNil(c.completedAt)

        guard case .cancelRequested(let r) = try store.cancel(running.id) else { return XCTFail("expected 202 path") }
        XCTAssertEqual(r.status, .running)
        XCTAssertTrue(r.cancelRequested)
        XCTAssertTrue(store.isCancelRequested(running.id))
        try store.finish(running.id, .canceled(inferenceMs: 5))
        XCTAssertEqual(try store.get(running.id)?.status, .canceled)

        guard case .alreadyTerminal = try store.cancel(queued.id) else { return XCTFail("terminal must conflict") }
        XCTAssertEqual(try store.cancel("job_nope"), .notFound)
    }

    func test_finish_succeeded_recordsImagesAndMetrics() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        let job = try store.insert(newJob()).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 4)
        store.recordProgress(job.id, step: 3, steps: 8)
        XCTAssertEqual(try store.get(job.id)?.step, 3, "live progress is visible before it is persisted")
        let file = try store.images.write(Data([1, 2, 3]), jobID: job.id, index: 0)
        let image = JobImage(index: 0, width: 64, height: 64, seed: 42, contentType: "image/png", file: file)
        try store.finish(job.id, .succeeded([image], inferenceMs: 340))
        let done = try XCTUnwrap(store.get(job.id))
        XCTAssertEqual(done.status, .succeeded)
        XCTAssertEqual(done.images, [image])
        XCTAssertEqual(done.step, 8)
        XCTAssertEqual(done.inferenceMs, 340)
        XCTAssertNil(try store.finish(job.id, .failed(JobError(code: "x", message: "y"), inferenceMs: nil)),
                     "a terminal job does not change again")
        XCTAssertEqual(try Data(contentsOf: store.images.url(file: done.images[0].file)), Data([1, 2, 3]))
    }

    func test_list_newestFirst_filters_andCursorPages() throws {
        let store = try JobStore(dataDir: try makeTempDir())
        var ids: [String] = []
        for i in 0..<5 { ids.append(try store.insert(newJob(model: i % 2 == 0 ? "even" : "odd")).job.id) }
        let page1 = try store.list(limit: 2)
        XCTAssertEqual(page1.jobs.map(\.id), [ids[4], ids[3]])
        let page2 = try store.list(limit: 2, cursor: page1.nextCursor)
        XCTAssertEqual(page2.jobs.map(\.id), [ids[2], ids[1]])
        let page3 = try store.list(limit: 2, cursor: page2.nextCursor)
        XCTAssertEqual(page3.jobs.map(\.id), [ids[0]])
        XCTAssertNil(page3.nextCursor)
        XCTAssertEqual(try store.list(model: "even").jobs.map(\.id), [ids[4], ids[2], ids[0]])
        _ = try store.cancel(ids[1])
        XCTAssertEqual(try store.list(status: .canceled).jobs.map(\.id), [ids[1]])
        XCTAssertThrowsError(try store.list(cursor: "garbage!")) { XCTAssertEqual($0 as? JobStoreError, .invalidCursor) }
        XCTAssertEqual(try store.list(limit: 1000).jobs.count, 5)
    }

    func test_jobIDs_sortByCreationAndAreUnique() {
        let generator = JobIDGenerator()
        let t = Date(timeIntervalSince1970: 1_764_168_373)
        let ids = (0..<1000).map { generator.next(prefix: "job_", now: t.addingTimeInterval(Double($0 / 100) * 0.001)) }
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count)
        XCTAssertEqual(JobIDGenerator().next(prefix: "", now: Date(timeIntervalSince1970: 0)).prefix(10), "0000000000")
        XCTAssertGreaterThan(generator.next(prefix: "job_", now: t.addingTimeInterval(-60)), ids[999],
                             "a clock stepping back does not break the order")
    }

    func test_deadline_failsQueuedJobsPastIt() throws {
        let clock = TestClock()
        let store = try JobStore(dataDir: try makeTempDir(), options: storeOptions(clock: clock))
        let short = try store.insert(newJob(timeout: 1)).job
        let long = try store.insert(newJob(timeout: 60)).job
        XCTAssertEqual(try store.nextQueuedDeadline(), clock.now.addingTimeInterval(1))
        XCTAssertEqual(try store.expireDeadlines(), [])
        clock.advance(1.5)
        XCTAssertEqual(try store.expireDeadlines().map(\.id), [short.id])
        XCTAssertEqual(try store.get(short.id)?.error?.code, "deadline_exceeded")
        XCTAssertEqual(try store.get(long.id)?.status, .queued)
    }

    func test_prune_removesJobsImagesAndDeliveriesAfterRetention() throws {
        let clock = TestClock()
        let dir = try makeTempDir()
        let store = try JobStore(dataDir: dir, options: storeOptions(clock: clock) { $0.retention = 3600 })
        let old = try store.insert(newJob(webhook: "http://example.com/h")).job
        let fresh = try store.insert(newJob()).job
        let queued = try store.insert(newJob(key: "other")).job
        _ = try store.claimBatch(model: "m", maxBatchSize: 2)
        _ = try store.images.write(Data([9]), jobID: old.id, index: 0)
        try store.finish(old.id, .failed(JobError(code: "internal", message: "boom"), inferenceMs: 1))
        clock.advance(3000)
        try store.finish(fresh.id, .failed(JobError(code: "internal", message: "boom"), inferenceMs: 1))
        clock.advance(601)
        XCTAssertEqual(try store.prune(), [old.id])
        XCTAssertNil(try store.get(old.id))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("images/\(old.id)").path))
        XCTAssertEqual(try store.dueWebhookDeliveries(limit: 10), [])
        XCTAssertNotNil(try store.get(fresh.id))
        clock.advance(100_000)
        XCTAssertEqual(try store.prune(), [fresh.id], "queued jobs are never pruned")
        XCTAssertNotNil(try store.get(queued.id))
    }
}
