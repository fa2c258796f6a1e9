/// The epoll interest of one connection over a `Transport`. TLS can make a read wait
/// for writability and a write wait for readability; those cross wants are tracked
/// here, apart from what the connection itself wants, and epoll is told only of changes.
struct TransportInterest {
    private(set) var current: UInt32 = Interest.read
    /// The last read returned `.wantWrite`: retry it when the fd is writable.
    var readWantsWrite = false
    /// The last write returned `.wantRead`: retry it when the fd is readable.
    var writeWantsRead = false

    /// Asks for `readBits` (what the owner reads for now), plus writability while bytes
    /// wait to go out, plus whatever the transport itself is waiting on.
    mutating func update(_ loop: Loop, _ fd: Int32, readBits: UInt32, pendingWrite: Bool) {
        var want = writeWantsRead ? (readBits | Interest.read) : readBits
        if pendingWrite || readWantsWrite { want |= Interest.write }
        set(loop, fd, want)
    }

    mutating func set(_ loop: Loop, _ fd: Int32, _ want: UInt32) {
        if want != current {
            current = want
            loop.modify(fd, want)
        }
    }
}
