import Proxy

/// What a user may do with their own tokens: put them only in groups the admin allows them,
/// and give them limits no looser than the admin's limits for them (`User.limits`).
enum UserTokenRules {
    static let maxGroupIDs = 1000

    /// A user's allowed group ids as given: positive integers, at most `maxGroupIDs`;
    /// returned sorted without repeats. (Whether each names a group is the groups' store to
    /// say once it has a table: see `checkTokenGroup`.)
    static func checkedGroupIDs(_ ids: [Int]) throws(AdminError) -> [Int] {
        if ids.count > maxGroupIDs { throw AdminError.invalid("allowed_group_ids", "allowed_group_ids may name at most \(maxGroupIDs) groups") }
        for (i, id) in ids.enumerated() where id <= 0 {
            throw AdminError.invalid("allowed_group_ids", "allowed_group_ids[\(i)] must be a positive group id")
        }
        return Array(Set(ids)).sorted()
    }

    /// Whether `user` may put a token in group `groupID` (nil: no group, every channel). A
    /// user with allowed groups must pick one of them; a user without any gets tokens
    /// without a group. The one check of a user token's group, for the token input to call.
    static func checkTokenGroup(_ groupID: Int?, for user: User) throws(AdminError) {
        if user.allowedGroupIDs.isEmpty {
            if let groupID { throw AdminError.invalid("group_id", "group \(groupID) is not one you may use; you may use no group") }
            return
        }
        guard let groupID else {
            throw AdminError.invalid("group_id", "group_id is required: you may use groups \(user.allowedGroupIDs.map(String.init).joined(separator: ", "))")
        }
        if !user.allowedGroupIDs.contains(groupID) {
            throw AdminError.invalid("group_id", "group \(groupID) is not one you may use (\(user.allowedGroupIDs.map(String.init).joined(separator: ", ")))")
        }
    }

    /// One limit: its API name, its place in `TokenLimits`, and how a value reads in an error.
    private struct Limit: Sendable {
        let field: String
        let get: @Sendable (TokenLimits) -> Int64?
        let set: @Sendable (inout TokenLimits, Int64?) -> Void
        let given: @Sendable (AdminTokens.TokenInput) -> Bool
        let usd: Bool
    }

    private static let limits: [Limit] = [
        Limit(field: "daily_cost_cap_usd", get: { $0.dailyCostCapMicroUSD }, set: { $0.dailyCostCapMicroUSD = $1 },
              given: { $0.dailyCostCapUsd.given }, usd: true),
        Limit(field: "weekly_cost_cap_usd", get: { $0.weeklyCostCapMicroUSD }, set: { $0.weeklyCostCapMicroUSD = $1 },
              given: { $0.weeklyCostCapUsd.given }, usd: true),
        Limit(field: "monthly_cost_cap_usd", get: { $0.monthlyCostCapMicroUSD }, set: { $0.monthlyCostCapMicroUSD = $1 },
              given: { $0.monthlyCostCapUsd.given }, usd: true),
        Limit(field: "total_cost_cap_usd", get: { $0.totalCostCapMicroUSD }, set: { $0.totalCostCapMicroUSD = $1 },
              given: { $0.totalCostCapUsd.given }, usd: true),
        Limit(field: "requests_per_minute", get: { $0.requestsPerMinute.map(Int64.init) },
              set: { $0.requestsPerMinute = $1.map { Int($0) } }, given: { $0.requestsPerMinute.given }, usd: false),
        Limit(field: "max_concurrency", get: { $0.maxConcurrency.map(Int64.init) },
              set: { $0.maxConcurrency = $1.map { Int($0) } }, given: { $0.maxConcurrency.given }, usd: false),
    ]

    /// Holds a user's token to the user's limits: on create, a limit the user has and the
    /// input leaves out takes the user's value; then every limit the user has must be set
    /// on the token and no larger than theirs (400 naming the field otherwise).
    static func bound(_ token: inout AuthToken, by user: User, input: AdminTokens.TokenInput, creating: Bool) throws(AdminError) {
        var l = token.limits
        for limit in limits {
            guard let cap = limit.get(user.limits) else { continue }
            if creating && !limit.given(input) { limit.set(&l, cap) }
            if let v = limit.get(l), v <= cap { continue }
            let shown = limit.usd ? "\(AdminQueries.usd(cap))" : "\(cap)"
            throw AdminError.invalid(limit.field, "\(limit.field) must be at most \(shown), the limit the admin set for you")
        }
        token.limits = l
    }
}

extension Patch {
    /// Whether the field was in the input (a value or null).
    var given: Bool {
        if case .absent = self { return false }
        return true
    }
}
