import Glibc
import CEpoll

public enum ListenError: Error, CustomStringConvertible {
    case system(String, Int32)
    public var description: String {
        switch self {
        case .system(let what, let e): return "\(what) failed: \(String(cString: strerror(e)))"
        }
    }
}

/// Accepts connections: one listening socket per loop (`SO_REUSEPORT`), so the
/// kernel spreads new connections across loops with no shared accept lock.
public final class Listener: LoopHandler, @unchecked Sendable {
    private let loop: Loop
    private var socket: FileDescriptor?
    private let fd: Int32
    private let onAccept: (consuming FileDescriptor) -> Void
    public private(set) var isOpen = true

    /// Opens a non-blocking listening socket on `address` (SO_REUSEADDR, SO_REUSEPORT,
    /// IPv6 sockets accept IPv4 too unless the address is an IPv6 literal other than `::`).
    public static func openSocket(_ address: SocketAddress, backlog: Int32 = 4096) throws -> FileDescriptor {
        let raw = cc_socket_nonblock(address.family)
        guard raw >= 0 else { throw ListenError.system("socket", cc_errno()) }
        let fd = FileDescriptor(raw)
        _ = cc_setsockopt_int(raw, SOL_SOCKET, SO_REUSEADDR, 1)
        _ = cc_setsockopt_int(raw, SOL_SOCKET, SO_REUSEPORT, 1)
        if address.family == AF_INET6 { _ = cc_setsockopt_int(raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
        var a = address
        let rc = withUnsafePointer(to: &a.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(raw, $0, address.length) }
        }
        guard rc == 0 else { throw ListenError.system("bind \(address)", cc_errno()) }
        guard Glibc.listen(raw, backlog) == 0 else { throw ListenError.system("listen", cc_errno()) }
        return fd
    }

    public init(loop: Loop, socket: consuming FileDescriptor, onAccept: @escaping (consuming FileDescriptor) -> Void) {
        self.loop = loop
        self.fd = socket.raw
        self.socket = .some(socket)
        self.onAccept = onAccept
        loop.register(fd, self, Interest.readable)
    }

    public var localAddress: SocketAddress { Socket.localAddress(fd) }

    public func handleEvents(_ events: UInt32) {
        // Accept a bounded batch per tick so one loop's accept storm does not starve I/O.
        for _ in 0..<64 {
            let c = cc_accept4(fd)
            if c < 0 {
                let e = cc_errno()
                if e == EINTR || e == ECONNABORTED { continue }
                // EAGAIN: drained. EMFILE/ENFILE: back off until the next readiness event.
                return
            }
            Socket.setNoDelay(c)
            onAccept(FileDescriptor(c))
        }
    }

    /// Stops accepting and closes the socket.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        loop.deregister(fd)
        if let s = socket.take() { s.close() }
    }
}
