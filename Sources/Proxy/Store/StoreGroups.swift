// The stored channel groups and their member channels.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

/// What `Store.deleteGroup` did.
public enum GroupDeletion: Sendable, Equatable {
    case deleted(detachedTokens: Int)
    case notFound
    /// Tokens are in the group and the caller did not ask to detach them; their ids.
    case inUse(tokenIDs: [Int])
}

extension Store {
    /// Every group, by id, with its member channel ids.
    public func groups() throws -> [ChannelGroup] {
        try withConfig { db in try Self.loadGroups(db, id: nil) }
    }

    public func group(id: Int) throws -> ChannelGroup? {
        try withConfig { db in try Self.loadGroups(db, id: id).first }
    }

    /// Inserts `group` with a new id. Throws `.invalid` naming a member that is not a stored
    /// channel, `.constraint` for a name in use. Returns it as stored.
    public func createGroup(_ group: ChannelGroup) throws -> ChannelGroup {
        try withConfig { db in
            try db.transaction {
                var g = group
                try Self.checkGroup(db, g)
                let now = options.wallClock()
                g.createdMillis = now
                g.updatedMillis = now
                g.id = Int(try db.insertReturningID("INSERT INTO channel_groups(name, remark, created_ms, updated_ms) VALUES(?,?,?,?) RETURNING id",
                                                    [.text(g.name), .text(g.remark), .int(Int64(now)), .int(Int64(now))]))
                try Self.writeMembers(db, g)
                return g
            }
        }
    }

    /// Replaces group `group.id`'s name, remark and members.
    public func updateGroup(_ group: ChannelGroup) throws -> ChannelGroup {
        try withConfig { db in
            try db.transaction {
                guard let old = try Self.loadGroups(db, id: group.id).first else {
                    throw StoreError(.notFound, "group \(group.id) does not exist")
                }
                var g = group
                try Self.checkGroup(db, g)
                g.createdMillis = old.createdMillis
                g.updatedMillis = options.wallClock()
                try db.run("UPDATE channel_groups SET name=?, remark=?, updated_ms=? WHERE id=?",
                           [.text(g.name), .text(g.remark), .int(Int64(g.updatedMillis)), .int(Int64(g.id))])
                try db.run("DELETE FROM channel_group_members WHERE group_id = ?", [.int(Int64(g.id))])
                try Self.writeMembers(db, g)
                return g
            }
        }
    }

    /// Deletes a group; a group tokens are in is kept (`.inUse`) unless `detach`, which
    /// first clears those tokens' group (they then use every channel).
    public func deleteGroup(id: Int, detach: Bool) throws -> GroupDeletion {
        try withConfig { db in
            try db.transaction {
                guard try db.scalarInt("SELECT 1 FROM channel_groups WHERE id = ?", [.int(Int64(id))]) != nil else {
                    return .notFound
                }
                let s = try db.cached("SELECT id FROM auth_tokens WHERE group_id = ? ORDER BY id")
                try s.bind([.int(Int64(id))])
                var users: [Int] = []
                while try s.step() { users.append(s.int(0)) }
                s.reset()
                if !users.isEmpty && !detach { return .inUse(tokenIDs: users) }
                try db.run("UPDATE auth_tokens SET group_id = NULL WHERE group_id = ?", [.int(Int64(id))])
                try db.run("DELETE FROM channel_groups WHERE id = ?", [.int(Int64(id))])
                return .deleted(detachedTokens: users.count)
            }
        }
    }

    /// Drops channels that are no longer stored from every group (after a channel delete
    /// or import). Inside the caller's transaction.
    static func pruneGroupMembers(_ db: any SQLConnection) throws {
        try db.run("DELETE FROM channel_group_members WHERE channel_id NOT IN (SELECT id FROM channels)")
    }

    static func checkGroup(_ db: any SQLConnection, _ g: ChannelGroup) throws {
        for cid in g.channelIDs {
            guard try db.scalarInt("SELECT 1 FROM channels WHERE id = ?", [.int(Int64(cid))]) != nil else {
                throw StoreError(.invalid, "channel \(cid) does not exist")
            }
        }
        if let other = try db.scalarInt("SELECT id FROM channel_groups WHERE name = ? AND id != ?",
                                        [.text(g.name), .int(Int64(g.id))]) {
            throw StoreError(.constraint, "group name \"\(g.name)\" is already used by group \(other)")
        }
    }

    static func writeMembers(_ db: any SQLConnection, _ g: ChannelGroup) throws {
        for cid in Set(g.channelIDs).sorted() {
            try db.run("INSERT INTO channel_group_members(group_id, channel_id) VALUES(?,?)",
                       [.int(Int64(g.id)), .int(Int64(cid))])
        }
    }

    static func loadGroups(_ db: any SQLConnection, id: Int?) throws -> [ChannelGroup] {
        let filter = id == nil ? "" : " WHERE id = ?"
        let args: [SQLValue] = id.map { [.int(Int64($0))] } ?? []
        let s = try db.cached("SELECT id, name, remark, created_ms, updated_ms FROM channel_groups\(filter) ORDER BY id")
        try s.bind(args)
        var out: [ChannelGroup] = []
        var index: [Int: Int] = [:]
        while try s.step() {
            index[s.int(0)] = out.count
            out.append(ChannelGroup(id: s.int(0), name: s.text(1), remark: s.optionalText(2),
                                    createdMillis: UInt64(clamping: s.int64(3)), updatedMillis: UInt64(clamping: s.int64(4))))
        }
        s.reset()
        if out.isEmpty { return out }
        let mfilter = id == nil ? "" : " WHERE group_id = ?"
        let m = try db.cached("SELECT group_id, channel_id FROM channel_group_members\(mfilter) ORDER BY group_id, channel_id")
        try m.bind(args)
        while try m.step() {
            guard let i = index[m.int(0)] else { continue }
            out[i].channelIDs.append(m.int(1))
        }
        m.reset()
        return out
    }
}
