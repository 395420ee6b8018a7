import EaselJSON
import Crypto
import Foundation
import Synchronization

/// The durable job store: one SQLite database in WAL mode in the data dir. All writes go through one writer
/// connection on a serial queue and commit before returning; reads use a small pool of reader connections (WAL lets
/// them run side by side with each other and with the writer) and see every committed write. Job states and their transitions are described on `JobStatus`; each transition is one transaction here.
public final class JobStore: Sendable {
    public let options: JobStoreOptions
    public let renderer: JobRenderer
    public let events = JobEvents()
    public let images: ImageFiles
    /// What recovery did when this store was opened.
    public var recovery: RecoveryReport { recoveryReport.withLock { $0 } }
    private let recoveryReport = Mutex(RecoveryReport())

    let writer: SQLiteConnection
    let readers: ReaderPool
    let writeQueue = DispatchQueue(label: "easel.jobs.store.writer")
    let live = LiveJobState()
    let cache: JobReadCache
    let ids = JobIDGenerator.shared

    var now: Date { options.clock() }

    /// Opens (creating if needed) `<dataDir>/jobs.sqlite3`, migrates it, and recovers jobs left running by a crash.
    public init(dataDir: URL, options: JobStoreOptions = JobStoreOptions(), renderer: JobRenderer) throws {
        self.options = options
        self.renderer = renderer
        cache = JobReadCache(capacity: options.readCacheCapacity, byteCapacity: options.readCacheBytes)
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let path = dataDir.appendingPathComponent("jobs.sqlite3").path
        images = ImageFiles(dataDir: dataDir)
        writer = try SQLiteConnection(path: path)
        try writer.exec("PRAGMA journal_mode = WAL")
        // FULL: the WAL is fsynced at every commit, so a 202 survives power loss; NORMAL would survive only a process
        // crash. Commits here are one per job transition, so the fsync is cheap next to a denoising step.
        try writer.exec("PRAGMA synchronous = \(options.synchronousFull ? "FULL" : "NORMAL")")
        try writer.exec("PRAGMA foreign_keys = ON")
        try JobSchema.migrate(writer)
        readers = try ReaderPool(count: max(1, options.readerConnections)) { try SQLiteConnection(path: path) }
        let report = try recover()
        recoveryReport.withLock { $0 = report }
    }

    /// Closes every connection (the process may also just exit: every acknowledged write is already committed).
    public func close() {
        writeQueue.sync { writer.close() }
        readers.close()
    }

    /// Runs `body` on the writer queue; the read cache is invalidated before this returns, so a caller that saw the
    /// write done never reads an older row.
    func write<T>(_ body: () throws -> T) rethrows -> T {
        try writeQueue.sync {
            defer { cache.invalidate() }
            return try body()
        }
    }

    func read<T>(_ body: (SQLiteConnection) throws -> T) rethrows -> T { try readers.with(body) }

    // MARK: Submission

    /// Commits a new job (or finds the one its Idempotency-Key names). Returns once the commit is durable.
    /// The job was validated by the API layer (sizes, limits, the key's length); the store only keeps it.
    public func insert(_ job: NewJob) throws -> InsertOutcome {
        let bodyHash = job.idempotencyBody.map { Data(SHA256.hash(data: $0)) } ?? Data(SHA256.hash(data: job.input))
        let outcome: InsertOutcome = try write {
            try writer.transaction {
                if let key = job.idempotencyKey,
                   let (existing, hash) = try writer.queryOne(
                       "SELECT \(Self.columns), body_sha256 FROM jobs WHERE idempotency_key = ?", [.text(key)],
                       { (try Self.record($0), $0.blob(Self.columnCount)) }) {
                    guard hash == bodyHash else { throw JobStoreError.idempotencyConflict(existingJobID: existing.id) }
                    return .existing(existing)
                }
                let queued = try writer.queryOne("SELECT COUNT(*) FROM jobs WHERE status = 'queued'") { $0.int(0) } ?? 0
                guard queued < options.maxQueued else { throw JobStoreError.queueFull }
                let created = now
                let createdMs = Timestamp.milliseconds(created)
                let id = ids.next(prefix: "job_", now: created)
                try writer.run("""
                    INSERT INTO jobs (id, model, batch_key, status, priority, created_ms, deadline_ms, steps, input,
                        metadata, idempotency_key, body_sha256, webhook_url)
                    VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [
                        .text(id), .text(job.model), .text(job.batchKey), .int(job.priority.rank), .int(createdMs),
                        .int(job.timeout.map { createdMs + Int(($0 * 1000).rounded(.up)) }), .int(job.steps),
                        .blob(job.input), .blob(job.metadata), .text(job.idempotencyKey),
                        job.idempotencyKey == nil ? .null : .blob(bodyHash), .text(job.webhookURL),
                    ])
                return .created(try fetch(writer, id: id)!)
            }
        }
        if case .created(let j) = outcome { events.publish([event(.queued, j)]) }
        return outcome
    }

    // MARK: Reading

    /// The job with live progress overlaid and, while queued, its queue position; nil if unknown (or pruned).
    public func get(_ id: String) throws -> JobRecord? {
        try cachedRow(id).map { withLiveProgress($0.job) }
    }

    /// `get` and `renderer.job` in one: a job that is not running and has not changed since the last poll is
    /// answered with the bytes rendered then.
    public func getJSON(_ id: String) throws -> (job: JobRecord, json: Data)? {
        try getJSON(id, cacheOnly: false)
    }

    /// `getJSON` from memory only: nil when the job's row is not in the read cache (unknown, evicted, or a write
    /// came since), so a caller that must not block (an event loop) can hand the poll to the queue instead.
    public func cachedJSON(_ id: String) -> Data? {
        (try? getJSON(id, cacheOnly: true))??.json
    }

    private func getJSON(_ id: String, cacheOnly: Bool) throws -> (job: JobRecord, json: Data)? {
        let generation = cache.current
        let found = cacheOnly ? cache.lookup(id) : try cachedRow(id)
        guard let entry = found else { return nil }
        if let json = entry.json { return (entry.job, json) }
        let job = withLiveProgress(entry.job)
        let bytes = renderer.job(job)
        if job.status != .running { cache.attach(json: bytes, to: id, readAt: generation) }
        return (job, bytes)
    }

    /// Whether `get(id)` would be answered from memory right now (tests).
    func isCached(_ id: String) -> Bool { cache.lookup(id) != nil }

    /// The cached row of `id` (queue position included, live progress not), read from SQLite on a miss.
    private func cachedRow(_ id: String) throws -> JobReadCache.Entry? {
        if let cached = cache.lookup(id) { return cached }
        let generation = cache.current
        guard let job = try read({ db in try fetch(db, id: id).map { try withQueuePosition($0, db) } }) else {
            return nil
        }
        cache.store(job, readAt: generation)
        return JobReadCache.Entry(job: job)
    }

    /// Newest first; `cursor` from a previous page's `nextCursor`. `limit` is clamped to 1…100.
    public func list(status: JobStatus? = nil, model: String? = nil, limit: Int = 20,
                     cursor: String? = nil) throws -> (jobs: [JobRecord], nextCursor: String?) {
        let limit = min(max(limit, 1), 100)
        var before = Int64.max
        if let cursor {
            guard let data = Data(base64Encoded: cursor), let text = String(data: data, encoding: .utf8),
                  text.hasPrefix("seq:"), let seq = Int64(text.dropFirst(4)) else { throw JobStoreError.invalidCursor }
            before = seq
        }
        var sql = "SELECT \(Self.columns) FROM jobs WHERE seq < ?"
        var args: [SQLValue] = [.int(before)]
        if let status { sql += " AND status = ?"; args.append(.text(status.rawValue)) }
        if let model { sql += " AND model = ?"; args.append(.text(model)) }
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(.int(limit + 1))
        return try read { db in
            var rows = try db.query(sql, args, Self.record)
            var next: String?
            if rows.count > limit {
                rows.removeLast()
                next = Data("seq:\(rows[rows.count - 1].seq)".utf8).base64EncodedString()
            }
            return (try rows.map { try decorate($0, db) }, next)
        }
    }

    /// Queued jobs per model (`easel_queue_depth`).
    public func queueDepths() throws -> [String: Int] {
        try read { db in
            Dictionary(uniqueKeysWithValues: try db.query(
                "SELECT model, COUNT(*) FROM jobs WHERE status = 'queued' GROUP BY model") { ($0.text(0), $0.int(1)) })
        }
    }

    /// Queued jobs of all models, compared with `maxQueued` by the API for Retry-After hints.
    /// The stored inputs of every kept job (any status) whose input contains `marker` (for pruning files that
    /// inputs name, such as uploaded images).
    public func inputs(containing marker: String) throws -> [Data] {
        try read { db in
            try db.query("SELECT input FROM jobs WHERE instr(input, ?) > 0", [.blob(Data(marker.utf8))]) { $0.blob(0) }
        }
    }

    public func queuedCount() throws -> Int {
        try read { db in try db.queryOne("SELECT COUNT(*) FROM jobs WHERE status = 'queued'") { $0.int(0) } ?? 0 }
    }

    /// Jobs ahead of a queued job for the same model: higher priority, or equal priority and submitted earlier.
    func queuePosition(_ job: JobRecord, _ db: SQLiteConnection) throws -> Int {
        try db.queryOne("""
            SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND model = ?
                AND (priority > ? OR (priority = ? AND seq < ?))
            """, [.text(job.model), .int(job.priority.rank), .int(job.priority.rank), .int(job.seq)]) { $0.int(0) } ?? 0
    }

    func decorate(_ job: JobRecord, _ db: SQLiteConnection) throws -> JobRecord {
        withLiveProgress(try withQueuePosition(job, db))
    }

    func withQueuePosition(_ job: JobRecord, _ db: SQLiteConnection) throws -> JobRecord {
        var job = job
        if job.status == .queued { job.queuePosition = try queuePosition(job, db) }
        return job
    }

    func withLiveProgress(_ job: JobRecord) -> JobRecord {
        var job = job
        if job.status == .running, let p = live.progress(of: job.id) {
            job.step = p.step
            job.steps = p.steps
        }
        return job
    }

    func fetch(_ db: SQLiteConnection, id: String) throws -> JobRecord? {
        try db.queryOne("SELECT \(Self.columns) FROM jobs WHERE id = ?", [.text(id)], Self.record)
    }

    func event(_ kind: JobEvent.Kind, _ job: JobRecord, webhookEnqueued: Bool = false) -> JobEvent {
        JobEvent(kind: kind, jobID: job.id, model: job.model, status: job.status, step: job.step, steps: job.steps,
                 webhookEnqueued: webhookEnqueued)
    }

    // MARK: Row mapping

    static let columns = """
        seq, id, model, batch_key, status, priority, created_ms, started_ms, completed_ms, deadline_ms, step, steps, \
        cancel_requested, attempts, input, metadata, images, error_code, error_message, queue_ms, inference_ms, \
        batch_size, webhook_url, webhook_state, webhook_attempts, webhook_last_status, webhook_last_error, \
        engine_metrics
        """
    static let columnCount: Int32 = 28

    static func record(_ row: SQLiteStatement) throws -> JobRecord {
        let images = try row.optionalBlob(16).map { try JSONValueDecoder().decode([JobImage].self, from: JSONValue.parse($0)) } ?? []
        let counters = try row.optionalBlob(27).map { try JSONValueDecoder().decode([String: Int].self, from: JSONValue.parse($0)) } ?? [:]
        let error = row.optionalText(17).map { JobError(code: $0, message: row.optionalText(18) ?? "") }
        let webhook = row.optionalText(22).map {
            JobWebhook(url: $0, state: row.optionalText(23).flatMap(JobWebhook.State.init(rawValue:)),
                       attempts: row.int(24), lastStatus: row.optionalInt(25), lastError: row.optionalText(26))
        }
        return JobRecord(
            id: row.text(1), model: row.text(2), batchKey: row.text(3),
            status: JobStatus(rawValue: row.text(4)) ?? .failed, priority: JobPriority(rank: row.int(5)),
            createdAt: Timestamp.date(milliseconds: row.int(6)),
            startedAt: row.optionalInt(7).map(Timestamp.date(milliseconds:)),
            completedAt: row.optionalInt(8).map(Timestamp.date(milliseconds:)),
            deadline: row.optionalInt(9).map(Timestamp.date(milliseconds:)),
            step: row.int(10), steps: row.int(11), cancelRequested: row.int(12) != 0, attempts: row.int(13),
            input: row.blob(14), metadata: row.blob(15), images: images, error: error,
            queueMs: row.optionalInt(19), inferenceMs: row.optionalInt(20), batchSize: row.optionalInt(21),
            webhook: webhook, queuePosition: nil, seq: Int64(row.int(0)), engineMetrics: counters)
    }
}
