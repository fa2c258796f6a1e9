import Foundation
import Proxy

/// A user's fields as the admin sends them (`POST`/`PUT /admin/users`): on create,
/// `username` and `password` are required and a field left out takes its default; on
/// update, a field left out keeps its value. Unknown fields are refused.
struct UserInput: Decodable, Sendable {
    var username: Patch<String>
    var password: Patch<String>
    var role: Patch<User.Role>
    var email: Patch<String>
    var enabled: Patch<Bool>
    var approved: Patch<Bool>
    var allowedGroupIds: Patch<[Int]>
    var tokenLimits: Patch<LimitsInput>

    enum CodingKeys: String, CodingKey, CaseIterable {
        case username, password, role, email, enabled, approved, allowedGroupIds, tokenLimits
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
        username = try c.patch(String.self, .username)
        password = try c.patch(String.self, .password)
        do {
            role = try c.patch(User.Role.self, .role)
        } catch is DecodingError {
            throw AdminError.invalid("role", "role must be \"admin\" or \"user\"")
        }
        email = try c.patch(String.self, .email)
        enabled = try c.patch(Bool.self, .enabled)
        approved = try c.patch(Bool.self, .approved)
        allowedGroupIds = try c.patch([Int].self, .allowedGroupIds)
        tokenLimits = try c.patch(LimitsInput.self, .tokenLimits)
    }

    /// The loosest limits the user may give their own tokens; a field left out or null is no
    /// limit. Same names and bounds as a token's.
    struct LimitsInput: Decodable, Sendable {
        var limits = TokenLimits()

        enum CodingKeys: String, CodingKey, CaseIterable {
            case dailyCostCapUsd, weeklyCostCapUsd, monthlyCostCapUsd, totalCostCapUsd, requestsPerMinute, maxConcurrency
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
            typealias T = AdminTokens.TokenInput
            let f = "token_limits."
            limits.dailyCostCapMicroUSD = try T.micro(try c.patch(Double.self, .dailyCostCapUsd), nil, f + "daily_cost_cap_usd")
            limits.weeklyCostCapMicroUSD = try T.micro(try c.patch(Double.self, .weeklyCostCapUsd), nil, f + "weekly_cost_cap_usd")
            limits.monthlyCostCapMicroUSD = try T.micro(try c.patch(Double.self, .monthlyCostCapUsd), nil, f + "monthly_cost_cap_usd")
            limits.totalCostCapMicroUSD = try T.micro(try c.patch(Double.self, .totalCostCapUsd), nil, f + "total_cost_cap_usd")
            limits.requestsPerMinute = try T.bounded(try c.patch(Int.self, .requestsPerMinute), nil, T.rpmRange, f + "requests_per_minute")
            limits.maxConcurrency = try T.bounded(try c.patch(Int.self, .maxConcurrency), nil, T.concurrencyRange, f + "max_concurrency")
        }
    }

    /// Applies every field but the password to `u`, checking each; a bad one throws a 400
    /// naming it.
    func apply(to u: inout User) throws(AdminError) {
        switch username {
        case .absent: break
        case .null: throw AdminError.invalid("username", "username must be a string, not null")
        case .value(let n): u.username = try Self.checkedUsername(n)
        }
        switch role {
        case .absent: break
        case .null: throw AdminError.invalid("role", "role must be \"admin\" or \"user\", not null")
        case .value(let r): u.role = r
        }
        u.email = try Self.checkedEmail(email.applied(to: u.email))
        switch enabled {
        case .absent: break
        case .null: throw AdminError.invalid("enabled", "enabled must be true or false, not null")
        case .value(let e): u.enabled = e
        }
        switch approved {
        case .absent: break
        case .null: throw AdminError.invalid("approved", "approved must be true or false, not null")
        case .value(let a): u.approved = a
        }
        switch allowedGroupIds {
        case .absent: break
        case .null: u.allowedGroupIDs = []
        case .value(let ids): u.allowedGroupIDs = try UserTokenRules.checkedGroupIDs(ids)
        }
        switch tokenLimits {
        case .absent: break
        case .null: u.limits = TokenLimits()
        case .value(let l): u.limits = l.limits
        }
    }

    /// The new password, checked (nil when none was given); null is refused.
    func checkedPassword(username: String) throws(AdminError) -> String? {
        switch password {
        case .absent: return nil
        case .null: throw AdminError.invalid("password", "password must be a string, not null")
        case .value(let p):
            try PasswordRule.check(p, username: username)
            return p
        }
    }

    static let maxUsernameLength = 64

    /// 1…64 of `A–Z a–z 0–9 . _ - @`, without surrounding spaces.
    static func checkedUsername(_ raw: String) throws(AdminError) -> String {
        let n = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if n.isEmpty { throw AdminError.invalid("username", "username must not be empty") }
        if n.count > maxUsernameLength { throw AdminError.invalid("username", "username must be at most \(maxUsernameLength) characters") }
        let ok = n.unicodeScalars.allSatisfy { s in
            s.isASCII && (CharacterSet.alphanumerics.contains(s) || "._-@".unicodeScalars.contains(s))
        }
        if !ok { throw AdminError.invalid("username", "username may hold only letters, digits and . _ - @") }
        return n
    }

    /// An address with text on both sides of one `@`, no spaces, at most 254 bytes; nil or
    /// empty is none.
    static func checkedEmail(_ raw: String?) throws(AdminError) -> String? {
        guard let e = raw?.trimmingCharacters(in: .whitespacesAndNewlines), !e.isEmpty else { return nil }
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        let spaced = e.unicodeScalars.contains { CharacterSet.whitespacesAndNewlines.contains($0) || CharacterSet.controlCharacters.contains($0) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !spaced, e.utf8.count <= 254 else {
            throw AdminError.invalid("email", "email must be an address like name@example.com, or null")
        }
        return e
    }
}
