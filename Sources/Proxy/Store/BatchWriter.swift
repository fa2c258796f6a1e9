import CEpoll
import Reactor

/// The writer thread's connection and what it writes: one batch of request records in one
/// transaction (the log rows, `stats_hourly`, `stats_rollup` (dims `all`, `channel`, `model`,
/// `token`, `user`, `group`) and the tokens' running
/// totals), and retention's chunked deletes. Its prepared statements are cached.
///
/// A batch's log rows go into `request_logs` (`write(_:packed: false)`), or, when the relay
/// is busy, into one `request_log_pending` row, the batch's `LogRows` bytes stored whole
/// (`packed: true`): one b-tree entry for the batch instead of a row and six index entries
/// per record. `movePending` later moves the oldest segment's rows into `request_logs`
/// with the ids it reserved. While any segment is pending, every batch is packed, so pending
/// ids are always the newest (`StoreReader` shows them first).
///
/// Owner: the writer thread (`StoreWriter`) only, never two threads.
final class BatchWriter {
    private let db: any SQLConnection
    private var stmtCache: [String: any SQLStatement] = [:]
    /// The batch's statements, by `Slot`: found by index, not by hashing their text (a
    /// 256-row INSERT is over 13 KB of SQL; hashing it per batch was ~4,700 instructions).
    private var slots = [(any SQLStatement)?](repeating: nil, count: Slot.count)

    init(db: any SQLConnection) { self.db = db }

    /// Runs maintenance chores (`StoreWriter.perform`) with the connection.
    func perform(_ chores: [@Sendable (any SQLConnection) -> Void]) {
        for c in chores { c(db) }
    }

    /// Finalizes the statements and closes the connection (on the writer thread).
    func close() {
        for s in stmtCache.values { s.finalize() }
        stmtCache.removeAll()
        for s in slots { s?.finalize() }
        slots = [(any SQLStatement)?](repeating: nil, count: Slot.count)
        db.close()
    }

    // MARK: a batch

    /// The log row's columns, in the order `LogRows` holds them.
    private static let logColumns = LogRows.columnNames.joined(separator: ", ")

    /// Log rows per INSERT statement, largest first: a batch goes through the largest that
    /// fits what is left, so a batch of 1,000 takes 15 + 2 + 2 executions. One execution
    /// opens and closes the table's and its five indexes' cursors once for all its rows, and
    /// an index insert right after the previous one skips its search from the root.
    static let rowsPerInsert = [256, 64, 16, 4, 1]

    /// `OR FAIL`: a statement that fails keeps the rows it inserted before the failure, so
    /// SQLite keeps no statement journal for a multi-row INSERT (with the default ABORT it
    /// spilled one to a temporary file: twice the `pwrite`s per batch). The batch's
    /// transaction is rolled back whole on any failure (`write`), as before.
    /// (PostgreSQL has no such choice: a failed statement changes nothing, and the
    /// transaction is rolled back whole.)
    /// `withIDs`: each row's id is bound first (a pending segment's rows take the ids it
    /// reserved; SQLite only); else the table gives the next ones.
    private static func insertSQL(rows: Int, _ dialect: SQLDialect, withIDs: Bool) -> String {
        let row = "(" + Array(repeating: "?", count: LogRows.columns + (withIDs ? 1 : 0)).joined(separator: ",") + ")"
        let verb = dialect == .sqlite ? "INSERT OR FAIL INTO" : "INSERT INTO"
        return "\(verb) request_logs(\(withIDs ? "id, " : "")\(logColumns)) VALUES" + Array(repeating: row, count: rows).joined(separator: ",")
    }

    private static let insertSQLs: [SQLDialect: [String]] = [
        .sqlite: rowsPerInsert.map { insertSQL(rows: $0, .sqlite, withIDs: false) },
        .postgres: rowsPerInsert.map { insertSQL(rows: $0, .postgres, withIDs: false) },
    ]
    private static let moveSQLs = rowsPerInsert.map { insertSQL(rows: $0, .sqlite, withIDs: true) }

    /// The batch's rows being written (reused).
    private var logRows = LogRows()

    /// Rows in `request_log_pending`, and the id the next segment's first row takes (valid
    /// while `pendingRows > 0`). Read from the table at open (`loadPending`).
    private(set) var pendingRows = 0
    private var pendingNextID: Int64 = 0

    private static func upsert(_ table: String, _ keys: [String]) -> String {
        let cols = keys + Schema.valueColumns
        // `table.column`: PostgreSQL finds a bare name ambiguous beside `excluded`.
        let adds = Schema.valueColumns.map { "\($0) = \(table).\($0) + excluded.\($0)" }
        return "INSERT INTO \(table)(\(cols.joined(separator: ","))) VALUES(\(cols.map { _ in "?" }.joined(separator: ","))) "
            + "ON CONFLICT(\(keys.joined(separator: ", "))) DO UPDATE SET \(adds.joined(separator: ", "))"
    }

    private static let upsertSQL = upsert("stats_hourly", ["hour_ms", "channel_id", "model", "token_id"])
    private static let rollupSQL = upsert("stats_rollup", ["dim", "key", "hour_ms"])

    private static func tokenSQL(_ dialect: SQLDialect) -> String {
        """
        UPDATE auth_tokens SET total_cost_micro = total_cost_micro + ?, total_requests = total_requests + ?,
            last_used_ms = \(dialect.greatest("COALESCE(last_used_ms, 0)", "?")) WHERE id = ?
        """
    }

    /// The statements every batch runs, each in its own slot of `slots`.
    private enum Slot {
        case begin, commit, upsert, rollup, token, segment, oldest, forget
        /// The INSERT of `rowsPerInsert[i]` rows.
        case insert(Int)
        /// The same with the rows' ids (a pending segment's rows).
        case move(Int)

        static let count = 8 + 2 * rowsPerInsert.count
        var index: Int {
            switch self {
            case .begin: 0
            case .commit: 1
            case .upsert: 2
            case .rollup: 3
            case .token: 4
            case .segment: 5
            case .oldest: 6
            case .forget: 7
            case .insert(let i): 8 + i
            case .move(let i): 8 + rowsPerInsert.count + i
            }
        }
        func sql(_ dialect: SQLDialect) -> String {
            switch self {
            case .begin: dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
            case .commit: "COMMIT"
            case .upsert: BatchWriter.upsertSQL
            case .rollup: BatchWriter.rollupSQL
            case .token: BatchWriter.tokenSQL(dialect)
            case .segment: "INSERT INTO request_log_pending(first_id, rows, min_time_ms, max_time_ms, data) VALUES(?, ?, ?, ?, ?)"
            case .oldest: "SELECT id, first_id, rows, data FROM request_log_pending ORDER BY id LIMIT 1"
            case .forget: "DELETE FROM request_log_pending WHERE id = ?"
            case .insert(let i): BatchWriter.insertSQLs[dialect]![i]
            case .move(let i): BatchWriter.moveSQLs[i]
            }
        }
    }

    private func statement(_ slot: Slot) throws -> any SQLStatement {
        if let s = slots[slot.index] {
            s.reset()
            return s
        }
        let s = try db.prepare(slot.sql(db.dialect))
        slots[slot.index] = s
        return s
    }

    private func statement(_ sql: String) throws -> any SQLStatement {
        if let s = stmtCache[sql] {
            s.reset()
            return s
        }
        let s = try db.prepare(sql)
        stmtCache[sql] = s
        return s
    }

    /// Why a batch was not written, and whether it may be tried again.
    struct Failure: Error {
        var message: String
        /// The database server cannot be reached now (PostgreSQL): the batch is kept and
        /// written once it is back. Anything else (a full disk, a damaged file) drops it.
        var retryable: Bool
    }

    /// Whether this writer packs at all: SQLite, with `request_log_pending` in the schema (a
    /// store opened with fewer migrations, in tests, has not). PostgreSQL never packs: its
    /// row work is the server's.
    private var canPack = false

    /// Reads what `request_log_pending` holds (at open, before the writer thread starts).
    func loadPending() throws {
        guard db.dialect == .sqlite else { return }
        canPack = try db.scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'request_log_pending'") == 1
        guard canPack else { return }
        pendingRows = Int(try db.scalarInt("SELECT COALESCE(SUM(rows), 0) FROM request_log_pending") ?? 0)
        pendingNextID = try db.scalarInt("SELECT MAX(first_id + rows) FROM request_log_pending") ?? 0
    }

    /// Writes one batch in one transaction; returns why when it failed. `packed`: the log
    /// rows go into one pending segment (SQLite; ignored on PostgreSQL, whose row work is
    /// the server's); they are packed anyway while other segments are pending.
    func write(_ records: [RequestRecord], packed: Bool = false) -> Failure? {
        if records.isEmpty { return nil }
        let packed = canPack && (packed || pendingRows > 0)
        do {
            try statement(.begin).stepDone()
            let firstID = packed ? try insertSegment(records) : nil
            if !packed { try insertLogRows(records) }
            var groups: [StatsKey: StatsDelta] = [:]
            var tokens: [Int: (cost: Int64, requests: Int64, last: Int64)] = [:]
            // Through a pointer: passing `records[i]` copied the record (every string
            // retained) to read it. Records of one key usually come in runs: the run's
            // entry is updated by its index, without hashing the key again.
            records.withUnsafeBufferPointer { rs in
                var run: (key: StatsKey, at: Dictionary<StatsKey, StatsDelta>.Index)?
                var tokenRun: (id: Int, at: Dictionary<Int, (cost: Int64, requests: Int64, last: Int64)>.Index)?
                for k in rs.indices {
                    let r = rs.baseAddress! + k
                    let key = StatsKey(hour: Int64(r.pointee.timeMillis / 3_600_000 * 3_600_000), channel: Int64(r.pointee.channelID ?? 0),
                                       model: r.pointee.requestedModel, token: Int64(r.pointee.tokenID ?? 0),
                                       user: Int64(r.pointee.userID ?? 0), group: Int64(r.pointee.groupID ?? 0))
                    if run?.key != key {
                        if groups[key] == nil { groups[key] = StatsDelta() }
                        run = (key, groups.index(forKey: key)!)
                    }
                    groups.values[run!.at].add(r)
                    if let t = r.pointee.tokenID {
                        if tokenRun?.id != t {
                            if tokens[t] == nil { tokens[t] = (0, 0, 0) }
                            tokenRun = (t, tokens.index(forKey: t)!)
                        }
                        let at = tokenRun!.at
                        tokens.values[at].cost = Saturating.add(tokens.values[at].cost, r.pointee.costMicroUSD)
                        tokens.values[at].requests += 1
                        tokens.values[at].last = max(tokens.values[at].last, Int64(clamping: r.pointee.timeMillis))
                    }
                }
            }
            let upsert = try statement(.upsert)
            var rollup: [RollupKey: StatsDelta] = [:]
            for (k, d) in groups {
                upsert.reset()
                try upsert.bind(1, k.hour)
                try upsert.bind(2, k.channel)
                try upsert.bind(3, k.model)
                try upsert.bind(4, k.token)
                try d.bind(upsert, from: 5)
                _ = try upsert.step()
                rollup[RollupKey(dim: "all", key: "", hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "channel", key: String(k.channel), hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "model", key: k.model, hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "token", key: String(k.token), hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "user", key: String(k.user), hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "group", key: String(k.group), hour: k.hour), default: StatsDelta()].merge(d)
            }
            let roll = try statement(.rollup)
            for (k, d) in rollup {
                roll.reset()
                try roll.bind(1, k.dim)
                try roll.bind(2, k.key)
                try roll.bind(3, k.hour)
                try d.bind(roll, from: 4)
                _ = try roll.step()
            }
            if !tokens.isEmpty {
                let u = try statement(.token)
                for (id, e) in tokens {
                    u.reset()
                    try u.bind(1, e.cost)
                    try u.bind(2, e.requests)
                    try u.bind(3, e.last)
                    try u.bind(4, Int64(id))
                    _ = try u.step()
                }
            }
            try statement(.commit).stepDone()
            if let firstID {
                pendingRows += records.count
                pendingNextID = firstID + Int64(records.count)
            }
            return nil
        } catch {
            db.rollbackQuietly()
            return Failure(message: "\(error)", retryable: (error as? StoreError)?.kind == .unavailable)
        }
    }

    /// The batch's log rows as one pending segment; returns the id its first row takes.
    private func insertSegment(_ records: [RequestRecord]) throws -> Int64 {
        logRows.start(keepValues: false)
        var lo = UInt64.max, hi: UInt64 = 0
        records.withUnsafeBufferPointer { rs in
            for k in rs.indices {
                let r = rs.baseAddress! + k
                logRows.append(r)
                lo = min(lo, r.pointee.timeMillis)
                hi = max(hi, r.pointee.timeMillis)
            }
        }
        let first = pendingRows > 0 ? pendingNextID : (try db.scalarInt("SELECT MAX(id) FROM request_logs") ?? 0) + 1
        let s = try statement(.segment)
        try s.bind(1, first)
        try s.bind(2, Int64(records.count))
        try s.bind(3, Int64(clamping: lo))
        try s.bind(4, Int64(clamping: hi))
        try s.bind(5, logRows.bytes)
        try s.stepDone()
        return first
    }

    /// What moving one pending segment did.
    struct Move {
        /// The rows moved into `request_logs` (or lost with a damaged segment).
        var rows = 0
        /// The segment did not decode: its rows are lost (it is deleted).
        var damaged = false
        var failure: Failure?
    }

    /// Moves the oldest pending segment's rows into `request_logs`, in one transaction.
    func movePending() -> Move {
        var move = Move()
        do {
            try statement(.begin).stepDone()
            let oldest = try statement(.oldest)
            guard try oldest.step() else {
                oldest.reset()
                try statement(.commit).stepDone()
                pendingRows = 0
                return move
            }
            let id = oldest.int64(0), first = oldest.int64(1)
            let declared = Int(clamping: max(0, oldest.int64(2)))
            let data = oldest.blob(3)
            oldest.reset()
            if let rows = LogRows.decode(data), rows.rows == declared {
                try insert(rows, firstID: first)
            } else {
                move.damaged = true
            }
            let forget = try statement(.forget)
            try forget.bind(1, id)
            try forget.stepDone()
            try statement(.commit).stepDone()
            move.rows = declared
            pendingRows = max(0, pendingRows - declared)
        } catch {
            db.rollbackQuietly()
            move.failure = Failure(message: "moving a request-log segment: \(error)", retryable: (error as? StoreError)?.kind == .unavailable)
        }
        return move
    }

    /// The batch's log rows, in order, through the largest `rowsPerInsert` that fits.
    private func insertLogRows(_ records: [RequestRecord]) throws {
        logRows.start(keepValues: true)
        // Through the buffer: each field is read where the record lies (passing `records[k]`
        // copied the record, retaining every string of it).
        records.withUnsafeBufferPointer { rs in
            for k in rs.indices { logRows.append(rs.baseAddress! + k) }
        }
        try insert(logRows, firstID: nil)
    }

    /// `rows` into `request_logs`, through the largest `rowsPerInsert` that fits each time;
    /// with `firstID`, row `k` takes id `firstID + k`. One execution opens each index's
    /// cursor once for all its rows.
    private func insert(_ rows: LogRows, firstID: Int64?) throws {
        var i = 0
        for (slot, n) in Self.rowsPerInsert.enumerated() where rows.rows - i >= n {
            let s = try statement(firstID == nil ? .insert(slot) : .move(slot))
            while rows.rows - i >= n {
                try rows.bind(s, rows: i, count: n, firstID: firstID)
                // Every parameter is bound again before each step: no need to clear them after it.
                defer { s.resetKeepingBindings() }
                _ = try s.step()
                i += n
            }
        }
    }

    // MARK: retention

    /// Which table the pass is at: 0 request logs, 4 pending segments (after the request
    /// logs, when there are any), 1 hourly statistics, 2 rollups, 3 sessions.
    private var retentionStage = 0

    /// Starts the next pass from its first table.
    func restartRetention() { retentionStage = 0 }

    /// What one retention chunk did.
    struct RetentionChunk {
        /// Whether more may remain (false: the pass is over).
        var more: Bool
        var deletedLogs: UInt64 = 0
        var deletedStats: UInt64 = 0
        /// Of `deletedLogs`, the rows of pending segments (no longer pending).
        var expiredPendingRows = 0
        var error: String?
    }

    /// A retention chunk of pending segments takes `chunkRows / rowsPerSegmentChunk` of them
    /// (at least one): about as many rows as a chunk of `request_logs`, a batch being a
    /// segment.
    static let rowsPerSegmentChunk = 1_000

    /// Deletes up to `segments` of the oldest pending segments whose newest row is older than
    /// `cutoff`, in one transaction; returns how many, and their rows.
    private func expirePending(before cutoff: UInt64, segments: Int64) throws -> (Int64, Int) {
        try statement(.begin).stepDone()
        var found: [Int64] = []
        var rows = 0
        do {
            let pick = try statement("SELECT id, rows FROM request_log_pending WHERE max_time_ms < ? ORDER BY id LIMIT ?")
            try pick.bind(1, Int64(clamping: cutoff))
            try pick.bind(2, segments)
            while try pick.step() {
                found.append(pick.int64(0))
                rows = Saturating.add(rows, Int(clamping: max(0, pick.int64(1))))
            }
            pick.reset()
            for id in found {
                let forget = try statement(.forget)
                try forget.bind(1, id)
                try forget.stepDone()
            }
            try statement(.commit).stepDone()
        } catch {
            db.rollbackQuietly()
            throw error
        }
        pendingRows = max(0, pendingRows - rows)
        return (Int64(found.count), rows)
    }

    /// Deletes one chunk of expired rows (`chunkRows` at most) from the table the pass is
    /// at: request logs older than `logDays`, statistics older than `statsDays`, sessions
    /// over by `now` (wall-clock milliseconds).
    func retentionChunk(now: UInt64, logDays: Int, statsDays: Int, chunkRows: Int) -> RetentionChunk {
        let day: UInt64 = 86_400_000
        let logCutoff = now > UInt64(logDays) * day ? now - UInt64(logDays) * day : 0
        let statsCutoff = now > UInt64(statsDays) * day ? now - UInt64(statsDays) * day : 0
        let chunk = Int64(chunkRows)
        do {
            switch retentionStage {
            case 0:
                let n = try deleteChunk("DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs WHERE time_ms < ? ORDER BY time_ms LIMIT ?)",
                                        before: logCutoff, chunk)
                if n < chunk { retentionStage = canPack && pendingRows > 0 ? 4 : 1 }
                return RetentionChunk(more: true, deletedLogs: UInt64(n))
            case 4:
                // Pending segments whose every row is past the cutoff: those rows would be
                // deleted as soon as they moved. A segment that straddles it moves, and its
                // old rows go in a later pass.
                let segments = max(1, chunk / Int64(BatchWriter.rowsPerSegmentChunk))
                let (n, rows) = try expirePending(before: logCutoff, segments: segments)
                if n < segments { retentionStage = 1 }
                return RetentionChunk(more: true, deletedLogs: UInt64(rows), expiredPendingRows: rows)
            case 1:
                let n = try deleteChunk("""
                    DELETE FROM stats_hourly WHERE (hour_ms, channel_id, model, token_id) IN
                    (SELECT hour_ms, channel_id, model, token_id FROM stats_hourly WHERE hour_ms < ? LIMIT ?)
                    """, before: statsCutoff, chunk)
                if n < chunk { retentionStage = 2 }
                return RetentionChunk(more: true, deletedStats: UInt64(n))
            case 2:
                let n = try deleteChunk("""
                    DELETE FROM stats_rollup WHERE (dim, key, hour_ms) IN
                    (SELECT dim, key, hour_ms FROM stats_rollup WHERE hour_ms < ? LIMIT ?)
                    """, before: statsCutoff, chunk)
                if n < chunk { retentionStage = 3 }
                return RetentionChunk(more: true)
            default:
                // The stored sessions (`StoreSessions`) that are over.
                let s = try statement("DELETE FROM admin_sessions WHERE expires_ms < ?")
                try s.bind(1, Int64(now))
                try s.stepDone()
                return RetentionChunk(more: false)
            }
        } catch {
            return RetentionChunk(more: false, error: "retention: \(error)")
        }
    }

    /// Runs a chunked DELETE whose two parameters are the cutoff and the chunk size;
    /// returns the rows deleted.
    private func deleteChunk(_ sql: String, before cutoff: UInt64, _ chunk: Int64) throws -> Int64 {
        let s = try statement(sql)
        try s.bind(1, Int64(cutoff))
        try s.bind(2, chunk)
        try s.stepDone()
        return Int64(db.changes)
    }
}
