import Foundation
import XCTest
@testable import EaselJobs

/// A running set that steps each job through its own `steps`, recording who was in the set at every step.
final class FakeContinuousExecutor: ContinuousBatchExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var _steps: [[String]] = []
    private var _staticBatches: [[String]] = []
    var stepDelay: TimeInterval = 0.05
    /// Admission fails for jobs with these batch keys.
    var admitFailures: [String: JobError] = [:]
    private var _held = false
    /// While held, a step waits before it records anything (so a test can queue jobs between two boundaries).
    var held: Bool {
        get { lock.lock(); defer { lock.unlock() }; return _held }
        set { lock.lock(); _held = newValue; lock.unlock() }
    }

    /// Members of the set at each step, across every running set, in order.
    var steps: [[String]] { lock.lock(); defer { lock.unlock() }; return _steps }
    var staticBatches: [[String]] { lock.lock(); defer { lock.unlock() }; return _staticBatches }

    func record(_ members: [String]) { lock.lock(); _steps.append(members); lock.unlock() }

    func openRunningSet() -> RunningSet { FakeRunningSet(executor: self) }

    func run(batch: [JobRecord], progress: @escaping @Sendable (String, Int, Int) -> Bool)
        -> [String: Result<JobOutput, JobError>] {
        lock.lock()
        _staticBatches.append(batch.map(\.id))
        lock.unlock()
        var results: [String: Result<JobOutput, JobError>] = [:]
        for job in batch {
            for s in 1...job.steps { _ = progress(job.id, s, job.steps) }
            results[job.id] = .success(JobOutput(images: [GeneratedImage(bytes: Data("png:\(job.id)".utf8), width: 8, height: 8, seed: 1)]))
        }
        return results
    }
}

final class FakeRunningSet: RunningSet {
    let executor: FakeContinuousExecutor
    var members: [(job: JobRecord, step: Int)] = []
    init(executor: FakeContinuousExecutor) { self.executor = executor }

    var count: Int { members.count }
    var images: Int { members.count }

    func admit(_ job: JobRecord) -> JobError? {
        if let e = executor.admitFailures[job.batchKey] { return e }
        members.append((job, 0))
        return nil
    }

    func step(progress: (String, Int, Int) -> Bool) -> [String: Result<JobOutput, JobError>] {
        while executor.held { usleep(2_000) }
        executor.record(members.map(\.job.id))
        Thread.sleep(forTimeInterval: executor.stepDelay)
        var out: [String: Result<JobOutput, JobError>] = [:]
        for i in members.indices {
            members[i].step += 1
            let m = members[i]
            if !progress(m.job.id, m.step, m.job.steps) {
                out[m.job.id] = .failure(JobError(code: JobError.canceled, message: "stopped"))
            } else if m.step == m.job.steps {
                out[m.job.id] = .success(JobOutput(images: [GeneratedImage(bytes: Data("png:\(m.job.id)".utf8),
                                                                           width: 8, height: 8, seed: 1)],
                                                   counters: ["steps_run": m.step]))
            }
        }
        members.removeAll { out[$0.job.id] != nil }
        return out
    }
}

final class ContinuousBatchingTests: XCTestCase {
    private func makeScheduler(_ executor: FakeContinuousExecutor, maxBatch: Int = 4,
                               batching: BatchingMode = .continuous) throws -> Scheduler {
        let store = try JobStore(dataDir: try makeTempDir())
        let scheduler = Scheduler(store: store, lanes: [
            ModelLaneConfig(model: "m", maxBatchSize: maxBatch, maxQueueDelay: 0, batching: batching, executor: executor),
        ])
        scheduler.start()
        addTeardownBlock { scheduler.stop() }
        return scheduler
    }

    private func waitForStep(_ scheduler: Scheduler, _ id: String, atLeast step: Int) throws {
        try eventually("\(id) at step \(step)") { (try scheduler.store.get(id)?.step ?? 0) >= step }
    }

    private func allSucceed(_ scheduler: Scheduler, _ ids: [String]) throws {
        try eventually("all succeeded") { try ids.allSatisfy { try scheduler.store.get($0)?.status == .succeeded } }
    }

    func test_aJobQueuedMidBatch_joinsAtTheNextStepBoundary_andLeavesWhenItsOwnStepsAreDone() throws {
        let executor = FakeContinuousExecutor()
        let scheduler = try makeScheduler(executor)
        let long = try scheduler.submit(newJob(key: "A|10", steps: 10)).job
        try waitForStep(scheduler, long.id, atLeast: 2)
        let short = try scheduler.submit(newJob(key: "A|3", steps: 3)).job
        try allSucceed(scheduler, [long.id, short.id])
        let steps = executor.steps
        let together = steps.filter { $0.contains(short.id) }
        XCTAssertEqual(together.count, 3, "the short job ran its own 3 steps")
        XCTAssertTrue(together.allSatisfy { $0 == [long.id, short.id] }, "inside the long job's running set: \(steps)")
        XCTAssertEqual(steps.filter { $0.contains(long.id) }.count, 10)
        XCTAssertEqual(steps.count, 10, "one running set, never restarted")
        let s = try XCTUnwrap(scheduler.store.get(short.id))
        XCTAssertEqual(s.batchSize, 2, "admitted into a set of two")
        XCTAssertEqual(s.engineMetrics["steps_run"], 3)
        XCTAssertLessThan(s.completedAt!, try XCTUnwrap(scheduler.store.get(long.id)?.completedAt), "finished first")
        XCTAssertEqual(executor.staticBatches, [])
    }

    func test_anIncompatibleHead_stopsAdmission_soItRunsNextInsteadOfWaitingBehindAStream() throws {
        let executor = FakeContinuousExecutor()
        let scheduler = try makeScheduler(executor)
        let first = try scheduler.submit(newJob(key: "A|6", steps: 6)).job
        try waitForStep(scheduler, first.id, atLeast: 1)
        let other = try scheduler.submit(newJob(key: "B|2", steps: 2)).job
        let later = try scheduler.submit(newJob(key: "A|2", steps: 2)).job
        try allSucceed(scheduler, [first.id, other.id, later.id])
        let steps = executor.steps
        XCTAssertFalse(steps.contains { $0.contains(later.id) && $0.contains(first.id) },
                       "the A job behind the B head was not admitted into the A set: \(steps)")
        let firstB = try XCTUnwrap(steps.firstIndex { $0.contains(other.id) })
        let firstLater = try XCTUnwrap(steps.firstIndex { $0.contains(later.id) })
        XCTAssertLessThan(firstB, firstLater, "the B head ran before the later A job")
        XCTAssertTrue(steps[firstB...].prefix(2).allSatisfy { $0 == [other.id] })
    }

    func test_admissionFollowsPriority_andRespectsMaxBatchSize() throws {
        let executor = FakeContinuousExecutor()
        executor.held = true
        let scheduler = try makeScheduler(executor, maxBatch: 2)
        let running = try scheduler.submit(newJob(key: "A|4", steps: 4)).job
        try eventually("running") { try scheduler.store.get(running.id)?.status == .running }
        let normal = try scheduler.submit(newJob(key: "A|4", steps: 4)).job
        let high = try scheduler.submit(newJob(key: "A|4", priority: .high, steps: 4)).job
        executor.held = false
        try allSucceed(scheduler, [running.id, normal.id, high.id])
        let steps = executor.steps
        XCTAssertTrue(steps.allSatisfy { $0.count <= 2 }, "max_batch_size 2: \(steps)")
        let h = try XCTUnwrap(steps.firstIndex { $0.contains(high.id) })
        let n = try XCTUnwrap(steps.firstIndex { $0.contains(normal.id) })
        XCTAssertLessThan(h, n, "the high-priority job was admitted first")
        XCTAssertTrue(steps[h].contains(running.id), "into the running set")
    }

    func test_cancelDeadlineAndAdmissionFailures_actAtStepBoundaries_withoutDisturbingTheOthers() throws {
        let executor = FakeContinuousExecutor()
        executor.stepDelay = 0.02
        executor.admitFailures["A|5"] = JobError(code: "invalid_input", message: "unreadable")
        let scheduler = try makeScheduler(executor)
        let keep = try scheduler.submit(newJob(key: "A|60", steps: 60)).job
        try waitForStep(scheduler, keep.id, atLeast: 1)
        let bad = try scheduler.submit(newJob(key: "A|5", steps: 5)).job
        let canceled = try scheduler.submit(newJob(key: "A|1000", steps: 1000)).job
        let late = try scheduler.submit(newJob(key: "A|1000", steps: 1000, timeout: 0.5)).job
        try eventually("canceled job running") { try scheduler.store.get(canceled.id)?.status == .running }
        _ = try scheduler.cancel(canceled.id)
        try eventually("stopped") {
            try scheduler.store.get(canceled.id)?.status == .canceled && scheduler.store.get(late.id)?.status == .failed
        }
        XCTAssertEqual(try scheduler.store.get(late.id)?.error?.code, "deadline_exceeded")
        try allSucceed(scheduler, [keep.id])
        let failed = try XCTUnwrap(scheduler.store.get(bad.id))
        XCTAssertEqual(failed.status, .failed)
        XCTAssertEqual(failed.error?.code, "invalid_input")
        XCTAssertEqual(executor.steps.filter { $0.contains(keep.id) }.count, 60)
    }

    func test_staticMode_runsWholeBatches() throws {
        let executor = FakeContinuousExecutor()
        let scheduler = try makeScheduler(executor, batching: .static)
        let a = try scheduler.submit(newJob(key: "A|3", steps: 3)).job
        try allSucceed(scheduler, [a.id])
        XCTAssertEqual(executor.staticBatches, [[a.id]])
        XCTAssertEqual(executor.steps, [])
    }

    func test_stopDrainsTheRunningSetAndAdmitsNothingNew() throws {
        let executor = FakeContinuousExecutor()
        executor.stepDelay = 0.01
        executor.held = true
        let store = try JobStore(dataDir: try makeTempDir())
        let scheduler = Scheduler(store: store, lanes: [
            ModelLaneConfig(model: "m", maxBatchSize: 4, maxQueueDelay: 0, executor: executor),
        ])
        scheduler.start()
        let running = try scheduler.submit(newJob(key: "A|8", steps: 8)).job
        try eventually("running") { try store.get(running.id)?.status == .running }
        let queued = try scheduler.submit(newJob(key: "A|8", steps: 8)).job
        let stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { scheduler.stop(); stopped.signal() }
        Thread.sleep(forTimeInterval: 0.2)  // stop() has marked the lane stopping and waits for the set
        executor.held = false
        XCTAssertEqual(stopped.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(try store.get(running.id)?.status, .succeeded, "the set in progress finished before stop returned")
        XCTAssertEqual(try store.get(queued.id)?.status, .queued, "nothing admitted once stopping")
    }

    func test_admissionKeyIsTheBatchKeyUpToItsFirstBar() {
        XCTAssertEqual(JobRecord.admissionKey("m/64x64/16|8/from3"), "m/64x64/16")
        XCTAssertEqual(JobRecord.admissionKey("64x64x8"), "64x64x8")
    }
}
