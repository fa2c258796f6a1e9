import Foundation
import Proxy
import Reactor

/// `/admin/tokens`: the client tokens of the proxy. A change is written to the store and
/// then published to every loop (`ControlPlane.reloadTokens`) before the answer goes out.
/// The secret is shown once, when created; afterwards only its prefix.
enum AdminTokens {
    static let routes: [AdminRoute] = [
        AdminRoute("GET", "/admin/tokens", .session, list),
        AdminRoute("POST", "/admin/tokens", .session, create),
        AdminRoute("GET", "/admin/tokens/{id}", .session, get),
        AdminRoute("PUT", "/admin/tokens/{id}", .session, update),
        AdminRoute("DELETE", "/admin/tokens/{id}", .session, delete),
        AdminRoute("GET", "/admin/tokens/{id}/usage", .session, usage),
    ]

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
        let requestsPerMinute: OrNull<Int>
        let maxConcurrency: OrNull<Int>
        let totalCostUsd: Double
        let totalRequests: Int64
        let todayCostUsd: Double
        let groupId: OrNull<Int>

        init(_ t: AuthToken, todayMicroUSD: Int64) {
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
            requestsPerMinute = OrNull(t.requestsPerMinute)
            maxConcurrency = OrNull(t.maxConcurrency)
            totalCostUsd = AdminQueries.usd(t.totalCostMicroUSD)
            totalRequests = t.totalRequests
            todayCostUsd = AdminQueries.usd(todayMicroUSD)
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
        var requestsPerMinute: Patch<Int>
        var maxConcurrency: Patch<Int>
        var groupId: Patch<Int>

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, enabled, expiresAtMs, allowedModels, dailyCostCapUsd, totalCostCapUsd, requestsPerMinute, maxConcurrency
            case groupId
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try decoder.container(keyedBy: AnyKey.self).rejectUnknown(CodingKeys.self)
            name = try c.patch(String.self, .name)
            enabled = try c.patch(Bool.self, .enabled)
            expiresAtMs = try c.patch(UInt64.self, .expiresAtMs)
            allowedModels = try c.patch([String].self, .allowedModels)
            dailyCostCapUsd = try c.patch(Double.self, .dailyCostCapUsd)
            totalCostCapUsd = try c.patch(Double.self, .totalCostCapUsd)
            requestsPerMinute = try c.patch(Int.self, .requestsPerMinute)
            maxConcurrency = try c.patch(Int.self, .maxConcurrency)
            groupId = try c.patch(Int.self, .groupId)
        }

        /// The group the token is in after this change (`store` says whether it exists);
        /// `null` takes it out of its group.
        func applyGroup(to t: inout AuthToken, _ store: Store) throws {
            t.groupID = groupId.applied(to: t.groupID)
            if case .value(let g) = groupId {
                guard g > 0, try store.group(id: g) != nil else {
                    throw AdminError.invalid("group_id", "group_id: group \(g) does not exist")
                }
            }
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
            t.requestsPerMinute = try Self.bounded(requestsPerMinute, t.requestsPerMinute, 1...1_000_000, "requests_per_minute")
            t.maxConcurrency = try Self.bounded(maxConcurrency, t.maxConcurrency, 1...100_000, "max_concurrency")
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
        call.blockingJSON { ctx in
            let today = try todayCosts(ctx)
            return ["data": try ctx.store.tokens().map { TokenView($0, todayMicroUSD: today[$0.id] ?? 0) }]
        }
    }

    static func get(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        call.blockingJSON { ctx in try view(ctx, try existing(ctx.store, id)) }
    }

    static func create(_ call: AdminCall) {
        var token = AuthToken(name: "")
        let input: TokenInput
        do throws(AdminError) {
            input = try call.decode(TokenInput.self)
            guard case .value = input.name else { throw AdminError.invalid("name", "name is required") }
            try input.apply(to: &token)
        } catch {
            return call.fail(error)
        }
        call.blockingJSON(status: 201) { [token] ctx in
            var fresh = token
            try input.applyGroup(to: &fresh, ctx.store)
            let created = try ctx.store.createToken(fresh)
            try ctx.control.reloadTokens()
            return Created(token: TokenView(created.token, todayMicroUSD: 0), secret: created.secret)
        }
    }

    static func update(_ call: AdminCall) {
        let id: Int
        let input: TokenInput
        do {
            id = try call.id()
            input = try call.decode(TokenInput.self)
        } catch {
            return call.fail(error)
        }
        call.blockingJSON { ctx in
            var t = try existing(ctx.store, id)
            try input.apply(to: &t)
            try input.applyGroup(to: &t, ctx.store)
            try ctx.store.updateToken(t)
            try ctx.control.reloadTokens()
            return try view(ctx, t)
        }
    }

    static func delete(_ call: AdminCall) {
        let id: Int
        do { id = try call.id() } catch { return call.fail(error) }
        call.blockingJSON { ctx in
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
        call.readingJSON { reader in
            _ = try existing(reader.store, id)
            let points = try reader.trend(range.1, endMillis: now, tokenID: id)
            let from = points.first?.hourMillis ?? now
            let totals = try reader.stats(fromMillis: from, toMillis: now, by: .all, tokenID: id).first
            return Usage(tokenId: id, range: range.0, bucketMs: AdminQueries.hourMillis, totals: AdminQueries.StatsView(totals),
                         trend: points.map(AdminQueries.TrendPointView.init))
        }
    }

    // MARK: store

    static func existing(_ store: Store, _ id: Int) throws -> AuthToken {
        guard let t = try store.token(id: id) else { throw AdminError.notFound("token \(id) does not exist") }
        return t
    }

    static func view(_ ctx: AdminContext, _ t: AuthToken) throws -> TokenView {
        TokenView(t, todayMicroUSD: try todayCosts(ctx)[t.id] ?? 0)
    }

    /// Spend per token since 00:00 today in `CCLOAD_TZ` (the day the daily caps count).
    static func todayCosts(_ ctx: AdminContext) throws -> [Int: Int64] {
        try ctx.store.tokenCostsSince(ctx.shared.meters.calendar.startOfDay(wallClockMillis()))
    }
}
