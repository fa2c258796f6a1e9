// Login sessions, kept across a restart: the digest of each session's secret (never the
// secret) and when it ends. What a session is for, how long it lasts and how its secret is
// made is the caller's (Admin's); the store keeps the rows, and retention deletes the
// expired ones.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

/// A session as stored.
public struct StoredSession: Sendable, Equatable {
    /// SHA-256 of the session's secret.
    public var digest: [UInt8]
    /// Wall-clock milliseconds; the session is over from then on.
    public var expiresMillis: UInt64
    /// Whose it is: a user's id, or nil for the `CCLOAD_PASS` admin.
    public var userID: Int?
    /// The role it acts with (the user's, read when sessions are loaded; admin for nil).
    public var role: User.Role

    public init(digest: [UInt8], expiresMillis: UInt64, userID: Int? = nil, role: User.Role = .admin) {
        self.digest = digest
        self.expiresMillis = expiresMillis
        self.userID = userID
        self.role = userID == nil ? .admin : role
    }
}

extension Store {
    /// Stores a session (created now, by the store's clock).
    public func addSession(_ session: StoredSession) throws {
        let now = options.wallClock()
        try withConfig { db in
            try db.run("INSERT INTO admin_sessions(token_hash, created_ms, expires_ms, user_id) VALUES(?,?,?,?)",
                       [.blob(session.digest), .int(Int64(clamping: now)), .int(Int64(clamping: session.expiresMillis)),
                        .int(session.userID)])
        }
    }

    /// Deletes the session with this digest; false when there was none.
    @discardableResult
    public func deleteSession(digest: [UInt8]) throws -> Bool {
        try withConfig { db in try db.run("DELETE FROM admin_sessions WHERE token_hash = ?", [.blob(digest)]) > 0 }
    }

    /// Deletes every session of user `userID`; returns how many there were.
    @discardableResult
    public func deleteSessions(userID: Int) throws -> Int {
        try withConfig { db in try db.run("DELETE FROM admin_sessions WHERE user_id = ?", [.int(Int64(userID))]) }
    }

    /// Every session that has not expired (by the store's clock) with its user's role,
    /// deleting the expired ones and those of users who are gone, disabled or not approved.
    public func liveSessions() throws -> [StoredSession] {
        let now = Int64(clamping: options.wallClock())
        return try withConfig { db in
            _ = try db.run("DELETE FROM admin_sessions WHERE expires_ms <= ?", [.int(now)])
            _ = try db.run("""
                DELETE FROM admin_sessions WHERE user_id IS NOT NULL
                    AND user_id NOT IN (SELECT id FROM users WHERE enabled = 1 AND approved = 1)
                """)
            let s = try db.prepare("""
                SELECT s.token_hash, s.expires_ms, s.user_id, u.role FROM admin_sessions s LEFT JOIN users u ON u.id = s.user_id
                """)
            var out: [StoredSession] = []
            while try s.step() {
                out.append(StoredSession(digest: s.blob(0), expiresMillis: UInt64(clamping: s.int64(1)), userID: s.optionalInt(2),
                                         role: s.optionalText(3).flatMap(User.Role.init(rawValue:)) ?? .user))
            }
            return out
        }
    }
}
