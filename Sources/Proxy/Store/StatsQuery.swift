// What a statistics query answers (`StoreReader.stats`, `StoreReader.trend`).

/// Sums over hours (one group, one trend point, or a whole range).
public struct StatsTotals: Sendable, Equatable {
    public var requests: Int64 = 0
    public var successes: Int64 = 0
    public var errors4xx: Int64 = 0
    public var errors5xx: Int64 = 0
    /// No response (status 0) and other statuses.
    public var errorsOther: Int64 = 0
    public var rateLimited: Int64 = 0
    /// Tries beyond the first (fail-overs).
    public var failovers: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cacheReadTokens: Int64 = 0
    public var cacheWrite5mTokens: Int64 = 0
    public var cacheWrite1hTokens: Int64 = 0
    public var costMicroUSD: Int64 = 0
    public var durationSumMicros: Int64 = 0
    public var ttfbCount: Int64 = 0
    public var ttfbSumMicros: Int64 = 0

    public init() {}

    public var ttfbMeanMicros: UInt64? { ttfbCount > 0 ? UInt64(ttfbSumMicros / ttfbCount) : nil }

    /// The cache hit rate: `cacheRead / (input + cacheRead + cacheWrite5m + cacheWrite1h)`,
    /// the share of all input tokens read from the upstream's prompt cache (`input` is the
    /// uncached input, as every protocol's usage is normalised to); nil with no input.
    public var cacheHitRate: Double? {
        Self.cacheHitRate(input: inputTokens, cacheRead: cacheReadTokens, cacheWrite: Saturating.add(cacheWrite5mTokens, cacheWrite1hTokens))
    }

    /// The one definition of the cache hit rate (see `cacheHitRate`), for sums and for one
    /// request's counts alike.
    public static func cacheHitRate(input: Int64, cacheRead: Int64, cacheWrite: Int64) -> Double? {
        let all = Saturating.add(Saturating.add(max(input, 0), max(cacheRead, 0)), max(cacheWrite, 0))
        guard all > 0 else { return nil }
        return Double(max(cacheRead, 0)) / Double(all)
    }

    /// Adds what a usage row sums (requests, token counts, cost), saturating.
    public mutating func add(usage o: StatsTotals) {
        requests = Saturating.add(requests, o.requests)
        inputTokens = Saturating.add(inputTokens, o.inputTokens)
        outputTokens = Saturating.add(outputTokens, o.outputTokens)
        cacheReadTokens = Saturating.add(cacheReadTokens, o.cacheReadTokens)
        cacheWrite5mTokens = Saturating.add(cacheWrite5mTokens, o.cacheWrite5mTokens)
        cacheWrite1hTokens = Saturating.add(cacheWrite1hTokens, o.cacheWrite1hTokens)
        costMicroUSD = Saturating.add(costMicroUSD, o.costMicroUSD)
    }
}

/// What statistics are grouped by.
public enum StatsGrouping: String, Sendable, CaseIterable {
    case channel, model, token
    /// The token's owner and group (`stats_rollup` only: `stats_hourly` has neither).
    case user, group
    /// One row for everything.
    case all

    /// The `stats_hourly` column (nil: none there).
    var column: String? {
        switch self {
        case .channel: return "channel_id"
        case .model: return "model"
        case .token: return "token_id"
        case .user, .group, .all: return nil
        }
    }

    /// The `request_logs` column.
    var logColumn: String? {
        switch self {
        case .channel: return "channel_id"
        case .model: return "requested_model"
        case .token: return "token_id"
        case .user: return "user_id"
        case .group: return "group_id"
        case .all: return nil
        }
    }
}

/// One group's statistics over a range.
public struct StatsRow: Sendable {
    /// The group: a channel id or token id (0 = none) as text, a model name, or "" for `.all`.
    public var key: String
    public var totals: StatsTotals
    public var ttfbP50Micros: UInt64?
    public var ttfbP95Micros: UInt64?
    /// The TTFB histogram (see `TTFBBuckets`).
    public var ttfbBuckets: [Int64]
}

/// One hour of a trend.
public struct TrendPoint: Sendable {
    public var hourMillis: UInt64
    public var totals: StatsTotals
    /// From the hour's time-to-first-byte histogram; nil when the hour has none.
    public var ttfbP50Micros: UInt64?
    public var ttfbP95Micros: UInt64?

    public init(hourMillis: UInt64, totals: StatsTotals, ttfbP50Micros: UInt64? = nil, ttfbP95Micros: UInt64? = nil) {
        self.hourMillis = hourMillis
        self.totals = totals
        self.ttfbP50Micros = ttfbP50Micros
        self.ttfbP95Micros = ttfbP95Micros
    }
}

/// Trend windows.
public enum TrendRange: Sendable {
    case day, week, month
    case hours(Int)

    public var hours: Int {
        switch self {
        case .day: return 24
        case .week: return 168
        case .month: return 720
        case .hours(let h): return max(1, h)
        }
    }
}
