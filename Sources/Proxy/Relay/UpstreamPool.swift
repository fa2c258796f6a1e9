import Reactor
import TLS
import Synchronization

/// Keep-alive connections to upstream origins, one pool per loop (never shared across
/// threads). Idle connections are bounded per origin and closed after an idle timeout;
/// the most recently used one is handed out first. Owner: one loop.
public final class UpstreamPool: TimerTarget, @unchecked Sendable {
    public struct Settings: Sendable {
        public var maxIdlePerOrigin = 128
        public var idleTimeoutNanos: UInt64 = 60 * nanosPerSecond
        public var connectTimeoutNanos = SettingsCatalog.defaultNanos("connect_timeout_seconds")
        /// Verification settings and session cache for HTTPS upstreams.
        public var tls: TLSClientContext?
        /// For targets that skip verification (`insecure_skip_verify` channels); made on
        /// first use, since a context costs megabytes once its CA store is loaded.
        public static let unverifiedTLS: TLSClientContext? = try? TLSClientContext(verify: false)
        public init() {}
    }

    public let loop: Loop
    public var settings: Settings {
        didSet { loop.assertOnLoop() }
    }
    /// Idle connections of one origin, most recently used last. A class so the list is
    /// changed in place (a dictionary of arrays would copy on every change).
    private final class IdleList {
        var conns = ContiguousArray<HTTPClientConnection>()
    }
    /// By `UpstreamTarget.poolID` (small numbers handed out densely from 0): a lookup per
    /// checkout and release is an index, not a SipHash of the key (~130 instructions each).
    private var idle = ContiguousArray<IdleList?>()
    private lazy var sweepTimer = LoopTimer(target: self)
    /// Process-wide: exchanges sent on a pooled connection, and connections opened.
    public static let reusedTotal = Atomic<Int>(0)
    public static let openedTotal = Atomic<Int>(0)

    public init(loop: Loop, settings: Settings) {
        self.loop = loop
        self.settings = settings
    }

    /// An idle connection to the target's origin, if one is alive.
    public func checkout(_ target: UpstreamTarget) -> HTTPClientConnection? {
        loop.assertOnLoop()
        guard target.poolID < idle.count, let list = idle[target.poolID] else { return nil }
        while let c = list.conns.popLast() {
            if c.state == .idle {
                UpstreamPool.reusedTotal.add(1, ordering: .relaxed)
                return c
            }
        }
        return nil
    }

    /// Opens a new connection (resolve, connect, tunnel, TLS as the target needs);
    /// `completion` runs once on the loop unless the returned dial is cancelled.
    public func dial(_ target: UpstreamTarget,
                     completion: @escaping (Result<HTTPClientConnection, TransportError>) -> Void) -> Dial {
        loop.assertOnLoop()
        return Dial(loop: loop, target: target.dial, tls: target.verifyTLS ? settings.tls : Settings.unverifiedTLS,
             connectTimeoutNanos: settings.connectTimeoutNanos,
             handshakeTimeoutNanos: settings.connectTimeoutNanos) { [loop] result in
            switch result {
            case .success(let transport):
                UpstreamPool.openedTotal.add(1, ordering: .relaxed)
                completion(.success(HTTPClientConnection(loop: loop, transport: transport)))
            case .failure(let e):
                completion(.failure(e))
            }
        }
    }

    /// Takes back a connection after a clean exchange; closes it if the pool is full.
    public func release(_ c: HTTPClientConnection, _ target: UpstreamTarget) {
        loop.assertOnLoop()
        guard c.state == .idle else { return }
        let origin = target.poolID
        let list: IdleList
        if origin < idle.count, let l = idle[origin] {
            list = l
        } else {
            if origin >= idle.count { idle.append(contentsOf: repeatElement(nil, count: origin + 1 - idle.count)) }
            list = IdleList()
            idle[origin] = list
        }
        if list.conns.count >= settings.maxIdlePerOrigin {
            c.close()
            return
        }
        if c.onIdleClose == nil { c.onIdleClose = { [unowned self] dead in self.drop(dead, origin) } }
        list.conns.append(c)
        if !sweepTimer.isArmed { loop.arm(sweepTimer, afterNanos: settings.idleTimeoutNanos / 4 + 1) }
    }

    private func drop(_ c: HTTPClientConnection, _ origin: Int) {
        guard origin < idle.count else { return }
        idle[origin]?.conns.removeAll { $0 === c }
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        let cutoff = loop.now &- settings.idleTimeoutNanos
        var any = false
        for case let list? in idle {
            var keep = ContiguousArray<HTTPClientConnection>()
            for c in list.conns {
                if c.state != .idle { continue }
                if c.idleSince <= cutoff { c.close() } else { keep.append(c) }
            }
            list.conns = keep
            any = any || !keep.isEmpty
        }
        if any { loop.arm(sweepTimer, afterNanos: settings.idleTimeoutNanos / 4 + 1) }
    }
}
