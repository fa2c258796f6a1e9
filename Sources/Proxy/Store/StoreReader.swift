import Foundation
import Reactor

/// Admin queries over one connection. Handed to `Store.query` bodies on a reader thread
/// (or made by `Store.read` on the calling thread). Do not keep it beyond the body.
public struct StoreReader {
    let db: any SQLConnection
    /// For configuration calls from inside a query body.
    public let store: Store

    static let hour: UInt64 = 3_600_000

    init(db: any SQLConnection, store: Store) {
        self.db = db
        self.store = store
    }

    // MARK: logs

    /// A page of logged requests, newest first: the rows of pending segments (`LogRows`,
    /// the newest ids) first, then `request_logs`'. One read transaction, so a segment the
    /// writer moves meanwhile is seen once.
    public func logs(_ q: LogQuery) throws -> LogPage {
        let limit = min(max(q.limit, 1), 1000)
        return try snapshot {
            var out = try pendingLogs(q, limit: limit)
            if out.count < limit { out += try storedLogs(q, limit: limit - out.count) }
            return LogPage(entries: out, nextBeforeID: out.count == limit ? out.last?.id : nil)
        }
    }

    /// `body` in one read transaction (SQLite; PostgreSQL's writer keeps no pending rows).
    private func snapshot<T>(_ body: () throws -> T) throws -> T {
        guard db.dialect == .sqlite, !db.inTransaction else { return try body() }
        try db.exec("BEGIN")
        do {
            let v = try body()
            try db.exec("COMMIT")
            return v
        } catch {
            db.rollbackQuietly()
            throw error
        }
    }

    /// The rows of `request_logs` that `q` selects, newest first, at most `limit`.
    private func storedLogs(_ q: LogQuery, limit: Int) throws -> [LogEntry] {
        var clauses: [String] = []
        var args: [SQLValue] = []
        // `+time_ms` keeps the time index out of the plan: the scan follows id (or the
        // channel/model/status/token index, which ends in id) so pages come in id order
        // without a sort.
        if let f = q.fromMillis { clauses.append("+time_ms >= ?"); args.append(.int(Int64(clamping: f))) }
        if let t = q.toMillis { clauses.append("+time_ms < ?"); args.append(.int(Int64(clamping: t))) }
        if let c = q.channelID { clauses.append("channel_id = ?"); args.append(.int(Int64(c))) }
        if let m = q.model { clauses.append("requested_model = ?"); args.append(.text(m)) }
        if let s = q.statusClass { clauses.append(s.sql) }
        if let t = q.tokenID { clauses.append("token_id = ?"); args.append(.int(Int64(t))) }
        if let u = q.userID { clauses.append("user_id = ?"); args.append(.int(Int64(u))) }
        if let k = q.requestID { clauses.append("request_key = ?"); args.append(.text(k)) }
        if let b = q.beforeID { clauses.append("id < ?"); args.append(.int(b)) }
        args.append(.int(Int64(limit)))
        let whereSQL = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        let s = try db.cached("""
            SELECT id, \(LogRows.columnNames.joined(separator: ", "))
            FROM request_logs\(whereSQL) ORDER BY id DESC LIMIT ?
            """)
        try s.bind(args)
        defer { s.reset() }
        var out: [LogEntry] = []
        let decoder = JSONDecoder()
        while try s.step() {
            out.append(LogEntry(id: s.int64(0), record: Self.record(s, decoder)))
        }
        return out
    }

    /// The rows of pending segments that `q` selects, newest first, at most `limit`.
    private func pendingLogs(_ q: LogQuery, limit: Int) throws -> [LogEntry] {
        var out: [LogEntry] = []
        let decoder = JSONDecoder()
        try forEachPending(before: q.beforeID, from: q.fromMillis, to: q.toMillis) { rows, firstID in
            var k = rows.rows - 1
            while k >= 0 && out.count < limit {
                let id = firstID + Int64(k)
                if q.beforeID.map({ id < $0 }) ?? true, Self.matches(q, rows, k) {
                    out.append(LogEntry(id: id, record: Self.record(rows.row(k, id: id), decoder)))
                }
                k -= 1
            }
            return out.count < limit
        }
        return out
    }

    /// Calls `body` with each pending segment's rows and its first row's id, newest first,
    /// while it returns true: the segments holding ids below `before` (all when nil) and
    /// times overlapping [`from`, `to`). A segment that does not decode is skipped (the
    /// writer deletes it when it comes to move it).
    private func forEachPending(before: Int64?, from: UInt64?, to: UInt64?, _ body: (LogRows, Int64) throws -> Bool) throws {
        guard db.dialect == .sqlite else { return }
        let s = try db.cached("""
            SELECT first_id, rows, data FROM request_log_pending
            WHERE first_id < ? AND max_time_ms >= ? AND min_time_ms < ? ORDER BY first_id DESC
            """)
        try s.bind([.int(before ?? .max), .int(Int64(clamping: from ?? 0)), .int(Int64(clamping: to ?? UInt64(Int64.max)))])
        defer { s.reset() }
        while try s.step() {
            guard let rows = LogRows.decode(s.blob(2)), Int64(rows.rows) == s.int64(1) else { continue }
            if try !body(rows, s.int64(0)) { return }
        }
    }

    /// Whether row `k` of a pending segment passes `q`'s filters (the same as `storedLogs`'
    /// WHERE, beside the id).
    static func matches(_ q: LogQuery, _ rows: LogRows, _ k: Int) -> Bool {
        typealias C = LogRows.Column
        let time = rows.int(k, C.time) ?? 0
        if let f = q.fromMillis, time < Int64(clamping: f) { return false }
        if let t = q.toMillis, time >= Int64(clamping: t) { return false }
        if let c = q.channelID, rows.int(k, C.channel) != Int64(c) { return false }
        if let m = q.model, !rows.textEquals(k, C.requestedModel, m) { return false }
        if let s = q.statusClass, !s.matches(rows.int(k, C.status) ?? 0) { return false }
        if let t = q.tokenID, rows.int(k, C.token) != Int64(t) { return false }
        if let u = q.userID, rows.int(k, C.user) != Int64(u) { return false }
        if let r = q.requestID, !rows.textEquals(k, C.requestKey, r) { return false }
        return true
    }

    /// A log row as a record: column 0 is the id, then `LogRows.columnNames`' 29.
    static func record(_ s: some SQLRow, _ decoder: JSONDecoder) -> RequestRecord {
        var r = RequestRecord()
        r.id = UInt64(bitPattern: s.int64(1))
        r.timeMillis = UInt64(clamping: s.int64(2))
        r.tokenID = s.optionalInt(3)
        r.channelID = s.optionalInt(4)
        r.channelName = s.optionalText(5)
        r.keyIndex = s.optionalInt(6)
        r.protocolName = s.text(7)
        r.path = s.text(8)
        r.requestedModel = s.text(9)
        r.upstreamModel = s.text(10)
        r.stream = s.bool(11)
        r.status = s.int(12)
        r.attempts = (try? decoder.decode([AttemptNote].self, from: Data(s.text(13).utf8))) ?? []
        r.ttfbMicros = s.optionalInt64(14).map { UInt64(clamping: $0) }
        r.durationMicros = UInt64(clamping: s.int64(15))
        r.inputTokens = s.int(16)
        r.outputTokens = s.int(17)
        r.cacheReadTokens = s.int(18)
        r.cacheWrite5mTokens = s.int(19)
        r.cacheWrite1hTokens = s.int(20)
        r.usageKnown = s.bool(21)
        r.costMicroUSD = s.int64(22)
        r.priced = s.bool(23)
        r.clientAddress = s.text(24)
        r.userAgent = s.text(25)
        r.error = s.optionalText(26)
        r.requestID = s.optionalText(27).flatMap(RequestID.init(text:)) ?? RequestID()
        r.userID = s.optionalInt(28)
        r.groupID = s.optionalInt(29)
        return r
    }

    /// Logged requests in total (admin metrics; a full count, not for hot paths).
    public func logCount() throws -> Int64 {
        try snapshot {
            let pending = db.dialect == .sqlite ? try db.scalarInt("SELECT COALESCE(SUM(rows), 0) FROM request_log_pending") ?? 0 : 0
            return try (db.scalarInt("SELECT count(*) FROM request_logs") ?? 0) + pending
        }
    }

    // MARK: statistics

    static let sumColumns = Array(Schema.valueColumns.prefix(16))

    static func totals(_ s: any SQLStatement, from c: Int32) -> StatsTotals {
        var t = StatsTotals()
        t.requests = s.int64(c)
        t.successes = s.int64(c + 1)
        t.errors4xx = s.int64(c + 2)
        t.errors5xx = s.int64(c + 3)
        t.errorsOther = s.int64(c + 4)
        t.rateLimited = s.int64(c + 5)
        t.failovers = s.int64(c + 6)
        t.inputTokens = s.int64(c + 7)
        t.outputTokens = s.int64(c + 8)
        t.cacheReadTokens = s.int64(c + 9)
        t.cacheWrite5mTokens = s.int64(c + 10)
        t.cacheWrite1hTokens = s.int64(c + 11)
        t.costMicroUSD = s.int64(c + 12)
        t.durationSumMicros = s.int64(c + 13)
        t.ttfbCount = s.int64(c + 14)
        t.ttfbSumMicros = s.int64(c + 15)
        return t
    }

    /// Where a statistics query reads from: `stats_rollup` when at most one dimension is
    /// involved (a few short rows per hour), else `stats_hourly` (every combination).
    struct Source {
        var table: String
        var whereSQL: String
        var args: [SQLValue]
        var keyColumn: String?
    }

    static func source(from: UInt64, to: UInt64, grouping: StatsGrouping, channelID: Int?, model: String?,
                       tokenID: Int?) -> Source {
        let limit = UInt64(Int64.max) - hour
        let f = min(from, limit), t = min(to, limit)
        let range: [SQLValue] = [.int(Int64(f / hour * hour)), .int(Int64((t + hour - 1) / hour * hour))]
        var filters: [(dim: String, column: String, key: String, value: SQLValue)] = []
        if let c = channelID { filters.append(("channel", "channel_id", String(c), .int(Int64(c)))) }
        if let m = model { filters.append(("model", "model", m, .text(m))) }
        if let t = tokenID { filters.append(("token", "token_id", String(t), .int(Int64(t)))) }
        let gdim = grouping == .all ? nil : grouping.rawValue
        if filters.isEmpty {
            // For everything, `key = ''` lets the primary key serve the hour range.
            return Source(table: "stats_rollup", whereSQL: gdim == nil ? "dim = 'all' AND key = '' AND hour_ms >= ? AND hour_ms < ?"
                            : "dim = '\(gdim!)' AND hour_ms >= ? AND hour_ms < ?",
                          args: range, keyColumn: gdim == nil ? nil : "key")
        }
        if filters.count == 1 && (gdim == nil || gdim == filters[0].dim) {
            return Source(table: "stats_rollup", whereSQL: "dim = ? AND key = ? AND hour_ms >= ? AND hour_ms < ?",
                          args: [.text(filters[0].dim), .text(filters[0].key)] + range, keyColumn: gdim == nil ? nil : "key")
        }
        var clauses = ["hour_ms >= ?", "hour_ms < ?"]
        var args = range
        for f in filters {
            clauses.append("\(f.column) = ?")
            args.append(f.value)
        }
        return Source(table: "stats_hourly", whereSQL: clauses.joined(separator: " AND "), args: args,
                      keyColumn: grouping.column)
    }

    /// Statistics per channel, model, token, user or group (these two without a filter) for the hours overlapping [from, to), from
    /// the hourly aggregates. Sorted by requests, most first. Keys: a channel or token id
    /// as text (0 = none), a model name, or "" for `.all`.
    public func stats(fromMillis: UInt64, toMillis: UInt64, by grouping: StatsGrouping,
                      channelID: Int? = nil, model: String? = nil, tokenID: Int? = nil) throws -> [StatsRow] {
        if grouping.column == nil && grouping != .all && (channelID != nil || model != nil || tokenID != nil) {
            // Only the rollups know users and groups, one dimension at a time.
            throw StoreError(.invalid, "statistics by \(grouping.rawValue) take no channel, model or token filter")
        }
        let src = Self.source(from: fromMillis, to: toMillis, grouping: grouping, channelID: channelID, model: model, tokenID: tokenID)
        let key = src.keyColumn ?? "''"
        let sums = Schema.valueColumns.map { "SUM(\($0))" }.joined(separator: ", ")
        let group = src.keyColumn.map { " GROUP BY \($0)" } ?? ""
        let s = try db.cached("SELECT \(key), \(sums) FROM \(src.table) WHERE \(src.whereSQL)\(group)")
        try s.bind(src.args)
        defer { s.reset() }
        var out: [StatsRow] = []
        let h0 = Int32(1 + Self.sumColumns.count)
        while try s.step() {
            let t = Self.totals(s, from: 1)
            if t.requests == 0 { continue }
            let hist = (0..<TTFBBuckets.count).map { s.int64(h0 + Int32($0)) }
            out.append(StatsRow(key: s.text(0), totals: t, ttfbP50Micros: TTFBBuckets.quantile(0.5, hist),
                                ttfbP95Micros: TTFBBuckets.quantile(0.95, hist), ttfbBuckets: hist))
        }
        out.sort { $0.totals.requests > $1.totals.requests }
        return out
    }

    // MARK: usage

    /// The sums a usage row reads from `stats_rollup`, in `usage`'s column order.
    static let usageSums = "requests, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_micro"

    /// Usage per `q.by` key and `q.period` bucket (local days and months of `calendar`) for
    /// the hours overlapping [from, to), sorted by bucket, then most requests, then key.
    /// Hour rows come from `stats_rollup`, or, for one user or token, from the request log
    /// summed per hour (its rows since the first one of the range, by the user's or token's
    /// index), and are folded into buckets here (`UsageBuckets`).
    public func usage(_ q: UsageQuery, calendar: LocalCalendar) throws -> [UsageRow] {
        guard let column = q.by.logColumn else { throw StoreError(.invalid, "usage is grouped by user, token, channel, group or model") }
        let limit = UInt64(Int64.max) - Self.hour
        let from = min(q.fromMillis, limit) / Self.hour * Self.hour
        let to = (min(q.toMillis, limit) + Self.hour - 1) / Self.hour * Self.hour
        struct Cell: Hashable { var bucket: UInt64; var key: String }
        var buckets = UsageBuckets(period: q.period, calendar: calendar)
        var cells: [Cell: StatsTotals] = [:]
        func add(_ key: String, hour: UInt64, _ t: StatsTotals) throws {
            if t.requests == 0 { return }
            let cell = Cell(bucket: buckets.start(ofHour: hour), key: key)
            if var sum = cells[cell] {
                sum.add(usage: t)
                cells[cell] = sum
            } else {
                if cells.count >= q.maxRows {
                    throw StoreError(.invalid, "the usage has more than \(q.maxRows) rows: ask for a shorter range or a longer period")
                }
                cells[cell] = t
            }
        }
        /// Five token counts from column `c` on, and the cost in column `cost` (c + 5 in the SELECTs).
        func totals(_ s: some SQLRow, requests: Int64, from c: Int32, cost: Int32? = nil) -> StatsTotals {
            var t = StatsTotals()
            t.requests = requests
            t.inputTokens = s.int64(c)
            t.outputTokens = s.int64(c + 1)
            t.cacheReadTokens = s.int64(c + 2)
            t.cacheWrite5mTokens = s.int64(c + 3)
            t.cacheWrite1hTokens = s.int64(c + 4)
            t.costMicroUSD = s.int64(cost ?? c + 5)
            return t
        }
        if q.scoped {
            try snapshot {
                // Every row of the range has an id at least the first one's: the id range keeps
                // the scan within the user's (token's) index entries from there on.
                let first = try db.cached("SELECT MIN(id) FROM request_logs WHERE time_ms >= ?")
                try first.bind([.int(Int64(from))])
                let firstID: Int64? = try first.step() && !first.isNull(0) ? first.int64(0) : nil
                first.reset()
                if let firstID {
                    var clauses: [String] = []
                    var args: [SQLValue] = []
                    if let u = q.userID { clauses.append("user_id = ?"); args.append(.int(Int64(u))) }
                    if let t = q.tokenID { clauses.append("token_id = ?"); args.append(.int(Int64(t))) }
                    args += [.int(firstID), .int(Int64(from)), .int(Int64(to))]
                    let s = try db.cached("""
                        SELECT COALESCE(CAST(\(column) AS TEXT), '0'), time_ms / 3600000 * 3600000, count(*), SUM(input_tokens),
                            SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cost_micro)
                        FROM request_logs WHERE \(clauses.joined(separator: " AND ")) AND id >= ? AND +time_ms >= ? AND +time_ms < ?
                        GROUP BY 1, 2
                        """)
                    try s.bind(args)
                    defer { s.reset() }
                    while try s.step() {
                        try add(s.text(0), hour: UInt64(clamping: s.int64(1)), totals(s, requests: s.int64(2), from: 3))
                    }
                }
                // The pending segments' rows, one at a time (the same sums), through the log
                // search's filter.
                typealias C = LogRows.Column
                let key = Int32(LogRows.columnIndex[column]! + 1)
                let filter = LogQuery(fromMillis: from, toMillis: to, tokenID: q.tokenID, userID: q.userID)
                try forEachPending(before: nil, from: from, to: to) { rows, firstID in
                    for k in 0..<rows.rows where Self.matches(filter, rows, k) {
                        let row = rows.row(k, id: firstID + Int64(k))
                        try add(row.isNull(key) ? "0" : row.text(key), hour: UInt64(clamping: row.int64(2)) / Self.hour * Self.hour,
                                totals(row, requests: 1, from: Int32(C.inputTokens + 1), cost: Int32(C.cost + 1)))
                    }
                    return true
                }
            }
        } else {
            let s = try db.cached("SELECT key, hour_ms, \(Self.usageSums) FROM stats_rollup WHERE dim = ? AND hour_ms >= ? AND hour_ms < ?")
            try s.bind([.text(q.by.rawValue), .int(Int64(from)), .int(Int64(to))])
            defer { s.reset() }
            while try s.step() {
                try add(s.text(0), hour: UInt64(clamping: s.int64(1)), totals(s, requests: s.int64(2), from: 3))
            }
        }
        return cells.map { UsageRow(bucketMillis: $0.key.bucket, key: $0.key.key, totals: $0.value) }.sorted {
            if $0.bucketMillis != $1.bucketMillis { return $0.bucketMillis < $1.bucketMillis }
            if $0.totals.requests != $1.totals.requests { return $0.totals.requests > $1.totals.requests }
            return $0.key < $1.key
        }
    }

    /// Hourly points for the `range` hours ending with the hour that holds `endMillis`,
    /// every hour present (zeros where nothing happened). From `stats_hourly` only.
    public func trend(_ range: TrendRange, endMillis: UInt64, channelID: Int? = nil, model: String? = nil,
                      tokenID: Int? = nil) throws -> [TrendPoint] {
        let h = Self.hour
        let lastHour = min(endMillis, UInt64(Int64.max) - 2 * h) / h * h
        let span = UInt64(range.hours - 1) * h
        let firstHour = lastHour >= span ? lastHour - span : 0
        let src = Self.source(from: firstHour, to: lastHour + h, grouping: .all, channelID: channelID, model: model, tokenID: tokenID)
        let sums = Schema.valueColumns.map { "SUM(\($0))" }.joined(separator: ", ")
        let s = try db.cached("SELECT hour_ms, \(sums) FROM \(src.table) WHERE \(src.whereSQL) GROUP BY hour_ms ORDER BY hour_ms")
        try s.bind(src.args)
        defer { s.reset() }
        let count = Int((lastHour - firstHour) / h) + 1
        var points = (0..<count).map { TrendPoint(hourMillis: firstHour + UInt64($0) * h, totals: StatsTotals()) }
        while try s.step() {
            let hr = UInt64(s.int64(0))
            let i = Int((hr - firstHour) / h)
            if i >= 0 && i < points.count {
                points[i].totals = Self.totals(s, from: 1)
                let h0 = Int32(1 + Self.sumColumns.count)
                let hist = (0..<TTFBBuckets.count).map { s.int64(h0 + Int32($0)) }
                points[i].ttfbP50Micros = TTFBBuckets.quantile(0.5, hist)
                points[i].ttfbP95Micros = TTFBBuckets.quantile(0.95, hist)
            }
        }
        return points
    }
}
