import EaselEngine
import EaselJSON
import Foundation
import Logging

/// The models' weights under one memory budget (`memory.budget_mb`). A model is loaded when a lane first needs it
/// (`acquire`) and pinned while that lane runs it; unpinned models are evicted least recently used first when another
/// model needs the room. Models wait for memory in arrival order.
///
/// Fairness: each model's usage is the seconds it has held memory while busy (pinned, its load included), decaying
/// by half every `memory.usage_half_life_s`. When the model at the head of the line cannot fit even after the idle
/// ones are evicted, the busy models whose usage exceeds the waiting model's by at least their turn
/// (`memory.min_turn_s`, by default as long as their own load took and at least 1 s) are asked to yield, the most
/// used first and only as many as the room needs. A continuous running set yields at its next step boundary: it
/// keeps its members' latents, lets the weights go, and waits in line to load again, resuming with the same bits.
/// So a model that has been idle while another ran a burst gets the memory within one step of the busy model plus
/// its own load, and keeps it until its usage overtakes the busy model's by a turn: its job is not interrupted unless
/// it runs longer than the burst has. Two models busy all the time alternate in turns of about twice the turn, so a
/// reload is never more than half the time. Loads run on the loading lane's thread with no lock held, so they never
/// stall the other models' lanes.
///
/// Without a budget nothing is evicted: each model loads once, on first use, and stays.
/// Unchecked Sendable: every `var` is only touched with `condition` held.
public final class ModelMemory: @unchecked Sendable {
    /// Bytes of weights allowed resident at once (nil: no limit).
    public let budget: Int?
    /// How far a busy model's usage must exceed a waiting model's before it yields, in seconds (nil: its load time,
    /// at least `minimumDefaultTurn`).
    public let minTurn: TimeInterval?
    /// Usage halves every this many seconds.
    public let usageHalfLife: TimeInterval
    private let entries: [String: ModelEntry]
    private let order: [String]
    private let metrics: Metrics?
    private let logger: Logger
    private let condition = NSCondition()

    private struct Holding {
        var bytes: Int
        var pins: Int
        var loading: Bool
        var lastUse: UInt64
    }
    private var holdings: [String: Holding] = [:]
    /// Each model's decayed usage in seconds as of `at`, and whether it accrues (pinned) since then.
    private struct Usage {
        var seconds = 0.0
        var at: Date
        var busy = false
    }
    private var usage: [String: Usage] = [:]
    /// Models waiting for memory, first come first served.
    private var line: [(ticket: UInt64, model: String, bytes: Int)] = []
    private var clock: UInt64 = 0

    /// Thrown by `acquire` when its `abandon` check says to stop waiting.
    public struct Abandoned: Error {}

    public init(entries: [ModelEntry], budget: Int? = nil, minTurn: TimeInterval? = nil,
                usageHalfLife: TimeInterval = ModelMemory.defaultUsageHalfLife, metrics: Metrics? = nil,
                logger: Logger = Logger(label: "easel")) {
        self.budget = budget
        self.minTurn = minTurn
        self.usageHalfLife = usageHalfLife
        self.entries = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
        order = entries.map(\.id)
        self.metrics = metrics
        self.logger = logger
        // Pipelines handed in already loaded (tests) count from the start.
        for e in entries where e.isLoaded {
            clock += 1
            holdings[e.id] = Holding(bytes: e.footprint, pins: 0, loading: false, lastUse: clock)
        }
    }

    /// Startup's config check: every model must fit the budget alone, and the `load: startup` ones together.
    public func checkBudget() throws {
        guard let budget else { return }
        for id in order {
            let e = entries[id]!
            if e.footprint > budget {
                throw ServerConfig.Error("memory.budget_mb is \(Self.mb(budget)) MiB, but model \"\(id)\" needs " +
                    "\(Self.mb(e.footprint)) MiB of weights (\(e.config.memoryMB != nil ? "its memory_mb" : "estimated from its weight files")); " +
                    "raise the budget or remove the model")
            }
        }
        let startup = order.compactMap { entries[$0] }.filter { $0.config.load == .startup }
        let total = startup.reduce(0) { $0 + $1.footprint }
        if total > budget {
            throw ServerConfig.Error("memory.budget_mb is \(Self.mb(budget)) MiB, but the load: startup models " +
                "\(startup.map { "\"\($0.id)\"" }.joined(separator: ", ")) need \(Self.mb(total)) MiB together; " +
                "set some of them to \"load\": \"lazy\" or raise the budget")
        }
    }

    static func mb(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? String(bytes >> 20) : String(format: "%.1f", Double(bytes) / 1_048_576)
    }

    /// A model's turn when `memory.min_turn_s` is not set: as long as its load took, and at least this long.
    public static let minimumDefaultTurn: TimeInterval = 1
    /// `memory.usage_half_life_s` when not set.
    public static let defaultUsageHalfLife: TimeInterval = 120

    /// The model's usage now. Called with the lock held.
    private func used(_ id: String, now: Date) -> Double {
        guard let u = usage[id] else { return 0 }
        let dt = max(0, now.timeIntervalSince(u.at))
        let keep = pow(0.5, dt / usageHalfLife)
        // Busy since `at`: the integral of the decayed accrual, (H / ln 2)(1 - 2^(-dt/H)).
        return u.seconds * keep + (u.busy ? usageHalfLife / log(2) * (1 - keep) : 0)
    }

    /// Starts or stops the model's usage accruing. Called with the lock held.
    private func setBusy(_ id: String, _ busy: Bool) {
        let now = Date()
        usage[id] = Usage(seconds: used(id, now: now), at: now, busy: busy)
    }

    /// The model's pipeline, pinned until `release` or `yield`. A model that is not resident joins the line; at its
    /// head, it loads as soon as the room can be made (evicting idle models, least recently used first). A resident
    /// model that was picked to yield and is not pinned gives its memory up here and joins the line too, so a lane
    /// that runs batch after batch cannot keep the memory from a waiting model.
    ///
    /// `abandon` is called every `pollEvery` seconds while waiting (without the lock), true stops waiting with
    /// `Abandoned`. Throws `APIError` 503 when the model cannot be loaded.
    public func acquire(_ e: ModelEntry, pollEvery: TimeInterval? = nil, abandon: () -> Bool = { false }) throws -> FluxPipeline {
        condition.lock()
        defer { condition.unlock() }
        var ticket: UInt64?
        func leaveLine() {
            if let t = ticket {
                line.removeAll { $0.ticket == t }
                ticket = nil
                condition.broadcast()
            }
        }
        while true {
            if case .failed(let message) = e.currentState {
                leaveLine()
                throw APIError.unavailable("model \(e.id) failed to load: \(message)")
            }
            if var h = holdings[e.id] {
                if h.loading {
                    condition.wait()
                    continue
                }
                if h.pins == 0, ticket == nil, chosenToYield(reacquiring: e.id).contains(e.id) {
                    evict(e.id, reason: "preempted")
                } else if let p = e.residentPipeline {
                    if h.pins == 0 { setBusy(e.id, true) }
                    h.pins += 1
                    clock += 1
                    h.lastUse = clock
                    holdings[e.id] = h
                    leaveLine()
                    return p
                } else {
                    holdings[e.id] = nil
                }
            }
            let bytes = e.footprint
            if ticket == nil {
                clock += 1
                ticket = clock
                line.append((clock, e.id, bytes))
            }
            if line.first?.ticket == ticket, makeRoom(for: bytes) {
                leaveLine()
                return try load(e, bytes: bytes)
            }
            if let pollEvery {
                _ = condition.wait(until: Date().addingTimeInterval(pollEvery))
                condition.unlock()
                let stop = abandon()
                condition.lock()
                if stop {
                    leaveLine()
                    throw Abandoned()
                }
            } else {
                condition.wait()
            }
        }
    }

    /// Loads `e` into room already made, with the lock released during the load. Called with the lock held.
    private func load(_ e: ModelEntry, bytes: Int) throws -> FluxPipeline {
        clock += 1
        holdings[e.id] = Holding(bytes: bytes, pins: 1, loading: true, lastUse: clock)
        setBusy(e.id, true)
        e.markLoading()
        condition.unlock()
        let start = Date()
        let result = e.loadNow()
        let seconds = Date().timeIntervalSince(start)
        condition.lock()
        e.finishLoad(result, seconds: seconds)
        defer { condition.broadcast() }
        switch result {
        case .success(let p):
            holdings[e.id]?.loading = false
            metrics?.increment(Metrics.modelLoads, [("model", e.id), ("result", "ok")])
            metrics?.observe(Metrics.modelLoadSeconds, seconds)
            return p
        case .failure(let f):
            holdings[e.id] = nil
            setBusy(e.id, false)
            metrics?.increment(Metrics.modelLoads, [("model", e.id), ("result", "failed")])
            throw APIError.unavailable("model \(e.id) failed to load: \(f.message)")
        }
    }

    /// Unpins the model; it stays resident until the room is needed.
    public func release(_ e: ModelEntry) {
        condition.lock()
        defer { condition.unlock() }
        guard var h = holdings[e.id], h.pins > 0 else { return }
        h.pins -= 1
        clock += 1
        h.lastUse = clock
        holdings[e.id] = h
        if h.pins == 0 { setBusy(e.id, false) }
        condition.broadcast()
    }

    /// Whether the model, pinned by a busy lane, should give its memory to a waiting model at this step boundary.
    public func shouldYield(_ e: ModelEntry) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return chosenToYield().contains(e.id)
    }

    /// Unpins the model and, once nothing else pins it, evicts it for the model waiting in line. The caller has
    /// dropped its pipeline (a running set detaches first) and acquires again to go on.
    public func yield(_ e: ModelEntry) {
        condition.lock()
        defer { condition.unlock() }
        guard var h = holdings[e.id], h.pins > 0 else { return }
        h.pins -= 1
        holdings[e.id] = h
        if h.pins == 0 {
            setBusy(e.id, false)
            evict(e.id, reason: "preempted")
        }
        condition.broadcast()
    }

    /// Frees room for `bytes` by evicting unpinned models, least recently used first, if that is enough; evicts
    /// nothing otherwise. Called with the lock held.
    private func makeRoom(for bytes: Int) -> Bool {
        guard let budget else { return true }
        var used = holdings.values.reduce(0) { $0 + $1.bytes }
        if used + bytes <= budget { return true }
        let idle = holdings.filter { !$0.value.loading && $0.value.pins == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }
        let idleBytes = idle.reduce(0) { $0 + $1.value.bytes }
        guard used - idleBytes + bytes <= budget else { return false }
        for (id, h) in idle where used + bytes > budget {
            evict(id, reason: "idle")
            used -= h.bytes
        }
        return true
    }

    /// The busy models that should yield so the head of the line fits: of those whose usage exceeds the head's by at
    /// least their turn, the most used first, as few as the room needs; none when even all of them would not do yet.
    /// `reacquiring`: an unpinned model whose lane is acquiring it again right after its last batch, judged as if it
    /// were still busy (so a static lane's next batch cannot slip in ahead of a model that should have its turn).
    /// Called with the lock held.
    private func chosenToYield(reacquiring: String? = nil) -> Set<String> {
        guard let budget, let head = line.first else { return [] }
        func busy(_ id: String, _ h: Holding) -> Bool { !h.loading && (h.pins > 0 || id == reacquiring) }
        let used = holdings.values.reduce(0) { $0 + $1.bytes }
        let idle = holdings.filter { !$0.value.loading && !busy($0.key, $0.value) }.reduce(0) { $0 + $1.value.bytes }
        var deficit = used - idle + head.bytes - budget
        guard deficit > 0 else { return [] }
        let now = Date()
        let headUsage = self.used(head.model, now: now)
        var chosen = Set<String>()
        let candidates = holdings.filter { busy($0.key, $0.value) && $0.key != head.model }
            .map { (id: $0.key, bytes: $0.value.bytes, usage: self.used($0.key, now: now)) }
            .sorted { $0.usage > $1.usage }
        for c in candidates where deficit > 0 {
            let turn = minTurn ?? max(Self.minimumDefaultTurn, entries[c.id]?.loadSeconds ?? 0)
            guard c.usage - headUsage >= turn else { continue }
            chosen.insert(c.id)
            deficit -= c.bytes
        }
        return deficit <= 0 ? chosen : []
    }

    /// Called with the lock held.
    private func evict(_ id: String, reason: String) {
        guard let h = holdings.removeValue(forKey: id) else { return }
        entries[id]?.markEvicted()
        metrics?.increment(Metrics.modelEvictions, [("model", id), ("reason", reason)])
        logger.info("model evicted", metadata: ["model": "\(id)", "reason": "\(reason)", "mb": "\(Self.mb(h.bytes))"])
    }

    /// Bytes each model holds now (loading ones included), every configured model listed.
    public var resident: [String: Int] {
        condition.lock()
        defer { condition.unlock() }
        var out = Dictionary(uniqueKeysWithValues: order.map { ($0, 0) })
        for (id, h) in holdings { out[id] = h.bytes }
        return out
    }

    /// Each model's usage now, in configuration order.
    public var usageNow: [(String, Double)] {
        condition.lock()
        defer { condition.unlock() }
        let now = Date()
        return order.map { ($0, used($0, now: now)) }
    }

    /// Models waiting in line for memory, in order.
    public var waiting: [String] {
        condition.lock()
        defer { condition.unlock() }
        return line.map(\.model)
    }

    /// `/v1/models`' `memory` member.
    public var info: JSONValue {
        let used = resident.values.reduce(0, +)
        return .object([
            ("budget_mb", budget.map { .int($0 >> 20) } ?? .null),
            ("resident_mb", .double((Double(used) / 1_048_576 * 100).rounded() / 100)),
            ("min_turn_s", minTurn.map { .double($0) } ?? .null),
            ("usage_half_life_s", .double(usageHalfLife)),
            ("usage_s", .object(usageNow.map { ($0.0, .double(($0.1 * 1000).rounded() / 1000)) })),
            ("waiting", .array(waiting.map { .string($0) })),
        ])
    }
}
