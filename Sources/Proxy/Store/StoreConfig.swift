import CEpoll
import Foundation
import Reactor

// Configuration entities: channels, client tokens, settings, admin sessions, cooldowns.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

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

    public init(id: Int = 0, name: String, prefix: String = "", hash: [UInt8] = [], createdMillis: UInt64 = 0,
                lastUsedMillis: UInt64? = nil, enabled: Bool = true, expiresAtMillis: UInt64? = nil,
                allowedModels: [String]? = nil, dailyCostCapMicroUSD: Int64? = nil, totalCostCapMicroUSD: Int64? = nil,
                requestsPerMinute: Int? = nil, maxConcurrency: Int? = nil, totalCostMicroUSD: Int64 = 0, totalRequests: Int64 = 0) {
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
    }
}

/// A change to the stored channels, applied in one transaction by `Store.editChannels`.
public struct ChannelEdit: Sendable {
    /// Channels to write: an id of 0 or less adds one with a new id; another id replaces
    /// that channel (keys, models and redirects included).
    public var upserts: [Channel]
    /// Channel ids to delete (with their keys, models and stored cooldowns).
    public var deletions: [Int]

    public init(upserts: [Channel] = [], deletions: [Int] = []) {
        self.upserts = upserts
        self.deletions = deletions
    }
}

/// A token just created: the secret is shown once and never again.
public struct CreatedToken: Sendable {
    public var token: AuthToken
    public var secret: String
}

extension Store {
    // MARK: channels

    /// Every channel, by id, with its keys, models and redirects.
    public func channels() throws -> [Channel] {
        try withConfig { db in try Self.loadChannels(db, id: nil) }
    }

    public func channel(id: Int) throws -> Channel? {
        try withConfig { db in try Self.loadChannels(db, id: id).first }
    }

    /// Inserts `channel`; an id of 0 or less gets the next free id. Returns it as stored.
    @discardableResult
    public func createChannel(_ channel: Channel) throws -> Channel {
        try withConfig { db in
            try db.transaction {
                var c = channel
                if c.id <= 0 { c.id = Int(try db.scalarInt("SELECT COALESCE(MAX(id), 0) + 1 FROM channels") ?? 1) }
                if try db.scalarInt("SELECT 1 FROM channels WHERE id = ?", [.int(Int64(c.id))]) != nil {
                    throw StoreError(.constraint, "channel \(c.id) already exists")
                }
                try Self.writeChannel(db, c, insert: true, now: options.wallClock())
                return c
            }
        }
    }

    /// Replaces channel `channel.id` (keys, models and redirects included).
    public func updateChannel(_ channel: Channel) throws {
        try withConfig { db in
            try db.transaction {
                guard try db.scalarInt("SELECT 1 FROM channels WHERE id = ?", [.int(Int64(channel.id))]) != nil else {
                    throw StoreError(.notFound, "channel \(channel.id) does not exist")
                }
                try Self.writeChannel(db, channel, insert: false, now: options.wallClock())
            }
        }
    }

    /// Deletes a channel with its keys and models; false when there was none.
    @discardableResult
    public func deleteChannel(id: Int) throws -> Bool {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM cooldowns WHERE channel_id = ?", [.int(Int64(id))])
                return try db.run("DELETE FROM channels WHERE id = ?", [.int(Int64(id))]) > 0
            }
        }
    }

    /// Replaces every channel with `channels` in one transaction (an import).
    public func replaceChannels(_ channels: [Channel]) throws {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM channels")
                let now = options.wallClock()
                for c in channels { try Self.writeChannel(db, c, insert: true, now: now) }
            }
        }
    }

    /// Reads the stored channels, asks `plan` what to change, checks that the channels
    /// after the change form a valid `ChannelTable`, and writes the change: all in one
    /// transaction under the configuration lock, so no other edit comes between the read
    /// and the write, and a refused change writes nothing. Throws what `plan` throws, the
    /// `ChannelTableError` that makes the result invalid, or `.notFound` for an id to
    /// update or delete that is not stored. Returns the written channels (new ids filled
    /// in), in the order given. Deleted channels' stored cooldowns go too.
    @discardableResult
    public func editChannels(_ plan: ([Channel]) throws -> ChannelEdit) throws -> [Channel] {
        try withConfig { db in
            try db.transaction {
                let current = try Self.loadChannels(db, id: nil)
                let edit = try plan(current)
                var byID = Dictionary(uniqueKeysWithValues: current.map { ($0.id, $0) })
                var order = current.map(\.id)
                for id in edit.deletions {
                    guard byID.removeValue(forKey: id) != nil else { throw StoreError(.notFound, "channel \(id) does not exist") }
                }
                var nextID = (current.map(\.id).max() ?? 0) + 1
                var written: [Channel] = []
                for var c in edit.upserts {
                    if c.id <= 0 {
                        c.id = nextID
                        nextID += 1
                        order.append(c.id)
                    } else if byID[c.id] == nil {
                        throw StoreError(.notFound, "channel \(c.id) does not exist")
                    }
                    byID[c.id] = c
                    written.append(c)
                }
                // Validated as the proxy will see it, before anything is written.
                _ = try ChannelTable(order.compactMap { byID[$0] }, state: RoutingState())
                let now = options.wallClock()
                let known = Set(current.map(\.id))
                for id in edit.deletions {
                    try db.run("DELETE FROM cooldowns WHERE channel_id = ?", [.int(Int64(id))])
                    try db.run("DELETE FROM channels WHERE id = ?", [.int(Int64(id))])
                }
                for c in written { try Self.writeChannel(db, c, insert: !known.contains(c.id), now: now) }
                return written
            }
        }
    }

    /// Forgets the stored cooldowns of these channels (the in-memory book is the caller's).
    public func deleteStoredCooldowns(channelIDs: [Int]) throws {
        try withConfig { db in
            try db.transaction {
                for id in channelIDs { try db.run("DELETE FROM cooldowns WHERE channel_id = ?", [.int(Int64(id))]) }
            }
        }
    }

    static func writeChannel(_ db: Database, _ c: Channel, insert: Bool, now: UInt64) throws {
        guard !c.name.isEmpty else { throw StoreError(.invalid, "a channel needs a name") }
        let urls = String(decoding: try JSONEncoder().encode(c.urls), as: UTF8.self)
        let values: [SQLValue] = [
            .text(c.name), .text(c.kind.rawValue), .text(urls), .text(c.keyStrategy.rawValue), .int(c.priority),
            .int(c.weight), .bool(c.enabled), .text(c.proxy), .double(c.firstByteTimeoutSeconds), .double(c.costMultiplier),
            .double(c.dailyCostLimitUSD), .int(c.maxConcurrency), .bool(c.insecureSkipVerify), .int(Int64(now)), .int(Int64(c.id)),
        ]
        if insert {
            try db.run("""
                INSERT INTO channels(name, kind, urls, key_strategy, priority, weight, enabled, proxy, first_byte_timeout_s,
                    cost_multiplier, daily_cost_limit_usd, max_concurrency, insecure_skip_verify, updated_ms, id, created_ms)
                VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?14)
                """, values)
        } else {
            try db.run("""
                UPDATE channels SET name=?, kind=?, urls=?, key_strategy=?, priority=?, weight=?, enabled=?, proxy=?,
                    first_byte_timeout_s=?, cost_multiplier=?, daily_cost_limit_usd=?, max_concurrency=?,
                    insecure_skip_verify=?, updated_ms=? WHERE id=?
                """, values)
            try db.run("DELETE FROM channel_keys WHERE channel_id = ?", [.int(Int64(c.id))])
            try db.run("DELETE FROM channel_models WHERE channel_id = ?", [.int(Int64(c.id))])
        }
        for (i, k) in c.keys.enumerated() {
            try db.run("INSERT INTO channel_keys(channel_id, idx, secret) VALUES(?,?,?)",
                       [.int(Int64(c.id)), .int(Int64(i)), .text(k.secret)])
        }
        var position = 0
        for m in c.models {
            try db.run("INSERT INTO channel_models(channel_id, model, position, listed, redirect) VALUES(?,?,?,1,?)",
                       [.int(Int64(c.id)), .text(m), .int(Int64(position)), .text(c.redirects[m])])
            position += 1
        }
        for (from, to) in c.redirects.sorted(by: { $0.key < $1.key }) where !c.models.contains(from) {
            try db.run("INSERT INTO channel_models(channel_id, model, position, listed, redirect) VALUES(?,?,?,0,?)",
                       [.int(Int64(c.id)), .text(from), .int(Int64(position)), .text(to)])
            position += 1
        }
    }

    static func loadChannels(_ db: Database, id: Int?) throws -> [Channel] {
        let filter = id == nil ? "" : " WHERE id = ?"
        let args: [SQLValue] = id.map { [.int(Int64($0))] } ?? []
        let s = try db.cached("""
            SELECT id, name, kind, urls, key_strategy, priority, weight, enabled, proxy, first_byte_timeout_s,
                cost_multiplier, daily_cost_limit_usd, max_concurrency, insecure_skip_verify FROM channels\(filter) ORDER BY id
            """)
        try s.bind(args)
        var out: [Channel] = []
        var index: [Int: Int] = [:]
        while try s.step() {
            let cid = s.int(0)
            let kindText = s.text(2)
            guard let kind = ProtocolKind(rawValue: kindText) else {
                throw StoreError(.invalid, "channel \(cid) has an unknown protocol \(kindText)")
            }
            let urls = (try? JSONDecoder().decode([String].self, from: Data(s.text(3).utf8))) ?? []
            var c = Channel(id: cid, name: s.text(1), kind: kind, urls: urls, keys: [])
            c.keyStrategy = KeyStrategy(rawValue: s.text(4)) ?? .sequential
            c.priority = s.int(5)
            c.weight = s.optionalInt(6)
            c.enabled = s.bool(7)
            c.proxy = s.optionalText(8)
            c.firstByteTimeoutSeconds = s.optionalDouble(9)
            c.costMultiplier = s.double(10)
            c.dailyCostLimitUSD = s.optionalDouble(11)
            c.maxConcurrency = s.optionalInt(12)
            c.insecureSkipVerify = s.bool(13)
            index[cid] = out.count
            out.append(c)
        }
        s.reset()
        if out.isEmpty { return out }
        let keyFilter = id == nil ? "" : " WHERE channel_id = ?"
        let ks = try db.cached("SELECT channel_id, idx, secret FROM channel_keys\(keyFilter) ORDER BY channel_id, idx")
        try ks.bind(args)
        while try ks.step() {
            guard let i = index[ks.int(0)] else { continue }
            out[i].keys.append(ChannelKey(index: out[i].keys.count, secret: ks.text(2)))
        }
        ks.reset()
        let ms = try db.cached("SELECT channel_id, model, listed, redirect FROM channel_models\(keyFilter) ORDER BY channel_id, position")
        try ms.bind(args)
        while try ms.step() {
            guard let i = index[ms.int(0)] else { continue }
            let model = ms.text(1)
            if ms.bool(2) { out[i].models.append(model) }
            if let r = ms.optionalText(3) { out[i].redirects[model] = r }
        }
        ms.reset()
        return out
    }

    // MARK: client tokens

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
            try db.run("""
                INSERT INTO auth_tokens(hash, prefix, name, created_ms, last_used_ms, enabled, expires_ms, allowed_models,
                    daily_cost_cap_micro, total_cost_cap_micro, rpm_limit, concurrency_limit)
                VALUES(?,?,?,?,?,?,?,?,?,?,?,?)
                """, [.blob(stored.hash), .text(stored.prefix), .text(stored.name), .int(Int64(stored.createdMillis)),
                      .int64(stored.lastUsedMillis.map { Int64($0) }), .bool(stored.enabled),
                      .int64(stored.expiresAtMillis.map { Int64($0) }), .text(try Self.encodeModels(stored.allowedModels)),
                      .int64(stored.dailyCostCapMicroUSD), .int64(stored.totalCostCapMicroUSD),
                      .int(stored.requestsPerMinute), .int(stored.maxConcurrency)])
            return Int(db.lastInsertRowID)
        }
        t.id = id
        return CreatedToken(token: t, secret: secret)
    }

    public func tokens() throws -> [AuthToken] {
        try withConfig { db in try Self.loadTokens(db, "ORDER BY id", []) }
    }

    public func token(id: Int) throws -> AuthToken? {
        try withConfig { db in try Self.loadTokens(db, "WHERE id = ?", [.int(Int64(id))]).first }
    }

    /// The token whose secret hashes to `hash`, if any.
    public func token(hash: [UInt8]) throws -> AuthToken? {
        try withConfig { db in try Self.loadTokens(db, "WHERE hash = ?", [.blob(hash)]).first }
    }

    /// The token for a presented secret, if any.
    public func token(secret: String) throws -> AuthToken? {
        try token(hash: TokenDigest(of: Array(secret.utf8)).bytes)
    }

    /// Updates a token's editable fields (name, enabled, expiry, models, caps, limits). The
    /// hash, prefix, creation time and running totals are kept.
    public func updateToken(_ t: AuthToken) throws {
        let n = try withConfig { db in
            try db.run("""
                UPDATE auth_tokens SET name=?, enabled=?, expires_ms=?, allowed_models=?, daily_cost_cap_micro=?,
                    total_cost_cap_micro=?, rpm_limit=?, concurrency_limit=? WHERE id=?
                """, [.text(t.name), .bool(t.enabled), .int64(t.expiresAtMillis.map { Int64($0) }),
                      .text(try Self.encodeModels(t.allowedModels)), .int64(t.dailyCostCapMicroUSD),
                      .int64(t.totalCostCapMicroUSD), .int(t.requestsPerMinute), .int(t.maxConcurrency), .int(Int64(t.id))])
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

    static func loadTokens(_ db: Database, _ clause: String, _ args: [SQLValue]) throws -> [AuthToken] {
        let s = try db.cached("""
            SELECT id, name, prefix, hash, created_ms, last_used_ms, enabled, expires_ms, allowed_models,
                daily_cost_cap_micro, total_cost_cap_micro, rpm_limit, concurrency_limit, total_cost_micro, total_requests
            FROM auth_tokens \(clause)
            """)
        try s.bind(args)
        defer { s.reset() }
        var out: [AuthToken] = []
        while try s.step() {
            let models = s.optionalText(8).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
            out.append(AuthToken(
                id: s.int(0), name: s.text(1), prefix: s.text(2), hash: s.blob(3), createdMillis: UInt64(clamping: s.int64(4)),
                lastUsedMillis: s.optionalInt64(5).map { UInt64(clamping: $0) }, enabled: s.bool(6),
                expiresAtMillis: s.optionalInt64(7).map { UInt64(clamping: $0) }, allowedModels: models,
                dailyCostCapMicroUSD: s.optionalInt64(9), totalCostCapMicroUSD: s.optionalInt64(10),
                requestsPerMinute: s.optionalInt(11), maxConcurrency: s.optionalInt(12),
                totalCostMicroUSD: s.int64(13), totalRequests: s.int64(14)))
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

    // MARK: settings

    /// A setting's stored value, or its default. Unknown keys throw.
    public func setting(_ key: String) throws -> String {
        guard let def = SettingsCatalog.definition(key) else { throw StoreError(.invalid, "unknown setting \(key)") }
        return try withConfig { db in
            try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(key)]) ?? def.defaultValue
        }
    }

    public func intSetting(_ key: String) throws -> Int {
        let v = try setting(key)
        guard let i = Int(v) else { throw StoreError(.invalid, "setting \(key) is not an integer: \(v)") }
        return i
    }

    public func doubleSetting(_ key: String) throws -> Double {
        let v = try setting(key)
        guard let d = Double(v) else { throw StoreError(.invalid, "setting \(key) is not a number: \(v)") }
        return d
    }

    public func boolSetting(_ key: String) throws -> Bool { try setting(key) == "true" }

    /// Every known setting: stored values over defaults.
    public func settings() throws -> [String: String] {
        try withConfig { db in
            var out = Dictionary(uniqueKeysWithValues: SettingsCatalog.all.map { ($0.key, $0.defaultValue) })
            let s = try db.cached("SELECT key, value FROM settings")
            defer { s.reset() }
            while try s.step() {
                let k = s.text(0)
                if out[k] != nil { out[k] = s.text(1) }
            }
            return out
        }
    }

    /// Stores a setting after checking that the key is known and the value has its type
    /// and range.
    public func setSetting(_ key: String, _ value: String) throws {
        try setSettings([key: value])
    }

    /// Stores several settings in one transaction: all of them or, when one is unknown or
    /// out of range, none.
    public func setSettings(_ values: [String: String]) throws {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let def = SettingsCatalog.definition(key) else { throw StoreError(.invalid, "unknown setting \(key)") }
            if let why = SettingsCatalog.problem(value, def) { throw StoreError(.invalid, "setting \(key) \(why)") }
        }
        let now = Int64(options.wallClock())
        try withConfig { db in
            try db.transaction {
                for (key, value) in values {
                    try db.run("INSERT INTO settings(key, value, updated_ms) VALUES(?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ms=excluded.updated_ms",
                               [.text(key), .text(value), .int(now)])
                }
            }
        }
    }

    /// Forgets a stored value (the default applies again).
    public func resetSetting(_ key: String) throws {
        try withConfig { db in _ = try db.run("DELETE FROM settings WHERE key = ?", [.text(key)]) }
    }

    // MARK: admin sessions

    /// Creates a session lasting `ttlMillis`; returns its secret (kept only as a hash).
    public func createAdminSession(ttlMillis: UInt64) throws -> String {
        var raw = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&raw, Int32(raw.count)) == 1 else { throw StoreError(.other, "no randomness for a session") }
        let secret = Self.base64url(raw)
        let now = options.wallClock()
        try withConfig { db in
            try db.run("INSERT INTO admin_sessions(token_hash, created_ms, expires_ms) VALUES(?,?,?)",
                       [.blob(TokenDigest(of: Array(secret.utf8)).bytes), .int(Int64(now)), .int(Int64(now + ttlMillis))])
        }
        return secret
    }

    /// Whether `secret` names a session that has not expired.
    public func adminSessionValid(_ secret: String) throws -> Bool {
        let now = options.wallClock()
        return try withConfig { db in
            try db.scalarInt("SELECT 1 FROM admin_sessions WHERE token_hash = ? AND expires_ms > ?",
                             [.blob(TokenDigest(of: Array(secret.utf8)).bytes), .int(Int64(now))]) != nil
        }
    }

    @discardableResult
    public func deleteAdminSession(_ secret: String) throws -> Bool {
        try withConfig { db in
            try db.run("DELETE FROM admin_sessions WHERE token_hash = ?", [.blob(TokenDigest(of: Array(secret.utf8)).bytes)]) > 0
        }
    }

    /// Every unexpired session as (digest of its secret, expiry), deleting expired ones:
    /// the admin side keeps them in memory so checking a session never touches disk.
    public func adminSessions() throws -> [(digest: [UInt8], expiresMillis: UInt64)] {
        let now = Int64(options.wallClock())
        return try withConfig { db in
            _ = try db.run("DELETE FROM admin_sessions WHERE expires_ms <= ?", [.int(now)])
            let s = try db.prepare("SELECT token_hash, expires_ms FROM admin_sessions")
            var out: [(digest: [UInt8], expiresMillis: UInt64)] = []
            while try s.step() { out.append((s.blob(0), UInt64(clamping: s.int64(1)))) }
            return out
        }
    }

    // MARK: admin password

    /// The stored admin password hash (`AdminPassword`'s encoded form), if one was made.
    /// Kept in the settings table under a key the catalog does not list.
    public func adminPasswordHash() throws -> String? {
        try withConfig { db in try db.scalarText("SELECT value FROM settings WHERE key = '_admin_password'") }
    }

    /// Stores the hash of the same password (first start, or a re-hash with more iterations).
    public func setAdminPasswordHash(_ encoded: String) throws {
        try withConfig { db in try Self.writeAdminPasswordHash(db, encoded, now: options.wallClock()) }
    }

    /// Stores the hash of a new admin password and ends every admin session, in one
    /// transaction; returns how many sessions ended.
    @discardableResult
    public func changeAdminPassword(to encoded: String) throws -> Int {
        try withConfig { db in
            try db.transaction {
                try Self.writeAdminPasswordHash(db, encoded, now: options.wallClock())
                return try db.run("DELETE FROM admin_sessions")
            }
        }
    }

    private static func writeAdminPasswordHash(_ db: Database, _ encoded: String, now: UInt64) throws {
        try db.run("INSERT INTO settings(key, value, updated_ms) VALUES('_admin_password',?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ms=excluded.updated_ms",
                   [.text(encoded), .int(Int64(clamping: now))])
    }

    // MARK: cooldowns

    /// Replaces the stored cooldowns with the book's entries. Monotonic times become
    /// wall-clock milliseconds: until_ms = nowWallMillis + (until − nowMonotonic).
    public func saveCooldowns(_ book: CooldownBook, nowMonotonic: UInt64, nowWallMillis: UInt64) throws {
        try saveCooldowns(book.snapshot(now: nowMonotonic), nowMonotonic: nowMonotonic, nowWallMillis: nowWallMillis)
    }

    public func saveCooldowns(_ entries: [CooldownSnapshotEntry], nowMonotonic: UInt64, nowWallMillis: UInt64) throws {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM cooldowns")
                for e in entries {
                    let delta = Int64(bitPattern: e.until &- nowMonotonic) / 1_000_000
                    let until = Int64(nowWallMillis) + delta
                    let (kind, key, model): (String, Int64, String)
                    switch e.scope {
                    case .channel: (kind, key, model) = ("channel", -1, "")
                    case .key(_, let k): (kind, key, model) = ("key", Int64(k), "")
                    case .model(_, let m): (kind, key, model) = ("model", -1, m)
                    }
                    try db.run("""
                        INSERT INTO cooldowns(scope, channel_id, key_index, model, until_ms, duration_ms,
                            consecutive_failures, last_class, explicit) VALUES(?,?,?,?,?,?,?,?,?)
                        """, [.text(kind), .int(Int64(e.scope.channelID)), .int(key), .text(model), .int(until),
                              .int(Int64(e.durationNanos / 1_000_000)), .int(Int64(e.consecutiveFailures)),
                              .text(e.lastClass.rawValue), .bool(e.explicit)])
                }
            }
        }
    }

    /// The stored cooldowns as book entries on the monotonic clock:
    /// until = nowMonotonic + (until_ms − nowWallMillis), clamped at 0.
    public func loadCooldowns(nowMonotonic: UInt64, nowWallMillis: UInt64) throws -> [CooldownSnapshotEntry] {
        try withConfig { db in
            let s = try db.cached("""
                SELECT scope, channel_id, key_index, model, until_ms, duration_ms, consecutive_failures, last_class, explicit
                FROM cooldowns ORDER BY channel_id, scope, key_index, model
                """)
            defer { s.reset() }
            var out: [CooldownSnapshotEntry] = []
            while try s.step() {
                let channel = s.int(1)
                let scope: CooldownScope
                switch s.text(0) {
                case "channel": scope = .channel(channel)
                case "key": scope = .key(channelID: channel, keyIndex: s.int(2))
                default: scope = .model(channelID: channel, model: s.text(3))
                }
                // Stored times may be anything (a hand-edited database): the arithmetic saturates.
                let deltaNanos = Saturating.multiply(Saturating.subtract(s.int64(4), Int64(clamping: nowWallMillis)), 1_000_000)
                let until: UInt64 = deltaNanos >= 0 ? Saturating.add(nowMonotonic, UInt64(deltaNanos))
                    : Saturating.subtract(nowMonotonic, deltaNanos.magnitude)
                out.append(CooldownSnapshotEntry(
                    scope: scope, until: until, remainingNanos: until > nowMonotonic ? until - nowMonotonic : 0,
                    consecutiveFailures: s.int(6), lastClass: FailureClass(rawValue: s.text(7)) ?? .server,
                    durationNanos: Saturating.multiply(UInt64(clamping: s.int64(5)), 1_000_000), explicit: s.bool(8)))
            }
            return out
        }
    }

    /// Puts the stored cooldowns into `book` (start-up), so a restart does not hammer a
    /// channel that was cooling. Returns how many entries were restored.
    @discardableResult
    public func restoreCooldowns(into book: CooldownBook, nowMonotonic: UInt64, nowWallMillis: UInt64) throws -> Int {
        let entries = try loadCooldowns(nowMonotonic: nowMonotonic, nowWallMillis: nowWallMillis)
        book.restore(entries)
        return entries.count
    }
}
