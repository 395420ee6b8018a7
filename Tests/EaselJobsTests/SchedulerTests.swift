import Foundation
import XCTest
@testable import EaselJobs

/// Steps through each job of a batch, calling `progress` after every step, and makes one tiny "PNG" per job.
final class FakeExecutor: BatchExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var _batches: [[String]] = []
    var stepDelay: TimeInterval = 0
    /// Called before the first step, e.g. to block until the test is ready.
    var beforeRun: (@Sendable () -> Void)?
    var failures: [String: JobError] = [:]

    var batches: [[String]] {
        lock.lock()
        defer { lock.unlock() }
        return _batches
    }

    func run(batch: [JobRecord], progress: @escaping @Sendable (String, Int, Int) -> Bool)
        -> [String: Result<JobOutput, JobError>] {
        lock.lock()
        _batches.append(batch.map(\.id))
        lock.unlock()
        beforeRun?()
        var stopped: Set<String> = []
        let steps = batch.map(\.steps).max() ?? 0
        for step in 1...max(1, steps) where stopped.count < batch.count {
            if stepDelay > 0 { Thread.sleep(forTimeInterval: stepDelay) }
            for job in batch where !stopped.contains(job.id) {
                if !progress(job.id, step, job.steps) { stopped.insert(job.id) }
            }
        }
        var results: [String: Result<JobOutput, JobError>] = [:]
        for job in batch where !stopped.contains(job.id) {
            if let failure = failures[job.id] {
                results[job.id] = .failure(failure)
            } else {
                results[job.id] = .success(JobOutput(images: [GeneratedImage(bytes: Data("png:\(job.id)".utf8), width: 64, height: 64, seed: 7)]))
            }
        }
        return results
    }
}

final class SchedulerTests: XCTestCase {
    private func makeScheduler(_ executor: FakeExecutor, maxBatch: Int = 4, delay: TimeInterval = 0,
                               options: JobStoreOptions = JobStoreOptions()) throws -> Scheduler {
        let store = try JobStore(dataDir: try makeTempDir(), options: options)
        let scheduler = Scheduler(store: store, lanes: [
            ModelLaneConfig(model: "m", maxBatchSize: maxBatch, maxQueueDelay: delay, executor: executor),
        ])
        scheduler.start()
        addTeardownBlock { scheduler.stop() }
        return scheduler
    }

    func test_submit_runsTheJob_writesImagesBeforeSucceeding() throws {
        let executor = FakeExecutor()
        let scheduler = try makeScheduler(executor)
        let job = try scheduler.submit(newJob(steps: 3)).job
        try eventually("job succeeded") { try scheduler.store.get(job.id)?.status == .succeeded }
        let done = try XCTUnwrap(scheduler.store.get(job.id))
        XCTAssertEqual(done.images.count, 1)
        XCTAssertEqual(done.images[0].seed, 7)
        XCTAssertEqual(done.step, 3)
        XCTAssertEqual(done.attempts, 1)
        XCTAssertEqual(done.batchSize, 1)
        XCTAssertNotNil(done.inferenceMs)
        let file = scheduler.store.images.url(file: done.images[0].file)
        XCTAssertEqual(try Data(contentsOf: file), Data("png:\(job.id)".utf8))
        XCTAssertThrowsError(try scheduler.submit(newJob(model: "unknown")))
    }

    func test_jobsArrivingWithinTheQueueDelay_shareABatch() throws {
        let executor = FakeExecutor()
        let scheduler = try makeScheduler(executor, maxBatch: 3, delay: 0.3)
        let ids = try (0..<4).map { _ in try scheduler.submit(newJob(steps: 1)).job.id }
        try eventually("all done") { try ids.allSatisfy { try scheduler.store.get($0)?.status == .succeeded } }
        XCTAssertEqual(executor.batches, [Array(ids[0..<3]), [ids[3]]], "a full batch goes at once, the rest after")
        XCTAssertEqual(try scheduler.store.get(ids[0])?.batchSize, 3)
    }

    func test_cancelWhileRunning_stopsAtTheNextStepBoundary() throws {
        let executor = FakeExecutor()
        executor.stepDelay = 0.01
        let scheduler = try makeScheduler(executor)
        let job = try scheduler.submit(newJob(steps: 1000)).job
        try eventually("running") { try scheduler.store.get(job.id)?.status == .running }
        guard case .cancelRequested = try scheduler.cancel(job.id) else { return XCTFail("expected cancel requested") }
        try eventually("canceled") { try scheduler.store.get(job.id)?.status == .canceled }
        let done = try XCTUnwrap(scheduler.store.get(job.id))
        XCTAssertLessThan(done.step, 1000)
        XCTAssertEqual(done.error?.code, "canceled")
        XCTAssertEqual(done.images, [])
        guard case .alreadyTerminal = try scheduler.cancel(job.id) else { return XCTFail("expected conflict") }
    }

    func test_deadlinePassingWhileRunning_failsDeadlineExceeded() throws {
        let executor = FakeExecutor()
        executor.stepDelay = 0.01
        let scheduler = try makeScheduler(executor)
        let job = try scheduler.submit(newJob(steps: 1000, timeout: 0.1)).job
        try eventually("failed") { try scheduler.store.get(job.id)?.status == .failed }
        XCTAssertEqual(try scheduler.store.get(job.id)?.error?.code, "deadline_exceeded")
    }

    func test_deadlinePassingWhileQueued_failsWithoutRunning() throws {
        let executor = FakeExecutor()
        let gate = DispatchSemaphore(value: 0)
        executor.beforeRun = { gate.wait() }
        let scheduler = try makeScheduler(executor, maxBatch: 1)
        let blocker = try scheduler.submit(newJob(steps: 1)).job
        try eventually("blocker running") { try scheduler.store.get(blocker.id)?.status == .running }
        let waiting = try scheduler.submit(newJob(steps: 1, timeout: 0.05)).job
        try eventually("queued job expired") { try scheduler.store.get(waiting.id)?.status == .failed }
        XCTAssertEqual(try scheduler.store.get(waiting.id)?.error?.code, "deadline_exceeded")
        gate.signal()
        try eventually("blocker done") { try scheduler.store.get(blocker.id)?.status == .succeeded }
        XCTAssertEqual(executor.batches, [[blocker.id]])
    }

    func test_executorError_failsJobWithItsCode() throws {
        let executor = FakeExecutor()
        let scheduler = try makeScheduler(executor)
        let gate = DispatchSemaphore(value: 0)
        executor.beforeRun = { gate.wait() }
        let job = try scheduler.submit(newJob(steps: 1)).job
        executor.failures[job.id] = JobError(code: "out_of_memory", message: "too big")
        gate.signal()
        try eventually("failed") { try scheduler.store.get(job.id)?.status == .failed }
        XCTAssertEqual(try scheduler.store.get(job.id)?.error, JobError(code: "out_of_memory", message: "too big"))
    }

    func test_eventStream_deliversStatusAndProgressUntilTerminal() async throws {
        let executor = FakeExecutor()
        let gate = DispatchSemaphore(value: 0)
        executor.beforeRun = { gate.wait() }
        let scheduler = try makeScheduler(executor)
        let job = try scheduler.submit(newJob(steps: 2)).job
        let stream = scheduler.store.events.stream(jobID: job.id)
        gate.signal()
        var kinds: [JobEvent.Kind] = []
        for await event in stream { kinds.append(event.kind) }
        XCTAssertEqual(kinds.last, .finished)
        XCTAssertEqual(kinds.filter { $0 == .progress }.count, 2)
    }

    func test_recoveredJobs_runAfterStart() throws {
        let dir = try makeTempDir()
        let first = try JobStore(dataDir: dir)
        let job = try first.insert(newJob(steps: 1)).job
        first.close()
        let executor = FakeExecutor()
        let store = try JobStore(dataDir: dir)
        let scheduler = Scheduler(store: store, lanes: [ModelLaneConfig(model: "m", executor: executor)])
        scheduler.start()
        defer { scheduler.stop() }
        try eventually("ran") { try store.get(job.id)?.status == .succeeded }
    }
}
