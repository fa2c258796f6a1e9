import Foundation

// The users who log in to the admin API. Every method is synchronous on the configuration
// connection (`synchronous=FULL`, so a write is durable when it returns). Never call these
// on a reactor thread: call them at start-up or inside a `Store.query` body.

extension Store {
    /// Stores a new user; a username already taken (in any ASCII case) throws `.constraint`.
    public func createUser(_ user: User) throws -> User {
        var u = user
        let now = options.wallClock()
        if u.createdMillis == 0 { u.createdMillis = now }
        u.updatedMillis = now
        let stored = u
        u.id = try withConfig { db -> Int in
            do {
                return Int(try db.insertReturningID("""
                    INSERT INTO users(username, password_hash, role, email, enabled, approved, allowed_group_ids,
                        daily_cost_cap_micro, weekly_cost_cap_micro, monthly_cost_cap_micro, total_cost_cap_micro,
                        rpm_limit, concurrency_limit, created_ms, updated_ms)
                    VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id
                    """, [.text(stored.username), .text(stored.passwordHash), .text(stored.role.rawValue), .text(stored.email),
                          .bool(stored.enabled), .bool(stored.approved), .text(try Self.encodeIDs(stored.allowedGroupIDs))]
                        + Self.limitValues(stored.limits)
                        + [.int(Int64(clamping: stored.createdMillis)), .int(Int64(clamping: stored.updatedMillis))]))
            } catch let e as StoreError where e.kind == .constraint {
                throw StoreError(.constraint, "username \(stored.username) is taken")
            }
        }
        return u
    }

    /// How many users await the admin's approval.
    public func pendingUserCount() throws -> Int {
        try withConfig { db in Int(try db.scalarInt("SELECT count(*) FROM users WHERE approved = 0") ?? 0) }
    }

    public func users() throws -> [User] {
        try withConfig { db in try Self.loadUsers(db, "ORDER BY id", []) }
    }

    public func user(id: Int) throws -> User? {
        try withConfig { db in try Self.loadUsers(db, "WHERE id = ?", [.int(Int64(id))]).first }
    }

    /// The user called `username` (ASCII case ignored), if any.
    public func user(username: String) throws -> User? {
        try withConfig { db in try Self.loadUsers(db, "WHERE " + db.dialect.equalsIgnoringCase("username"), [.text(username)]).first }
    }

    /// Writes a user's fields (all but the id and creation time). A user who can no longer
    /// log in as before (disabled, not approved, another role, another password) loses
    /// every session in the same transaction; returns how many. A username taken by another
    /// user throws `.constraint`.
    @discardableResult
    public func updateUser(_ u: User) throws -> Int {
        let now = Int64(clamping: options.wallClock())
        return try withConfig { db in
            try db.transaction {
                guard let old = try Self.loadUsers(db, "WHERE id = ?", [.int(Int64(u.id))]).first else {
                    throw StoreError(.notFound, "user \(u.id) does not exist")
                }
                do {
                    try db.run("""
                        UPDATE users SET username=?, password_hash=?, role=?, email=?, enabled=?, approved=?, allowed_group_ids=?,
                            daily_cost_cap_micro=?, weekly_cost_cap_micro=?, monthly_cost_cap_micro=?, total_cost_cap_micro=?,
                            rpm_limit=?, concurrency_limit=?, updated_ms=? WHERE id=?
                        """, [.text(u.username), .text(u.passwordHash), .text(u.role.rawValue), .text(u.email), .bool(u.enabled),
                              .bool(u.approved), .text(try Self.encodeIDs(u.allowedGroupIDs))]
                            + Self.limitValues(u.limits) + [.int(now), .int(Int64(u.id))])
                } catch let e as StoreError where e.kind == .constraint {
                    throw StoreError(.constraint, "username \(u.username) is taken")
                }
                let ends = !u.active || u.role != old.role || u.passwordHash != old.passwordHash
                return ends ? try db.run("DELETE FROM admin_sessions WHERE user_id = ?", [.int(Int64(u.id))]) : 0
            }
        }
    }

    /// Replaces a user's password hash; with `endingSessions` (a new password, not a
    /// re-hash of the same one) every session of theirs is deleted in the same transaction.
    /// Returns how many were.
    @discardableResult
    public func setPasswordHash(userID: Int, _ encoded: String, endingSessions: Bool) throws -> Int {
        let now = Int64(clamping: options.wallClock())
        return try withConfig { db in
            try db.transaction {
                let arg: [SQLValue] = [.int(Int64(userID))]
                guard try db.run("UPDATE users SET password_hash = ?, updated_ms = ? WHERE id = ?", [.text(encoded), .int(now)] + arg) > 0 else {
                    throw StoreError(.notFound, "user \(userID) does not exist")
                }
                return endingSessions ? try db.run("DELETE FROM admin_sessions WHERE user_id = ?", arg) : 0
            }
        }
    }

    /// Deletes a user with their tokens and sessions, in one transaction; false when there
    /// was no such user.
    @discardableResult
    public func deleteUser(id: Int) throws -> Bool {
        try withConfig { db in
            try db.transaction {
                let arg: [SQLValue] = [.int(Int64(id))]
                guard try db.run("DELETE FROM users WHERE id = ?", arg) > 0 else { return false }
                _ = try db.run("DELETE FROM auth_tokens WHERE owner_user_id = ?", arg)
                _ = try db.run("DELETE FROM admin_sessions WHERE user_id = ?", arg)
                return true
            }
        }
    }

    static func limitValues(_ l: TokenLimits) -> [SQLValue] {
        [.int64(l.dailyCostCapMicroUSD), .int64(l.weeklyCostCapMicroUSD), .int64(l.monthlyCostCapMicroUSD),
         .int64(l.totalCostCapMicroUSD), .int(l.requestsPerMinute), .int(l.maxConcurrency)]
    }

    static func encodeIDs(_ ids: [Int]) throws -> String {
        String(decoding: try JSONEncoder().encode(ids), as: UTF8.self)
    }

    static func loadUsers(_ db: any SQLConnection, _ clause: String, _ args: [SQLValue]) throws -> [User] {
        let s = try db.cached("""
            SELECT id, username, password_hash, role, email, enabled, approved, allowed_group_ids,
                daily_cost_cap_micro, weekly_cost_cap_micro, monthly_cost_cap_micro, total_cost_cap_micro,
                rpm_limit, concurrency_limit, created_ms, updated_ms
            FROM users \(clause)
            """)
        try s.bind(args)
        defer { s.reset() }
        var out: [User] = []
        while try s.step() {
            let groups = (try? JSONDecoder().decode([Int].self, from: Data(s.text(7).utf8))) ?? []
            out.append(User(
                id: s.int(0), username: s.text(1), passwordHash: s.text(2), role: User.Role(rawValue: s.text(3)) ?? .user,
                email: s.optionalText(4), enabled: s.bool(5), approved: s.bool(6), allowedGroupIDs: groups,
                limits: TokenLimits(dailyCostCapMicroUSD: s.optionalInt64(8), weeklyCostCapMicroUSD: s.optionalInt64(9),
                                    monthlyCostCapMicroUSD: s.optionalInt64(10), totalCostCapMicroUSD: s.optionalInt64(11),
                                    requestsPerMinute: s.optionalInt(12), maxConcurrency: s.optionalInt(13)),
                createdMillis: UInt64(clamping: s.int64(14)), updatedMillis: UInt64(clamping: s.int64(15))))
        }
        return out
    }
}
