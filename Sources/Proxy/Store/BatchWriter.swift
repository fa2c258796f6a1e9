import CEpoll
import Reactor

/// The writer thread's connection and what it writes: one batch of request records in one
/// transaction (the log rows, `stats_hourly`, `stats_rollup` and the tokens' running
/// totals), and retention's chunked deletes. Its prepared statements are cached.
///
/// Owner: the writer thread (`StoreWriter`) only, never two threads.
final class BatchWriter {
    private let db: Database
    private var stmtCache: [String: Statement] = [:]

    init(db: Database) { self.db = db }

    /// Runs maintenance chores (`StoreWriter.perform`) with the connection.
    func perform(_ chores: [@Sendable (Database) -> Void]) {
        for c in chores { c(db) }
    }

    /// Finalizes the statements and closes the connection (on the writer thread).
    func close() {
        for s in stmtCache.values { s.finalize() }
        stmtCache.removeAll()
        db.close()
    }

    // MARK: a batch

    /// The log row's columns; `bindRecord` binds them in this order.
    private static let logColumns = """
        request_id, time_ms, token_id, channel_id, channel_name, key_index, protocol, path, requested_model,
        upstream_model, stream, status, attempts, ttfb_us, duration_us, input_tokens, output_tokens,
        cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, usage_known, cost_micro, priced,
        client_address, user_agent, error, request_key
        """
    private static let paramsPerRow: Int32 = 27
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
    private static func insertSQL(rows: Int) -> String {
        let row = "(" + Array(repeating: "?", count: Int(paramsPerRow)).joined(separator: ",") + ")"
        return "INSERT OR FAIL INTO request_logs(\(logColumns)) VALUES" + Array(repeating: row, count: rows).joined(separator: ",")
    }

    private static let insertSQLs = rowsPerInsert.map { insertSQL(rows: $0) }

    /// The text parameters of the rows being inserted (reused).
    private var text = BoundText()

    private static func upsert(_ table: String, _ keys: [String]) -> String {
        let cols = keys + Schema.valueColumns
        let adds = Schema.valueColumns.map { "\($0) = \($0) + excluded.\($0)" }
        return "INSERT INTO \(table)(\(cols.joined(separator: ","))) VALUES(\(cols.map { _ in "?" }.joined(separator: ","))) "
            + "ON CONFLICT(\(keys.joined(separator: ", "))) DO UPDATE SET \(adds.joined(separator: ", "))"
    }

    private static let upsertSQL = upsert("stats_hourly", ["hour_ms", "channel_id", "model", "token_id"])
    private static let rollupSQL = upsert("stats_rollup", ["dim", "key", "hour_ms"])

    private static let tokenSQL = """
        UPDATE auth_tokens SET total_cost_micro = total_cost_micro + ?, total_requests = total_requests + ?,
            last_used_ms = MAX(COALESCE(last_used_ms, 0), ?) WHERE id = ?
        """

    private func statement(_ sql: String) throws -> Statement {
        if let s = stmtCache[sql] {
            s.reset()
            return s
        }
        let s = try db.prepare(sql)
        stmtCache[sql] = s
        return s
    }

    /// Writes one batch in one transaction; returns the error message when it failed.
    func write(_ records: [RequestRecord]) -> String? {
        if records.isEmpty { return nil }
        do {
            try statement("BEGIN IMMEDIATE").stepDone()
            try insertLogRows(records)
            var groups: [StatsKey: StatsDelta] = [:]
            var tokens: [Int: (cost: Int64, requests: Int64, last: Int64)] = [:]
            for r in records {
                let key = StatsKey(hour: Int64(r.timeMillis / 3_600_000 * 3_600_000), channel: Int64(r.channelID ?? 0),
                                   model: r.requestedModel, token: Int64(r.tokenID ?? 0))
                groups[key, default: StatsDelta()].add(r)
                if let t = r.tokenID {
                    var e = tokens[t] ?? (0, 0, 0)
                    e.cost = Saturating.add(e.cost, r.costMicroUSD)
                    e.requests += 1
                    e.last = max(e.last, Int64(r.timeMillis))
                    tokens[t] = e
                }
            }
            let upsert = try statement(Self.upsertSQL)
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
            }
            let roll = try statement(Self.rollupSQL)
            for (k, d) in rollup {
                roll.reset()
                try roll.bind(1, k.dim)
                try roll.bind(2, k.key)
                try roll.bind(3, k.hour)
                try d.bind(roll, from: 4)
                _ = try roll.step()
            }
            if !tokens.isEmpty {
                let u = try statement(Self.tokenSQL)
                for (id, e) in tokens {
                    u.reset()
                    try u.bind(1, e.cost)
                    try u.bind(2, e.requests)
                    try u.bind(3, e.last)
                    try u.bind(4, Int64(id))
                    _ = try u.step()
                }
            }
            try statement("COMMIT").stepDone()
            return nil
        } catch {
            if db.inTransaction { _ = sqlite3_exec(db.handle, "ROLLBACK", nil, nil, nil) }
            return "\(error)"
        }
    }

    /// The batch's log rows, in order, through the largest `rowsPerInsert` that fits.
    private func insertLogRows(_ records: [RequestRecord]) throws {
        var i = 0
        for (rows, sql) in zip(Self.rowsPerInsert, Self.insertSQLs) where records.count - i >= rows {
            let s = try statement(sql)
            while records.count - i >= rows {
                try insertRows(s, records, from: i, count: rows)
                i += rows
            }
        }
    }

    /// One execution of `s`, an INSERT of `count` rows: `records[first ..< first + count]`.
    private func insertRows(_ s: Statement, _ records: [RequestRecord], from first: Int, count n: Int) throws {
        text.removeAll()
        for k in first..<(first + n) { gatherText(records[k]) }
        try text.withValues { t in
            for k in 0..<n {
                try bindRecord(s, records[first + k], first: Int32(k) * Self.paramsPerRow, text: t, row: k)
            }
            // Every parameter is bound again before each step: no need to clear them after it.
            defer { s.resetKeepingBindings() }
            _ = try s.step()
        }
    }

    /// The row's text parameters, in `bindRecord`'s order (`textsPerRow` of them).
    private func gatherText(_ r: RequestRecord) {
        text.append(r.channelName)
        text.append(r.protocolName)
        text.append(r.path)
        text.append(r.requestedModel)
        text.append(r.upstreamModel)
        text.append(attempts: r.attempts)
        text.append(r.clientAddress)
        text.append(r.userAgent)
        text.append(r.error)
        text.append(r.requestID.isEmpty ? nil : r.requestID.description)
    }

    /// Binds row `row` of a (multi-row) INSERT: parameters `first + 1 …`, its texts from `text`.
    private func bindRecord(_ s: Statement, _ r: RequestRecord, first p: Int32, text: BoundText.Values, row: Int) throws {
        let t = row * Self.textsPerRow
        try s.bind(p + 1, Int64(bitPattern: r.id))
        try s.bind(p + 2, Int64(r.timeMillis))
        try s.bind(p + 3, r.tokenID)
        try s.bind(p + 4, r.channelID)
        try text.bind(s, p + 5, t)
        try s.bind(p + 6, r.keyIndex)
        try text.bind(s, p + 7, t + 1)
        try text.bind(s, p + 8, t + 2)
        try text.bind(s, p + 9, t + 3)
        try text.bind(s, p + 10, t + 4)
        try s.bind(p + 11, r.stream)
        try s.bind(p + 12, r.status)
        try text.bind(s, p + 13, t + 5)
        try s.bind(p + 14, r.ttfbMicros.map { Int64(clamping: $0) })
        try s.bind(p + 15, Int64(clamping: r.durationMicros))
        try s.bind(p + 16, r.inputTokens)
        try s.bind(p + 17, r.outputTokens)
        try s.bind(p + 18, r.cacheReadTokens)
        try s.bind(p + 19, r.cacheWrite5mTokens)
        try s.bind(p + 20, r.cacheWrite1hTokens)
        try s.bind(p + 21, r.usageKnown)
        try s.bind(p + 22, r.costMicroUSD)
        try s.bind(p + 23, r.priced)
        try text.bind(s, p + 24, t + 6)
        try text.bind(s, p + 25, t + 7)
        try text.bind(s, p + 26, t + 8)
        try text.bind(s, p + 27, t + 9)
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
