/// The SQL a backend speaks where the two differ. The store's queries are written once, in
/// the subset both SQLite and PostgreSQL accept (`?` placeholders, `ON CONFLICT … DO`,
/// `RETURNING`, `COALESCE`); the few places that differ ask the connection's dialect.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// The larger of two values: SQLite's two-argument `MAX`, PostgreSQL's `GREATEST`.
    func greatest(_ a: String, _ b: String) -> String {
        self == .sqlite ? "MAX(\(a), \(b))" : "GREATEST(\(a), \(b))"
    }

    /// A case-insensitive equality on a text column (SQLite's `COLLATE NOCASE` column is
    /// compared as it is; PostgreSQL compares lower-cased, backed by a unique index on
    /// `lower(column)`).
    func equalsIgnoringCase(_ column: String) -> String {
        self == .sqlite ? "\(column) = ?" : "lower(\(column)) = lower(?)"
    }
}

/// One connection to the store's database: an SQLite file (`Database`) or a PostgreSQL
/// server (`PGConnection`). Not thread-safe: owned by one thread at a time, exactly as the
/// SQLite connection always was. Every failure is a `StoreError`; a PostgreSQL connection
/// that is lost fails with `.unavailable` and reconnects on a later call.
public protocol SQLConnection: AnyObject, Sendable {
    /// Names the database in messages: the SQLite file, or the PostgreSQL URL without its
    /// password.
    var path: String { get }
    var dialect: SQLDialect { get }
    /// Runs one or more statements that take no parameters and return no rows.
    func exec(_ sql: String) throws
    /// A new prepared statement, owned by the caller.
    func prepare(_ sql: String) throws -> any SQLStatement
    /// A prepared statement kept by the connection for reuse, reset and with its bindings cleared.
    func cached(_ sql: String) throws -> any SQLStatement
    /// Rows changed by the last statement that finished.
    var changes: Int { get }
    var inTransaction: Bool { get }
    /// Runs `body` in a write transaction (SQLite: `BEGIN IMMEDIATE`); rolls back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T
    /// Rolls back the open transaction, if any, ignoring errors (a failed batch's clean-up).
    func rollbackQuietly()
    /// Finalizes the cached statements and closes the connection.
    func close()
}

extension SQLConnection {
    /// Runs a query and returns the first column of the first row as an integer.
    public func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws -> Int64? {
        let s = try cached(sql)
        try s.bind(args)
        defer { s.reset() }
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int64(0)
    }

    /// Runs a query and returns the first column of the first row as text.
    public func scalarText(_ sql: String, _ args: [SQLValue] = []) throws -> String? {
        let s = try cached(sql)
        try s.bind(args)
        defer { s.reset() }
        guard try s.step() else { return nil }
        return s.text(0)
    }

    /// Runs one statement with arguments that returns no rows; returns the rows changed.
    @discardableResult
    public func run(_ sql: String, _ args: [SQLValue] = []) throws -> Int {
        let s = try cached(sql)
        try s.bind(args)
        defer { s.reset() }
        while try s.step() {}
        return changes
    }

    /// Runs an `INSERT … RETURNING id` and returns the new row's id.
    public func insertReturningID(_ sql: String, _ args: [SQLValue]) throws -> Int64 {
        let s = try cached(sql)
        try s.bind(args)
        defer { s.reset() }
        guard try s.step(), !s.isNull(0) else {
            throw StoreError(.other, "\(sql.prefix(60)): no id returned")
        }
        let id = s.int64(0)
        while try s.step() {}
        return id
    }
}

/// A row's columns, 0-based: a statement's current row, or a row of a pending log segment
/// (`LogRows.Row`), so one function reads a log row from either.
public protocol SQLRow {
    func isNull(_ c: Int32) -> Bool
    func int64(_ c: Int32) -> Int64
    func text(_ c: Int32) -> String
}

extension SQLRow {
    public func int(_ c: Int32) -> Int { Int(truncatingIfNeeded: int64(c)) }
    public func optionalInt(_ c: Int32) -> Int? { isNull(c) ? nil : int(c) }
    public func optionalInt64(_ c: Int32) -> Int64? { isNull(c) ? nil : int64(c) }
    public func bool(_ c: Int32) -> Bool { int64(c) != 0 }
    public func optionalText(_ c: Int32) -> String? { isNull(c) ? nil : text(c) }
}

/// A prepared statement. Parameters are 1-based and columns 0-based, as in SQLite's C API.
/// Owned by the thread that owns its connection.
public protocol SQLStatement: AnyObject, SQLRow {
    /// Resets for another run and clears the bindings.
    func reset()
    /// Resets for the next run keeping the bound values: for a statement whose every
    /// parameter is bound again before each step.
    func resetKeepingBindings()
    func bind(_ i: Int32, _ v: Int64) throws
    func bind(_ i: Int32, _ v: Double) throws
    func bindNull(_ i: Int32) throws
    /// Binds the string's UTF-8 bytes (an embedded NUL is kept).
    func bind(_ i: Int32, _ v: String) throws
    /// Binds UTF-8 text the statement may read in place until it has stepped and been reset
    /// or rebound (SQLite: no copy; PostgreSQL copies).
    func bindStatic(_ i: Int32, _ text: UnsafeBufferPointer<UInt8>) throws
    func bind(_ i: Int32, _ v: [UInt8]) throws
    /// Steps once: true when a row is ready, false when done.
    func step() throws -> Bool
    func double(_ c: Int32) -> Double
    func blob(_ c: Int32) -> [UInt8]
    /// Releases the statement (a later use fails); idempotent.
    func finalize()
}

extension SQLStatement {
    public func bind(_ i: Int32, _ v: Int) throws { try bind(i, Int64(v)) }
    public func bind(_ i: Int32, _ v: Int?) throws { if let v { try bind(i, Int64(v)) } else { try bindNull(i) } }
    public func bind(_ i: Int32, _ v: Int64?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    public func bind(_ i: Int32, _ v: String?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    public func bind(_ i: Int32, _ v: Double?) throws { if let v { try bind(i, v) } else { try bindNull(i) } }
    public func bind(_ i: Int32, _ v: Bool) throws { try bind(i, Int64(v ? 1 : 0)) }

    public func bind(_ i: Int32, _ v: SQLValue) throws {
        switch v {
        case .null: try bindNull(i)
        case .int(let x): try bind(i, x)
        case .double(let x): try bind(i, x)
        case .text(let x): try bind(i, x)
        case .blob(let x): try bind(i, x)
        }
    }

    public func bind(_ values: [SQLValue]) throws {
        for (k, v) in values.enumerated() { try bind(Int32(k + 1), v) }
    }

    public func optionalDouble(_ c: Int32) -> Double? { isNull(c) ? nil : double(c) }

    /// Steps a statement that returns no rows, then resets it.
    func stepDone() throws {
        defer { reset() }
        while try step() {}
    }
}

/// A value to bind.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public static func int(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
    public static func int64(_ v: Int64?) -> SQLValue { v.map { .int($0) } ?? .null }
    public static func text(_ v: String?) -> SQLValue { v.map { .text($0) } ?? .null }
    public static func double(_ v: Double?) -> SQLValue { v.map { .double($0) } ?? .null }
    public static func bool(_ v: Bool) -> SQLValue { .int(v ? 1 : 0) }
}
