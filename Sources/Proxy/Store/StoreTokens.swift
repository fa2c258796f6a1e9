import CEpoll
import Foundation

// The managed client tokens.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

extension Store {
    /// Creates a token with a fresh random secret (`ccl-` and 43 base64url characters).
    /// The secret is returned here and nowhere else; only its SHA-256 and prefix are kept.
    public func createToken(_ token: AuthToken) throws -> CreatedToken {
        var raw = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&raw, Int32(raw.count)) == 1 else { throw StoreError(.other, "no randomness for a token secret") }
        let secret = "ccl-" + Self.base64url(raw)
        return try createToken(token, secret: secret)
    }

    /// Creates a token with a given secret (a seed from `CCLOAD_AUTH`, tests).
    public func createToken(_ token: AuthToken, secret: String) throws -> CreatedToken {
        var t = token
        t.hash = TokenDigest(of: Array(secret.utf8)).bytes
        t.prefix = String(secret.prefix(8))
        if t.createdMillis == 0 { t.createdMillis = options.wallClock() }
        let stored = t
        let id = try withConfig { db -> Int in
            return Int(try db.insertReturningID("""
                INSERT INTO auth_tokens(hash, prefix, name, created_ms, last_used_ms, enabled, expires_ms, allowed_models,
                    daily_cost_cap_micro, total_cost_cap_micro, rpm_limit, concurrency_limit,
                    weekly_cost_cap_micro, monthly_cost_cap_micro, owner_user_id, allowed_clients, group_id)
                VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id
                """, [.blob(stored.hash), .text(stored.prefix), .text(stored.name), .int(Int64(stored.createdMillis)),
                      .int64(stored.lastUsedMillis.map { Int64($0) }), .bool(stored.enabled),
                      .int64(stored.expiresAtMillis.map { Int64($0) }), .text(try Self.encodeModels(stored.allowedModels)),
                      .int64(stored.dailyCostCapMicroUSD), .int64(stored.totalCostCapMicroUSD),
                      .int(stored.requestsPerMinute), .int(stored.maxConcurrency),
                      .int64(stored.weeklyCostCapMicroUSD), .int64(stored.monthlyCostCapMicroUSD),
                      .int(stored.ownerUserID), .int(stored.allowedClients?.rawValue), .int(stored.groupID)]))
        }
        t.id = id
        return CreatedToken(token: t, secret: secret)
    }

    public func tokens() throws -> [AuthToken] {
        try withConfig { db in try Self.loadTokens(db, "ORDER BY t.id", []) }
    }

    /// The tokens `userID` owns.
    public func tokens(ownerUserID userID: Int) throws -> [AuthToken] {
        try withConfig { db in try Self.loadTokens(db, "WHERE t.owner_user_id = ? ORDER BY t.id", [.int(Int64(userID))]) }
    }

    public func token(id: Int) throws -> AuthToken? {
        try withConfig { db in try Self.loadTokens(db, "WHERE t.id = ?", [.int(Int64(id))]).first }
    }

    /// The token whose secret hashes to `hash`, if any.
    public func token(hash: [UInt8]) throws -> AuthToken? {
        try withConfig { db in try Self.loadTokens(db, "WHERE t.hash = ?", [.blob(hash)]).first }
    }

    /// The token for a presented secret, if any.
    public func token(secret: String) throws -> AuthToken? {
        try token(hash: TokenDigest(of: Array(secret.utf8)).bytes)
    }

    /// Updates a token's editable fields (name, enabled, expiry, models, caps, limits, client
    /// restriction, group). The hash, prefix, creation time, owner and running totals are kept.
    public func updateToken(_ t: AuthToken) throws {
        let n = try withConfig { db in
            try db.run("""
                UPDATE auth_tokens SET name=?, enabled=?, expires_ms=?, allowed_models=?, daily_cost_cap_micro=?,
                    total_cost_cap_micro=?, rpm_limit=?, concurrency_limit=?, weekly_cost_cap_micro=?, monthly_cost_cap_micro=?,
                    allowed_clients=?, group_id=? WHERE id=?
                """, [.text(t.name), .bool(t.enabled), .int64(t.expiresAtMillis.map { Int64($0) }),
                      .text(try Self.encodeModels(t.allowedModels)), .int64(t.dailyCostCapMicroUSD),
                      .int64(t.totalCostCapMicroUSD), .int(t.requestsPerMinute), .int(t.maxConcurrency),
                      .int64(t.weeklyCostCapMicroUSD), .int64(t.monthlyCostCapMicroUSD), .int(t.allowedClients?.rawValue),
                      .int(t.groupID), .int(Int64(t.id))])
        }
        if n == 0 { throw StoreError(.notFound, "token \(t.id) does not exist") }
    }

    @discardableResult
    public func deleteToken(id: Int) throws -> Bool {
        try withConfig { db in try db.run("DELETE FROM auth_tokens WHERE id = ?", [.int(Int64(id))]) > 0 }
    }

    /// Cost per token id since `fromMillis` (rounded down to its hour), from the hourly
    /// rollup: for daily caps at start-up (pass the start of the day).
    public func tokenCostsSince(_ fromMillis: UInt64) throws -> [Int: Int64] {
        try withConfig { db in
            let s = try db.cached("SELECT CAST(key AS INTEGER), SUM(cost_micro) FROM stats_rollup WHERE dim = 'token' AND key != '0' AND hour_ms >= ? GROUP BY key")
            try s.bind(1, Int64(fromMillis / 3_600_000 * 3_600_000))
            var out: [Int: Int64] = [:]
            while try s.step() { out[s.int(0)] = s.int64(1) }
            s.reset()
            return out
        }
    }

    static func encodeModels(_ m: [String]?) throws -> String? {
        guard let m else { return nil }
        return String(decoding: try JSONEncoder().encode(m), as: UTF8.self)
    }

    static func loadTokens(_ db: any SQLConnection, _ clause: String, _ args: [SQLValue]) throws -> [AuthToken] {
        let s = try db.cached("""
            SELECT t.id, t.name, t.prefix, t.hash, t.created_ms, t.last_used_ms, t.enabled, t.expires_ms, t.allowed_models,
                t.daily_cost_cap_micro, t.total_cost_cap_micro, t.rpm_limit, t.concurrency_limit, t.total_cost_micro, t.total_requests,
                t.weekly_cost_cap_micro, t.monthly_cost_cap_micro, t.owner_user_id, t.allowed_clients,
                t.owner_user_id IS NULL OR (u.enabled = 1 AND u.approved = 1), t.group_id
            FROM auth_tokens t LEFT JOIN users u ON u.id = t.owner_user_id \(clause)
            """)
        try s.bind(args)
        defer { s.reset() }
        var out: [AuthToken] = []
        while try s.step() {
            let models = s.optionalText(8).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
            var t = AuthToken(
                id: s.int(0), name: s.text(1), prefix: s.text(2), hash: s.blob(3), createdMillis: UInt64(clamping: s.int64(4)),
                lastUsedMillis: s.optionalInt64(5).map { UInt64(clamping: $0) }, enabled: s.bool(6),
                expiresAtMillis: s.optionalInt64(7).map { UInt64(clamping: $0) }, allowedModels: models,
                dailyCostCapMicroUSD: s.optionalInt64(9), totalCostCapMicroUSD: s.optionalInt64(10),
                requestsPerMinute: s.optionalInt(11), maxConcurrency: s.optionalInt(12),
                totalCostMicroUSD: s.int64(13), totalRequests: s.int64(14), groupID: s.optionalInt(20))
            t.weeklyCostCapMicroUSD = s.optionalInt64(15)
            t.monthlyCostCapMicroUSD = s.optionalInt64(16)
            t.ownerUserID = s.optionalInt(17)
            // A stored restriction with no kind this ccload knows still restricts (to none).
            t.allowedClients = s.optionalInt(18).map { ClientKinds(rawValue: $0) }
            t.ownerActive = s.bool(19)
            out.append(t)
        }
        return out
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in stride(from: 18, through: 0, by: -6) { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            let chars = rest == 1 ? 2 : 3
            for k in 0..<chars { out.append(alphabet[Int((n >> UInt32(18 - 6 * k)) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
