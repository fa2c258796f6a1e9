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
