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

    public var count: Int { sessions.withLock { $0.count } }
}

/// Failed logins per client address: at most `limit` in any `windowMillis`; past that,
/// every login from the address is refused until the oldest failure leaves the window.
public final class LoginLimiter: Sendable {
    public let limit: Int
    public let windowMillis: UInt64
    private let failures = Lock<[String: [UInt64]]>([:])
    private let clock: @Sendable () -> UInt64

    public init(limit: Int = 5, windowMillis: UInt64 = 60_000, clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.limit = limit
        self.windowMillis = windowMillis
        self.clock = clock
    }

    /// Seconds until `address` may try again, or nil when it may try now.
    public func retryAfterSeconds(_ address: String) -> Int? {
        let now = clock()
        return failures.withLock { f -> Int? in
            guard var list = f[address] else { return nil }
            list.removeAll { now &- $0 >= windowMillis }
            f[address] = list.isEmpty ? nil : list
            guard list.count >= limit, let oldest = list.first else { return nil }
            return Int((oldest + windowMillis - now + 999) / 1000)
        }
    }

    public func recordFailure(_ address: String) {
        let now = clock()
        failures.withLock { f in
            var list = f[address] ?? []
            list.removeAll { now &- $0 >= windowMillis }
            list.append(now)
            f[address] = list
            // Bound the table: an address flood cannot grow it without end.
            if f.count > 100_000 { f.removeAll() }
        }
    }

    public func recordSuccess(_ address: String) {
        _ = failures.withLock { $0.removeValue(forKey: address) }
    }
}
