import Glibc

/// Hears one upstream exchange on an `HTTPClientConnection`.
public protocol HTTPClientDelegate: AnyObject {
    /// The final response head arrived (interim 1xx responses are skipped).
    /// `bodyBytesFollow` tells whether more bytes of this read come right after it.
    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool)
    /// One read's worth of body bytes as they came on the wire (chunk framing included),
    /// followed by `responseData` for each de-chunked piece of it.
    func responseRaw(_ raw: UnsafeRawBufferPointer)
    func responseData(_ data: UnsafeRawBufferPointer)
    func responseEnd()
    /// The exchange failed; `receivedBytes` tells whether any response byte had arrived.
    func responseFailed(_ error: TransportError, receivedBytes: Bool)
    /// Bracket the callbacks of one read (`responseReadEnded` comes even when the exchange
    /// ended or failed within it): a relay corks its client connection between them, so
    /// what one upstream read brings leaves in one write. Both do nothing by default.
    func responseReadBegan()
    func responseReadEnded()
}

extension HTTPClientDelegate {
    public func responseReadBegan() {}
    public func responseReadEnded() {}
}

/// One upstream HTTP/1.1 connection over any transport (plain or TLS): writes a
/// request, parses the response, streams its body to the delegate, and can be pooled
/// for keep-alive between exchanges. Owner: one loop.
public final class HTTPClientConnection: LoopHandler, @unchecked Sendable {
    public enum State { case idle, busy, closed }

    public let loop: Loop
    public let transport: any Transport
    public private(set) var state = State.idle
    /// The exchange in progress: set by `send`, let go when the exchange ends, fails or the
    /// connection closes. A strong reference (a weak one would give every request object a
    /// side table, and its retains and releases the runtime's slow path); it never outlives
    /// the exchange, so it makes no lasting cycle.
    public private(set) var delegate: HTTPClientDelegate?
    private var parser: HTTP1ResponseParser
    private var out = ByteBuffer()
    private var interest = TransportInterest()
    private var paused = false
    private var received = false
    /// Completed exchanges on this connection (0 = fresh).
    public private(set) var exchanges = 0
    /// When it went idle (for the pool's idle timeout).
    public var idleSince: UInt64 = 0
    /// Called when an idle connection closes (peer close, error) so its pool can drop it.
    public var onIdleClose: ((HTTPClientConnection) -> Void)?

    public init(loop: Loop, transport: any Transport, maxHeadBytes: Int = 64 * 1024) {
        loop.assertOnLoop()
        self.loop = loop
        self.transport = transport
        self.parser = HTTP1ResponseParser(maxHeadBytes: maxHeadBytes)
        loop.register(transport.fd, self, Interest.read)
    }

    public var isReused: Bool { exchanges > 0 }

    /// Sends a complete request (head and body) and starts reading the response.
    public func send(head: [UInt8], body: [UInt8], isHEAD: Bool, delegate: HTTPClientDelegate) {
        loop.assertOnLoop()
        precondition(state == .idle)
        state = .busy
        self.delegate = delegate
        received = false
        inBody = false
        parser.expect(requestMethodHEAD: isHEAD)
        head.withUnsafeBytes { out.append($0) }
        if !body.isEmpty { body.withUnsafeBytes { out.append($0) } }
        flush()
    }

    /// Reading is paused (`pauseReading`) until `resumeReading`.
    public var isPaused: Bool { paused }

    /// Stops reading the response (the client is congested).
    public func pauseReading() {
        loop.assertOnLoop()
        guard !paused else { return }
        paused = true
        updateInterest()
    }

    public func resumeReading() {
        loop.assertOnLoop()
        guard paused else { return }
        paused = false
        updateInterest()
        // Bytes a TLS transport already holds raise no epoll event. From inside a delivery
        // (the delegate wrote to its client, whose drained queue asked for more) the read
        // loop below goes on by itself: reading here would deliver new bytes in the middle
        // of the older ones' delivery (a relay's forwarder re-entered: an exclusivity trap).
        if state == .busy && !reading { readAvailable() }
    }

    /// `readAvailable` is running (its delegate callbacks included).
    private var reading = false

    public func handleEvents(_ events: UInt32) {
        loop.assertOnLoop()
        if events & Interest.writable != 0 {
            if interest.readWantsWrite { interest.readWantsWrite = false; readAvailable() }
            if state != .closed { flush() }
        }
        if state == .closed { return }
        if events & (Interest.readable | Interest.errorOrHangup | Interest.readHangup) != 0 {
            if interest.writeWantsRead { interest.writeWantsRead = false; flush() }
            if state == .idle {
                // An idle pooled connection should say nothing: EOF or stray bytes end it.
                checkIdle()
            } else if !paused {
                readAvailable()
            }
        }
    }

    private func checkIdle() {
        var probe: UInt8 = 0
        let r = withUnsafeMutableBytes(of: &probe) { transport.read($0) }
        switch r {
        case .wantRead: return
        case .wantWrite: interest.readWantsWrite = true; updateInterest()
        default:
            let cb = onIdleClose
            close()
            cb?(self)
        }
    }

    private func readAvailable() {
        if reading { return }
        reading = true
        defer { reading = false }
        let buf = loop.readBuffer
        while state == .busy && !paused {
            switch transport.read(buf) {
            case .done(let n):
                received = true
                // The delegate is held across the read: the exchange may end within it.
                let d = delegate
                d?.responseReadBegan()
                deliver(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
                d?.responseReadEnded()
                if n < buf.count && !transport.hasBufferedInput { return }
            case .wantRead:
                return
            case .wantWrite:
                interest.readWantsWrite = true
                updateInterest()
                return
            case .closed:
                let ev = parser.finishOnEOF()
                if case .end = ev {
                    finishExchange(reusable: false)
                } else {
                    fail(.errno(ECONNRESET))
                }
                return
            case .failed(let e):
                fail(e)
                return
            }
        }
    }

    /// Feeds one read to the parser. Once the head is in, every byte consumed belongs to
    /// the body, framing included; those go out as one `responseRaw`, then the
    /// de-chunked pieces as `responseData`.
    private func deliver(_ chunk: UnsafeRawBufferPointer) {
        var offset = 0
        var bodyStart = inBody ? 0 : -1
        while state == .busy {
            let before = offset
            switch parser.next(chunk, &offset) {
            case .head:
                inBody = true
                bodyStart = offset
                delegate?.responseHead(parser.head!, bodyBytesFollow: offset < chunk.count)
            case .body(let r):
                if bodyStart < 0 { bodyStart = before }
                dataRanges.append(r)
            case .needMore:
                emitBody(chunk, from: bodyStart, to: offset)
                return
            case .end:
                if bodyStart < 0 { bodyStart = before }
                emitBody(chunk, from: bodyStart, to: offset)
                // Bytes after the response mean the upstream is out of step: do not reuse it.
                let clean = offset == chunk.count && (parser.head?.keepAlive ?? false)
                finishExchange(reusable: clean)
                return
            case .error(let e):
                let why: String
                switch e {
                case .malformed(let m): why = m
                case .headTooLarge: why = "response head too large"
                case .bodyTooLarge: why = "response body too large"
                }
                fail(.protocolError("bad upstream response: \(why)"))
                return
            }
        }
    }

    private var inBody = false
    private var dataRanges: [Range<Int>] = []

    private func emitBody(_ chunk: UnsafeRawBufferPointer, from: Int, to: Int) {
        if from >= 0 && from < to && state == .busy {
            delegate?.responseRaw(UnsafeRawBufferPointer(rebasing: chunk[from..<to]))
        }
        guard !dataRanges.isEmpty else { return }
        for r in dataRanges where state == .busy {
            delegate?.responseData(UnsafeRawBufferPointer(rebasing: chunk[r]))
        }
        dataRanges.removeAll(keepingCapacity: true)
    }

    private func finishExchange(reusable: Bool) {
        exchanges += 1
        let d = delegate
        delegate = nil
        if reusable {
            state = .idle
            idleSince = loop.now
            if paused { paused = false }
            updateInterest()
        } else {
            close()
        }
        d?.responseEnd()
    }

    private func fail(_ e: TransportError) {
        let d = delegate
        delegate = nil
        let got = received
        close()
        d?.responseFailed(e, receivedBytes: got)
    }

    private func flush() {
        while !out.isEmpty {
            let r = out.withReadableBytes { transport.write($0) }
            switch r {
            case .done(let n):
                out.consume(n)
            case .wantWrite:
                updateInterest()
                return
            case .wantRead:
                interest.writeWantsRead = true
                updateInterest()
                return
            case .closed:
                fail(.errno(EPIPE))
                return
            case .failed(let e):
                fail(e)
                return
            }
        }
        updateInterest()
    }

    private func updateInterest() {
        guard state != .closed else { return }
        interest.update(loop, transport.fd, readBits: paused ? Interest.none : Interest.read, pendingWrite: !out.isEmpty)
    }

    /// Closes at once (never returned to a pool after this).
    public func close() {
        loop.assertOnLoop()
        guard state != .closed else { return }
        state = .closed
        delegate = nil
        onIdleClose = nil
        loop.deregister(transport.fd)
        transport.close()
    }
}
