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
    /// Fresh `x-request-id`s for this loop's requests.
    var requestIDs = RequestIDSource()
    /// Called once when draining and the last connection has closed.
    private var onDrained: (() -> Void)?

    /// Wraps each accepted socket (for example in TLS); nil serves plain TCP.
    let wrap: ((consuming FileDescriptor) throws(TransportError) -> any Transport)?

    /// The answers of a connection turned away (plain HTTP only: a TLS client could not read them).
    private let overLimitAnswer: [UInt8]
    private let exhaustedAnswer: [UInt8]

    public init(loop: Loop, config: HTTPServerConfig, handler: HTTPRequestHandler,
                wrap: ((consuming FileDescriptor) throws(TransportError) -> any Transport)? = nil) {
        loop.assertOnLoop()
        self.loop = loop
        self.config = config
        self.handler = handler
        self.wrap = wrap
        if wrap == nil {
            overLimitAnswer = HTTPServer.refusal(config, "ccload is at its connection limit (\(config.maxConnections)); try again shortly")
            exhaustedAnswer = HTTPServer.refusal(config, "ccload is out of file descriptors; try again shortly")
        } else {
            overLimitAnswer = []
            exhaustedAnswer = []
        }
    }

    /// A complete `503` that closes the connection.
    static func refusal(_ config: HTTPServerConfig, _ message: String) -> [UInt8] {
        let body = config.errorBody(503, message)
        var out: [UInt8] = []
        HTTP1Writer.appendStatusLine(&out, status: 503)
        HTTP1Writer.appendHeader(&out, name: "Content-Type", value: "application/json")
        HTTP1Writer.appendHeader(&out, name: "Content-Length", value: body.count)
        HTTP1Writer.appendHeader(&out, name: "Retry-After", value: "1")
        HTTP1Writer.appendHeader(&out, name: "Connection", value: "close")
        HTTP1Writer.appendEndOfHead(&out)
        out.append(contentsOf: body)
        return out
    }

    /// Starts accepting on an already open listening socket.
    public func listen(on socket: consuming FileDescriptor) -> Listener {
        loop.assertOnLoop()
        let l = Listener(loop: loop, socket: socket) { [unowned self] fd in
            self.accept(fd)
        }
        l.exhaustedAnswer = exhaustedAnswer
        listeners.append(l)
        return l
    }

    /// Connections accepted by every server in the process, and those turned away at the limit.
    public static let acceptedTotal = Atomic<Int>(0)
    public static let refusedTotal = Atomic<Int>(0)

    private func accept(_ fd: consuming FileDescriptor) {
        if draining { fd.close(); return }
        guard config.connections.tryAdd(limit: config.maxConnections) else {
            HTTPServer.refusedTotal.add(1, ordering: .relaxed)
            let raw = fd.release()
            overLimitAnswer.withUnsafeBytes { Socket.refuse(raw, answer: $0, scratch: loop.readBuffer) }
            return
        }
        HTTPServer.acceptedTotal.add(1, ordering: .relaxed)
        let transport: any Transport
        if let wrap {
            do { transport = try wrap(fd) } catch { config.connections.remove(); return }
        } else {
            transport = PlainTransport(fd: fd)
        }
        let c = HTTPServerConnection(server: self, transport: transport)
        connectionObjects[ObjectIdentifier(c)] = c
        c.start()
    }

    func connectionClosed(_ c: HTTPServerConnection) {
        loop.assertOnLoop()
        guard connectionObjects.removeValue(forKey: ObjectIdentifier(c)) != nil else { return }
        config.connections.remove()
        if draining && connectionObjects.isEmpty, let d = onDrained {
            onDrained = nil
            d()
        }
    }

    /// Stops accepting, closes idle keep-alive connections, and lets in-flight
    /// requests finish; `done` runs when the last connection has closed.
    public func drain(done: @escaping () -> Void) {
        loop.assertOnLoop()
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
