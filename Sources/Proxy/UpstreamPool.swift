import Reactor
import TLS

/// Keep-alive connections to upstream origins, one pool per loop (never shared across
/// threads). Idle connections are bounded per origin and closed after an idle timeout;
/// the most recently used one is handed out first. Owner: one loop.
public final class UpstreamPool: TimerTarget, @unchecked Sendable {
    public struct Settings: Sendable {
        public var maxIdlePerOrigin = 128
        public var idleTimeoutNanos: UInt64 = 60 * nanosPerSecond
        public var connectTimeoutNanos: UInt64 = 10 * nanosPerSecond
        /// Verification settings and session cache for HTTPS upstreams.
        public var tls: TLSClientContext?
        public init() {}
    }

    public let loop: Loop
    public let settings: Settings
    private var idle: [String: [HTTPClientConnection]] = [:]
    private lazy var sweepTimer = LoopTimer(target: self)
    /// Exchanges served on a reused connection, and connections opened.
    public private(set) var reusedCount = 0
    public private(set) var openedCount = 0

    public init(loop: Loop, settings: Settings) {
        self.loop = loop
        self.settings = settings
    }

    /// An idle connection to the target's origin, if one is alive.
    public func checkout(_ target: UpstreamTarget) -> HTTPClientConnection? {
        guard var list = idle[target.poolKey] else { return nil }
        while let c = list.popLast() {
            if c.state == .idle {
                idle[target.poolKey] = list
                c.onIdleClose = nil
                reusedCount += 1
                return c
            }
        }
        idle[target.poolKey] = list
        return nil
    }

    /// Opens a new connection (resolve, connect, tunnel, TLS as the target needs);
    /// `completion` runs once on the loop unless the returned dial is cancelled.
    public func dial(_ target: UpstreamTarget,
                     completion: @escaping (Result<HTTPClientConnection, TransportError>) -> Void) -> Dial {
        Dial(loop: loop, target: target.dial, tls: settings.tls,
             connectTimeoutNanos: settings.connectTimeoutNanos,
             handshakeTimeoutNanos: settings.connectTimeoutNanos) { [loop] result in
            switch result {
            case .success(let transport):
                completion(.success(HTTPClientConnection(loop: loop, transport: transport)))
            case .failure(let e):
                completion(.failure(e))
            }
        }
    }

    /// Connection opened by `dial` handed out (counted for the reuse figures).
    public func noteOpened() { openedCount += 1 }

    /// Takes back a connection after a clean exchange; closes it if the pool is full.
    public func release(_ c: HTTPClientConnection, _ target: UpstreamTarget) {
        guard c.state == .idle else { return }
        var list = idle[target.poolKey] ?? []
        if list.count >= settings.maxIdlePerOrigin {
            c.close()
            return
        }
        let origin = target.poolKey
        c.onIdleClose = { [unowned self] dead in self.drop(dead, origin) }
        list.append(c)
        idle[origin] = list
        if !sweepTimer.isArmed { loop.arm(sweepTimer, afterNanos: settings.idleTimeoutNanos / 4 + 1) }
    }

    private func drop(_ c: HTTPClientConnection, _ origin: String) {
        idle[origin]?.removeAll { $0 === c }
    }

    public var idleCount: Int { idle.values.reduce(0) { $0 + $1.count } }

    public func timerFired(_ timer: LoopTimer) {
        let cutoff = loop.now &- settings.idleTimeoutNanos
        var any = false
        for (origin, list) in idle {
            var keep: [HTTPClientConnection] = []
            for c in list {
                if c.state != .idle { continue }
                if c.idleSince <= cutoff { c.close() } else { keep.append(c) }
            }
            idle[origin] = keep
            any = any || !keep.isEmpty
        }
        if any { loop.arm(sweepTimer, afterNanos: settings.idleTimeoutNanos / 4 + 1) }
    }

    public func closeAll() {
        for (_, list) in idle { for c in list { c.close() } }
        idle.removeAll()
    }
}
