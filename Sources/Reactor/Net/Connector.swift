import Glibc
import CEpoll

/// Opens one non-blocking TCP connection and reports when it is established or failed,
/// with a connect timeout. Tries each address in turn before giving up.
public final class Connector: LoopHandler, TimerTarget, @unchecked Sendable {
    
    private let loop: Loop
    private var addresses: ArraySlice<SocketAddress>
    private let timeoutNanos: UInt64
    private var socket: FileDescriptor?
    private var completion: ((consuming Result<FileDescriptor, TransportError>) -> Void)?
    private lazy var timer = LoopTimer(target: self)
    private var lastError: TransportError = .errno(ECONNREFUSED)

    /// Starts connecting; `completion` runs exactly once on the loop.
    public init(loop: Loop, addresses: [SocketAddress], timeoutNanos: UInt64,
                completion: @escaping (consuming Result<FileDescriptor, TransportError>) -> Void) {
        loop.assertOnLoop()
        self.loop = loop
        self.addresses = addresses[...]
        self.timeoutNanos = timeoutNanos
        self.completion = completion
        loop.arm(timer, afterNanos: timeoutNanos)
        tryNext()
    }

    /// Abandons the attempt without calling the completion.
    public func cancel() {
        loop.assertOnLoop()
        completion = nil
        loop.disarm(timer)
        closeSocket()
    }

    private func closeSocket() {
        if let s = socket.take() {
            loop.deregister(s.raw)
            s.close()
        }
    }

    private func tryNext() {
        while let addr = addresses.popFirst() {
            let raw = cc_socket_nonblock(addr.family)
            if raw < 0 {
                let e = cc_errno()
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    // Out of descriptors here: another address would fail the same way.
                    return finish(.failure(.local(e)))
                }
                lastError = .errno(e)
                continue
            }
            var a = addr
            let rc = withUnsafePointer(to: &a.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(raw, $0, addr.length) }
            }
            let e = rc == 0 ? 0 : cc_errno()
            if rc == 0 || e == EINPROGRESS {
                Socket.setNoDelay(raw)
                socket = FileDescriptor(raw)
                loop.register(raw, self, Interest.writable)
                return
            }
            _ = Glibc.close(raw)
            lastError = .errno(e)
        }
        finish(.failure(lastError))
    }

    public func handleEvents(_ events: UInt32) {
        loop.assertOnLoop()
        guard let fd = socket?.raw else { return }
        let err = cc_getsockopt_error(fd)
        if err != 0 {
            lastError = .errno(err)
            closeSocket()
            tryNext()
            return
        }
        loop.deregister(fd)
        let s = socket.take()!
        finish(.success(s))
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        closeSocket()
        addresses = []
        finish(.failure(.timeout("connect timed out")))
    }

    private func finish(_ result: consuming Result<FileDescriptor, TransportError>) {
        loop.disarm(timer)
        guard let c = completion else { return }
        completion = nil
        c(result)
    }
}
