import Glibc
import CEpoll

/// Why a transport failed. Messages name the cause and never carry secrets.
public enum TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    case errno(Int32)
    case tls(String)
    case timeout(String)
    case proxy(String)
    case resolve(String)
    /// The peer answered, but not in well-formed HTTP/1.1.
    case protocolError(String)
    /// This process ran out of something (`socket()` failed with EMFILE, ENFILE, ENOBUFS,
    /// ENOMEM): no fault of the peer, so it must never count against it.
    case local(Int32)

    public var description: String {
        switch self {
        case .errno(let e):
            switch e {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset by peer"
            case EPIPE: return "broken pipe"
            case ETIMEDOUT: return "connection timed out"
            case ENETUNREACH: return "network unreachable"
            case EHOSTUNREACH: return "host unreachable"
            default: return "socket error \(e)"
            }
        case .tls(let m): return "TLS: \(m)"
        case .timeout(let m): return m
        case .proxy(let m): return "egress proxy: \(m)"
        case .resolve(let m): return "DNS: \(m)"
        case .protocolError(let m): return m
        case .local(let e):
            return e == EMFILE || e == ENFILE ? "ccload is out of file descriptors" : "ccload is out of socket memory (errno \(e))"
        }
    }
}

/// Outcome of one non-blocking transport call.
public enum IOResult: Equatable {
    /// n bytes moved (for write, possibly fewer than offered).
    case done(Int)
    /// Nothing now; wait until the fd is readable.
    case wantRead
    /// Nothing now; wait until the fd is writable (TLS reads can want this too).
    case wantWrite
    /// Orderly end of stream.
    case closed
    case failed(TransportError)
}

/// The byte-stream interface a connection drives, the same for plain TCP and TLS,
/// so the HTTP client and the proxy path do not care which one they hold.
/// Owned by one loop, through the one object that holds it (`HTTPClientConnection`,
/// `HTTPServerConnection`, `Dial`): a transport does not know its loop, and it is reached
/// only through that holder's entry points, which assert the loop (`Loop.assertOnLoop`).
public protocol Transport: AnyObject {
    var fd: Int32 { get }
    func read(_ into: UnsafeMutableRawBufferPointer) -> IOResult
    func write(_ from: UnsafeRawBufferPointer) -> IOResult
    /// Bytes already decrypted and held inside the transport: epoll will not report
    /// them, so the owner must keep reading while this is true.
    var hasBufferedInput: Bool { get }
    /// Sends any closing record (TLS close_notify) and closes the fd.
    func close()
    /// Drives a handshake: `.done` once the stream is ready for data (plain TCP: at once).
    func handshake() -> IOResult
}

extension Transport {
    public func handshake() -> IOResult { .done(0) }
}

/// Plain TCP. Owns its fd.
public final class PlainTransport: Transport, @unchecked Sendable {
    private var owned: FileDescriptor?
    public let fd: Int32

    public init(fd: consuming FileDescriptor) {
        self.fd = fd.raw
        self.owned = .some(fd)
    }

    @inline(__always) public func read(_ into: UnsafeMutableRawBufferPointer) -> IOResult {
        Socket.read(fd, into)
    }

    @inline(__always) public func write(_ from: UnsafeRawBufferPointer) -> IOResult {
        Socket.write(fd, from)
    }

    public var hasBufferedInput: Bool { false }

    public func close() {
        if let d = owned.take() { d.close() }
    }
}
