import Glibc
import CEpoll
import Reactor

/// Where to dial: an upstream origin, whether it speaks TLS, and an optional egress proxy.
public struct DialTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var tls: Bool
    public var proxy: EgressProxy?

    public init(host: String, port: Int, tls: Bool, proxy: EgressProxy? = nil) {
        var h = host
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        self.host = h
        self.port = port
        self.tls = tls
        self.proxy = proxy
    }

    /// Parses `http://host[:port][/...]` or `https://host[:port][/...]` (IPv6 in brackets).
    public init?(url: String, proxy: EgressProxy? = nil) {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            tls = true
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            tls = false
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        var authorityPart = rest
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            authorityPart = rest[..<end]
        }
        guard !authorityPart.contains("@"),
              let (h, p) = splitHostPort(authorityPart, defaultPort: tls ? 443 : 80) else { return nil }
        host = h
        port = p
        self.proxy = proxy
    }

    /// "host:port", the key for connection pools and TLS sessions.
    public var origin: String { "\(host.lowercased()):\(port)" }
}

/// The one way to get a ready upstream transport: resolve (off the reactor) → TCP
/// connect (each address in turn) → egress tunnel if configured → TLS handshake
/// (inside the tunnel) if the target is https. `completion` runs exactly once, on
/// `loop`, unless `cancel()` comes first; the transport it gets is not registered
/// with the loop.
///
/// Owner: `loop`; create, cancel and complete on its thread.
public final class Dial: LoopHandler, TimerTarget, @unchecked Sendable {
    private enum Stage { case resolving, connecting, tunneling, handshaking, finished }

    private let loop: Loop
    public let target: DialTarget
    private let tlsContext: TLSClientContext?
    private let connectTimeoutNanos: UInt64
    private let handshakeTimeoutNanos: UInt64
    private var completion: ((Result<any Transport, TransportError>) -> Void)?
    private var stage = Stage.resolving
    private var connector: Connector?
    private var socket: FileDescriptor?
    private var registeredFd: Int32 = -1
    private var tunnel: (any TunnelHandshake)?
    private var pendingOut: [UInt8] = []
    private var pendingOffset = 0
    private var tls: TLSTransport?
    private lazy var timer = LoopTimer(target: self)

    public init(loop: Loop, target: DialTarget, tls: TLSClientContext?, connectTimeoutNanos: UInt64,
                handshakeTimeoutNanos: UInt64, completion: @escaping (Result<any Transport, TransportError>) -> Void) {
        self.loop = loop
        self.target = target
        self.tlsContext = tls
        self.connectTimeoutNanos = connectTimeoutNanos
        self.handshakeTimeoutNanos = handshakeTimeoutNanos
        self.completion = completion
        loop.assertOnLoop()
        if target.tls && tls == nil {
            finish(.failure(.tls("no TLS context for https upstream")))
            return
        }
        let host = target.proxy?.host ?? target.host
        let port = target.proxy?.port ?? target.port
        // The connect timeout covers the lookup too; the Connector keeps its own.
        loop.arm(timer, afterNanos: connectTimeoutNanos)
        Resolver.shared.resolve(host: host, port: port, on: loop) { [self] result in
            self.resolved(result)
        }
    }

    /// Abandons the dial: nothing is reported and everything opened is closed.
    public func cancel() {
        loop.assertOnLoop()
        completion = nil
        cleanUp()
        stage = .finished
    }

    // MARK: stages

    private func resolved(_ result: Result<[SocketAddress], TransportError>) {
        guard stage == .resolving else { return }
        switch result {
        case .failure(let e):
            finish(.failure(e))
        case .success(let addresses):
            stage = .connecting
            loop.disarm(timer)
            let c = Connector(loop: loop, addresses: addresses, timeoutNanos: connectTimeoutNanos) { [self] r in
                self.connected(r)
            }
            if stage == .connecting { connector = c }
        }
    }

    private func connected(_ result: consuming Result<FileDescriptor, TransportError>) {
        connector = nil
        guard stage == .connecting else { return }
        switch consume result {
        case .failure(let e):
            finish(.failure(proxyContext(e)))
        case .success(let fd):
            if let proxy = target.proxy {
                startTunnel(fd, proxy)
            } else if target.tls {
                startTLS(fd)
            } else {
                finish(.success(PlainTransport(fd: fd)))
            }
        }
    }

    /// Names the proxy when the TCP connection that failed was to it.
    private func proxyContext(_ e: TransportError) -> TransportError {
        guard let p = target.proxy else { return e }
        return .proxy("cannot reach \(authority(p.host, p.port)): \(e)")
    }

    private func startTunnel(_ fd: consuming FileDescriptor, _ proxy: EgressProxy) {
        stage = .tunneling
        var t: any TunnelHandshake
        switch proxy.kind {
        case .httpConnect:
            t = HTTPConnectHandshake(host: target.host, port: target.port, username: proxy.username, password: proxy.password)
        case .socks5:
            t = SOCKS5Handshake(host: target.host, port: target.port, username: proxy.username, password: proxy.password)
        }
        pendingOut = t.start()
        pendingOffset = 0
        tunnel = t
        let raw = fd.raw
        socket = .some(fd)
        loop.arm(timer, afterNanos: handshakeTimeoutNanos)
        loop.register(raw, self, Interest.writable)
        registeredFd = raw
    }

    private func driveTunnel() {
        guard let fd = socket?.raw else { return }
        while pendingOffset < pendingOut.count {
            let r = pendingOut.withUnsafeBytes { Socket.write(fd, UnsafeRawBufferPointer(rebasing: $0[pendingOffset...])) }
            switch r {
            case .done(let n): pendingOffset += n
            case .wantWrite, .wantRead:
                loop.modify(fd, Interest.writable)
                return
            case .closed: return finish(.failure(.proxy("proxy closed the connection")))
            case .failed(let e): return finish(.failure(.proxy("\(e)")))
            }
        }
        loop.modify(fd, Interest.readable)
        guard var t = tunnel else { return }
        let limit = min(t.readLimit, loop.readBuffer.count)
        let buf = UnsafeMutableRawBufferPointer(rebasing: loop.readBuffer[..<limit])
        switch Socket.read(fd, buf) {
        case .wantRead, .wantWrite:
            return
        case .closed:
            return finish(.failure(.proxy("proxy closed the connection during the handshake")))
        case .failed(let e):
            return finish(.failure(.proxy("\(e)")))
        case .done(let n):
            let step = t.receive(UnsafeRawBufferPointer(rebasing: buf[..<n]))
            tunnel = t
            switch step {
            case .needMore:
                return
            case .send(let bytes):
                pendingOut = bytes
                pendingOffset = 0
                loop.modify(fd, Interest.writable)
            case .failed(let e):
                finish(.failure(e))
            case .done:
                tunnel = nil
                loop.disarm(timer)
                let s = socket.take()!
                if target.tls {
                    startTLS(s)
                } else {
                    loop.deregister(fd)
                    registeredFd = -1
                    finish(.success(PlainTransport(fd: s)))
                }
            }
        }
    }

    private func startTLS(_ fd: consuming FileDescriptor) {
        stage = .handshaking
        guard let ctx = tlsContext else { return finish(.failure(.tls("no TLS context for https upstream"))) }
        let raw = fd.raw
        let t: TLSTransport
        do {
            t = try TLSTransport(fd: fd, context: ctx, host: target.host, port: target.port)
        } catch {
            return finish(.failure(error))
        }
        tls = t
        loop.arm(timer, afterNanos: handshakeTimeoutNanos)
        if registeredFd != raw {
            loop.register(raw, self, Interest.readable)
            registeredFd = raw
        }
        driveHandshake()
    }

    private func driveHandshake() {
        guard let t = tls else { return }
        switch t.handshake() {
        case .done:
            loop.deregister(t.fd)
            registeredFd = -1
            tls = nil
            finish(.success(t))
        case .wantRead:
            loop.modify(t.fd, Interest.readable)
        case .wantWrite:
            loop.modify(t.fd, Interest.writable)
        case .closed:
            finish(.failure(.tls("connection closed during handshake")))
        case .failed(let e):
            finish(.failure(e))
        }
    }

    // MARK: events

    public func handleEvents(_ events: UInt32) {
        loop.assertOnLoop()
        switch stage {
        case .tunneling: driveTunnel()
        case .handshaking: driveHandshake()
        default: break
        }
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        switch stage {
        case .resolving:
            finish(.failure(.resolve("lookup of \(target.proxy?.host ?? target.host) timed out")))
        case .tunneling:
            finish(.failure(.timeout("egress proxy handshake timed out")))
        case .handshaking:
            finish(.failure(.timeout("TLS handshake timed out")))
        default:
            break
        }
    }

    // MARK: ending

    private func cleanUp() {
        loop.disarm(timer)
        if let c = connector {
            connector = nil
            c.cancel()
        }
        if registeredFd >= 0 {
            loop.deregister(registeredFd)
            registeredFd = -1
        }
        if let s = socket.take() { s.close() }
        if let t = tls {
            tls = nil
            t.abort()
        }
        tunnel = nil
    }

    private func finish(_ result: Result<any Transport, TransportError>) {
        if case .failure = result { cleanUp() } else { loop.disarm(timer) }
        stage = .finished
        guard let c = completion else { return }
        completion = nil
        c(result)
    }
}
