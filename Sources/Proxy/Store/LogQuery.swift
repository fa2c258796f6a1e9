// What a log search asks and answers (`StoreReader.logs`).

/// A response status class for log filters.
public enum StatusClass: String, Sendable, CaseIterable {
    case success = "2xx"
    case clientError = "4xx"
    case serverError = "5xx"
    /// 429 only (also within `4xx`).
    case rateLimited = "429"
    /// No response (status 0), 1xx, 3xx.
    case other

    var sql: String {
        switch self {
        case .success: return "status BETWEEN 200 AND 299"
        case .clientError: return "status BETWEEN 400 AND 499"
        case .serverError: return "status BETWEEN 500 AND 599"
        case .rateLimited: return "status = 429"
        case .other: return "(status < 200 OR status BETWEEN 300 AND 399 OR status >= 600)"
        }
    }

    /// `sql` for one status (a pending segment's row; tested against `sql`).
    func matches(_ status: Int64) -> Bool {
        switch self {
        case .success: return (200...299).contains(status)
        case .clientError: return (400...499).contains(status)
        case .serverError: return (500...599).contains(status)
        case .rateLimited: return status == 429
        case .other: return status < 200 || (300...399).contains(status) || status >= 600
        }
    }
}

/// A log search. Times are wall-clock milliseconds, `to` exclusive. Results come newest
/// first; pass the page's `nextBeforeID` as `beforeID` for the next page.
public struct LogQuery: Sendable, Equatable {
    public var fromMillis: UInt64?
    public var toMillis: UInt64?
    public var channelID: Int?
    /// The model the client asked for.
    public var model: String?
    public var statusClass: StatusClass?
    public var tokenID: Int?
    /// Only the rows of this user's tokens (`request_logs.user_id`).
    public var userID: Int?
    /// The answer's `x-request-id`, exactly.
    public var requestID: String?
    public var beforeID: Int64?
    /// 1…1000.
    public var limit = 100

    public init(fromMillis: UInt64? = nil, toMillis: UInt64? = nil, channelID: Int? = nil, model: String? = nil,
                statusClass: StatusClass? = nil, tokenID: Int? = nil, userID: Int? = nil, requestID: String? = nil,
                beforeID: Int64? = nil, limit: Int = 100) {
        self.fromMillis = fromMillis
        self.toMillis = toMillis
        self.channelID = channelID
        self.model = model
        self.statusClass = statusClass
        self.tokenID = tokenID
        self.userID = userID
        self.requestID = requestID
        self.beforeID = beforeID
        self.limit = limit
    }
}

/// One logged request: its row id (the pagination key) and the record.
public struct LogEntry: Sendable {
    public var id: Int64
    public var record: RequestRecord
}

public struct LogPage: Sendable {
    public var entries: [LogEntry]
    /// The `beforeID` of the next page; nil when this page is the last.
    public var nextBeforeID: Int64?
}
