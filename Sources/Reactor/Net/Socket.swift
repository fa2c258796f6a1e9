import Glibc
import CEpoll

/// Thin, allocation-free socket calls shared by listeners, connectors and transports.
public enum Socket {
    public static func setNoDelay(_ fd: Int32) {
        _ = cc_setsockopt_int(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    public static func setBufferSizes(_ fd: Int32, send: Int? = nil, receive: Int? = nil) {
        if let s = send { _ = cc_setsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, Int32(s)) }
        if let r = receive { _ = cc_setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, Int32(r)) }
    }

    public static func peerAddress(_ fd: Int32) -> SocketAddress {
        var a = SocketAddress()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &a.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        a.length = len
        return a
    }

    public static func localAddress(_ fd: Int32) -> SocketAddress {
        var a = SocketAddress()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &a.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        a.length = len
        return a
    }

    /// Turns a just-accepted connection away: reads what it already sent (so closing sends
    /// FIN, not a reset that could destroy the answer), writes `answer` once without
    /// waiting, and closes. Never blocks; the answer is short enough for any socket buffer.
    public static func refuse(_ fd: Int32, answer: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer) {
        for _ in 0..<4 {
            let n = recv(fd, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
            if n < scratch.count { break }
        }
        if answer.count > 0 { _ = send(fd, answer.baseAddress, answer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        _ = Glibc.close(fd)
    }

    /// Readable-style result of one non-blocking syscall.
    @inline(__always)
    public static func read(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.read(fd, buf.baseAddress, buf.count)
            if n > 0 { return .done(n) }
            if n == 0 { return .closed }
            let e = cc_errno()
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wantRead }
            return .failed(.errno(e))
        }
    }

    @inline(__always)
    public static func write(_ fd: Int32, _ buf: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .done(n) }
            let e = cc_errno()
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wantWrite }
            return .failed(.errno(e))
        }
    }
}
