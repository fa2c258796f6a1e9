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

    public init(digest: [UInt8], expiresMillis: UInt64) {
        self.digest = digest
        self.expiresMillis = expiresMillis
    }
}

extension Store {
    /// Stores a session (created now, by the store's clock).
    public func addSession(_ session: StoredSession) throws {
        let now = options.wallClock()
        try withConfig { db in
            try db.run("INSERT INTO admin_sessions(token_hash, created_ms, expires_ms) VALUES(?,?,?)",
                       [.blob(session.digest), .int(Int64(clamping: now)), .int(Int64(clamping: session.expiresMillis))])
        }
    }

    /// Deletes the session with this digest; false when there was none.
    @discardableResult
    public func deleteSession(digest: [UInt8]) throws -> Bool {
        try withConfig { db in try db.run("DELETE FROM admin_sessions WHERE token_hash = ?", [.blob(digest)]) > 0 }
    }

    /// Every session that has not expired (by the store's clock), deleting the expired ones.
    public func liveSessions() throws -> [StoredSession] {
        let now = Int64(clamping: options.wallClock())
        return try withConfig { db in
            _ = try db.run("DELETE FROM admin_sessions WHERE expires_ms <= ?", [.int(now)])
            let s = try db.prepare("SELECT token_hash, expires_ms FROM admin_sessions")
            var out: [StoredSession] = []
            while try s.step() { out.append(StoredSession(digest: s.blob(0), expiresMillis: UInt64(clamping: s.int64(1)))) }
            return out
        }
    }
}
