import Foundation
import Synchronization

/// A fixed set of read-only SQLite connections, each used by one thread at a time. Status polls and listings
/// (`GET /v1/jobs/{id}`) were serialized on a single reader; with WAL, several readers run concurrently.
final class ReaderPool: Sendable {
    private let free: Mutex<[SQLiteConnection]>
    private let all: [SQLiteConnection]
    private let available: DispatchSemaphore

    init(count: Int, open: () throws -> SQLiteConnection) throws {
        all = try (0..<count).map { _ in try open() }
        free = Mutex(all)
        available = DispatchSemaphore(value: count)
    }

    /// Runs `body` with a connection no other thread is using, waiting for one if all are busy.
    func with<T>(_ body: (SQLiteConnection) throws -> T) rethrows -> T {
        available.wait()
        let conn = free.withLock { $0.removeLast() }
        defer {
            free.withLock { $0.append(conn) }
            available.signal()
        }
        return try body(conn)
    }

    /// Closes every connection once none is in use. Later reads get the closed connections' errors, as before.
    func close() {
        for _ in all { available.wait() }
        free.withLock { _ in for c in all { c.close() } }
        for _ in all { available.signal() }
    }
}
