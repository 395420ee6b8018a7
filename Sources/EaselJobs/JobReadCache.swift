import Foundation

/// Decoded job rows (with their queue position) for status reads, so a poll of a job that has not changed does not
/// go to SQLite. Every write bumps `generation` after it commits; an entry is served only while the generation it was
/// read under is still current, so no read sees a row older than the last write that returned to its caller. Live
/// step progress is kept out of the cache (it is overlaid on every read), and so are renderings of running jobs.
/// Bounded by entries and by bytes (a job's input and metadata, plus its rendering): when either would be exceeded it
/// starts over.
final class JobReadCache: @unchecked Sendable {
    struct Entry {
        var job: JobRecord
        /// The store's `renderer.job(job)`, once asked for; never for a running job.
        var json: Data?
    }

    private let lock = NSLock()
    private var generation: UInt64 = 0
    private var entries: [String: Entry] = [:]
    private var bytes = 0
    let capacity: Int
    let byteCapacity: Int

    init(capacity: Int, byteCapacity: Int) {
        self.capacity = max(0, capacity)
        self.byteCapacity = max(0, byteCapacity)
    }

    static func size(_ job: JobRecord) -> Int { 512 + job.input.count + job.metadata.count }

    /// Total bytes accounted to the entries now held (tests).
    var heldBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return bytes
    }

    private func makeRoom(_ size: Int) -> Bool {
        guard size <= byteCapacity / 4 else { return false }  // one huge job never evicts everything else
        if entries.count >= capacity || bytes + size > byteCapacity {
            entries.removeAll(keepingCapacity: true)
            bytes = 0
        }
        return true
    }

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
        guard readAt == generation, entries[job.id] == nil else { return }
        let size = Self.size(job)
        guard makeRoom(size) else { return }
        entries[job.id] = Entry(job: job)
        bytes += size
    }

    /// Keeps the rendering of a cached job if its entry is still the one read at `readAt`.
    func attach(json bytes: Data, to id: String, readAt: UInt64) {
        lock.lock(); defer { lock.unlock() }
        guard readAt == generation, let entry = entries[id], entry.json == nil else { return }
        guard bytes.count <= byteCapacity / 4, self.bytes + bytes.count <= byteCapacity else { return }
        entries[id]?.json = bytes
        self.bytes += bytes.count
    }

    /// Called after every committed write: drops everything read before it.
    func invalidate() {
        lock.lock(); defer { lock.unlock() }
        generation &+= 1
        entries.removeAll(keepingCapacity: true)
        bytes = 0
    }
}
