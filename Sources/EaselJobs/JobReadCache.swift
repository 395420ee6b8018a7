import Foundation
import Synchronization

/// Decoded job rows (with their queue position) for status reads, so a poll of a job that has not changed does not
/// go to SQLite. Every write bumps `generation` after it commits; an entry is served only while the generation it was
/// read under is still current, so no read sees a row older than the last write that returned to its caller. Live
/// step progress is kept out of the cache (it is overlaid on every read), and so are renderings of running jobs.
/// Bounded by entries and by bytes (a job's input and metadata, plus its rendering): when either would be exceeded it
/// starts over.
final class JobReadCache: Sendable {
    struct Entry {
        var job: JobRecord
        /// The store's `renderer.job(job)`, once asked for; never for a running job.
        var json: Data?
    }

    private struct State {
        var generation: UInt64 = 0
        var entries: [String: Entry] = [:]
        var bytes = 0
    }

    private let state = Mutex(State())
    let capacity: Int
    let byteCapacity: Int

    init(capacity: Int, byteCapacity: Int) {
        self.capacity = max(0, capacity)
        self.byteCapacity = max(0, byteCapacity)
    }

    static func size(_ job: JobRecord) -> Int { 512 + job.input.count + job.metadata.count }

    /// Total bytes accounted to the entries now held (tests).
    var heldBytes: Int { state.withLock { $0.bytes } }

    /// The generation to tag a database read with; call before reading.
    var current: UInt64 { state.withLock { $0.generation } }

    func lookup(_ id: String) -> Entry? { state.withLock { $0.entries[id] } }

    /// Keeps `job` if nothing was written since `readAt`.
    func store(_ job: JobRecord, readAt: UInt64) {
        guard capacity > 0 else { return }
        let size = Self.size(job)
        state.withLock { s in
            guard readAt == s.generation, s.entries[job.id] == nil else { return }
            guard size <= byteCapacity / 4 else { return }  // one huge job never evicts everything else
            if s.entries.count >= capacity || s.bytes + size > byteCapacity {
                s.entries.removeAll(keepingCapacity: true)
                s.bytes = 0
            }
            s.entries[job.id] = Entry(job: job)
            s.bytes += size
        }
    }

    /// Keeps the rendering of a cached job if its entry is still the one read at `readAt`.
    func attach(json bytes: Data, to id: String, readAt: UInt64) {
        state.withLock { s in
            guard readAt == s.generation, let entry = s.entries[id], entry.json == nil else { return }
            guard bytes.count <= byteCapacity / 4, s.bytes + bytes.count <= byteCapacity else { return }
            s.entries[id]?.json = bytes
            s.bytes += bytes.count
        }
    }

    /// Called after every committed write: drops everything read before it.
    func invalidate() {
        state.withLock { s in
            s.generation &+= 1
            s.entries.removeAll(keepingCapacity: true)
            s.bytes = 0
        }
    }
}
