import Foundation
import Proxy
import Reactor

/// `GET /admin/logs`, `/admin/stats` (by channel, model, token, user or group), `/admin/trends`: answered from the store's reader
/// threads (never on the loop), with names resolved from the configuration.
enum AdminQueries {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/logs", .admin, logs),
        AdminRoute("GET", "/admin/stats", .admin, stats),
        AdminRoute("GET", "/admin/trends", .admin, trends),
    ]

    static let hourMillis: UInt64 = 3_600_000

    // MARK: logs

    struct AttemptView: Encodable, Sendable {
        let channelId: Int, keyIndex: Int, status: Int, failure: OrNull<String>
    }

    /// One logged request (key indexes only, never a key).
    struct LogView: Encodable, Sendable {
        let id: Int64
        let timeMs: UInt64
        let tokenId: OrNull<Int>
        let tokenName: OrNull<String>
        let channelId: OrNull<Int>
        let channelName: OrNull<String>
        let keyIndex: OrNull<Int>
        let `protocol`: String
        let path: String
        let model: String
        let upstreamModel: String
        let stream: Bool
        let status: Int
        let ttfbMs: OrNull<Double>
        let durationMs: Double
        let inputTokens: Int, outputTokens: Int, cacheReadTokens: Int, cacheWriteTokens: Int
        let cacheWrite5mTokens: Int, cacheWrite1hTokens: Int
        /// `StatsTotals.cacheHitRate` of this request's counts; null with no input tokens.
        let cacheHitRate: OrNull<Double>
        let usageKnown: Bool
        let costUsd: Double
        let priced: Bool
        let error: OrNull<String>
        let attempts: [AttemptView]
        let client: String
        let userAgent: String
        let requestId: OrNull<String>

        enum CodingKeys: String, CodingKey {
            case id, timeMs, tokenId, tokenName, channelId, channelName, keyIndex, `protocol`, path, model, upstreamModel
            case stream, status, ttfbMs, durationMs, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens
            case cacheWrite5mTokens = "cache_write_5m_tokens", cacheWrite1hTokens = "cache_write_1h_tokens"
            case cacheHitRate, usageKnown, costUsd, priced, error, attempts, client, userAgent, requestId
        }

        init(_ e: LogEntry, tokenNames: [Int: String]) {
            let r = e.record
            id = e.id
            timeMs = r.timeMillis
            tokenId = OrNull(r.tokenID)
            tokenName = OrNull(r.tokenID.flatMap { tokenNames[$0] })
            channelId = OrNull(r.channelID)
            channelName = OrNull(r.channelName)
            keyIndex = OrNull(r.keyIndex)
            self.protocol = r.protocolName
            path = r.path
            model = r.requestedModel
            upstreamModel = r.upstreamModel
            stream = r.stream
            status = r.status
            ttfbMs = OrNull(r.ttfbMicros.map(AdminQueries.millis))
            durationMs = AdminQueries.millis(r.durationMicros)
            inputTokens = r.inputTokens
            outputTokens = r.outputTokens
            cacheReadTokens = r.cacheReadTokens
            cacheWriteTokens = Saturating.add(r.cacheWrite5mTokens, r.cacheWrite1hTokens)
            cacheWrite5mTokens = r.cacheWrite5mTokens
            cacheWrite1hTokens = r.cacheWrite1hTokens
            cacheHitRate = OrNull(StatsTotals.cacheHitRate(input: Int64(r.inputTokens), cacheRead: Int64(r.cacheReadTokens),
                                                           cacheWrite: Int64(cacheWriteTokens)))
            usageKnown = r.usageKnown
            costUsd = AdminQueries.usd(r.costMicroUSD)
            priced = r.priced
            error = OrNull(r.error)
            attempts = r.attempts.map { AttemptView(channelId: $0.channelID, keyIndex: $0.keyIndex, status: $0.status, failure: OrNull($0.failure)) }
            client = r.clientAddress
            userAgent = r.userAgent
            requestId = OrNull(r.requestID.isEmpty ? nil : r.requestID.description)
        }
    }

    struct LogPageView: Encodable, Sendable {
        let data: [LogView]
        /// null on the last page.
        let nextBeforeId: OrNull<Int64>
    }

    static func logs(_ call: AdminCall) {
        let q: LogQuery
        do { q = try logQuery(call) } catch { return call.fail(error) }
        let query = q
        call.readingJSON { reader in
            let page = try reader.logs(query)
            let names = try tokenNames(reader)
            return LogPageView(data: page.entries.map { LogView($0, tokenNames: names) }, nextBeforeId: OrNull(page.nextBeforeID))
        }
    }

    /// The log filters of `/admin/logs` and `/admin/logs.csv`.
    static func logQuery(_ call: AdminCall) throws(AdminError) -> LogQuery {
        var q = LogQuery()
        (q.fromMillis, q.toMillis) = try window(call, defaultSpan: nil)
        q.channelID = try call.queryInt("channel_id", in: 0...Int.max)
        q.tokenID = try call.queryInt("token_id", in: 0...Int.max)
        q.userID = try call.queryInt("user_id", in: 0...Int.max)
        q.beforeID = try call.queryInt("before_id", in: 1...Int.max).map { Int64($0) }
        q.limit = try call.queryInt("limit", in: 1...500) ?? 100
        q.model = try model(call)
        if let raw = call.query["request_id"], !raw.isEmpty {
            guard RequestID(text: raw) != nil else {
                throw AdminError.invalid("request_id", "request_id must be 1 to \(RequestID.maxLength) letters, digits or -_.:+/=~")
            }
            q.requestID = raw
        }
        if let raw = call.query["status_class"], !raw.isEmpty {
            guard let c = StatusClass(rawValue: raw) else {
                throw AdminError.invalid("status_class", "status_class must be one of 2xx, 4xx, 5xx, 429, other, not \(raw)")
            }
            q.statusClass = c
        }
        return q
    }

    // MARK: stats

    /// `Stats` of the API: sums over a range, with TTFB percentiles when known.
    struct StatsView: Encodable, Sendable {
        let requests: Int64, successes: Int64, errors4xx: Int64, errors5xx: Int64, errorsOther: Int64
        let rateLimited: Int64, failovers: Int64
        let inputTokens: Int64, outputTokens: Int64, cacheReadTokens: Int64, cacheWriteTokens: Int64
        let costUsd: Double
        let ttfbP50Ms: OrNull<Double>, ttfbP95Ms: OrNull<Double>, ttfbMeanMs: OrNull<Double>
        let successRate: OrNull<Double>
        let cacheHitRate: OrNull<Double>

        init(_ t: StatsTotals, p50: UInt64? = nil, p95: UInt64? = nil) {
            requests = t.requests
            successes = t.successes
            errors4xx = t.errors4xx
            errors5xx = t.errors5xx
            errorsOther = t.errorsOther
            rateLimited = t.rateLimited
            failovers = t.failovers
            inputTokens = t.inputTokens
            outputTokens = t.outputTokens
            cacheReadTokens = t.cacheReadTokens
            cacheWriteTokens = Saturating.add(t.cacheWrite5mTokens, t.cacheWrite1hTokens)
            costUsd = AdminQueries.usd(t.costMicroUSD)
            ttfbP50Ms = OrNull(p50.map(AdminQueries.millis))
            ttfbP95Ms = OrNull(p95.map(AdminQueries.millis))
            ttfbMeanMs = OrNull(t.ttfbMeanMicros.map(AdminQueries.millis))
            successRate = OrNull(t.requests > 0 ? Double(t.successes) / Double(t.requests) : nil)
            cacheHitRate = OrNull(t.cacheHitRate)
        }

        init(_ row: StatsRow?) {
            self.init(row?.totals ?? StatsTotals(), p50: row?.ttfbP50Micros, p95: row?.ttfbP95Micros)
        }

        enum CodingKeys: String, CodingKey {
            case requests, successes, errors4xx = "errors_4xx", errors5xx = "errors_5xx", errorsOther = "errors_other"
            case rateLimited = "rate_limited", failovers, inputTokens = "input_tokens", outputTokens = "output_tokens"
            case cacheReadTokens = "cache_read_tokens", cacheWriteTokens = "cache_write_tokens", costUsd = "cost_usd"
            case ttfbP50Ms = "ttfb_p50_ms", ttfbP95Ms = "ttfb_p95_ms", ttfbMeanMs = "ttfb_mean_ms", successRate = "success_rate"
            case cacheHitRate = "cache_hit_rate"
        }
    }

    /// A group's row: `{"key","name", …Stats}`.
    struct GroupView: Encodable, Sendable {
        let key: String
        let name: OrNull<String>
        let stats: StatsView

        enum CodingKeys: String, CodingKey { case key, name }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(key, forKey: .key)
            try c.encode(name, forKey: .name)
            try stats.encode(to: encoder)
        }
    }

    struct StatsReply: Encodable, Sendable {
        let by: String
        let fromMs: UInt64, toMs: UInt64
        let data: [GroupView]
        let totals: StatsView
    }

    static func stats(_ call: AdminCall) {
        let grouping: StatsGrouping
        let from: UInt64, to: UInt64
        do throws(AdminError) {
            let raw = call.query["by"].flatMap { $0.isEmpty ? nil : $0 } ?? "channel"
            guard let g = StatsGrouping(rawValue: raw), g != .all else {
                throw AdminError.invalid("by", "by must be channel, model, token, user or group, not \(raw)")
            }
            grouping = g
            let w = try window(call, defaultSpan: 24 * hourMillis)
            (from, to) = (w.0!, w.1!)
        } catch {
            return call.fail(error)
        }
        call.readingJSON { reader in
            let rows = try reader.stats(fromMillis: from, toMillis: to, by: grouping)
            let all = try reader.stats(fromMillis: from, toMillis: to, by: .all).first
            let names: [Int: String]
            switch grouping {
            case .channel: names = Dictionary(try reader.store.channels().map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            case .token: names = try tokenNames(reader)
            case .user: names = Dictionary(try reader.store.users().map { ($0.id, $0.username) }, uniquingKeysWith: { a, _ in a })
            case .group: names = Dictionary(try reader.store.groups().map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            default: names = [:]
            }
            let data = rows.map { row -> GroupView in
                let name = grouping == .model ? row.key : Int(row.key).flatMap { names[$0] }
                return GroupView(key: row.key, name: OrNull(name), stats: StatsView(row))
            }
            return StatsReply(by: grouping.rawValue, fromMs: from, toMs: to, data: data, totals: StatsView(all))
        }
    }

    // MARK: trends

    /// One hour of a trend: `{"hour_ms", …Stats}`, percentiles from the hour's histogram.
    struct TrendPointView: Encodable, Sendable {
        let hourMs: UInt64
        let stats: StatsView

        enum CodingKeys: String, CodingKey { case hourMs = "hour_ms" }

        init(_ p: TrendPoint) {
            hourMs = p.hourMillis
            stats = StatsView(p.totals, p50: p.ttfbP50Micros, p95: p.ttfbP95Micros)
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(hourMs, forKey: .hourMs)
            try stats.encode(to: encoder)
        }
    }

    struct TrendReply: Encodable, Sendable {
        let range: String
        let bucketMs: UInt64
        let data: [TrendPointView]
    }

    static func trends(_ call: AdminCall) {
        let range: (String, TrendRange)
        let channelID: Int?, tokenID: Int?, model: String?
        do throws(AdminError) {
            range = try trendRange(call)
            channelID = try call.queryInt("channel_id", in: 0...Int.max)
            tokenID = try call.queryInt("token_id", in: 0...Int.max)
            model = try Self.model(call)
        } catch {
            return call.fail(error)
        }
        let now = wallClockMillis()
        call.readingJSON { reader in
            let points = try reader.trend(range.1, endMillis: now, channelID: channelID, model: model, tokenID: tokenID)
            return TrendReply(range: range.0, bucketMs: hourMillis, data: points.map(TrendPointView.init))
        }
    }

    // MARK: parameters

    /// `range=24h|7d|30d` (default 24h).
    static func trendRange(_ call: AdminCall) throws(AdminError) -> (String, TrendRange) {
        switch call.query["range"] ?? "" {
        case "", "24h": return ("24h", .day)
        case "7d": return ("7d", .week)
        case "30d": return ("30d", .month)
        case let other: throw AdminError.invalid("range", "range must be 24h, 7d or 30d, not \(other)")
        }
    }

    /// `from_ms` and `to_ms` (milliseconds since the epoch); with `defaultSpan`, a missing
    /// end is now and a missing start `defaultSpan` before the end.
    static func window(_ call: AdminCall, defaultSpan: UInt64?) throws(AdminError) -> (UInt64?, UInt64?) {
        var from = try call.queryInt("from_ms", in: 0...Int.max).map { UInt64($0) }
        var to = try call.queryInt("to_ms", in: 0...Int.max).map { UInt64($0) }
        if let f = from, let t = to, f > t {
            throw AdminError.invalid("from_ms", "from_ms (\(f)) must not be after to_ms (\(t))")
        }
        if let span = defaultSpan {
            let end = to ?? wallClockMillis()
            to = end
            if from == nil { from = end > span ? end - span : 0 }
        }
        return (from, to)
    }

    static func model(_ call: AdminCall) throws(AdminError) -> String? {
        guard let m = call.query["model"], !m.isEmpty else { return nil }
        if m.utf8.count > 256 { throw AdminError.invalid("model", "model is too long") }
        return m
    }

    static func tokenNames(_ reader: StoreReader) throws -> [Int: String] {
        Dictionary(try reader.store.tokens().map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
    }

    static func millis(_ micros: UInt64) -> Double { Double(micros) / 1000 }
    static func usd(_ micro: Int64) -> Double { Double(micro) / 1_000_000 }
}
