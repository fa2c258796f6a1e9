import Proxy
import Reactor

/// Unexpired login sessions by the digest of their secret, each with whose it is
/// (`SessionUser`), in memory, so checking one never touches disk. The store holds the
/// same digests (never the secrets) so sessions survive a restart; `AdminContext` loads
/// them at start-up and writes each change there first. Shared by every loop.
public final class AdminSessions: Sendable {
    private struct Entry {
        var expiresMillis: UInt64
        var user: SessionUser
    }

    private let sessions = Lock<[TokenDigest: Entry]>([:])
    private let clock: @Sendable () -> UInt64

    public init(clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.clock = clock
    }

    public func load(_ entries: [(digest: [UInt8], expiresMillis: UInt64)]) {
        load(entries.map { StoredSession(digest: $0.digest, expiresMillis: $0.expiresMillis) })
    }

    public func load(_ entries: [StoredSession]) {
        sessions.withLock { s in
            for e in entries {
                s[TokenDigest(bytes: e.digest)] = Entry(expiresMillis: e.expiresMillis, user: SessionUser(userID: e.userID, role: e.role))
            }
        }
    }

    public func add(secret: String, expiresMillis: UInt64, user: SessionUser = .passwordAdmin) {
        sessions.withLock { $0[TokenDigest(of: Array(secret.utf8))] = Entry(expiresMillis: expiresMillis, user: user) }
    }

    /// Ends every session of user `userID` (disabled, deleted, another role or password).
    public func removeAll(userID: Int) {
        sessions.withLock { s in s = s.filter { $0.value.user.userID != userID } }
    }

    public func remove<C: Collection>(secret: C) where C.Element == UInt8 {
        _ = sessions.withLock { $0.removeValue(forKey: TokenDigest(of: secret)) }
    }

    /// Whether `secret` names a live session (an expired one is forgotten).
    public func valid<C: Collection>(_ secret: C) -> Bool where C.Element == UInt8 { user(secret) != nil }

    /// Whose live session `secret` names, or nil (an expired one is forgotten).
    public func user<C: Collection>(_ secret: C) -> SessionUser? where C.Element == UInt8 {
        let d = TokenDigest(of: secret)
        let now = clock()
        return sessions.withLock { s in
            guard let e = s[d] else { return nil }
            if e.expiresMillis <= now {
                s[d] = nil
                return nil
            }
            return e.user
        }
    }

    /// Forgets every session (the admin password changed).
    public func removeAll() {
        sessions.withLock { $0.removeAll() }
    }

    public var count: Int { sessions.withLock { $0.count } }
}

// MARK: stored sessions

extension AdminSessions {
    /// A new session secret: 32 random bytes, base64url (43 characters).
    public static func newSecret() -> String { AdminPassword.base64url(AdminPassword.random(32)) }

    /// Makes a session lasting `ttlMillis` from now (by the store's clock) and stores it
    /// (its digest only); returns its secret and expiry. Never on a reactor thread.
    public static func create(in store: Store, ttlMillis: UInt64, user: SessionUser = .passwordAdmin) throws
        -> (secret: String, expiresMillis: UInt64) {
        let secret = newSecret()
        let expires = Saturating.add(store.options.wallClock(), ttlMillis)
        try store.addSession(StoredSession(digest: TokenDigest(of: Array(secret.utf8)).bytes, expiresMillis: expires,
                                           userID: user.userID, role: user.role))
        return (secret, expires)
    }

    /// Deletes the stored session `secret` names; false when there was none. Never on a
    /// reactor thread.
    @discardableResult
    public static func delete(_ secret: String, in store: Store) throws -> Bool {
        try store.deleteSession(digest: TokenDigest(of: Array(secret.utf8)).bytes)
    }

    /// Loads every stored unexpired session (the store deletes expired ones). Start-up.
    public func load(from store: Store) throws {
        load(try store.liveSessions())
    }
}
