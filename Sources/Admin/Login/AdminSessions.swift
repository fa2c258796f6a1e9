import Proxy
import Reactor

/// Unexpired admin sessions by the digest of their secret, in memory, so checking one
/// never touches disk. The store holds the same digests (never the secrets) so sessions
/// survive a restart; `AdminContext` loads them at start-up and writes each change there
/// first. Shared by every loop.
public final class AdminSessions: Sendable {
    private let sessions = Lock<[TokenDigest: UInt64]>([:])
    private let clock: @Sendable () -> UInt64

    public init(clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.clock = clock
    }

    public func load(_ entries: [(digest: [UInt8], expiresMillis: UInt64)]) {
        sessions.withLock { s in for e in entries { s[TokenDigest(bytes: e.digest)] = e.expiresMillis } }
    }

    public func add(secret: String, expiresMillis: UInt64) {
        sessions.withLock { $0[TokenDigest(of: Array(secret.utf8))] = expiresMillis }
    }

    public func remove<C: Collection>(secret: C) where C.Element == UInt8 {
        _ = sessions.withLock { $0.removeValue(forKey: TokenDigest(of: secret)) }
    }

    /// Whether `secret` names a live session (an expired one is forgotten).
    public func valid<C: Collection>(_ secret: C) -> Bool where C.Element == UInt8 {
        let d = TokenDigest(of: secret)
        let now = clock()
        return sessions.withLock { s in
            guard let until = s[d] else { return false }
            if until <= now {
                s[d] = nil
                return false
            }
            return true
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
    public static func create(in store: Store, ttlMillis: UInt64) throws -> (secret: String, expiresMillis: UInt64) {
        let secret = newSecret()
        let expires = Saturating.add(store.options.wallClock(), ttlMillis)
        try store.addSession(StoredSession(digest: TokenDigest(of: Array(secret.utf8)).bytes, expiresMillis: expires))
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
        load(try store.liveSessions().map { ($0.digest, $0.expiresMillis) })
    }
}
