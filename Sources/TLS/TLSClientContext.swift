import Glibc
import CEpoll
import Reactor

/// Client-side TLS settings shared by every loop: one `SSL_CTX` (thread-safe for
/// creating connections), the trust store, and a session cache keyed by origin
/// ("host:port") so a later connection to the same upstream resumes.
///
/// TLS 1.2 minimum, ALPN `http/1.1`, peer verification on unless `verify` is false
/// (a channel's `insecure_skip_verify`), against OpenSSL's default paths (which honour
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus an optional PEM bundle.
public final class TLSClientContext: Sendable {
    nonisolated(unsafe) let ctx: OpaquePointer
    public let verify: Bool
    public let caFile: String?
    /// One SSL_SESSION* per origin.
    private let sessions = SessionCache()

    /// - Parameters:
    ///   - caFile: a PEM bundle trusted in addition to the system store.
    ///   - verify: false skips certificate and hostname checks (internal self-signed
    ///     upstreams only; callers log a warning).
    public init(caFile: String? = nil, verify: Bool = true) throws(TransportError) {
        cc_ignore_sigpipe()  // OpenSSL's socket BIO writes with write(2)
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError.setup("cannot create TLS context")
        }
        _ = cc_SSL_CTX_set_min_proto_version(ctx, cc_TLS1_2_VERSION())
        _ = cc_SSL_CTX_set_mode(ctx, cc_SSL_MODE_partial_moving())
        if SSL_CTX_set_default_verify_paths(ctx) != 1 { ERR_clear_error() }
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                SSL_CTX_free(ctx)
                throw TLSError.setup("cannot load CA file \(caFile)")
            }
        }
        // Assigned only now: a throw above must not reach deinit (which frees ctx).
        self.ctx = ctx
        self.verify = verify
        self.caFile = caFile
        SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = alpn.withUnsafeBufferPointer { SSL_CTX_set_alpn_protos(ctx, $0.baseAddress, UInt32($0.count)) }
        _ = cc_SSL_CTX_set_session_cache_mode(ctx, Int(cc_SSL_SESS_CACHE_CLIENT_ONLY()))
        SSL_CTX_sess_set_new_cb(ctx, tlsNewSessionCallback)
        _ = cc_SSL_CTX_set_app_data(ctx, Unmanaged.passUnretained(self).toOpaque())
    }

    /// A context from the environment: `CCLOAD_CA_FILE` names an extra PEM bundle.
    public static func fromEnvironment(verify: Bool = true) throws(TransportError) -> TLSClientContext {
        let ca = getenv("CCLOAD_CA_FILE").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return try TLSClientContext(caFile: ca, verify: verify)
    }

    deinit { SSL_CTX_free(ctx) }

    // MARK: session cache

    func store(session: OpaquePointer, origin: String) { sessions.store(session, origin: origin) }
    func applySession(to ssl: OpaquePointer, origin: String) -> Bool { sessions.apply(to: ssl, origin: origin) }
    func dropSession(origin: String) { sessions.remove(origin: origin) }

    /// Number of origins with a cached session.
    public var cachedSessionCount: Int { sessions.count }
}

/// OpenSSL calls this when a client connection receives a session (TLS 1.2 after the
/// handshake; TLS 1.3 with each NewSessionTicket). Returning 1 keeps the reference.
private let tlsNewSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
    guard let ssl, let session,
          let ctxData = cc_SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)),
          let connData = cc_SSL_get_app_data(ssl) else { return 0 }
    let context = Unmanaged<TLSClientContext>.fromOpaque(ctxData).takeUnretainedValue()
    let transport = Unmanaged<TLSTransport>.fromOpaque(connData).takeUnretainedValue()
    guard let origin = transport.origin, SSL_SESSION_is_resumable(session) == 1 else { return 0 }
    context.store(session: session, origin: origin)
    return 1
}
