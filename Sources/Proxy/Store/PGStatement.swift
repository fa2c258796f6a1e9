import CPostgres
import Glibc

/// A named prepared statement on a `PGConnection`, behind the store's `SQLStatement`.
///
/// Bound values are copied into buffers the statement owns (text as UTF-8, integers and
/// doubles as their decimal text, blobs as binary); an unbound parameter is NULL, as in
/// SQLite. The first `step()` after a bind or reset runs the statement and receives the
/// whole result; the following ones walk its rows. A `step()` after the last row has been
/// reported runs it again (SQLite's automatic reset). Columns are read from text: a column
/// PostgreSQL reports as `bytea` is decoded for `blob` (and `text`), a boolean reads as 1 or 0.
public final class PGStatement: SQLStatement, @unchecked Sendable {
    /// The SQL as given, with SQLite's placeholders.
    let sql: String
    /// The SQL sent to the server, with `$n` placeholders.
    let serverSQL: String
    let name: String
    let parameterCount: Int
    /// Held strongly: a statement keeps its connection alive (a weak reference gave every
    /// connection a side table that LeakSanitizer reported at exit, and an unowned one trapped
    /// when a failed open dropped its connection before a statement). The connection's cache
    /// holds its own statements, so `close` (called by the store, and by `deinit` of a
    /// connection no statement holds) empties the cache and breaks that cycle.
    private let connection: PGConnection
    /// The connection generation the server-side statement belongs to (-1: none yet).
    var generation = -1

    private var values: [UnsafePointer<CChar>?]
    private var buffers: [UnsafeMutablePointer<CChar>?]
    private var capacities: [Int]
    private var lengths: [Int32]
    private var formats: [Int32]

    private var result: OpaquePointer?
    private var rows: Int32 = 0
    private var row: Int32 = 0
    private var done = false
    private var finalized = false

    init(sql: String, serverSQL: String, name: String, parameterCount: Int, connection: PGConnection) {
        self.sql = sql
        self.serverSQL = serverSQL
        self.name = name
        self.parameterCount = parameterCount
        self.connection = connection
        values = Array(repeating: nil, count: parameterCount)
        buffers = Array(repeating: nil, count: parameterCount)
        capacities = Array(repeating: 0, count: parameterCount)
        lengths = Array(repeating: 0, count: parameterCount)
        formats = Array(repeating: 0, count: parameterCount)
    }

    deinit { finalize() }

    /// Releases the result and the buffers, and lets the connection deallocate the
    /// server-side statement; idempotent. A later step fails.
    public func finalize() {
        if finalized { return }
        finalized = true
        clearResult()
        for b in buffers { free(b) }
        buffers = []
        values = []
        capacities = []
        connection.forget(self)
    }

    private func clearResult() {
        if let r = result { PQclear(r) }
        result = nil
        done = false
    }

    /// Drops the result (the next step runs the statement again) and unbinds every parameter (NULL).
    public func reset() {
        clearResult()
        for k in values.indices { values[k] = nil }
    }

    /// Drops the result, keeping the bound values.
    public func resetKeepingBindings() { clearResult() }

    /// Calls `body` with the parameter arrays `PQexecPrepared` takes.
    func withParameters(_ body: (Int32, [UnsafePointer<CChar>?], [Int32], [Int32]) -> OpaquePointer?) -> OpaquePointer? {
        body(Int32(parameterCount), values, lengths, formats)
    }

    // MARK: - Binding

    /// The 0-based slot of parameter `i`, with room for `count` bytes and a NUL; the
    /// previous result is dropped (the next step runs the statement again).
    private func slot(_ i: Int32, room count: Int) throws -> (Int, UnsafeMutablePointer<CChar>) {
        if finalized {
            throw StoreError(.other, "\(PGConnection.sqlHead(sql)): bind on a finalized statement")
        }
        guard i >= 1, Int(i) <= parameterCount else {
            throw StoreError(.other, "\(PGConnection.sqlHead(sql)): bind index \(i) out of range (the statement takes \(parameterCount))")
        }
        let k = Int(i) - 1
        if capacities[k] < count + 1 || buffers[k] == nil {
            let cap = max(count + 1, 32)
            guard let b = realloc(buffers[k], cap)?.assumingMemoryBound(to: CChar.self) else {
                throw StoreError(.other, "\(PGConnection.sqlHead(sql)): out of memory binding \(count) bytes")
            }
            buffers[k] = b
            capacities[k] = cap
        }
        if result != nil { clearResult() }
        return (k, buffers[k]!)
    }

    /// Copies `count` bytes at `bytes` into parameter `i` (`binary`: format 1).
    private func store(_ i: Int32, _ bytes: UnsafeRawPointer?, _ count: Int, binary: Bool) throws {
        if !binary, let bytes, memchr(bytes, 0, count) != nil {
            throw StoreError(.invalid, "\(PGConnection.sqlHead(sql)): parameter \(i) is text holding a NUL byte, which PostgreSQL cannot store")
        }
        let (k, b) = try slot(i, room: count)
        if count > 0, let bytes { memcpy(b, bytes, count) }
        b[count] = 0
        values[k] = UnsafePointer(b)
        lengths[k] = Int32(count)
        formats[k] = binary ? 1 : 0
    }

    /// Binds an integer as its decimal text.
    public func bind(_ i: Int32, _ v: Int64) throws {
        // Decimal digits, written backwards into a 20-byte scratch (Int64.min has 19 + sign).
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { tmp in
            var pos = 20
            var m = v.magnitude
            repeat {
                pos -= 1
                tmp[pos] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            } while m > 0
            if v < 0 {
                pos -= 1
                tmp[pos] = UInt8(ascii: "-")
            }
            try store(i, tmp.baseAddress! + pos, 20 - pos, binary: false)
        }
    }

    /// A double as the shortest text that reads back as the same value; infinities and NaN
    /// in PostgreSQL's spelling.
    public func bind(_ i: Int32, _ v: Double) throws {
        let text: String
        if v.isNaN {
            text = "NaN"
        } else if v.isInfinite {
            text = v < 0 ? "-Infinity" : "Infinity"
        } else {
            text = v.description
        }
        var t = text
        try t.withUTF8 { try store(i, $0.baseAddress, $0.count, binary: false) }
    }

    /// Binds NULL.
    public func bindNull(_ i: Int32) throws {
        let (k, _) = try slot(i, room: 0)
        values[k] = nil
        lengths[k] = 0
        formats[k] = 0
    }

    /// Binds the string's UTF-8 bytes (copied). A NUL inside is `.invalid`: PostgreSQL's text
    /// cannot hold it.
    public func bind(_ i: Int32, _ v: String) throws {
        var v = v
        try v.withUTF8 { try store(i, $0.baseAddress, $0.count, binary: false) }
    }

    /// Binds UTF-8 text; copied, so the bytes may change as soon as this returns.
    public func bindStatic(_ i: Int32, _ text: UnsafeBufferPointer<UInt8>) throws {
        try store(i, text.baseAddress, text.count, binary: false)
    }

    /// Binds bytes as a binary parameter (a `bytea` column takes them as they are).
    public func bind(_ i: Int32, _ v: [UInt8]) throws {
        try v.withUnsafeBytes { try store(i, $0.baseAddress, $0.count, binary: true) }
    }

    // MARK: - Stepping

    /// Steps once: true when a row is ready, false when done. The first step after a bind
    /// or reset runs the statement on the server.
    public func step() throws -> Bool {
        if result == nil || done {
            clearResult()
            guard !finalized else {
                throw StoreError(.closed, "\(PGConnection.sqlHead(sql)): the statement or its connection is closed")
            }
            let r = try connection.execute(self)
            result = r
            rows = PQntuples(r)
            row = 0
        } else {
            row += 1
        }
        if row < rows { return true }
        done = true
        return false
    }

    /// The value of column `c` in the current row, NUL-terminated, with its length; nil for
    /// NULL or when there is no such row or column.
    private func cell(_ c: Int32) -> (UnsafeMutablePointer<CChar>, Int)? {
        guard let r = result, row < rows, c >= 0, c < PQnfields(r), PQgetisnull(r, row, c) == 0,
              let p = PQgetvalue(r, row, c) else { return nil }
        return (p, Int(PQgetlength(r, row, c)))
    }

    private static let byteaOID: Oid = 17
    private static let boolOID: Oid = 16

    /// True for NULL, and when there is no current row or no such column.
    public func isNull(_ c: Int32) -> Bool {
        guard let r = result, row < rows, c >= 0, c < PQnfields(r) else { return true }
        return PQgetisnull(r, row, c) != 0
    }

    /// The column as an integer: its decimal text; a fraction or exponent ("2.5", numeric,
    /// double columns) is truncated toward zero as SQLite does, "t"/"f" are 1/0; anything
    /// else, and NULL, is 0.
    public func int64(_ c: Int32) -> Int64 {
        guard let (p, n) = cell(c), n > 0 else { return 0 }
        let b = UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self)
        if n == 1 && (b[0] == UInt8(ascii: "t") || b[0] == UInt8(ascii: "f")),
           let r = result, PQftype(r, c) == PGStatement.boolOID {
            return b[0] == UInt8(ascii: "t") ? 1 : 0
        }
        var k = 0
        let negative = b[0] == UInt8(ascii: "-")
        if negative || b[0] == UInt8(ascii: "+") { k = 1 }
        var m: Int64 = 0
        let start = k
        while k < n, b[k] >= UInt8(ascii: "0"), b[k] <= UInt8(ascii: "9") {
            let d = Int64(b[k] - UInt8(ascii: "0"))
            let (t, o1) = m.multipliedReportingOverflow(by: 10)
            let (u, o2) = negative ? t.subtractingReportingOverflow(d) : t.addingReportingOverflow(d)
            if o1 || o2 { return negative ? .min : .max }
            m = u
            k += 1
        }
        if k == n { return k > start ? m : 0 }
        let d = double(c)
        if d.isNaN { return 0 }
        if d >= 9.2233720368547758e18 { return .max }
        if d <= -9.2233720368547758e18 { return .min }
        return Int64(d)
    }

    /// The column as a double (PostgreSQL's text: "1.5", "1e+300", "Infinity", "NaN");
    /// NULL and text that is not a number are 0.
    public func double(_ c: Int32) -> Double {
        guard let (p, n) = cell(c), n > 0 else { return 0 }
        let text = String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
        if let d = Double(text) { return d }
        if let r = result, PQftype(r, c) == PGStatement.boolOID { return text == "t" ? 1 : 0 }
        return 0
    }

    /// The column as text (a `bytea` column: its bytes, decoded); NULL is "".
    public func text(_ c: Int32) -> String {
        if let r = result, c >= 0, c < PQnfields(r), PQftype(r, c) == PGStatement.byteaOID {
            return String(decoding: blob(c), as: UTF8.self)
        }
        guard let (p, n) = cell(c) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// The column's bytes: a `bytea` column decoded from PostgreSQL's text form (`\x…` hex or
    /// the old escape form), any other column its text's bytes; NULL is empty.
    public func blob(_ c: Int32) -> [UInt8] {
        guard let (p, n) = cell(c), n > 0 else { return [] }
        guard let r = result, PQftype(r, c) == PGStatement.byteaOID else {
            return Array(UnsafeRawBufferPointer(start: p, count: n))
        }
        var len = 0
        guard let raw = PQunescapeBytea(UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), &len) else {
            return []
        }
        defer { PQfreemem(raw) }
        return Array(UnsafeBufferPointer(start: raw, count: len))
    }
}
