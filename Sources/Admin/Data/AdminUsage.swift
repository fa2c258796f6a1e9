import Foundation
import Proxy
import Reactor

/// `GET /admin/usage` and `/admin/usage.csv`: requests, tokens (cache reads, 5-minute and
/// 1-hour cache writes apart) and cost per user, token, channel, group or model, by hour,
/// local day or local month (`CCLOAD_TZ`). An admin sees everything; a user only their own
/// tokens' requests (another user's user or token id answers 404, as a missing one does).
enum AdminUsage {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/usage", .user, json),
        AdminRoute("GET", "/admin/usage.csv", .user, csv),
    ]

    static let groupings: [StatsGrouping] = [.user, .token, .channel, .group, .model]

    /// One row: `{"bucket_ms","bucket","key","name", …UsageTotals}`.
    struct RowView: Encodable, Sendable {
        let bucketMs: UInt64
        let bucket: String
        let key: String
        let name: OrNull<String>
        let totals: TotalsView

        enum CodingKeys: String, CodingKey { case bucketMs = "bucket_ms", bucket, key, name }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(bucketMs, forKey: .bucketMs)
            try c.encode(bucket, forKey: .bucket)
            try c.encode(key, forKey: .key)
            try c.encode(name, forKey: .name)
            try totals.encode(to: encoder)
        }
    }

    /// `UsageTotals` of the API.
    struct TotalsView: Encodable, Sendable {
        let requests: Int64, inputTokens: Int64, outputTokens: Int64, cacheReadTokens: Int64
        let cacheWrite5mTokens: Int64, cacheWrite1hTokens: Int64
        let costUsd: Double

        init(_ t: StatsTotals) {
            requests = t.requests
            inputTokens = t.inputTokens
            outputTokens = t.outputTokens
            cacheReadTokens = t.cacheReadTokens
            cacheWrite5mTokens = t.cacheWrite5mTokens
            cacheWrite1hTokens = t.cacheWrite1hTokens
            costUsd = AdminQueries.usd(t.costMicroUSD)
        }

        enum CodingKeys: String, CodingKey {
            case requests, inputTokens = "input_tokens", outputTokens = "output_tokens", cacheReadTokens = "cache_read_tokens"
            case cacheWrite5mTokens = "cache_write_5m_tokens", cacheWrite1hTokens = "cache_write_1h_tokens", costUsd = "cost_usd"
        }
    }

    struct Reply: Encodable, Sendable {
        let by: String
        let period: String
        let timeZone: String
        let fromMs: UInt64, toMs: UInt64
        let data: [RowView]
        let totals: TotalsView
    }

    /// The query the call asks for, scoped to the caller: a user's is always theirs.
    static func query(_ call: AdminCall) throws(AdminError) -> UsageQuery {
        let rawBy = call.query["by"].flatMap { $0.isEmpty ? nil : $0 } ?? "user"
        guard let by = StatsGrouping(rawValue: rawBy), groupings.contains(by) else {
            throw AdminError.invalid("by", "by must be user, token, channel, group or model, not \(rawBy)")
        }
        let rawPeriod = call.query["period"].flatMap { $0.isEmpty ? nil : $0 } ?? "day"
        guard let period = UsagePeriod(rawValue: rawPeriod) else {
            throw AdminError.invalid("period", "period must be hour, day or month, not \(rawPeriod)")
        }
        let w = try AdminQueries.window(call, defaultSpan: period.defaultSpanMillis)
        let (from, to) = (w.0!, w.1!)
        if to - from > period.maxSpanMillis {
            throw AdminError.invalid("from_ms", "a \(period.rawValue) usage covers at most \(period.maxSpanMillis / 86_400_000) days")
        }
        var q = UsageQuery(by: by, period: period, fromMillis: from, toMillis: to)
        q.userID = try call.queryInt("user_id", in: 0...Int.max)
        q.tokenID = try call.queryInt("token_id", in: 0...Int.max)
        let caller = call.caller
        if !caller.isAdmin {
            let me = caller.userID ?? 0
            if let u = q.userID, u != me { throw AdminError.notFound("user \(u) does not exist") }
            q.userID = me
        }
        return q
    }

    /// The rows and the names of their keys, as the caller may see them.
    struct Answer: Sendable {
        var rows: [UsageRow]
        var names: [String: String]
        var calendar: LocalCalendar
        var query: UsageQuery
    }

    /// Runs the query on a reader thread: a user's token filter must name their own token
    /// (404 otherwise), and names come only from what the caller may see.
    static func result(_ reader: StoreReader, _ q: UsageQuery, caller: SessionUser, calendar: LocalCalendar) throws -> Answer {
        if let t = q.tokenID, !caller.isAdmin {
            _ = try AdminTokens.existing(reader.store, t, for: caller)
        }
        let rows = try reader.usage(q, calendar: calendar)
        var names: [String: String] = [:]
        switch q.by {
        case .user:
            for u in try reader.store.users() where caller.isAdmin || u.id == caller.userID { names[String(u.id)] = u.username }
        case .token:
            let tokens = try caller.isAdmin ? reader.store.tokens() : reader.store.tokens(ownerUserID: caller.userID ?? 0)
            for t in tokens { names[String(t.id)] = t.name }
        case .channel:
            for c in try reader.store.channels() { names[String(c.id)] = c.name }
        case .group:
            for g in try reader.store.groups() { names[String(g.id)] = g.name }
        default:
            break
        }
        return Answer(rows: rows, names: names, calendar: calendar, query: q)
    }

    static func name(_ r: Answer, _ key: String) -> String? { r.query.by == .model ? key : r.names[key] }

    static func json(_ call: AdminCall) {
        let q: UsageQuery
        do { q = try query(call) } catch { return call.fail(error) }
        let caller = call.caller
        let calendar = call.context.shared.meters.calendar
        call.readingJSON { reader in
            let r = try result(reader, q, caller: caller, calendar: calendar)
            let buckets = UsageBuckets(period: q.period, calendar: calendar)
            var total = StatsTotals()
            let data = r.rows.map { row -> RowView in
                total.add(usage: row.totals)
                return RowView(bucketMs: row.bucketMillis, bucket: buckets.label(row.bucketMillis), key: row.key,
                               name: OrNull(name(r, row.key)), totals: TotalsView(row.totals))
            }
            return Reply(by: q.by.rawValue, period: q.period.rawValue, timeZone: calendar.zoneID, fromMs: q.fromMillis,
                         toMs: q.toMillis, data: data, totals: TotalsView(total))
        }
    }

    static let csvColumns = ["bucket", "bucket_ms", "by", "key", "name", "requests", "input_tokens", "output_tokens",
                             "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cost_usd"]

    /// The same rows as CSV (a BOM, the header, a row each; formula cells neutralised).
    static func csv(_ call: AdminCall) {
        let q: UsageQuery
        do { q = try query(call) } catch { return call.fail(error) }
        let caller = call.caller
        let calendar = call.context.shared.meters.calendar
        call.context.store.query({ reader -> Result<[UInt8], AdminError> in
            do {
                let r = try result(reader, q, caller: caller, calendar: calendar)
                let buckets = UsageBuckets(period: q.period, calendar: calendar)
                var out = CSVText.document(header: csvColumns)
                for row in r.rows {
                    let t = row.totals
                    CSVText.append(row: [buckets.label(row.bucketMillis), String(row.bucketMillis), q.by.rawValue, row.key,
                                         name(r, row.key) ?? "", String(t.requests), String(t.inputTokens), String(t.outputTokens),
                                         String(t.cacheReadTokens), String(t.cacheWrite5mTokens), String(t.cacheWrite1hTokens),
                                         String(AdminQueries.usd(t.costMicroUSD))], to: &out)
                }
                return .success(out)
            } catch {
                return .failure(AdminError(thrown: error))
            }
        }, on: call.loop) { result in
            switch result {
            case .success(let body):
                call.respond(contentType: "text/csv; charset=utf-8",
                             headers: [("Content-Disposition", "attachment; filename=\"ccload-usage-\(q.by.rawValue)-\(q.period.rawValue).csv\"")],
                             body: body)
            case .failure(let e):
                call.fail(e)
            }
        }
    }
}
