import Proxy
import Reactor

/// What every loop's admin router shares: the store, the control plane that applies a
/// change to the proxy, the admin password, sessions and the login limiter.
public final class AdminContext: Sendable {
    public let store: Store
    public let control: ControlPlane
    public let sessions: AdminSessions
    public let limiter: LoginLimiter
    public let password: AdminPassword
    /// Mark the session cookie `Secure` (ccload serves HTTPS).
    public let secureCookies: Bool
    /// Serve `GET /metrics` in Prometheus text format (`CCLOAD_METRICS=1`).
    public let metricsEndpoint: Bool
    public let startedMillis: UInt64

    public var shared: ProxyShared { control.shared }

    public init(store: Store, control: ControlPlane, password: AdminPassword, sessions: AdminSessions = AdminSessions(),
                limiter: LoginLimiter = LoginLimiter(), secureCookies: Bool = false, metricsEndpoint: Bool = false) {
        self.store = store
        self.control = control
        self.password = password
        self.sessions = sessions
        self.limiter = limiter
        self.secureCookies = secureCookies
        self.metricsEndpoint = metricsEndpoint
        startedMillis = wallClockMillis()
    }

    /// Start-up (never on a reactor thread): the password is `CCLOAD_PASS` when given;
    /// otherwise the stored hash, or, on first start, a generated password whose hash is
    /// stored and which is handed to `announce` once. Stored sessions are loaded.
    public static func prepare(store: Store, control: ControlPlane, password: String?, secureCookies: Bool,
                               metricsEndpoint: Bool, announce: (String) -> Void) throws -> AdminContext {
        let hashed: AdminPassword
        if let password {
            hashed = AdminPassword(hashing: password)
        } else if let stored = try store.adminPasswordHash(), let p = AdminPassword(encoded: stored) {
            hashed = p
        } else {
            let fresh = AdminPassword.generate()
            hashed = AdminPassword(hashing: fresh)
            try store.setAdminPasswordHash(hashed.encoded)
            announce(fresh)
        }
        let sessions = AdminSessions()
        sessions.load(try store.adminSessions())
        return AdminContext(store: store, control: control, password: hashed, sessions: sessions,
                            secureCookies: secureCookies, metricsEndpoint: metricsEndpoint)
    }
}
