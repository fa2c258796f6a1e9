import Glibc
import Synchronization

/// The HTTP/1.1 server of one loop: its listener, its open connections, and the
/// bookkeeping for a graceful drain. Owned by one loop.
public final class HTTPServer: @unchecked Sendable {
    public let loop: Loop
    public let config: HTTPServerConfig
    let handler: HTTPRequestHandler
    private var listeners: [Listener] = []
    private var connectionObjects: [ObjectIdentifier: HTTPServerConnection] = [:]
    public private(set) var draining = false
    /// Called once when draining and the last connection has closed.
    private var onDrained: (() -> Void)?

    /// Wraps each accepted socket (for example in TLS); nil serves plain TCP.
    let wrap: ((consuming FileDescriptor) throws(TransportError) -> any Transport)?

    public init(loop: Loop, config: HTTPServerConfig, handler: HTTPRequestHandler,
                wrap: ((consuming FileDescriptor) throws(TransportError) -> any Transport)? = nil) {
        self.loop = loop
        self.config = config
        self.handler = handler
        self.wrap = wrap
    }

    /// Starts accepting on an already open listening socket.
    public func listen(on socket: consuming FileDescriptor) -> Listener {
        let l = Listener(loop: loop, socket: socket) { [unowned self] fd in
            self.accept(fd)
        }
        listeners.append(l)
        return l
    }

    /// Connections accepted by every server in the process.
    public static let acceptedTotal = Atomic<Int>(0)

    private func accept(_ fd: consuming FileDescriptor) {
        if draining { fd.close(); return }
        HTTPServer.acceptedTotal.add(1, ordering: .relaxed)
        let transport: any Transport
        if let wrap {
            do { transport = try wrap(fd) } catch { return }
        } else {
            transport = PlainTransport(fd: fd)
        }
        let c = HTTPServerConnection(server: self, transport: transport)
        connectionObjects[ObjectIdentifier(c)] = c
        c.start()
    }

    func connectionClosed(_ c: HTTPServerConnection) {
        connectionObjects.removeValue(forKey: ObjectIdentifier(c))
        if draining && connectionObjects.isEmpty, let d = onDrained {
            onDrained = nil
            d()
        }
    }

    /// Stops accepting, closes idle keep-alive connections, and lets in-flight
    /// requests finish; `done` runs when the last connection has closed.
    public func drain(done: @escaping () -> Void) {
        draining = true
        for l in listeners { l.close() }
        onDrained = done
        for c in Array(connectionObjects.values) { c.drainIfIdle() }
        if connectionObjects.isEmpty, let d = onDrained {
            onDrained = nil
            d()
        }
    }
}
