import Reactor

/// One upstream try within a request, as the record keeps it.
public struct AttemptNote: Sendable, Codable, Equatable {
    public var channelID: Int
    public var keyIndex: Int
    /// The upstream status, or 0 when there was none (connection failure, timeout).
    public var status: Int
    /// The failure class (`auth`, `rate_limit`, `server`, `timeout`, `connection`,
    /// `model`, …), or nil for the try that answered.
    public var failure: String?

    public init(channelID: Int, keyIndex: Int, status: Int, failure: String?) {
        self.channelID = channelID
        self.keyIndex = keyIndex
        self.status = status
        self.failure = failure
    }
}

/// Everything recorded about one request. Keys appear only as their index.
public struct RequestRecord: Sendable, Codable {
    /// The in-memory ring's id (from 1 each run), also stored as `request_logs.request_id`.
    public var id: UInt64 = 0
    /// The answer's `x-request-id` (the client's own or ccload's).
    public var requestID = RequestID()
    /// Wall-clock milliseconds since the epoch when the request arrived.
    public var timeMillis: UInt64 = 0
    public var tokenID: Int?
    /// The token's owner (`ClientToken.ownerUserID`) and group when the request came in;
    /// nil for the admin's tokens, tokens in no group, and requests without a token.
    public var userID: Int?
    public var groupID: Int?
    public var channelID: Int?
    public var channelName: String?
    public var keyIndex: Int?
    public var protocolName: String = ""
    public var path: String = ""
    public var requestedModel: String = ""
    public var upstreamModel: String = ""
    public var stream = false
    public var status = 0
    public var attempts: [AttemptNote] = []
    public var ttfbMicros: UInt64?
    public var durationMicros: UInt64 = 0
    public var inputTokens = 0
    public var outputTokens = 0
    public var cacheReadTokens = 0
    public var cacheWrite5mTokens = 0
    public var cacheWrite1hTokens = 0
    /// Whether the usage figures were found in the response.
    public var usageKnown = false
    public var costMicroUSD: Int64 = 0
    /// False when the model had no price (tokens kept, cost 0).
    public var priced = true
    public var clientAddress = ""
    public var userAgent = ""
    /// What went wrong, without secrets.
    public var error: String?

    public init() {}
}
