import Glibc
import CEpoll

/// One accepted client connection: reads and parses requests (keep-alive and
/// pipelining, one response at a time), enforces the limits and timeouts, and writes
/// responses, either whole or streamed with backpressure.
///
/// Owner: the loop of the `HTTPServer` that accepted it.
public final class HTTPServerConnection: LoopHandler, TimerTarget, @unchecked Sendable {
    private enum State { case handshaking, reading, responding, closing, closed }

    /// How the body of the response in progress is framed.
    public enum BodyFraming {
        /// Bytes go out as given: a Content-Length body, or chunks the caller frames itself.
        case asIs
        /// Each `writeBody` becomes one chunk; `endResponse` adds the last chunk.
        case chunked
        /// The body ends when the connection closes (HTTP/1.0 clients).
        case untilClose
    }

    unowned let server: HTTPServer
    /// The server's loop and settings, kept here: read on every event and request, and an
    /// unowned reference to the server costs a checked retain on each use.
    public let loop: Loop
    private let config: HTTPServerConfig
    private let transport: any Transport
    public let peer: SocketAddress
    private var parser: HTTP1RequestParser
    private var state = State.handshaking
    private var input = ByteBuffer()
    private var out = ByteBuffer()
    private var interest = TransportInterest()
    private lazy var timer = LoopTimer(target: self)
    private var requestStarted = false
    private var currentHead: HTTPRequestHead?
    /// The handler's note on `currentHead` (`HeadDecision.proceed`).
    private var currentNote = HeadNote.none
    private var body: [UInt8] = []
    private var processing = false
    private var keepAlive = true
    private var framing = BodyFraming.asIs
    private var congested = false
    /// While above zero, writes gather in `out` and leave at `uncork` in one syscall.
    private var corks = 0
    private var inputPaused = false
    /// The client shut its sending side (half-close): nothing more is read; what is in
    /// progress and what is buffered is answered, then the connection closes.
    private var inputClosed = false
    /// The request head was refused by the handler and had no body: skip its (empty) body.
    private var headRefused = false
    /// Closing after an answer to a request whose body was not read: once the answer is out,
    /// shut the sending side and discard input for a moment before closing, so the unread
    /// bytes do not make the kernel reset the connection (which can destroy the answer).
    private var lingerOnClose = false
    private var lingering = false
    static let lingerNanos: UInt64 = 2 * nanosPerSecond
    /// Bytes wait in `out` since `lastWriteProgress` (the last time the client took some).
    private var writeWaiting = false
    private var lastWriteProgress: UInt64 = 0
    /// How long the client may take no byte of a queued response before the connection
    /// closes; the server's setting, which the application may change per response.
    public var writeStallTimeoutNanos: UInt64
    /// The connection was closed because the client stopped taking the response.
    public private(set) var closedForWriteStall = false
    /// The streaming producer of the response in progress, if any. Let go with `userData`
    /// when the response ends or the connection closes (strong, as `userData` is: a weak
    /// reference would give the producer a side table and slow its every retain).
    public var streamDelegate: ResponseStreamDelegate?
    /// Free slot for the application (for example the in-flight request's state).
    public var userData: AnyObject?
    /// The id of the request being answered (`x-request-id` on its answer): the client's own
    /// when sane, else a fresh one; set at its head (or, for an answer to no head, when the
    /// answer is written) and cleared when the answer ends.
    public private(set) var requestID = RequestID()
    /// Complete header lines (`Name: value\r\n`…) the application adds to every head of the
    /// answer in progress (CORS fields); emptied, keeping its capacity, when the answer ends.
    public var extraResponseHeaders: [UInt8] = []

    init(server: HTTPServer, transport: any Transport) {
        server.loop.assertOnLoop()
        self.server = server
        self.loop = server.loop
        self.config = server.config
        self.transport = transport
        self.peer = Socket.peerAddress(transport.fd)
        self.parser = HTTP1RequestParser(maxHeadBytes: config.maxHeadBytes,
                                         maxBodyBytes: config.maxBodyBytes)
        self.writeStallTimeoutNanos = config.writeStallTimeoutNanos
    }

    func start() {
        loop.assertOnLoop()
        loop.register(transport.fd, self, Interest.read)
        // The header timeout also bounds a TLS handshake.
        loop.arm(timer, afterNanos: config.headerTimeoutNanos)
        requestStarted = true
        handshake()
    }

    private func handshake() {
        switch transport.handshake() {
        case .done:
            state = .reading
            requestStarted = false
            loop.arm(timer, afterNanos: config.idleTimeoutNanos)
            updateInterest()
            if transport.hasBufferedInput { readAvailable() }
        case .wantRead:
            interest.set(loop, transport.fd, Interest.read)
        case .wantWrite:
            interest.set(loop, transport.fd, Interest.readWrite)
        case .closed, .failed:
            close()
        }
    }

    // MARK: events

    public func handleEvents(_ events: UInt32) {
        loop.assertOnLoop()
        if state == .handshaking { return handshake() }
        if events & Interest.writable != 0 {
            if interest.readWantsWrite { interest.readWantsWrite = false; readAvailable() }
            if state != .closed { flush() }
        }
        if state == .closed { return }
        if events & (Interest.readable | Interest.errorOrHangup | Interest.readHangup) != 0 {
            if interest.writeWantsRead { interest.writeWantsRead = false; flush() }
            if inputClosed {
                // Only a hang-up or an error reaches a connection that no longer reads: the
                // client is gone both ways.
                if events & Interest.errorOrHangup != 0 { close() }
            } else if state != .closed {
                readAvailable()
            }
        }
    }

    private func readAvailable() {
        let buf = loop.readBuffer
        while state != .closed {
            switch transport.read(buf) {
            case .done(let n):
                if state == .closing { continue }  // answered and closing: input is discarded
                let chunk = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                if state == .reading && input.isEmpty {
                    process(chunk)
                } else {
                    input.append(chunk)
                    if state == .reading { processBuffered() }
                }
                if state == .responding && input.count > config.maxHeadBytes + 65536 {
                    // A pipelining client far ahead of us: stop reading until we catch up.
                    inputPaused = true
                    updateInterest()
                    return
                }
                if n < buf.count && !transport.hasBufferedInput { return }
            case .wantRead:
                return
            case .wantWrite:
                interest.readWantsWrite = true
                updateInterest()
                return
            case .closed:
                return inputEnded()
            case .failed:
                close()
                return
            }
        }
    }

    /// The client sent its last byte (FIN, or a TLS close_notify). It may still read: the
    /// response in progress goes out whole, complete requests already buffered are answered,
    /// then the connection closes.
    private func inputEnded() {
        inputClosed = true
        updateInterest()
        switch state {
        case .responding:
            streamDelegate?.clientFinishedSending()  // endResponse closes
        case .reading:
            if !input.isEmpty && !processing { processBuffered() }
            if state == .reading {
                // Nothing complete is left to answer.
                state = .closing
                flush()
            }
        case .closing:
            if out.isEmpty { close() }
        case .handshaking, .closed:
            close()
        }
    }

    private func processBuffered() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while state == .reading && !input.isEmpty {
            let pending = input.count
            var consumed = 0
            input.withReadableBytes { raw in
                var offset = 0
                parseLoop(raw, &offset)
                consumed = offset
            }
            input.consume(consumed)
            if consumed == 0 && pending > 0 { break }
        }
    }

    private func process(_ chunk: UnsafeRawBufferPointer) {
        processing = true
        var offset = 0
        parseLoop(chunk, &offset)
        if offset < chunk.count {
            input.append(UnsafeRawBufferPointer(rebasing: chunk[offset...]))
        }
        processing = false
        if state == .reading && !input.isEmpty { processBuffered() }
    }

    /// Parses until the buffer is used up or a request is complete (then stops, so the
    /// response goes out before the next pipelined request is looked at).
    private func parseLoop(_ raw: UnsafeRawBufferPointer, _ offset: inout Int) {
        while state == .reading {
            if !requestStarted && offset < raw.count {
                // The header clock starts at a request's first byte, not before.
                requestStarted = true
                loop.arm(timer, afterNanos: config.headerTimeoutNanos)
            }
            switch parser.next(raw, &offset) {
            case .needMore:
                return
            case .head:
                let head = parser.head!
                requestID = head.value("x-request-id").flatMap { RequestID(clientValue: $0) } ?? server.requestIDs.next()
                let announcesBody = head.chunked || (head.contentLength ?? 0) > 0
                switch server.handler.headReceived(head, peer: peer, on: self) {
                case .reject(let status, let answer):
                    // Refused before any body byte is read (and before 100 Continue).
                    if announcesBody {
                        keepAlive = false
                        lingerOnClose = true
                    } else {
                        keepAlive = head.keepAlive && !server.draining
                    }
                    headRefused = !announcesBody
                    requestStarted = false
                    state = .responding
                    currentVersionMinor = head.versionMinor
                    currentIsHEAD = head.methodIs("HEAD")
                    loop.disarm(timer)
                    respond(status: status, body: answer)
                    continue
                case .proceed(let limit, let note):
                    if let limit, limit < config.maxBodyBytes, !parser.limitBody(to: limit) {
                        fail(413, "request body exceeds \(limit) bytes")
                        return
                    }
                    currentNote = note
                }
                currentHead = head
                body.removeAll(keepingCapacity: true)
                if let cl = head.contentLength { body.reserveCapacity(cl) }
                // Header block complete: from now on only the idle timeout guards a slow body.
                loop.arm(timer, afterNanos: config.idleTimeoutNanos)
                if head.expectContinue && head.versionMinor == 1 && announcesBody {
                    enqueue("HTTP/1.1 100 Continue\r\n\r\n")
                    flush()
                }
            case .body(let r):
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[r]))
            case .end:
                if headRefused {
                    headRefused = false
                    continue
                }
                dispatch()
            case .error(let e):
                switch e {
                case .headTooLarge: fail(431, "request line and headers exceed \(config.maxHeadBytes) bytes")
                case .bodyTooLarge: fail(413, "request body exceeds \(parser.bodyLimit) bytes")
                case .malformed(let why): fail(400, "malformed request: \(why)")
                }
                return
            }
        }
    }

    private func dispatch() {
        guard let head = currentHead else { return }
        currentHead = nil
        requestStarted = false
        state = .responding
        keepAlive = head.keepAlive && !server.draining
        currentVersionMinor = head.versionMinor
        currentIsHEAD = head.methodIs("HEAD")
        writeStallTimeoutNanos = config.writeStallTimeoutNanos
        loop.disarm(timer)
        let req = HTTPRequest(head: head, body: body, peer: peer, headNote: currentNote)
        currentNote = .none
        body = []
        server.handler.handle(req, on: self)
    }

    // MARK: responses

    /// Whether the response in progress will leave the connection open.
    public var willKeepAlive: Bool { keepAlive && !server.draining }

    /// True while the outbound queue is above the high watermark: a streaming producer
    /// should stop reading its source until `clientWritable()`.
    public var isCongested: Bool { congested }

    public var isOpen: Bool { state != .closed && state != .closing }

    /// Holds writes until the matching `uncork`: what a response writes meanwhile (its head,
    /// each chunk, the last chunk) gathers in the queue and leaves in one write. A producer
    /// corks around one upstream read (`HTTPClientDelegate.responseReadBegan`), so the bytes
    /// of that read are never held past it. Calls nest; a close meanwhile still happens.
    public func cork() {
        loop.assertOnLoop()
        corks &+= 1
    }

    /// Ends a `cork`; the last one writes what gathered (and closes, when the response
    /// ended the connection meanwhile).
    public func uncork() {
        loop.assertOnLoop()
        guard corks > 0 else { return }
        corks &-= 1
        if corks == 0 && state != .closed { flush() }
    }

    /// Sends a complete response with a body.
    public func respond(status: Int, contentType: StaticString = "application/json",
                        extraHeaders: [(String, String)] = [], body: [UInt8]) {
        loop.assertOnLoop()
        guard state == .responding else { return }
        var head: [UInt8] = []
        head.reserveCapacity(256)
        HTTP1Writer.appendStatusLine(&head, status: status)
        HTTP1Writer.appendHeader(&head, name: "Content-Type", value: contentType)
        HTTP1Writer.appendHeader(&head, name: "Content-Length", value: body.count)
        for (k, v) in extraHeaders { HTTP1Writer.appendHeader(&head, name: Array(k.utf8)[...], value: Array(v.utf8)[...]) }
        appendConnectionHeader(&head)
        HTTP1Writer.appendEndOfHead(&head)
        if !currentIsHEAD { head.append(contentsOf: body) }
        head.withUnsafeBytes { send($0) }
        endResponse()
    }

    /// Makes the response in progress the connection's last (its body will end by close).
    public func disableKeepAlive() {
        loop.assertOnLoop()
        keepAlive = false
    }

    /// Adds the request's `x-request-id` and `Connection: close` or `keep-alive` as this
    /// response needs (every response head goes through here).
    public func appendConnectionHeader(_ head: inout [UInt8]) {
        loop.assertOnLoop()
        if requestID.isEmpty { requestID = server.requestIDs.next() }
        HTTP1Writer.appendHeader(&head, name: "x-request-id", requestID)
        if !extraResponseHeaders.isEmpty { head.append(contentsOf: extraResponseHeaders) }
        if !willKeepAlive {
            HTTP1Writer.appendHeader(&head, name: "Connection", value: "close")
        } else if (currentVersionMinor == 0) {
            HTTP1Writer.appendHeader(&head, name: "Connection", value: "keep-alive")
        }
    }

    private var currentVersionMinor = 1
    /// The request being answered is a HEAD: `respond` sends the head only (with the
    /// Content-Length the body would have had).
    private var currentIsHEAD = false

    /// The HTTP minor version of the request being answered (0 → the client cannot take chunked).
    public var requestVersionMinor: Int { currentVersionMinor }

    /// Starts a streamed response: `head` is a complete head (status line to blank
    /// line). With `flushNow` false it is held until the first body write so both go out
    /// in one syscall.
    public func startResponse(head: UnsafeRawBufferPointer, framing: BodyFraming, flushNow: Bool) {
        loop.assertOnLoop()
        guard state == .responding else { return }
        self.framing = framing
        if framing == .untilClose { keepAlive = false }
        out.append(head)
        if flushNow { flush() }
    }

    /// Writes body bytes framed for the response (a chunk when chunked).
    public func writeBody(_ data: UnsafeRawBufferPointer) {
        loop.assertOnLoop()
        guard state == .responding, data.count > 0 else { return }
        if framing == .chunked {
            // Chunk header, data and CRLF gather in the queue and leave in one write; the
            // header is formatted on the stack (no allocation per chunk).
            HTTP1Writer.withChunkHeader(size: data.count) { out.append($0) }
            out.append(data)
            out.append("\r\n")
            flush()
        } else {
            send(data)
        }
    }

    /// Writes bytes as they are (already framed by the caller, e.g. chunked bytes passed through).
    public func writeRaw(_ data: UnsafeRawBufferPointer) {
        loop.assertOnLoop()
        guard state == .responding, data.count > 0 else { return }
        send(data)
    }

    /// Ends the response in progress (writes the last chunk when chunked).
    public func endResponse() {
        loop.assertOnLoop()
        guard state == .responding else { return }
        if framing == .chunked { out.append("0\r\n\r\n") }
        framing = .asIs
        streamDelegate = nil
        userData = nil
        requestID = RequestID()
        if !extraResponseHeaders.isEmpty { extraResponseHeaders.removeAll(keepingCapacity: true) }
        if !willKeepAlive || (inputClosed && input.isEmpty) {
            state = .closing
            flush()
            return
        }
        state = .reading
        flush()
        guard state == .reading else { return }
        loop.arm(timer, afterNanos: config.idleTimeoutNanos)
        if inputPaused { inputPaused = false; updateInterest() }
        if !input.isEmpty && !processing { processBuffered() }
        if inputClosed && state == .reading && !processing {
            // What is left of the input is no complete request, and no more will come.
            state = .closing
            flush()
        }
    }

    /// Ends the response in progress without its proper ending (no last chunk), so the
    /// client sees an incomplete body, and closes once queued bytes are out.
    public func abortResponse() {
        loop.assertOnLoop()
        guard state == .responding else { return }
        streamDelegate = nil
        userData = nil
        state = .closing
        flush()
    }

    // MARK: writing

    private func enqueue(_ s: StaticString) {
        out.append(s)
    }

    /// Writes now when nothing is queued; queues what the socket does not take.
    private func send(_ data: UnsafeRawBufferPointer) {
        if corks > 0 {
            out.append(data)
        } else if out.isEmpty {
            var off = 0
            while off < data.count {
                let r0 = transport.write(UnsafeRawBufferPointer(rebasing: data[off...]))
                switch r0 {
                case .done(let n):
                    off += n
                    if n > 0 { lastWriteProgress = loop.now }
                case .wantWrite, .wantRead:
                    if case .wantRead = r0 { interest.writeWantsRead = true }
                    out.append(UnsafeRawBufferPointer(rebasing: data[off...]))
                    afterQueueGrew()
                    return
                case .closed, .failed:
                    close()
                    return
                }
            }
        } else {
            out.append(data)
            flush()
        }
    }

    private func afterQueueGrew() {
        if !writeWaiting {
            // The stall clock starts when bytes start waiting, not at the last write.
            writeWaiting = true
            lastWriteProgress = loop.now
        }
        if (state == .responding || state == .closing) && !timer.isArmed {
            // A client that stops reading cannot hold the connection (nor what feeds it) forever.
            loop.arm(timer, at: Loop.deadline(now: lastWriteProgress, after: writeStallTimeoutNanos))
        }
        if !congested && out.count > config.writeHighWatermark { congested = true }
        updateInterest()
    }

    private func flush() {
        if corks > 0 { return }
        while !out.isEmpty {
            let r = out.withReadableBytes { transport.write($0) }
            switch r {
            case .done(let n):
                out.consume(n)
                if n > 0 { lastWriteProgress = loop.now }
            case .wantWrite, .wantRead:
                if case .wantRead = r { interest.writeWantsRead = true }
                afterQueueGrew()
                return
            case .closed, .failed:
                close()
                return
            }
        }
        writeWaiting = false
        if state == .closing {
            if lingerOnClose { return linger() }
            close()
            return
        }
        updateInterest()
        if congested && out.count <= config.writeLowWatermark {
            congested = false
            streamDelegate?.clientWritable()
        }
    }

    /// The answer is out: FIN after it, then read and drop what the client still sends until
    /// it closes or `lingerNanos` pass.
    private func linger() {
        guard !lingering else { return }
        lingering = true
        if inputClosed { return close() }
        _ = Glibc.shutdown(transport.fd, Int32(SHUT_WR))
        loop.arm(timer, afterNanos: HTTPServerConnection.lingerNanos)
    }

    private func updateInterest() {
        guard state != .closed else { return }
        let readBits = inputClosed ? Interest.none : inputPaused ? Interest.readHangup : Interest.read
        interest.update(loop, transport.fd, readBits: readBits, pendingWrite: !out.isEmpty)
    }

    // MARK: errors, timeouts, closing

    /// Answers an error the server detected itself and closes after it.
    private func fail(_ status: Int, _ message: String) {
        state = .responding
        keepAlive = false
        lingerOnClose = true
        currentVersionMinor = 1
        respond(status: status, body: config.errorBody(status, message))
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        switch state {
        case .handshaking:
            close()
        case .reading:
            if requestStarted || currentHead != nil {
                if currentHead == nil {
                    fail(408, "no complete request header within \(formatSeconds(config.headerTimeoutNanos))")
                } else {
                    fail(408, "request body stalled")
                }
            } else {
                close()  // idle keep-alive connection
            }
        case .responding, .closing:
            if out.isEmpty {
                if state == .closing { close() }
                return
            }
            let due = Loop.deadline(now: lastWriteProgress, after: writeStallTimeoutNanos)
            if loop.now >= due {
                closedForWriteStall = true
                close()
            } else {
                loop.arm(timer, at: due)
            }
        case .closed:
            break
        }
    }

    func drainIfIdle() {
        loop.assertOnLoop()
        if state == .handshaking || (state == .reading && !requestStarted && currentHead == nil) { close() }
    }

    /// Closes the connection now; a streaming producer hears `clientClosed()`.
    public func close() {
        loop.assertOnLoop()
        guard state != .closed else { return }
        let wasResponding = state == .responding
        state = .closed
        loop.disarm(timer)
        loop.deregister(transport.fd)
        transport.close()
        let d = streamDelegate
        streamDelegate = nil
        userData = nil
        if wasResponding { d?.clientClosed() }
        server.connectionClosed(self)
    }
}
