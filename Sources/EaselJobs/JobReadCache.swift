import Foundation

/// Decoded job rows (with their queue position) for status reads, so a poll of a job that has not changed does not
/// go to SQLite. Every write bumps `generation` after it commits; an entry is served only while the generation it was
/// read under is still current, so no read sees a row older than the last write that returned to its caller. Live
/// step progress is kept out of the cache (it is overlaid on every read), and so are renderings of running jobs.
/// Bounded: at `capacity` entries it starts over.
final class JobReadCache: @unchecked Sendable {
    struct Entry {
        var job: JobRecord
        /// `JobJSON.render(job, imageURLBase: json.base)`, once asked for; never for a running job.
        var json: (base: String, bytes: Data)?
    }

    private let lock = NSLock()
    private var generation: UInt64 = 0
    private var entries: [String: Entry] = [:]
    let capacity: Int

    init(capacity: Int) { self.capacity = max(0, capacity) }

    /// The generation to tag a database read with; call before reading.
    var current: UInt64 {
        lock.lock(); defer { lock.unlock() }
        return generation
    }

    func lookup(_ id: String) -> Entry? {
        lock.lock(); defer { lock.unlock() }
        return entries[id]
    }

    /// Keeps `job` if nothing was written since `readAt`.
    func store(_ job: JobRecord, readAt: UInt64) {
        guard capacity > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        guard readAt == generation else { return }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[job.id] = Entry(job: job)
    }

    /// Keeps the rendering of a cached job if its entry is still the one read at `readAt`.
    func attach(json bytes: Data, base: String, to id: String, readAt: UInt64) {
        lock.lock(); defer { lock.unlock() }
        guard readAt == generation, entries[id] != nil else { return }
        entries[id]?.json = (base, bytes)
    }

    /// Called after every committed write: drops everything read before it.
    func invalidate() {
        lock.lock(); defer { lock.unlock() }
        generation &+= 1
        entries.removeAll(keepingCapacity: true)
    }
}
