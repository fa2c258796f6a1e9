import Glibc
import CEpoll
import Reactor

/// Server-side TLS settings for the optional HTTPS listener (`CCLOAD_TLS_CERT`,
/// `CCLOAD_TLS_KEY`) and for test fixtures. Shared by every loop.
public final class TLSServerContext: Sendable {
    nonisolated(unsafe) let ctx: OpaquePointer

    /// - Parameters:
    ///   - certFile: PEM certificate chain, leaf first.
    ///   - keyFile: PEM private key.
    ///   - maxTLS12: cap the protocol at TLS 1.2 (tests of 1.2 resumption).
    public init(certFile: String, keyFile: String, maxTLS12: Bool = false) throws(TransportError) {
        cc_ignore_sigpipe()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.setup("cannot create TLS context")
        }
        guard SSL_CTX_use_certificate_chain_file(ctx, certFile) == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError.setup("cannot load certificate \(certFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, keyFile, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(ctx) == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError.setup("cannot load private key \(keyFile)")
        }
        self.ctx = ctx
        _ = cc_SSL_CTX_set_min_proto_version(ctx, cc_TLS1_2_VERSION())
        if maxTLS12 { _ = cc_SSL_CTX_set_max_proto_version(ctx, cc_TLS1_2_VERSION()) }
        _ = cc_SSL_CTX_set_mode(ctx, cc_SSL_MODE_partial_moving())
        _ = cc_SSL_CTX_set_session_cache_mode(ctx, Int(cc_SSL_SESS_CACHE_SERVER()))
        let sid: [UInt8] = Array("ccload".utf8)
        _ = sid.withUnsafeBufferPointer { SSL_CTX_set_session_id_context(ctx, $0.baseAddress, UInt32($0.count)) }
        SSL_CTX_set_alpn_select_cb(ctx, tlsSelectALPN, nil)
    }

    deinit { SSL_CTX_free(ctx) }
}

/// Picks `http/1.1` when the client offers it; otherwise continues without ALPN.
private let tlsSelectALPN: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
) -> Int32 = { _, out, outLen, inp, inLen, _ in
    guard let out, let outLen, let inp else { return SSL_TLSEXT_ERR_NOACK }
    var i = 0
    let n = Int(inLen)
    while i < n {
        let len = Int(inp[i])
        if i + 1 + len > n { break }
        if len == 8 {
            let p = inp + i + 1
            if p[0] == 0x68 && p[1] == 0x74 && p[2] == 0x74 && p[3] == 0x70 && p[4] == 0x2f
                && p[5] == 0x31 && p[6] == 0x2e && p[7] == 0x31 {
                out.pointee = UnsafePointer(p)
                outLen.pointee = 8
                return SSL_TLSEXT_ERR_OK
            }
        }
        i += 1 + len
    }
    return SSL_TLSEXT_ERR_NOACK
}
