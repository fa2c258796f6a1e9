import Glibc
import CEpoll
import Synchronization

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
///
/// Out of file descriptors (`EMFILE`/`ENFILE`) the level-triggered socket would stay
/// readable and the loop would spin: the listener sheds what waits in the backlog with
/// a spare descriptor kept for that (each gets `exhaustedAnswer`, then is closed), stops
/// listening for readiness and tries again on a timer, backing off from 100 ms to 1 s.
public final class Listener: LoopHandler, TimerTarget, @unchecked Sendable {
    private let loop: Loop
    private var socket: FileDescriptor?
    private let fd: Int32
    private let onAccept: (consuming FileDescriptor) -> Void
    public private(set) var isOpen = true
    /// What a connection shed for lack of descriptors is told before it is closed (empty: nothing).
    public var exhaustedAnswer: [UInt8] = []
    /// A descriptor held in reserve so one can be freed to accept and refuse when none is left.
    private var spare: Int32 = -1
    private lazy var resumeTimer = LoopTimer(target: self)
    private var backoffNanos: UInt64 = 0
    /// Times this listener ran out of descriptors, and connections it shed (process-wide).
    public static let exhaustedTotal = Atomic<Int>(0)
    public static let shedTotal = Atomic<Int>(0)

    static let minBackoffNanos: UInt64 = 100 * nanosPerMilli
    static let maxBackoffNanos: UInt64 = nanosPerSecond

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
        loop.assertOnLoop()
        self.loop = loop
        self.fd = socket.raw
        self.socket = .some(socket)
        self.onAccept = onAccept
        spare = Listener.openSpare()
        loop.register(fd, self, Interest.readable)
    }

    private static func openSpare() -> Int32 { Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC) }

    public var localAddress: SocketAddress { Socket.localAddress(fd) }

    /// Whether accepting is paused for lack of descriptors.
    public var isPaused: Bool { resumeTimer.isArmed }

    public func handleEvents(_ events: UInt32) {
        loop.assertOnLoop()
        // Accept a bounded batch per tick so one loop's accept storm does not starve I/O.
        for _ in 0..<64 {
            let c = cc_accept4(fd)
            if c < 0 {
                let e = cc_errno()
                if e == EINTR || e == ECONNABORTED { continue }
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { return exhausted() }
                return  // EAGAIN: drained
            }
            backoffNanos = 0
            Socket.setNoDelay(c)
            onAccept(FileDescriptor(c))
        }
    }

    /// No descriptor left: refuse what waits (with the spare one), then pause on a timer.
    private func exhausted() {
        Listener.exhaustedTotal.add(1, ordering: .relaxed)
        var shed = 0
        while spare >= 0 && shed < 64 {
            _ = Glibc.close(spare)
            spare = -1
            let c = cc_accept4(fd)
            if c >= 0 {
                shed += 1
                exhaustedAnswer.withUnsafeBytes { Socket.refuse(c, answer: $0, scratch: loop.readBuffer) }
            }
            spare = Listener.openSpare()
            if c < 0 { break }
        }
        if shed > 0 { Listener.shedTotal.add(shed, ordering: .relaxed) }
        backoffNanos = backoffNanos == 0 ? Listener.minBackoffNanos : min(backoffNanos * 2, Listener.maxBackoffNanos)
        loop.modify(fd, Interest.none)
        loop.arm(resumeTimer, afterNanos: backoffNanos)
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        guard isOpen else { return }
        if spare < 0 { spare = Listener.openSpare() }
        loop.modify(fd, Interest.readable)
    }

    /// Stops accepting and closes the socket.
    public func close() {
        loop.assertOnLoop()
        guard isOpen else { return }
        isOpen = false
        loop.disarm(resumeTimer)
        loop.deregister(fd)
        if let s = socket.take() { s.close() }
        if spare >= 0 { _ = Glibc.close(spare); spare = -1 }
    }
}
