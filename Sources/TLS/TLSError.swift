import CEpoll
import Reactor

/// Turns OpenSSL's error queue into a `TransportError` that names the cause.
/// Messages come from OpenSSL's reason strings and never carry key material.
enum TLSError {
    /// The library's own reason for the oldest queued error, or nil when the queue is empty.
    static func queuedReason() -> (code: UInt, text: String)? {
        let e = ERR_peek_error()
        guard e != 0 else { return nil }
        let text = ERR_reason_error_string(e).map { String(cString: $0) } ?? "error \(e)"
        return (e, text)
    }

    /// Describes a fatal SSL_ERROR_SSL for `ssl` and clears the queue.
    static func describe(ssl: OpaquePointer, duringHandshake: Bool) -> TransportError {
        defer { ERR_clear_error() }
        guard let (code, text) = queuedReason() else {
            return .tls(duringHandshake ? "handshake failed" : "protocol error")
        }
        let lib = cc_ERR_GET_LIB(code)
        let reason = cc_ERR_GET_REASON(code)
        if lib == cc_ERR_LIB_SSL() && reason == cc_SSL_R_UNEXPECTED_EOF_WHILE_READING() {
            return .tls(duringHandshake ? "unexpected EOF during handshake" : "unexpected EOF")
        }
        if lib == cc_ERR_LIB_SSL() && reason == cc_SSL_R_CERTIFICATE_VERIFY_FAILED() {
            let v = SSL_get_verify_result(ssl)
            let why = X509_verify_cert_error_string(v).map { String(cString: $0) } ?? "error \(v)"
            return .tls("certificate verify failed: \(why)")
        }
        return .tls(duringHandshake ? "handshake failed: \(text)" : text)
    }

    /// Describes a setup failure (loading files, creating objects) and clears the queue.
    static func setup(_ what: String) -> TransportError {
        defer { ERR_clear_error() }
        if let (_, text) = queuedReason() { return .tls("\(what): \(text)") }
        return .tls(what)
    }
}
