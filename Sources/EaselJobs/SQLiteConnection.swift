import CSQLite
import Foundation

/// A failed SQLite call: the extended result code and SQLite's message.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// A value bound to a statement parameter.
enum SQLValue {
    case int(Int64)
    case text(String)
    case blob(Data)
    case null

    static func int(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
    static func text(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    static func blob(_ v: Data?) -> SQLValue { v.map { .blob($0) } ?? .null }
}

/// One SQLite connection and its cache of prepared statements. Not thread-safe: each owner serializes its use
/// (the store's writer through its serial `writeQueue`, each reader through `ReaderPool`), so the connection is
/// opened NOMUTEX. Unchecked Sendable for that reason: it moves between threads (a queue's worker, a poller) but is
/// never used by two at once, which the compiler cannot see through a queue or a pool.
final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]
    private var closed = false

    init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        // Readers and the writer meet on WAL checkpoints and schema changes; wait rather than fail at once.
        sqlite3_busy_timeout(db, 5_000)
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        statements.values.forEach { $0.finalize() }
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements that take no parameters (schema, pragmas, transaction control).
    func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "exec failed"
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text)
        }
    }

    /// The cached prepared statement for `sql`, reset and bound to `args`.
    func prepare(_ sql: String, _ args: [SQLValue] = []) throws -> SQLiteStatement {
        let statement: SQLiteStatement
        if let cached = statements[sql] {
            statement = cached
        } else {
            var raw: OpaquePointer?
            let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
            guard rc == SQLITE_OK, let raw else { throw error(rc) }
            statement = SQLiteStatement(handle: raw, connection: self)
            statements[sql] = statement
        }
        statement.reset()
        try statement.bind(args)
        return statement
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ args: [SQLValue] = []) throws -> Int {
        let statement = try prepare(sql, args)
        defer { statement.reset() }
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Every row of a query, each mapped by `row` while the statement points at it.
    func query<T>(_ sql: String, _ args: [SQLValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        let statement = try prepare(sql, args)
        defer { statement.reset() }
        var rows: [T] = []
        while try statement.step() { rows.append(try row(statement)) }
        return rows
    }

    func queryOne<T>(_ sql: String, _ args: [SQLValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> T? {
        let statement = try prepare(sql, args)
        defer { statement.reset() }
        return try statement.step() ? try row(statement) : nil
    }

    /// `body` inside BEGIN IMMEDIATE … COMMIT (rolled back if it throws). IMMEDIATE takes the write lock up front,
    /// so a transaction never fails half-way on a lock upgrade.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try exec("COMMIT")
            return result
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }
}
