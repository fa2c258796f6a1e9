// What a usage query asks and answers (`StoreReader.usage`).

/// The buckets usage is summed in: UTC hours, or local days and months (`CCLOAD_TZ`).
public enum UsagePeriod: String, Sendable, CaseIterable {
    case hour, day, month

    static let dayMillis: UInt64 = 86_400_000

    /// The longest range one query may cover.
    public var maxSpanMillis: UInt64 {
        switch self {
        case .hour: return 31 * Self.dayMillis
        case .day: return 400 * Self.dayMillis
        case .month: return 3660 * Self.dayMillis
        }
    }

    /// The range when the query gives no start: the last day, 30 days or 365 days.
    public var defaultSpanMillis: UInt64 {
        switch self {
        case .hour: return Self.dayMillis
        case .day: return 30 * Self.dayMillis
        case .month: return 365 * Self.dayMillis
        }
    }
}

/// A usage query: the hours overlapping [from, to) summed per `by` key and bucket. With
/// `userID` or `tokenID` only that user's (token's) requests count, summed from the request
/// log (the rollups know no user within a channel or model); without, from `stats_rollup`.
public struct UsageQuery: Sendable, Equatable {
    /// `.user`, `.token`, `.channel`, `.group` or `.model`.
    public var by: StatsGrouping
    public var period: UsagePeriod
    public var fromMillis: UInt64
    public var toMillis: UInt64
    public var userID: Int?
    public var tokenID: Int?
    /// More (bucket, key) rows than this is an error (`StoreError`, kind `.invalid`: a 400).
    public var maxRows = 100_000

    public init(by: StatsGrouping, period: UsagePeriod, fromMillis: UInt64, toMillis: UInt64, userID: Int? = nil,
                tokenID: Int? = nil) {
        self.by = by
        self.period = period
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.userID = userID
        self.tokenID = tokenID
    }

    /// Whether it counts one user's or one token's requests only (from the request log).
    var scoped: Bool { userID != nil || tokenID != nil }
}

/// One key's usage in one bucket. Of `totals`, only requests, the token counts and the
/// cost are summed.
public struct UsageRow: Sendable, Equatable {
    /// The first millisecond of the bucket (an hour, a local day or a local month).
    public var bucketMillis: UInt64
    /// A user, token, channel or group id as text (0 = none), or a model name.
    public var key: String
    public var totals: StatsTotals

    public init(bucketMillis: UInt64, key: String, totals: StatsTotals) {
        self.bucketMillis = bucketMillis
        self.key = key
        self.totals = totals
    }
}
