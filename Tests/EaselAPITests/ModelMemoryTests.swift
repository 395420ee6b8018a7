import EaselAPI
import EaselEngine
import Foundation
import Synchronization
import XCTest

/// The memory budget's policy on its own: models whose `memory_mb` is set and whose loader hands out the already
/// loaded easel-shapes pipeline, so loads are instant and counted.
final class ModelMemoryTests: XCTestCase {
    final class Loads: Sendable {
        let counts = Mutex<[String: Int]>([:])
        subscript(id: String) -> Int { counts.withLock { $0[id] ?? 0 } }
        func loader(gate: DispatchSemaphore? = nil, fail: Bool = false) -> ModelEntry.Loader {
            { [self] config in
                counts.withLock { $0[config.id, default: 0] += 1 }
                gate?.wait()
                if fail { throw EngineError("broken weights") }
                return sharedShapes
            }
        }
    }

    func entry(_ id: String, mb: Int, load: ModelConfig.LoadPolicy = .lazy, loader: @escaping ModelEntry.Loader) -> ModelEntry {
        var c = shapesConfig(id: id)
        c.memoryMB = mb
        c.load = load
        return ModelEntry(config: c, logger: quietLogger, loader: loader)
    }

    func testTheLeastRecentlyUsedIdleModelIsEvictedAndOnlyWhenTheRoomIsNeeded() throws {
        let loads = Loads()
        let a = entry("a", mb: 10, loader: loads.loader()), b = entry("b", mb: 10, loader: loads.loader()),
            c = entry("c", mb: 10, loader: loads.loader())
        let metrics = Metrics()
        let memory = ModelMemory(entries: [a, b, c], budget: 25 << 20, metrics: metrics, logger: quietLogger)
        XCTAssertEqual(a.currentState, .notLoaded, "nothing loads before it is asked for")
        for e in [a, b, a] {
            _ = try memory.acquire(e)
            memory.release(e)
        }
        XCTAssertEqual([a.currentState, b.currentState, c.currentState], [.loaded, .loaded, .notLoaded])
        XCTAssertEqual(loads["a"], 1, "a second acquire of a resident model does not load it again")
        _ = try memory.acquire(c)
        memory.release(c)
        XCTAssertEqual([a.currentState, b.currentState, c.currentState], [.loaded, .evicted, .loaded],
                       "b was used least recently")
        XCTAssertEqual(memory.resident, ["a": 10 << 20, "b": 0, "c": 10 << 20])
        _ = try memory.acquire(b)
        memory.release(b)
        XCTAssertEqual([a.currentState, b.currentState, c.currentState], [.evicted, .loaded, .loaded])
        XCTAssertEqual(loads["b"], 2)
        XCTAssertEqual(metrics.counter(Metrics.modelEvictions, [("model", "b"), ("reason", "idle")]), 1)
        XCTAssertEqual(metrics.counter(Metrics.modelLoads, [("model", "b"), ("result", "ok")]), 2)
    }

    func testAPinnedModelIsNotEvictedAndYieldsOnlyAfterItsTurn() throws {
        let loads = Loads()
        let a = entry("a", mb: 10, loader: loads.loader()), b = entry("b", mb: 10, loader: loads.loader())
        let memory = ModelMemory(entries: [a, b], budget: 15 << 20, minTurn: 0.4, logger: quietLogger)
        _ = try memory.acquire(a)   // a busy lane holds it
        let acquired = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(b)
            acquired.signal()
        }
        eventually(timeout: 5, "b waiting") { memory.waiting == ["b"] }
        XCTAssertEqual(acquired.wait(timeout: .now() + 0.1), .timedOut, "a is pinned: b waits")
        XCTAssertFalse(memory.shouldYield(a), "a's usage is not yet a turn (0.4 s) past b's")
        eventually(timeout: 5, "a's turn over") { memory.shouldYield(a) }
        memory.yield(a)
        XCTAssertEqual(acquired.wait(timeout: .now() + 5), .success)
        XCTAssertEqual([a.currentState, b.currentState], [.evicted, .loaded])
        XCTAssertTrue(memory.waiting.isEmpty)
        XCTAssertFalse(memory.shouldYield(b), "nobody waits")
    }

    func testAStaticLaneThatReacquiresBetweenBatchesGivesTheMemoryToAWaitingModel() throws {
        let loads = Loads()
        let a = entry("a", mb: 10, loader: loads.loader()), b = entry("b", mb: 10, loader: loads.loader())
        let memory = ModelMemory(entries: [a, b], budget: 15 << 20, minTurn: 0, logger: quietLogger)
        _ = try memory.acquire(a)
        let acquired = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(b)
            acquired.signal()
        }
        eventually(timeout: 5, "b waiting") { memory.waiting == ["b"] }
        memory.release(a)   // a's batch ended; b, first in line, evicts a now that it is idle
        XCTAssertEqual(acquired.wait(timeout: .now() + 5), .success)
        let again = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(a)   // a's next batch waits for b
            again.signal()
        }
        eventually(timeout: 5, "a waiting") { memory.waiting == ["a"] }
        memory.release(b)
        XCTAssertEqual(again.wait(timeout: .now() + 5), .success)
        XCTAssertEqual([a.currentState, b.currentState], [.loaded, .evicted])
        XCTAssertEqual(loads["a"], 2)
    }

    /// A static lane releases after a batch and acquires again at once, on the same thread: past its turn, it joins
    /// the line behind the waiting model instead of slipping in ahead of it.
    func testAStaticLaneReacquiringAtOnceJoinsTheLineBehindAModelWhoseTurnCame() throws {
        let loads = Loads()
        let a = entry("a", mb: 10, loader: loads.loader()), b = entry("b", mb: 10, loader: loads.loader())
        let memory = ModelMemory(entries: [a, b], budget: 15 << 20, minTurn: 0.2, logger: quietLogger)
        _ = try memory.acquire(a)
        let bLoaded = DispatchSemaphore(value: 0), aBack = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(b)
            bLoaded.signal()
        }
        eventually(timeout: 5, "b waiting") { memory.waiting == ["b"] }
        Thread.sleep(forTimeInterval: 0.3)   // a's usage is a turn ahead of b's
        Thread.detachNewThread {
            memory.release(a)
            _ = try? memory.acquire(a)   // the next batch, with no gap
            aBack.signal()
        }
        XCTAssertEqual(bLoaded.wait(timeout: .now() + 5), .success, "b got the memory")
        XCTAssertEqual([a.currentState, b.currentState], [.evicted, .loaded])
        XCTAssertEqual(memory.waiting, ["a"])
        memory.release(b)
        XCTAssertEqual(aBack.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(loads["a"], 2)
    }

    /// The model that waited keeps the memory until its own usage passes the busy model's by a turn, so its job is
    /// not cut short by the burst it waited behind; then the two alternate.
    func testAModelThatWaitedKeepsTheMemoryUntilItsUsageOvertakesTheBusyOnes() throws {
        let a = entry("a", mb: 10, loader: Loads().loader()), b = entry("b", mb: 10, loader: Loads().loader())
        let memory = ModelMemory(entries: [a, b], budget: 15 << 20, minTurn: 0.2, logger: quietLogger)
        _ = try memory.acquire(a)
        Thread.sleep(forTimeInterval: 0.6)   // a's burst: 0.6 s of usage
        let bLoaded = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(b)
            bLoaded.signal()
        }
        eventually(timeout: 5, "a asked to yield") { memory.shouldYield(a) }
        memory.yield(a)
        XCTAssertEqual(bLoaded.wait(timeout: .now() + 5), .success)
        let aWaits = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(a)
            aWaits.signal()
        }
        eventually(timeout: 5, "a waiting") { memory.waiting == ["a"] }
        let bStart = Date()
        XCTAssertFalse(memory.shouldYield(b), "b has used the memory less than a")
        eventually(timeout: 5, "b's usage a turn past a's") { memory.shouldYield(b) }
        XCTAssertGreaterThan(Date().timeIntervalSince(bStart), 0.6, "b kept it for a's lead and a turn (0.6 + 0.2 s)")
        let usage = Dictionary(uniqueKeysWithValues: memory.usageNow)
        XCTAssertEqual(usage["a"]!, 0.6, accuracy: 0.15)
        XCTAssertGreaterThan(usage["b"]!, usage["a"]! + 0.2)
        memory.yield(b)
        XCTAssertEqual(aWaits.wait(timeout: .now() + 5), .success)
    }

    func testUsageDecaysByItsHalfLife() throws {
        let a = entry("a", mb: 10, loader: Loads().loader())
        let memory = ModelMemory(entries: [a], budget: 15 << 20, usageHalfLife: 0.5, logger: quietLogger)
        _ = try memory.acquire(a)
        Thread.sleep(forTimeInterval: 0.5)
        // Busy for one half-life from 0: (H / ln 2)(1 - 1/2) = 0.36 s.
        XCTAssertEqual(memory.usageNow[0].1, 0.5 / log(2) / 2, accuracy: 0.05)
        memory.release(a)
        let held = memory.usageNow[0].1
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(memory.usageNow[0].1, held / 4, accuracy: 0.03, "two half-lives idle: a quarter")
    }

    func testAWaitCanBeAbandonedAndLeavesTheLine() throws {
        let a = entry("a", mb: 10, loader: Loads().loader()), b = entry("b", mb: 10, loader: Loads().loader())
        let memory = ModelMemory(entries: [a, b], budget: 15 << 20, minTurn: 60, logger: quietLogger)
        _ = try memory.acquire(a)
        let polls = Mutex(0)
        XCTAssertThrowsError(try memory.acquire(b, pollEvery: 0.02) {
            polls.withLock { $0 += 1; return $0 == 3 }
        }) { XCTAssertTrue($0 is ModelMemory.Abandoned, "\($0)") }
        XCTAssertTrue(memory.waiting.isEmpty)
        XCTAssertEqual(b.currentState, .notLoaded)
        XCTAssertEqual(a.currentState, .loaded)
    }

    func testALoadThatFailsGivesItsRoomBackAndTheOtherModelsLoad() throws {
        let loads = Loads()
        let bad = entry("bad", mb: 10, loader: loads.loader(fail: true)), good = entry("good", mb: 10, loader: loads.loader())
        let metrics = Metrics()
        let memory = ModelMemory(entries: [bad, good], budget: 15 << 20, metrics: metrics, logger: quietLogger)
        XCTAssertThrowsError(try memory.acquire(bad)) { error in
            XCTAssertEqual((error as? APIError)?.status, 503)
            XCTAssertTrue("\(error)".contains("broken weights"), "\(error)")
        }
        XCTAssertEqual(bad.currentState, .failed("broken weights"))
        XCTAssertEqual(memory.resident["bad"], 0)
        _ = try memory.acquire(good)
        XCTAssertEqual(good.currentState, .loaded)
        XCTAssertThrowsError(try memory.acquire(bad), "a failed model is not retried")
        XCTAssertEqual(loads["bad"], 1)
        XCTAssertEqual(metrics.counter(Metrics.modelLoads, [("model", "bad"), ("result", "failed")]), 1)
    }

    func testALoadDoesNotHoldUpAnotherModelThatFits() throws {
        let gate = DispatchSemaphore(value: 0)
        let slow = entry("slow", mb: 10, loader: Loads().loader(gate: gate)), fast = entry("fast", mb: 10, loader: Loads().loader())
        let memory = ModelMemory(entries: [slow, fast], budget: 25 << 20, logger: quietLogger)
        let loaded = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? memory.acquire(slow)
            loaded.signal()
        }
        eventually(timeout: 5, "slow loading") { slow.currentState == .loading }
        _ = try memory.acquire(fast)   // returns while the other load is still blocked
        XCTAssertEqual(slow.currentState, .loading)
        gate.signal()
        XCTAssertEqual(loaded.wait(timeout: .now() + 5), .success)
    }

    func testABudgetTooSmallIsAConfigErrorNamingTheModel() throws {
        let a = entry("small", mb: 10, load: .startup, loader: Loads().loader()),
            b = entry("big-one", mb: 40, loader: Loads().loader())
        XCTAssertThrowsError(try ModelMemory(entries: [a, b], budget: 32 << 20).checkBudget()) { error in
            XCTAssertTrue("\(error)".contains("\"big-one\" needs 40 MiB"), "\(error)")
        }
        let c = entry("other", mb: 10, load: .startup, loader: Loads().loader())
        XCTAssertThrowsError(try ModelMemory(entries: [a, c], budget: 15 << 20).checkBudget()) { error in
            XCTAssertTrue("\(error)".contains("\"small\", \"other\" need 20 MiB together"), "\(error)")
        }
        XCTAssertNoThrow(try ModelMemory(entries: [a, b], budget: 64 << 20).checkBudget())
        XCTAssertNoThrow(try ModelMemory(entries: [a, b, c]).checkBudget(), "no budget, no limit")
    }

    func testTheEstimateCountsTheWeightsAsTheEngineHoldsThem() throws {
        // easel-shapes stores f16; the CPU engine widens to f32.
        let parts = try WeightFootprint.components(folder: shapesFolder)
        XCTAssertEqual(parts.map(\.component), ["transformer", "text_encoder", "text_encoder_2"])
        XCTAssertEqual(parts[0].bytes, 2_320_944 * 4)
        let entry = ModelEntry(config: shapesConfig(), logger: quietLogger)
        XCTAssertEqual(entry.footprint, parts.reduce(0) { $0 + $1.bytes })
        XCTAssertEqual(try WeightFootprint.bytes(folder: shapesFolder, cudaTransformer: true),
                       entry.footprint - 2_320_944 * 2, "the CUDA backend keeps the transformer in bf16")
    }
}
