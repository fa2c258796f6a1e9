import CEpoll
import Reactor

/// The writer thread's connection and what it writes: one batch of request records in one
/// transaction (the log rows, `stats_hourly`, `stats_rollup` (dims `all`, `channel`, `model`,
/// `token`, `user`, `group`) and the tokens' running
/// totals), and retention's chunked deletes. Its prepared statements are cached.
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

    /// The log row's columns; `bindRecord` binds them in this order.
    private static let logColumns = """
        request_id, time_ms, token_id, channel_id, channel_name, key_index, protocol, path, requested_model,
        upstream_model, stream, status, attempts, ttfb_us, duration_us, input_tokens, output_tokens,
        cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, usage_known, cost_micro, priced,
        client_address, user_agent, error, request_key, user_id, group_id
        """
    private static let paramsPerRow: Int32 = 29
    /// Text parameters per row (`gatherText`).
    private static let textsPerRow = 10

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
    private static func insertSQL(rows: Int, _ dialect: SQLDialect) -> String {
        let row = "(" + Array(repeating: "?", count: Int(paramsPerRow)).joined(separator: ",") + ")"
        let verb = dialect == .sqlite ? "INSERT OR FAIL INTO" : "INSERT INTO"
        return "\(verb) request_logs(\(logColumns)) VALUES" + Array(repeating: row, count: rows).joined(separator: ",")
    }

    private static let insertSQLs: [SQLDialect: [String]] = [
        .sqlite: rowsPerInsert.map { insertSQL(rows: $0, .sqlite) },
        .postgres: rowsPerInsert.map { insertSQL(rows: $0, .postgres) },
    ]

    /// The text parameters of the rows being inserted (reused).
    private var text = BoundText()

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
        case begin, commit, upsert, rollup, token
        /// The INSERT of `rowsPerInsert[i]` rows.
        case insert(Int)

        static let count = 5 + rowsPerInsert.count
        var index: Int {
            switch self {
            case .begin: 0
            case .commit: 1
            case .upsert: 2
            case .rollup: 3
            case .token: 4
            case .insert(let i): 5 + i
            }
        }
        func sql(_ dialect: SQLDialect) -> String {
            switch self {
            case .begin: dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
            case .commit: "COMMIT"
            case .upsert: BatchWriter.upsertSQL
            case .rollup: BatchWriter.rollupSQL
            case .token: BatchWriter.tokenSQL(dialect)
            case .insert(let i): BatchWriter.insertSQLs[dialect]![i]
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

    /// Writes one batch in one transaction; returns why when it failed.
    func write(_ records: [RequestRecord]) -> Failure? {
        if records.isEmpty { return nil }
        do {
            try statement(.begin).stepDone()
            try insertLogRows(records)
            var groups: [StatsKey: StatsDelta] = [:]
            var tokens: [Int: (cost: Int64, requests: Int64, last: Int64)] = [:]
            // By index: `for r in records` copied each record (every string retained) to read it.
            for i in records.indices {
                let key = StatsKey(hour: Int64(records[i].timeMillis / 3_600_000 * 3_600_000), channel: Int64(records[i].channelID ?? 0),
                                   model: records[i].requestedModel, token: Int64(records[i].tokenID ?? 0),
                                   user: Int64(records[i].userID ?? 0), group: Int64(records[i].groupID ?? 0))
                groups[key, default: StatsDelta()].add(records[i])
                if let t = records[i].tokenID {
                    var e = tokens[t] ?? (0, 0, 0)
                    e.cost = Saturating.add(e.cost, records[i].costMicroUSD)
                    e.requests += 1
                    e.last = max(e.last, Int64(records[i].timeMillis))
                    tokens[t] = e
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
            return nil
        } catch {
            db.rollbackQuietly()
            return Failure(message: "\(error)", retryable: (error as? StoreError)?.kind == .unavailable)
        }
    }

    /// The batch's log rows, in order, through the largest `rowsPerInsert` that fits.
    private func insertLogRows(_ records: [RequestRecord]) throws {
        var i = 0
        for (slot, rows) in Self.rowsPerInsert.enumerated() where records.count - i >= rows {
            let s = try statement(.insert(slot))
            while records.count - i >= rows {
                try insertRows(s, records, from: i, count: rows)
                i += rows
            }
        }
    }

    /// One execution of `s`, an INSERT of `count` rows: `records[first ..< first + count]`.
    private func insertRows(_ s: any SQLStatement, _ records: [RequestRecord], from first: Int, count n: Int) throws {
        text.removeAll()
        // Through the buffer: each field is read where the record lies (passing `records[k]`
        // copied the record, retaining every string of it, twice per row).
        try records.withUnsafeBufferPointer { rs in
            for k in first..<(first + n) { gatherText(rs, k) }
            try text.withValues { t in
                for k in 0..<n {
                    try bindRecord(s, rs, first + k, first: Int32(k) * Self.paramsPerRow, text: t, row: k)
                }
                // Every parameter is bound again before each step: no need to clear them after it.
                defer { s.resetKeepingBindings() }
                _ = try s.step()
            }
        }
    }

    /// The row's text parameters, in `bindRecord`'s order (`textsPerRow` of them).
    private func gatherText(_ rs: UnsafeBufferPointer<RequestRecord>, _ k: Int) {
        text.append(rs[k].channelName)
        text.append(rs[k].protocolName)
        text.append(rs[k].path)
        text.append(rs[k].requestedModel)
        text.append(rs[k].upstreamModel)
        text.append(attempts: rs[k].attempts)
        text.append(rs[k].clientAddress)
        text.append(rs[k].userAgent)
        text.append(rs[k].error)
        text.append(requestID: rs[k].requestID)
    }

    /// Binds row `row` of a (multi-row) INSERT: parameters `first + 1 …`, its texts from `text`.
    private func bindRecord(_ s: any SQLStatement, _ rs: UnsafeBufferPointer<RequestRecord>, _ k: Int, first p: Int32, text: BoundText.Values, row: Int) throws {
        let t = row * Self.textsPerRow
        try s.bind(p + 1, Int64(bitPattern: rs[k].id))
        try s.bind(p + 2, Int64(rs[k].timeMillis))
        try s.bind(p + 3, rs[k].tokenID)
        try s.bind(p + 4, rs[k].channelID)
        try text.bind(s, p + 5, t)
        try s.bind(p + 6, rs[k].keyIndex)
        try text.bind(s, p + 7, t + 1)
        try text.bind(s, p + 8, t + 2)
        try text.bind(s, p + 9, t + 3)
        try text.bind(s, p + 10, t + 4)
        try s.bind(p + 11, rs[k].stream)
        try s.bind(p + 12, rs[k].status)
        try text.bind(s, p + 13, t + 5)
        try s.bind(p + 14, rs[k].ttfbMicros.map { Int64(clamping: $0) })
        try s.bind(p + 15, Int64(clamping: rs[k].durationMicros))
        try s.bind(p + 16, rs[k].inputTokens)
        try s.bind(p + 17, rs[k].outputTokens)
        try s.bind(p + 18, rs[k].cacheReadTokens)
        try s.bind(p + 19, rs[k].cacheWrite5mTokens)
        try s.bind(p + 20, rs[k].cacheWrite1hTokens)
        try s.bind(p + 21, rs[k].usageKnown)
        try s.bind(p + 22, rs[k].costMicroUSD)
        try s.bind(p + 23, rs[k].priced)
        try text.bind(s, p + 24, t + 6)
        try text.bind(s, p + 25, t + 7)
        try text.bind(s, p + 26, t + 8)
        try text.bind(s, p + 27, t + 9)
        try s.bind(p + 28, rs[k].userID)
        try s.bind(p + 29, rs[k].groupID)
    }

    // MARK: retention

    /// Which table the pass is at (request logs, hourly statistics, rollups, sessions).
    private var retentionStage = 0

    /// Starts the next pass from its first table.
    func restartRetention() { retentionStage = 0 }

    /// What one retention chunk did.
    struct RetentionChunk {
        /// Whether more may remain (false: the pass is over).
        var more: Bool
        var deletedLogs: UInt64 = 0
        var deletedStats: UInt64 = 0
        var error: String?
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
                if n < chunk { retentionStage = 1 }
                return RetentionChunk(more: true, deletedLogs: UInt64(n))
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
