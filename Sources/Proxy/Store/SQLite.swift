import CEpoll
import Glibc

/// A store failure, with SQLite's own message where there is one. Never a crash: every
/// SQLite error surfaces as one of these.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// The file or its folder cannot be created, opened or written.
        case cannotOpen = "cannot_open"
        /// The file exists but is not an SQLite database.
        case notADatabase = "not_a_database"
        /// The database is damaged.
        case corrupt
        /// The database was written by a newer ccload (a schema version this one does not know).
        case newerSchema = "newer_schema"
        /// The disk (or the database's page limit) is full.
        case full
        /// A read or write failed at the operating-system level.
        case io
        /// A constraint failed (a duplicate name, a missing channel, …).
        case constraint
        /// The thing asked for does not exist.
        case notFound = "not_found"
        /// A value the store was asked to keep is not acceptable (a bad setting value, …).
        case invalid
        /// The store was closed.
        case closed
        /// The secret key is missing, malformed, unreadable, or not the one the database was sealed with.
        case secretKey = "secret_key"
        /// The database server cannot be reached now (PostgreSQL: the connection was lost or
        /// refused); the call may succeed later, once it is back.
        case unavailable
        case other
    }

    public var kind: Kind
    /// The SQLite result code (extended), or 0 when the error is not from SQLite.
    public var code: Int32
    public var message: String

    public init(_ kind: Kind, _ message: String, code: Int32 = 0) {
        self.kind = kind
        self.message = message
        self.code = code
    }

    public var description: String { message }

    /// The kind of an SQLite result code.
    static func kind(forCode code: Int32) -> Kind {
        switch code & 0xFF {
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY, SQLITE_AUTH: return .cannotOpen
        case SQLITE_NOTADB: return .notADatabase
        case SQLITE_CORRUPT: return .corrupt
        case SQLITE_FULL: return .full
        case SQLITE_IOERR: return .io
        case SQLITE_CONSTRAINT: return .constraint
        default: return .other
        }
    }
}

/// One SQLite connection. Not thread-safe: owned by one thread at a time (the writer
/// thread, a reader thread, or whoever holds the lock guarding the config connection).
/// Opened with `SQLITE_OPEN_NOMUTEX` for that reason.
public final class Database: SQLConnection, @unchecked Sendable {
    public var dialect: SQLDialect { .sqlite }
    let handle: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]

    /// SQLite's memory statistics (which ccload never reads) cost a process-wide mutex around
    /// every allocation and free inside SQLite: the writer's profile showed it at ~9 % of its
    /// CPU. Turned off once, before the first connection initialises the library.
    private static let memoryStatisticsOff: Int32 = cc_sqlite3_config_memstatus(0)

    /// Opens (creating when `create`) the database at `path`. Throws `StoreError` with a
    /// message naming the path and SQLite's reason.
    public init(path: String, create: Bool = true, readOnly: Bool = false) throws {
        self.path = path
        _ = Database.memoryStatisticsOff
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX
        if readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if create { flags |= SQLITE_OPEN_CREATE }
        }
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let err = errno
            if let db { sqlite3_close_v2(db) }
            var text = "cannot open database \(path): \(msg)"
            if err != 0, rc & 0xFF == SQLITE_CANTOPEN { text += " (\(String(cString: strerror(err))))" }
            throw StoreError(.cannotOpen, text, code: rc)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        if !readOnly && sqlite3_db_readonly(db, "main") == 1 {
            sqlite3_close_v2(db)
            throw StoreError(.cannotOpen, "cannot open database \(path) for writing: the file or its folder is read-only", code: SQLITE_READONLY)
        }
    }

    private var closed = false

    deinit { close() }

    /// Finalizes the cached statements and closes the connection (the last connection to
    /// close checkpoints the WAL into the database file). Statements still held elsewhere
    /// keep the connection alive until they are finalized.
    public func close() {
        if closed { return }
        closed = true
        for s in cache.values { s.finalize() }
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// The current error of this connection as a `StoreError`.
    func error(_ rc: Int32, _ context: String) -> StoreError {
        let msg = String(cString: sqlite3_errmsg(handle))
        return StoreError(StoreError.kind(forCode: rc), "\(context): \(msg)", code: rc)
    }

    /// Runs one or more statements that return no rows.
    public func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(err)
            let first = sql.split(separator: "\n").first.map(String.init) ?? sql
            throw StoreError(StoreError.kind(forCode: rc), "\(first.prefix(80)): \(msg)", code: rc)
        }
    }

    /// A new prepared statement, owned by the caller.
    public func prepare(_ sql: String) throws -> any SQLStatement { try prepareSQLite(sql) }

    func prepareSQLite(_ sql: String) throws -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare \(sql.prefix(80))") }
        return Statement(stmt, db: self)
    }

    /// A prepared statement kept by the connection for reuse, reset and with its bindings cleared.
    public func cached(_ sql: String) throws -> any SQLStatement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        let s = try prepareSQLite(sql)
        cache[sql] = s
        return s
    }

    /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
    public func setBusyTimeout(millis: Int32) { sqlite3_busy_timeout(handle, millis) }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction; rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try exec("COMMIT")
            return r
        } catch {
            if inTransaction { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    public func rollbackQuietly() {
        if inTransaction { _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
    }
}

/// A prepared statement. Parameters and columns are 1-based and 0-based respectively,
/// as in SQLite's C API. Owned by the thread that owns its `Database`.
public final class Statement: SQLStatement, @unchecked Sendable {
    private var stmt: OpaquePointer?
    private unowned let db: Database

    init(_ stmt: OpaquePointer, db: Database) {
        self.stmt = stmt
        self.db = db
    }

    deinit { finalize() }

    public func finalize() {
        if let s = stmt { sqlite3_finalize(s) }
        stmt = nil
    }

    public func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    /// Resets for the next step keeping the bound values: for a statement whose every
    /// parameter is bound again before each step (clearing 832 of them cost the writer ~1.5 %).
    public func resetKeepingBindings() { sqlite3_reset(stmt) }

    private func check(_ rc: Int32, _ what: String) throws {
        if rc != SQLITE_OK { throw db.error(rc, what) }
    }

    public func bind(_ i: Int32, _ v: Int64) throws { try check(sqlite3_bind_int64(stmt, i, v), "bind") }
    public func bind(_ i: Int32, _ v: Double) throws { try check(sqlite3_bind_double(stmt, i, v), "bind") }
    public func bindNull(_ i: Int32) throws { try check(sqlite3_bind_null(stmt, i), "bind") }
    /// Binds the string's UTF-8 bytes, length given (an embedded NUL is kept, and no
    /// temporary C string is built); SQLite copies them.
    public func bind(_ i: Int32, _ v: String) throws {
        var v = v
        let rc = v.withUTF8 { u in
            guard let base = u.baseAddress, u.count > 0 else { return bindEmptyText(i) }
            return base.withMemoryRebound(to: CChar.self, capacity: u.count) { c in
                sqlite3_bind_text(stmt, i, c, Int32(u.count), cc_SQLITE_TRANSIENT())
            }
        }
        try check(rc, "bind")
    }

    /// Binds `text` (UTF-8) without a copy (SQLITE_STATIC): the bytes must stay where they
    /// are, unchanged, until the statement has stepped and been reset or rebound.
    public func bindStatic(_ i: Int32, _ text: UnsafeBufferPointer<UInt8>) throws {
        guard let base = text.baseAddress, text.count > 0 else {
            return try check(bindEmptyText(i), "bind")
        }
        let rc = base.withMemoryRebound(to: CChar.self, capacity: text.count) { c in
            sqlite3_bind_text(stmt, i, c, Int32(text.count), nil)
        }
        try check(rc, "bind")
    }

    /// An empty text (not NULL): SQLite copies zero bytes from a valid pointer.
    private func bindEmptyText(_ i: Int32) -> Int32 {
        var nul: CChar = 0
        return sqlite3_bind_text(stmt, i, &nul, 0, cc_SQLITE_TRANSIENT())
    }

    public func bind(_ i: Int32, _ v: [UInt8]) throws {
        let rc = v.withUnsafeBytes { p in
            sqlite3_bind_blob(stmt, i, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(p.count), cc_SQLITE_TRANSIENT())
        }
        try check(rc, "bind")
    }

    /// Steps once: true when a row is ready, false when done.
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let sql = sqlite3_sql(stmt).map { String(cString: $0) } ?? "statement"
        throw db.error(rc, String(sql.prefix(80)))
    }

    public func isNull(_ c: Int32) -> Bool { sqlite3_column_type(stmt, c) == SQLITE_NULL }
    public func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    public func double(_ c: Int32) -> Double { sqlite3_column_double(stmt, c) }
    public func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, c) else { return "" }
        let n = Int(sqlite3_column_bytes(stmt, c))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    public func blob(_ c: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, c))
        guard n > 0, let p = sqlite3_column_blob(stmt, c) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
