import Glibc
import CEpoll
import Reactor

/// Sole owner of an `SSL*`: freed exactly once, when the owner goes away.
struct SSLHandle: ~Copyable {
    let raw: OpaquePointer
    init(_ raw: OpaquePointer) { self.raw = raw }
    deinit { SSL_free(raw) }
}

/// A TLS stream over a non-blocking socket, with the same `Transport` interface as a
/// plain socket. Client side (SNI, hostname verification, per-origin session
/// resumption) or server side (the HTTPS listener, test fixtures).
///
/// Rules it keeps (see DESIGN.md, "TLS pitfalls"): the error queue is cleared before
/// every SSL_* call and `SSL_get_error` read right after; `read` may report
/// `.wantWrite` and `write` may report `.wantRead` (the caller waits for that
/// readiness and retries the same call); `hasBufferedInput` says when OpenSSL holds
/// decrypted bytes that epoll will never report; a peer's close_notify is `.closed`,
/// an EOF without it is `.failed(.tls("unexpected EOF"))`.
///
/// Owner: the loop that registered `fd`; every call must come from that loop's thread.
public final class TLSTransport: Transport, @unchecked Sendable {
    public let fd: Int32
    private var socket: FileDescriptor?
    private var handle: SSLHandle?
    /// Kept alive for the session callback, which reaches it through SSL_CTX app data.
    private let clientContext: TLSClientContext?
    private let retainedServerContext: TLSServerContext?
    /// "host:port" for the client session cache; nil on the server side.
    let origin: String?
    public let isClient: Bool
    public private(set) var handshakeComplete = false
    /// True when the handshake resumed a cached session.
    public private(set) var resumed = false
    /// Set after SSL_ERROR_SSL / SSL_ERROR_SYSCALL: no close_notify may follow.
    private var fatal = false
    private var sentCloseNotify = false

    /// Client side over a connected socket. `host` is used for SNI (not for IP
    /// literals) and checked against the certificate (DNS name or IP address).
    public init(fd: consuming FileDescriptor, context: TLSClientContext, host: String, port: Int) throws(TransportError) {
        guard let ssl = SSL_new(context.ctx) else { throw TLSError.setup("cannot create TLS connection") }
        let h = SSLHandle(ssl)
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        let isIP = SocketAddress(ip: name, port: 0) != nil
        if !isIP {
            guard cc_SSL_set_tlsext_host_name(ssl, name) == 1 else { throw TLSError.setup("cannot set SNI \(name)") }
        }
        if context.verify {
            let ok: Bool
            if isIP {
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
            } else {
                ok = SSL_set1_host(ssl, name) == 1
            }
            guard ok else { throw TLSError.setup("cannot set expected host \(name)") }
        }
        guard SSL_set_fd(ssl, fd.raw) == 1 else { throw TLSError.setup("cannot attach socket") }
        SSL_set_connect_state(ssl)
        self.fd = fd.raw
        self.socket = .some(fd)
        self.handle = .some(h)
        self.clientContext = context
        self.retainedServerContext = nil
        self.origin = "\(name.lowercased()):\(port)"
        self.isClient = true
        _ = cc_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
        _ = context.applySession(to: ssl, origin: origin!)
    }

    /// Server side over an accepted socket.
    public init(fd: consuming FileDescriptor, context: TLSServerContext) throws(TransportError) {
        guard let ssl = SSL_new(context.ctx) else { throw TLSError.setup("cannot create TLS connection") }
        let h = SSLHandle(ssl)
        guard SSL_set_fd(ssl, fd.raw) == 1 else { throw TLSError.setup("cannot attach socket") }
        SSL_set_accept_state(ssl)
        self.fd = fd.raw
        self.socket = .some(fd)
        self.handle = .some(h)
        self.clientContext = nil
        self.retainedServerContext = context
        self.origin = nil
        self.isClient = false
    }

    deinit {
        // Without close(): free the SSL and the fd silently (no close_notify).
        if let ssl = handle?.raw { _ = cc_SSL_set_app_data(ssl, nil) }
    }

    /// The protocol ALPN chose, if any.
    public var alpnProtocol: String? {
        guard let ssl = handle?.raw else { return nil }
        var p: UnsafePointer<UInt8>?
        var n: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &p, &n)
        guard let p, n > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(n)), as: UTF8.self)
    }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    public var protocolVersion: String {
        guard let ssl = handle?.raw, let v = SSL_get_version(ssl) else { return "" }
        return String(cString: v)
    }

    /// Drives the handshake: `.done(0)` once complete, `.wantRead`/`.wantWrite` to wait
    /// for readiness and call again, `.failed` with the cause.
    public func handshake() -> IOResult {
        guard let ssl = handle?.raw else { return .failed(.tls("connection closed")) }
        if handshakeComplete { return .done(0) }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeComplete = true
            if isClient {
                resumed = SSL_session_reused(ssl) == 1
                TLSStats.record(resumed: resumed)
            }
            return .done(0)
        }
        let result = classify(ssl, rc, handshake: true)
        if case .failed = result, isClient, let origin, let c = clientContext {
            c.dropSession(origin: origin)
        }
        return result
    }

    public func read(_ into: UnsafeMutableRawBufferPointer) -> IOResult {
        guard let ssl = handle?.raw else { return .failed(.tls("connection closed")) }
        guard into.count > 0 else { return .done(0) }
        ERR_clear_error()
        let n = SSL_read(ssl, into.baseAddress, Int32(clamping: into.count))
        if n > 0 { return .done(Int(n)) }
        return classify(ssl, n, handshake: !handshakeComplete)
    }

    public func write(_ from: UnsafeRawBufferPointer) -> IOResult {
        guard let ssl = handle?.raw else { return .failed(.tls("connection closed")) }
        guard from.count > 0 else { return .done(0) }
        ERR_clear_error()
        let n = SSL_write(ssl, from.baseAddress, Int32(clamping: from.count))
        if n > 0 { return .done(Int(n)) }
        return classify(ssl, n, handshake: !handshakeComplete)
    }

    public var hasBufferedInput: Bool {
        guard let ssl = handle?.raw else { return false }
        return SSL_pending(ssl) > 0
    }

    /// Sends close_notify (once, best effort: a full socket buffer drops it), frees
    /// the SSL and closes the fd. Safe to call more than once.
    public func close() {
        sendCloseNotify()
        if let ssl = handle?.raw { _ = cc_SSL_set_app_data(ssl, nil) }
        handle = nil
        if let s = socket.take() { s.close() }
    }

    /// Sends close_notify now but keeps the socket open (a half-close: the peer's
    /// remaining bytes can still be read). Best effort; `close()` will not repeat it.
    public func sendCloseNotify() {
        guard let ssl = handle?.raw, handshakeComplete, !fatal, !sentCloseNotify else { return }
        sentCloseNotify = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Closes without close_notify (after an error, or to abandon a stream).
    public func abort() {
        fatal = true
        close()
    }

    private func classify(_ ssl: OpaquePointer, _ rc: Int32, handshake: Bool) -> IOResult {
        let savedErrno = cc_errno()
        let err = SSL_get_error(ssl, rc)
        switch err {
        case SSL_ERROR_WANT_READ:
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_SYSCALL:
            fatal = true
            ERR_clear_error()
            if savedErrno != 0 && savedErrno != EAGAIN { return .failed(.errno(savedErrno)) }
            return .failed(.tls(handshake ? "unexpected EOF during handshake" : "unexpected EOF"))
        case SSL_ERROR_SSL:
            fatal = true
            return .failed(TLSError.describe(ssl: ssl, duringHandshake: handshake))
        default:
            fatal = true
            ERR_clear_error()
            return .failed(.tls("TLS error \(err)"))
        }
    }
}
