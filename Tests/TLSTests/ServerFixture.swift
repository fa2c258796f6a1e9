import XCTest
import Glibc
import Reactor
@testable import TLS

/// What the fixture server does once a connection's handshake is done.
enum ServerMode: Sendable {
    /// Writes back whatever it reads.
    case echo
    /// After the first request bytes, sends `body` then ends the stream, with
    /// close_notify or by just closing the socket.
    case respond([UInt8], closeNotify: Bool)
    /// Reads at most 1 KiB per event until `expect` bytes came, then answers with
    /// 16 bytes: the count and an FNV-1a hash (little endian).
    case sink(expect: Int)
}

/// A TLS server on 127.0.0.1, ephemeral port, on its own loop thread.
final class TLSTestServer: @unchecked Sendable {
    let loop = TestLoop()
    private(set) var port = 0
    // Touched only on the server loop.
    private var listener: Listener?
    private var connections: [ObjectIdentifier: ServerConnection] = [:]
    private let handshakeErrors = Lock<[TransportError]>([])
    private let sawResumed = Lock<[Bool]>([])

    init(context: TLSServerContext, mode: ServerMode, receiveBuffer: Int? = nil) {
        let server = self
        port = loop.sync {
            let sock = try! Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
            let l = Listener(loop: server.loop.loop, socket: sock) { fd in
                if let r = receiveBuffer { Socket.setBufferSizes(fd.raw, receive: r) }
                guard let t = try? TLSTransport(fd: fd, context: context) else { return }
                let c = ServerConnection(server: server, transport: t, mode: mode)
                server.connections[ObjectIdentifier(c)] = c
                c.start()
            }
            server.listener = l
            return l.localAddress.port
        }!
    }

    func connectionEnded(_ c: ServerConnection, error: TransportError?) {
        connections[ObjectIdentifier(c)] = nil
        if let error { handshakeErrors.withLock { $0.append(error) } }
    }

    var errors: [TransportError] { handshakeErrors.withLock { $0 } }

    func stop() {
        _ = loop.sync { [self] in
            listener?.close()
            for c in connections.values { c.abort() }
            connections.removeAll()
            return true
        }
        loop.stop()
    }
}

/// One accepted TLS connection of the fixture. Owner: the server loop.
final class ServerConnection: LoopHandler, @unchecked Sendable {
    private unowned let server: TLSTestServer
    private let loop: Loop
    let transport: TLSTransport
    private let mode: ServerMode
    private var handshaking = true
    private var out: [UInt8] = []
    private var offset = 0
    private var received = 0
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    private var responded = false
    /// Output done and our side half-closed: wait for the peer to close.
    private var draining = false
    private var ended = false

    init(server: TLSTestServer, transport: TLSTransport, mode: ServerMode) {
        self.server = server
        self.loop = server.loop.loop
        self.transport = transport
        self.mode = mode
    }

    func start() {
        loop.register(transport.fd, self, Interest.readable)
        step()
    }

    func handleEvents(_ events: UInt32) { step() }

    func abort() {
        guard !ended else { return }
        ended = true
        loop.deregister(transport.fd)
        transport.abort()
    }

    private func end(_ error: TransportError?) {
        guard !ended else { return }
        ended = true
        loop.deregister(transport.fd)
        transport.abort()
        server.connectionEnded(self, error: error)
    }

    private func step() {
        guard !ended else { return }
        if handshaking {
            switch transport.handshake() {
            case .done: handshaking = false
            case .wantRead: loop.modify(transport.fd, Interest.readable); return
            case .wantWrite: loop.modify(transport.fd, Interest.readWrite); return
            case .closed: return end(nil)
            case .failed(let e): return end(e)
            }
        }
        // Read.
        var first = true
        while first || transport.hasBufferedInput {
            first = false
            let chunk: Int
            if case .sink = mode { chunk = 1024 } else { chunk = loop.readBuffer.count }
            let buf = UnsafeMutableRawBufferPointer(rebasing: loop.readBuffer[..<chunk])
            switch transport.read(buf) {
            case .done(let n):
                consumed(UnsafeRawBufferPointer(rebasing: buf[..<n]))
            case .wantRead, .wantWrite:
                break
            case .closed, .failed:
                return end(nil)
            }
        }
        // Write.
        while offset < out.count {
            let r = out.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n) = r else {
                if case .failed = r { return end(nil) }
                break
            }
            offset += n
        }
        if offset == out.count && offset > 0 {
            out.removeAll(keepingCapacity: true)
            offset = 0
            if case .respond(_, let notify) = mode, responded, !draining {
                draining = true
                if notify { transport.sendCloseNotify() }
                _ = Glibc.shutdown(transport.fd, Int32(SHUT_WR))
            }
        }
        loop.modify(transport.fd, offset < out.count ? Interest.readWrite : Interest.read)
    }

    private func consumed(_ bytes: UnsafeRawBufferPointer) {
        switch mode {
        case .echo:
            out.append(contentsOf: bytes)
        case .respond(let body, _):
            if !responded {
                responded = true
                out.append(contentsOf: body)
            }
        case .sink(let expect):
            for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            received += bytes.count
            if received == expect {
                withUnsafeBytes(of: UInt64(received).littleEndian) { out.append(contentsOf: $0) }
                withUnsafeBytes(of: hash.littleEndian) { out.append(contentsOf: $0) }
            }
        }
    }
}
