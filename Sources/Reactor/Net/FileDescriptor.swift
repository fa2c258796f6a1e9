import Glibc
import CEpoll

/// Sole owner of a file descriptor: closed exactly once, when the owner goes away or
/// `close()` consumes it. Non-copyable so an fd can never be closed twice by accident.
public struct FileDescriptor: ~Copyable {
    public let raw: Int32

    public init(_ raw: Int32) { self.raw = raw }

    /// Closes now.
    public consuming func close() {
        let fd = raw
        discard self
        _ = Glibc.close(fd)
    }

    /// Gives up ownership without closing (the caller now owns `raw`).
    public consuming func release() -> Int32 {
        let fd = raw
        discard self
        return fd
    }

    deinit { _ = Glibc.close(raw) }
}
