import Proxy
import Reactor

/// What every loop's admin router shares: the store, the control plane that applies a
/// change to the proxy, the admin password, sessions, the login limiter and the proxies
/// whose `X-Forwarded-For` it believes.
public final class AdminContext: Sendable {
    public let store: Store
    public let control: ControlPlane
    public let sessions: AdminSessions
    public let limiter: LoginLimiter
    public let trustedProxies: TrustedProxies
    /// Mark the session cookie `Secure` (ccload serves HTTPS).
    public let secureCookies: Bool
    /// Serve `GET /metrics` in Prometheus text format (`CCLOAD_METRICS=1`).
    public let metricsEndpoint: Bool
    public let startedMillis: UInt64
    /// Replaced only by a re-hash of the same password (more iterations).
    private let passwordHash: Lock<AdminPassword>

    public var shared: ProxyShared { control.shared }

    /// The admin password's hash.
    public var password: AdminPassword { passwordHash.withLock { $0 } }

    public init(store: Store, control: ControlPlane, password: AdminPassword, sessions: AdminSessions = AdminSessions(),
                limiter: LoginLimiter = LoginLimiter(), trustedProxies: TrustedProxies = .none,
                secureCookies: Bool = false, metricsEndpoint: Bool = false) {
        self.store = store
        self.control = control
        passwordHash = Lock(password)
        self.sessions = sessions
        self.limiter = limiter
        self.trustedProxies = trustedProxies
        self.secureCookies = secureCookies
        self.metricsEndpoint = metricsEndpoint
        startedMillis = wallClockMillis()
    }

    /// Checks a presented password (slow: never on a reactor thread). A match against a
    /// hash with fewer iterations than new hashes get re-hashes the password and stores
    /// the new hash; a store that cannot be written keeps the old one (logged).
    public func checkPassword(_ presented: String) -> Bool {
        let current = password
        guard current.matches(presented) else { return false }
        if current.needsRehash {
            let upgraded = AdminPassword(hashing: presented)
            do {
                try upgraded.save(in: store)
                passwordHash.withLock { $0 = upgraded }
                Log.info("admin password re-hashed with \(AdminPassword.iterations) PBKDF2 iterations")
            } catch {
                Log.warn("could not store the re-hashed admin password (\((error as? StoreError)?.message ?? "\(error)")); the old hash stays")
            }
        }
        return true
    }

    /// Start-up (never on a reactor thread). With `CCLOAD_PASS` (`password`), the stored
    /// hash is kept when it is of that password (re-hashed when it has fewer iterations
    /// than new hashes get); otherwise the password changed: its hash replaces the stored
    /// one and every admin session ends. Without it, the stored hash applies, or, on first
    /// start, a generated password whose hash is stored and which is handed to `announce`
    /// once. Stored sessions are then loaded.
    public static func prepare(store: Store, control: ControlPlane, password: String?, trustedProxies: TrustedProxies = .none,
                               secureCookies: Bool, metricsEndpoint: Bool, announce: (String) -> Void) throws -> AdminContext {
        let hashed: AdminPassword
        let stored = try AdminPassword.stored(in: store)
        if let password {
            if let stored, stored.matches(password) {
                if stored.needsRehash {
                    hashed = AdminPassword(hashing: password)
                    try hashed.save(in: store)
                } else {
                    hashed = stored
                }
            } else {
                hashed = AdminPassword(hashing: password)
                let ended = try hashed.saveAsNewPassword(in: store)
                if ended > 0 { Log.info("the admin password changed (CCLOAD_PASS): \(ended) admin sessions ended") }
            }
        } else if let stored {
            hashed = stored
        } else {
            let fresh = AdminPassword.generate()
            hashed = AdminPassword(hashing: fresh)
            try hashed.saveAsNewPassword(in: store)
            announce(fresh)
        }
        let sessions = AdminSessions()
        try sessions.load(from: store)
        return AdminContext(store: store, control: control, password: hashed, sessions: sessions,
                            trustedProxies: trustedProxies, secureCookies: secureCookies, metricsEndpoint: metricsEndpoint)
    }
}
