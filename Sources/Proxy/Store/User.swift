/// A person who logs in to the admin API and web UI, as stored. The password is kept only
/// as its salted hash (Admin's `AdminPassword` encoding).
public struct User: Sendable, Equatable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Everything, as the `CCLOAD_PASS` admin.
        case admin
        /// Their own session, password, tokens and usage only.
        case user
    }

    public var id: Int
    /// Unique, compared without regard to ASCII case.
    public var username: String
    public var passwordHash: String
    public var role: Role
    public var email: String?
    public var enabled: Bool
    /// False for a self-registered user until the admin approves them: they cannot log in.
    public var approved: Bool
    /// The groups the user may put their own tokens in.
    public var allowedGroupIDs: [Int]
    /// The loosest limits the user may give their own tokens (nil: no limit).
    public var limits: TokenLimits
    public var createdMillis: UInt64
    public var updatedMillis: UInt64

    public init(id: Int = 0, username: String, passwordHash: String, role: Role = .user, email: String? = nil,
                enabled: Bool = true, approved: Bool = true, allowedGroupIDs: [Int] = [], limits: TokenLimits = TokenLimits(),
                createdMillis: UInt64 = 0, updatedMillis: UInt64 = 0) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.role = role
        self.email = email
        self.enabled = enabled
        self.approved = approved
        self.allowedGroupIDs = allowedGroupIDs
        self.limits = limits
        self.createdMillis = createdMillis
        self.updatedMillis = updatedMillis
    }

    /// Whether the user may log in (and their tokens be served).
    public var active: Bool { enabled && approved }
}

/// The limits of a token that a user's own limits bound: cost caps in micro-USD, requests
/// per minute, concurrent requests; nil is no limit.
public struct TokenLimits: Sendable, Equatable {
    public var dailyCostCapMicroUSD: Int64?
    public var weeklyCostCapMicroUSD: Int64?
    public var monthlyCostCapMicroUSD: Int64?
    public var totalCostCapMicroUSD: Int64?
    public var requestsPerMinute: Int?
    public var maxConcurrency: Int?

    public init(dailyCostCapMicroUSD: Int64? = nil, weeklyCostCapMicroUSD: Int64? = nil, monthlyCostCapMicroUSD: Int64? = nil,
                totalCostCapMicroUSD: Int64? = nil, requestsPerMinute: Int? = nil, maxConcurrency: Int? = nil) {
        self.dailyCostCapMicroUSD = dailyCostCapMicroUSD
        self.weeklyCostCapMicroUSD = weeklyCostCapMicroUSD
        self.monthlyCostCapMicroUSD = monthlyCostCapMicroUSD
        self.totalCostCapMicroUSD = totalCostCapMicroUSD
        self.requestsPerMinute = requestsPerMinute
        self.maxConcurrency = maxConcurrency
    }
}
