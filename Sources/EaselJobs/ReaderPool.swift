import Foundation

/// A fixed set of read-only SQLite connections, each used by one thread at a time. Status polls and listings
/// (`GET /v1/jobs/{id}`) were serialized on a single reader; with WAL, several readers run concurrently.
final class ReaderPool: @unchecked Sendable {
    private var free: [SQLiteConnection]
    private var all: [SQLiteConnection]
    private let lock = NSLock()
    private let available: DispatchSemaphore

    init(count: Int, open: () throws -> SQLiteConnection) throws {
        all = try (0..<count).map { _ in try open() }
        free = all
        available = DispatchSemaphore(value: count)
    }

    /// Runs `body` with a connection no other thread is using, waiting for one if all are busy.
    func with<T>(_ body: (SQLiteConnection) throws -> T) rethrows -> T {
        available.wait()
        lock.lock()
        let conn = free.removeLast()
        lock.unlock()
        defer {
            lock.lock()
            free.append(conn)
            lock.unlock()
            available.signal()
        }
        return try body(conn)
    }

    /// Closes every connection once none is in use. Later reads get the closed connections' errors, as before.
    func close() {
        for _ in all { available.wait() }
        lock.lock()
        for c in all { c.close() }
        lock.unlock()
        for _ in all { available.signal() }
    }
}
