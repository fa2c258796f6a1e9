import Foundation
import Proxy
import Reactor

/// `/admin/tokens`: the client tokens of the proxy. A change is written to the store and
/// then published to every loop (`ControlPlane.reloadTokens`) before the answer goes out.
/// The secret is shown once, when created; afterwards only its prefix.
///
/// Users call the same routes for their own tokens: they see, change and delete only the
/// tokens they own (another's answers 404, as a missing one does), a token they create is
/// theirs, and its limits are held to the admin's limits for them (`UserTokenRules`).
enum AdminTokens {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/tokens", .user, list),
        AdminRoute("POST", "/admin/tokens", .user, create),
        AdminRoute("GET", "/admin/tokens/{id}", .user, get),
        AdminRoute("PUT", "/admin/tokens/{id}", .user, update),
        AdminRoute("DELETE", "/admin/tokens/{id}", .user, delete),
        AdminRoute("GET", "/admin/tokens/{id}/usage", .user, usage),
    ]

    /// What tokens have spent in the current day, week and month (UTC), by id.
    struct PeriodCosts: Sendable {
        var today: [Int: Int64] = [:]
        var week: [Int: Int64] = [:]
        var month: [Int: Int64] = [:]
    }

    struct TokenView: Encodable, Sendable {
        let id: Int
        let name: String
        let prefix: String
        let createdMs: UInt64
        let lastUsedMs: OrNull<UInt64>
        let enabled: Bool
        let expiresAtMs: OrNull<UInt64>
        let allowedModels: OrNull<[String]>
        let dailyCostCapUsd: OrNull<Double>
        let totalCostCapUsd: OrNull<Double>
        let weeklyCostCapUsd: OrNull<Double>
        let monthlyCostCapUsd: OrNull<Double>
        let requestsPerMinute: OrNull<Int>
        let maxConcurrency: OrNull<Int>
        let allowedClients: OrNull<[String]>
        let ownerUserId: OrNull<Int>
        let totalCostUsd: Double
        let totalRequests: Int64
        let todayCostUsd: Double
        let weekCostUsd: Double
        let monthCostUsd: Double
        let groupId: OrNull<Int>

        init(_ t: AuthToken, costs: PeriodCosts) {
            id = t.id
            name = t.name
            prefix = t.prefix
            createdMs = t.createdMillis
            lastUsedMs = OrNull(t.lastUsedMillis)
            enabled = t.enabled
            expiresAtMs = OrNull(t.expiresAtMillis)
            allowedModels = OrNull(t.allowedModels)
            dailyCostCapUsd = OrNull(t.dailyCostCapMicroUSD.map(AdminQueries.usd))
            totalCostCapUsd = OrNull(t.totalCostCapMicroUSD.map(AdminQueries.usd))
            weeklyCostCapUsd = OrNull(t.weeklyCostCapMicroUSD.map(AdminQueries.usd))
            monthlyCostCapUsd = OrNull(t.monthlyCostCapMicroUSD.map(AdminQueries.usd))
            requestsPerMinute = OrNull(t.requestsPerMinute)
            maxConcurrency = OrNull(t.maxConcurrency)
            allowedClients = OrNull(t.allowedClients?.apiNames)
            ownerUserId = OrNull(t.ownerUserID)
            totalCostUsd = AdminQueries.usd(t.totalCostMicroUSD)
            totalRequests = t.totalRequests
            todayCostUsd = AdminQueries.usd(costs.today[t.id] ?? 0)
            weekCostUsd = AdminQueries.usd(costs.week[t.id] ?? 0)
            monthCostUsd = AdminQueries.usd(costs.month[t.id] ?? 0)
            groupId = OrNull(t.groupID)
        }
    }

    /// A token's editable fields as sent: on create, a field left out has no limit; on
    /// update, it keeps its value, and `null` clears a limit.
    struct TokenInput: Decodable, Sendable {
        var name: Patch<String>
        var enabled: Patch<Bool>
        var expiresAtMs: Patch<UInt64>
        var allowedModels: Patch<[String]>
        var dailyCostCapUsd: Patch<Double>
        var totalCostCapUsd: Patch<Double>
        var weeklyCostCapUsd: Patch<Double>
        var monthlyCostCapUsd: Patch<Double>
        var requestsPerMinute: Patch<Int>
        var maxConcurrency: Patch<Int>
        var allowedClients: Patch<[String]>
        /// The admin's, on create only: the user the token is made for.
        var ownerUserId: Patch<Int>
        var groupId: Patch<Int>

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, enabled, expiresAtMs, allowedModels, dailyCostCapUsd, totalCostCapUsd, weeklyCostCapUsd, monthlyCostCapUsd
            case requestsPerMinute, maxConcurrency, allowedClients, ownerUserId, groupId
        }

        static let rpmRange = 1...1_000_000
        static let concurrencyRange = 1...100_000

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
            name = try c.patch(String.self, .name)
            enabled = try c.patch(Bool.self, .enabled)
            expiresAtMs = try c.patch(UInt64.self, .expiresAtMs)
            allowedModels = try c.patch([String].self, .allowedModels)
            dailyCostCapUsd = try c.patch(Double.self, .dailyCostCapUsd)
            totalCostCapUsd = try c.patch(Double.self, .totalCostCapUsd)
            weeklyCostCapUsd = try c.patch(Double.self, .weeklyCostCapUsd)
            monthlyCostCapUsd = try c.patch(Double.self, .monthlyCostCapUsd)
            requestsPerMinute = try c.patch(Int.self, .requestsPerMinute)
            maxConcurrency = try c.patch(Int.self, .maxConcurrency)
            allowedClients = try c.patch([String].self, .allowedClients)
            ownerUserId = try c.patch(Int.self, .ownerUserId)
            groupId = try c.patch(Int.self, .groupId)
        }

        /// The group the token is in after this change (`store` says whether it exists);
        /// `null` takes it out of its group. A user's token must be in a group the admin
        /// allows them (`UserTokenRules.checkTokenGroup`).
        func applyGroup(to t: inout AuthToken, _ store: Store, user: User?) throws {
            t.groupID = groupId.applied(to: t.groupID)
            if case .value(let g) = groupId {
                guard g > 0, try store.group(id: g) != nil else {
                    throw AdminError.invalid("group_id", "group_id: group \(g) does not exist")
                }
            }
            if let user { try UserTokenRules.checkTokenGroup(t.groupID, for: user) }
        }

        /// Applies the fields to `t`, checking each; a bad one throws a 400 naming it.
        func apply(to t: inout AuthToken) throws(AdminError) {
            switch name {
            case .absent: break
            case .null: throw AdminError.invalid("name", "name must be a string, not null")
            case .value(let n): t.name = try AdminName.checked(n)
            }
            switch enabled {
            case .absent: break
            case .null: throw AdminError.invalid("enabled", "enabled must be true or false, not null")
            case .value(let e): t.enabled = e
            }
            t.expiresAtMillis = expiresAtMs.applied(to: t.expiresAtMillis)
            if let e = t.expiresAtMillis, e == 0 || e > Self.latestExpiry {
                // Past year 9999 it would not fit the store's signed 64-bit column (it trapped there).
                throw AdminError.invalid("expires_at_ms", "expires_at_ms must be a time after the epoch and before the year 10000, or null")
            }
            t.allowedModels = allowedModels.applied(to: t.allowedModels)
            if let models = t.allowedModels {
                if models.isEmpty {
                    throw AdminError.invalid("allowed_models", "allowed_models must name at least one model, or be null for any model")
                }
                if models.count > 1000 { throw AdminError.invalid("allowed_models", "allowed_models may name at most 1000 models") }
                for (i, m) in models.enumerated() {
                    if let why = ChannelFieldRules.model(m, kind: nil) {
                        throw AdminError.invalid("allowed_models", "allowed_models[\(i)] \(why)")
                    }
                }
            }
            t.dailyCostCapMicroUSD = try Self.micro(dailyCostCapUsd, t.dailyCostCapMicroUSD, "daily_cost_cap_usd")
            t.totalCostCapMicroUSD = try Self.micro(totalCostCapUsd, t.totalCostCapMicroUSD, "total_cost_cap_usd")
            t.weeklyCostCapMicroUSD = try Self.micro(weeklyCostCapUsd, t.weeklyCostCapMicroUSD, "weekly_cost_cap_usd")
            t.monthlyCostCapMicroUSD = try Self.micro(monthlyCostCapUsd, t.monthlyCostCapMicroUSD, "monthly_cost_cap_usd")
            t.requestsPerMinute = try Self.bounded(requestsPerMinute, t.requestsPerMinute, Self.rpmRange, "requests_per_minute")
            t.maxConcurrency = try Self.bounded(maxConcurrency, t.maxConcurrency, Self.concurrencyRange, "max_concurrency")
            switch allowedClients {
            case .absent: break
            case .null: t.allowedClients = nil
            case .value(let names):
                guard !names.isEmpty, let kinds = ClientKinds(apiNames: names) else {
                    let known = ClientKinds.names.map(\.1).joined(separator: ", ")
                    throw AdminError.invalid("allowed_clients", "allowed_clients must list at least one of \(known), or be null for any client")
                }
                t.allowedClients = kinds
            }
        }

        /// 9999-12-31T23:59:59.999Z in milliseconds.
        static let latestExpiry: UInt64 = 253_402_300_799_999

        static func micro(_ p: Patch<Double>, _ old: Int64?, _ field: String) throws(AdminError) -> Int64? {
            guard let usd = p.applied(to: old.map(AdminQueries.usd)) else { return nil }
            guard usd.isFinite, usd >= 0, usd <= 1_000_000_000 else {
                throw AdminError.invalid(field, "\(field) must be a number of USD from 0 to 1000000000, or null for no cap")
            }
            return Int64((usd * 1_000_000).rounded())
        }

        static func bounded(_ p: Patch<Int>, _ old: Int?, _ range: ClosedRange<Int>, _ field: String) throws(AdminError) -> Int? {
            guard let v = p.applied(to: old) else { return nil }
            guard range.contains(v) else {
                throw AdminError.invalid(field, "\(field) must be an integer in \(range.lowerBound)...\(range.upperBound), or null for no limit")
            }
            return v
        }
    }

    struct Created: Encodable, Sendable {
        let token: TokenView
        let secret: String
    }

    static func list(_ call: AdminCall) {
        let caller = call.caller
        call.blockingJSON { ctx in
            let costs = try periodCosts(ctx)
            let tokens = try caller.isAdmin ? ctx.store.tokens() : ctx.store.tokens(ownerUserID: caller.userID ?? 0)
            return ["data": tokens.map { TokenView($0, costs: costs) }]
        }
    }

    static func get(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        let caller = call.caller
        call.blockingJSON { ctx in try view(ctx, try existing(ctx.store, id, for: caller)) }
    }

    static func create(_ call: AdminCall) {
        var token = AuthToken(name: "")
        let caller = call.caller
        let input: TokenInput
        do throws(AdminError) {
            input = try call.decode(TokenInput.self)
            guard case .value = input.name else { throw AdminError.invalid("name", "name is required") }
            try input.apply(to: &token)
            if !caller.isAdmin, input.ownerUserId.given {
                throw AdminError.invalid("owner_user_id", "owner_user_id is the admin's to set: your tokens are yours")
            }
        } catch {
            return call.fail(error)
        }
        let fresh = token
        call.blockingJSON(status: 201) { ctx in
            var t = fresh
            var user: User?
            if let me = caller.userID, !caller.isAdmin {
                t.ownerUserID = me
                let u = try owner(ctx.store, me)
                try UserTokenRules.bound(&t, by: u, input: input, creating: true)
                user = u
            } else if case .value(let owner) = input.ownerUserId {
                guard try ctx.store.user(id: owner) != nil else {
                    throw AdminError.invalid("owner_user_id", "owner_user_id \(owner) is not a user")
                }
                t.ownerUserID = owner
            }
            try input.applyGroup(to: &t, ctx.store, user: user)
            let created = try ctx.store.createToken(t)
            try ctx.control.reloadTokens()
            return Created(token: TokenView(created.token, costs: PeriodCosts()), secret: created.secret)
        }
    }

    static func update(_ call: AdminCall) {
        let id: Int
        let input: TokenInput
        do throws(AdminError) {
            id = try call.id()
            input = try call.decode(TokenInput.self)
            if input.ownerUserId.given {
                throw AdminError.invalid("owner_user_id", "owner_user_id is set when a token is created and does not change")
            }
        } catch {
            return call.fail(error)
        }
        let caller = call.caller
        call.blockingJSON { ctx in
            var t = try existing(ctx.store, id, for: caller)
            try input.apply(to: &t)
            var user: User?
            if !caller.isAdmin, let me = caller.userID {
                let u = try owner(ctx.store, me)
                try UserTokenRules.bound(&t, by: u, input: input, creating: false)
                user = u
            }
            try input.applyGroup(to: &t, ctx.store, user: user)
            try ctx.store.updateToken(t)
            try ctx.control.reloadTokens()
            return try view(ctx, t)
        }
    }

    static func delete(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        let caller = call.caller
        call.blockingJSON { ctx in
            _ = try existing(ctx.store, id, for: caller)
            guard try ctx.store.deleteToken(id: id) else { throw AdminError.notFound("token \(id) does not exist") }
            try ctx.control.reloadTokens()
            return ["deleted": true]
        }
    }

    struct Usage: Encodable, Sendable {
        let tokenId: Int
        let range: String
        let bucketMs: UInt64
        let totals: AdminQueries.StatsView
        let trend: [AdminQueries.TrendPointView]
    }

    /// Totals and hourly trend of one token over `range` (24h, 7d, 30d).
    static func usage(_ call: AdminCall) {
        let id: Int
        let range: (String, TrendRange)
        do {
            id = try call.id()
            range = try AdminQueries.trendRange(call)
        } catch {
            return call.fail(error)
        }
        let now = wallClockMillis()
        let caller = call.caller
        call.readingJSON { reader in
            _ = try existing(reader.store, id, for: caller)
            let points = try reader.trend(range.1, endMillis: now, tokenID: id)
            let from = points.first?.hourMillis ?? now
            let totals = try reader.stats(fromMillis: from, toMillis: now, by: .all, tokenID: id).first
            return Usage(tokenId: id, range: range.0, bucketMs: AdminQueries.hourMillis, totals: AdminQueries.StatsView(totals),
                         trend: points.map(AdminQueries.TrendPointView.init))
        }
    }

    // MARK: store

    /// Token `id` when `caller` may see it; another user's token is as missing as one
    /// that does not exist (404 with the same words), so its existence shows nowhere.
    static func existing(_ store: Store, _ id: Int, for caller: SessionUser) throws -> AuthToken {
        guard let t = try store.token(id: id), caller.owns(t.ownerUserID) else {
            throw AdminError.notFound("token \(id) does not exist")
        }
        return t
    }

    /// The calling user, who must still exist (their session ends when they are deleted).
    static func owner(_ store: Store, _ id: Int) throws -> User {
        guard let u = try store.user(id: id) else { throw AdminError(401, "your user no longer exists; log in again") }
        return u
    }

    static func view(_ ctx: AdminContext, _ t: AuthToken) throws -> TokenView {
        TokenView(t, costs: try periodCosts(ctx))
    }

    /// Spend per token since 00:00 today, Monday 00:00 and the 1st, 00:00 in `CCLOAD_TZ`
    /// (the periods the caps count).
    static func periodCosts(_ ctx: AdminContext) throws -> PeriodCosts {
        let calendar = ctx.shared.meters.calendar
        let now = wallClockMillis()
        let p = SpendPeriods(day: calendar.day(now))
        return PeriodCosts(today: try ctx.store.tokenCostsSince(calendar.startOfDay(now)),
                           week: try ctx.store.tokenCostsSince(calendar.start(ofDay: p.weekStartDay)),
                           month: try ctx.store.tokenCostsSince(calendar.start(ofDay: p.monthStartDay)))
    }
}
