import Foundation

// The stored channels (with their keys, models and redirects).
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

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

extension Store {

    /// Every channel, by id, with its keys, models and redirects.
    public func channels() throws -> [Channel] {
        try withConfig { db in try Self.loadChannels(db, id: nil, secrets) }
    }

    public func channel(id: Int) throws -> Channel? {
        try withConfig { db in try Self.loadChannels(db, id: id, secrets).first }
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
                try Self.writeChannel(db, c, insert: true, now: options.wallClock(), secrets)
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
                try Self.writeChannel(db, channel, insert: false, now: options.wallClock(), secrets)
            }
        }
    }

    /// Deletes a channel with its keys, models and group memberships; false when there was none.
    @discardableResult
    public func deleteChannel(id: Int) throws -> Bool {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM cooldowns WHERE channel_id = ?", [.int(Int64(id))])
                let deleted = try db.run("DELETE FROM channels WHERE id = ?", [.int(Int64(id))]) > 0
                try Self.pruneGroupMembers(db)
                return deleted
            }
        }
    }

    /// Replaces every channel with `channels` in one transaction (an import); groups keep
    /// the ids still present.
    public func replaceChannels(_ channels: [Channel]) throws {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM channels")
                let now = options.wallClock()
                for c in channels { try Self.writeChannel(db, c, insert: true, now: now, secrets) }
                try Self.pruneGroupMembers(db)
            }
        }
    }

    /// Reads the stored channels, asks `plan` what to change, checks that the channels
    /// after the change form a valid `ChannelTable`, and writes the change: all in one
    /// transaction under the configuration lock, so no other edit comes between the read
    /// and the write, and a refused change writes nothing. Throws what `plan` throws, the
    /// `ChannelTableError` that makes the result invalid, or `.notFound` for an id to
    /// update or delete that is not stored. Returns the written channels (new ids filled
    /// in), in the order given. Deleted channels' stored cooldowns and group memberships go too.
    @discardableResult
    public func editChannels(_ plan: ([Channel]) throws -> ChannelEdit) throws -> [Channel] {
        try withConfig { db in
            try db.transaction {
                let current = try Self.loadChannels(db, id: nil, secrets)
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
                for c in written { try Self.writeChannel(db, c, insert: !known.contains(c.id), now: now, secrets) }
                if !edit.deletions.isEmpty { try Self.pruneGroupMembers(db) }
                return written
            }
        }
    }

    /// Writes one channel; its keys and proxy URL are sealed with `box`.
    static func writeChannel(_ db: any SQLConnection, _ c: Channel, insert: Bool, now: UInt64, _ box: SecretBox) throws {
        guard !c.name.isEmpty else { throw StoreError(.invalid, "a channel needs a name") }
        let urls = String(decoding: try JSONEncoder().encode(c.urls), as: UTF8.self)
        let values: [SQLValue] = [
            .text(c.name), .text(c.kind.rawValue), .text(urls), .text(c.keyStrategy.rawValue), .int(c.priority),
            .int(c.weight), .bool(c.enabled), .text(c.proxy.map(box.seal)), .double(c.firstByteTimeoutSeconds), .double(c.costMultiplier),
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
        // Only a channel with probe settings writes a row (so an older schema without the
        // table still takes a channel without them).
        if !insert { try db.run("DELETE FROM channel_probes WHERE channel_id = ?", [.int(Int64(c.id))]) }
        if c.probeIntervalSeconds != nil || c.probeModel != nil {
            try db.run("INSERT INTO channel_probes(channel_id, interval_s, model) VALUES(?,?,?)",
                       [.int(Int64(c.id)), .int(c.probeIntervalSeconds), .text(c.probeModel)])
        }
        for (i, k) in c.keys.enumerated() {
            try db.run("INSERT INTO channel_keys(channel_id, idx, secret) VALUES(?,?,?)",
                       [.int(Int64(c.id)), .int(Int64(i)), .text(box.seal(k.secret))])
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

    /// Reads channels (all, or the one with `id`); keys and proxy URLs are opened with `box`
    /// here, once per load of the channel table, never per request.
    static func loadChannels(_ db: any SQLConnection, id: Int?, _ box: SecretBox) throws -> [Channel] {
        let filter = id == nil ? "" : " WHERE id = ?"
        let args: [SQLValue] = id.map { [.int(Int64($0))] } ?? []
        let s = try db.cached("""
            SELECT id, name, kind, urls, key_strategy, priority, weight, enabled, proxy, first_byte_timeout_s,
                cost_multiplier, daily_cost_limit_usd, max_concurrency, insecure_skip_verify FROM channels\(filter) ORDER BY id
            """)
        try s.bind(args)
        defer { s.reset() }
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
            c.proxy = try s.optionalText(8).map { try Self.open($0, with: box, what: "channel \(cid)'s proxy") }
            c.firstByteTimeoutSeconds = s.optionalDouble(9)
            c.costMultiplier = s.double(10)
            c.dailyCostLimitUSD = s.optionalDouble(11)
            c.maxConcurrency = s.optionalInt(12)
            c.insecureSkipVerify = s.bool(13)
            index[cid] = out.count
            out.append(c)
        }
        if out.isEmpty { return out }
        let keyFilter = id == nil ? "" : " WHERE channel_id = ?"
        let ks = try db.cached("SELECT channel_id, idx, secret FROM channel_keys\(keyFilter) ORDER BY channel_id, idx")
        try ks.bind(args)
        // A key that does not open throws out of the loop: the statement is reset either way.
        defer { ks.reset() }
        while try ks.step() {
            guard let i = index[ks.int(0)] else { continue }
            let secret = try Self.open(ks.text(2), with: box, what: "channel \(ks.int(0))'s key \(ks.int(1) + 1)")
            out[i].keys.append(ChannelKey(index: out[i].keys.count, secret: secret))
        }
        let ms = try db.cached("SELECT channel_id, model, listed, redirect FROM channel_models\(keyFilter) ORDER BY channel_id, position")
        try ms.bind(args)
        while try ms.step() {
            guard let i = index[ms.int(0)] else { continue }
            let model = ms.text(1)
            if ms.bool(2) { out[i].models.append(model) }
            if let r = ms.optionalText(3) { out[i].redirects[model] = r }
        }
        ms.reset()
        let ps = try db.cached("SELECT channel_id, interval_s, model FROM channel_probes\(keyFilter)")
        try ps.bind(args)
        while try ps.step() {
            guard let i = index[ps.int(0)] else { continue }
            out[i].probeIntervalSeconds = ps.optionalInt(1)
            out[i].probeModel = ps.optionalText(2)
        }
        ps.reset()
        return out
    }
}
