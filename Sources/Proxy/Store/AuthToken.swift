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
    /// Weeks start on Monday 00:00, months on the 1st, 00:00, in `CCLOAD_TZ` (`TokenMeters.calendar`).
    public var weeklyCostCapMicroUSD: Int64?
    public var monthlyCostCapMicroUSD: Int64?
    /// The user who made it and may see and delete it; nil: made by the admin.
    public var ownerUserID: Int?
    /// nil → any client; else only requests whose `User-Agent` is one of these clients.
    public var allowedClients: ClientKinds?
    /// False when its owner is disabled or not yet approved (read from the users table):
    /// such a token is not served.
    public var ownerActive = true
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

    /// The limits a user's own limits bound.
    public var limits: TokenLimits {
        get {
            TokenLimits(dailyCostCapMicroUSD: dailyCostCapMicroUSD, weeklyCostCapMicroUSD: weeklyCostCapMicroUSD,
                        monthlyCostCapMicroUSD: monthlyCostCapMicroUSD, totalCostCapMicroUSD: totalCostCapMicroUSD,
                        requestsPerMinute: requestsPerMinute, maxConcurrency: maxConcurrency)
        }
        set {
            dailyCostCapMicroUSD = newValue.dailyCostCapMicroUSD
            weeklyCostCapMicroUSD = newValue.weeklyCostCapMicroUSD
            monthlyCostCapMicroUSD = newValue.monthlyCostCapMicroUSD
            totalCostCapMicroUSD = newValue.totalCostCapMicroUSD
            requestsPerMinute = newValue.requestsPerMinute
            maxConcurrency = newValue.maxConcurrency
        }
    }

    /// The token as the proxy checks it (built once per token snapshot).
    public var clientToken: ClientToken {
        var c = ClientToken(id: id, name: name, digest: TokenDigest(bytes: hash))
        c.enabled = enabled && ownerActive
        c.expiresAtMillis = expiresAtMillis
        c.allowedModels = allowedModels.map(Set.init)
        c.dailyCostCapMicroUSD = dailyCostCapMicroUSD
        c.weeklyCostCapMicroUSD = weeklyCostCapMicroUSD
        c.monthlyCostCapMicroUSD = monthlyCostCapMicroUSD
        c.totalCostCapMicroUSD = totalCostCapMicroUSD
        c.requestsPerMinute = requestsPerMinute
        c.maxConcurrency = maxConcurrency
        c.allowedClients = allowedClients
        c.groupID = groupID
        c.ownerUserID = ownerUserID
        return c
    }
}

/// A token just created: the secret is shown once and never again.
public struct CreatedToken: Sendable {
    public var token: AuthToken
    public var secret: String
}
