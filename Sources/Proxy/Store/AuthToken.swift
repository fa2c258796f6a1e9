/// A managed client token, as stored (the secret itself is never kept).
public struct AuthToken: Sendable, Equatable {
    public var id: Int
    public var name: String
    /// The first characters of the secret, for display.
    public var prefix: String
    /// SHA-256 of the secret.
    public var hash: [UInt8]
    public var createdMillis: UInt64
    /// Maintained by the writer from request records that carry this token's id.
    public var lastUsedMillis: UInt64?
    public var enabled: Bool
    public var expiresAtMillis: UInt64?
    /// nil → any model.
    public var allowedModels: [String]?
    public var dailyCostCapMicroUSD: Int64?
    public var totalCostCapMicroUSD: Int64?
    public var requestsPerMinute: Int?
    public var maxConcurrency: Int?
    /// Running totals maintained by the writer (all time).
    public var totalCostMicroUSD: Int64
    public var totalRequests: Int64
    /// The channel group it is routed within; nil → every channel.
    public var groupID: Int?

    public init(id: Int = 0, name: String, prefix: String = "", hash: [UInt8] = [], createdMillis: UInt64 = 0,
                lastUsedMillis: UInt64? = nil, enabled: Bool = true, expiresAtMillis: UInt64? = nil,
                allowedModels: [String]? = nil, dailyCostCapMicroUSD: Int64? = nil, totalCostCapMicroUSD: Int64? = nil,
                requestsPerMinute: Int? = nil, maxConcurrency: Int? = nil, totalCostMicroUSD: Int64 = 0, totalRequests: Int64 = 0,
                groupID: Int? = nil) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.hash = hash
        self.createdMillis = createdMillis
        self.lastUsedMillis = lastUsedMillis
        self.enabled = enabled
        self.expiresAtMillis = expiresAtMillis
        self.allowedModels = allowedModels
        self.dailyCostCapMicroUSD = dailyCostCapMicroUSD
        self.totalCostCapMicroUSD = totalCostCapMicroUSD
        self.requestsPerMinute = requestsPerMinute
        self.maxConcurrency = maxConcurrency
        self.totalCostMicroUSD = totalCostMicroUSD
        self.totalRequests = totalRequests
        self.groupID = groupID
    }
}

/// A token just created: the secret is shown once and never again.
public struct CreatedToken: Sendable {
    public var token: AuthToken
    public var secret: String
}
