import Reactor

/// One mock response in progress: waits, answers, streams events on a timer, and
/// fails on request. Owner: its connection's loop.
final class MockStream: TimerTarget, ResponseStreamDelegate, @unchecked Sendable {
    private unowned let handler: MockHandler
    private let connection: HTTPServerConnection
    private let o: MockOptions
    private lazy var timer = LoopTimer(target: self)
    private var sent = 0
    private var headDone = false
    private var waitingAtGate = false
    private var closed = false

    init(handler: MockHandler, connection: HTTPServerConnection, options: MockOptions) {
        self.handler = handler
        self.connection = connection
        self.o = options
    }

    func start() {
        if o.headDelayMs > 0 {
            handler.loop.arm(timer, afterNanos: UInt64(o.headDelayMs) * nanosPerMilli)
        } else {
            begin()
        }
    }

    private func write(_ bytes: [UInt8]) {
        if !bytes.isEmpty { bytes.withUnsafeBytes { connection.writeBody($0) } }
    }

    private func begin() {
        headDone = true
        if o.cut == "head" { return connection.close() }
        if o.status != 200 {
            var extra: [(String, String)] = []
            if let r = o.retryAfter { extra.append(("retry-after", r)) } else if o.status == 429 { extra.append(("retry-after", "7")) }
            return connection.respond(status: o.status, extraHeaders: extra, body: MockBodies.error(status: o.status, proto: o.proto))
        }
        if !o.stream || o.jsonArrayStream || o.proto == .countTokens {
            return connection.respond(status: 200, body: handler.json(o))
        }
        var head: [UInt8] = []
        HTTP1Writer.appendStatusLine(&head, status: 200)
        HTTP1Writer.appendHeader(&head, name: "Content-Type", value: "text/event-stream")
        HTTP1Writer.appendHeader(&head, name: "Cache-Control", value: "no-cache")
        HTTP1Writer.appendHeader(&head, name: "Transfer-Encoding", value: "chunked")
        connection.appendConnectionHeader(&head)
        HTTP1Writer.appendEndOfHead(&head)
        head.withUnsafeBytes { connection.startResponse(head: $0, framing: .chunked, flushNow: false) }
        write(MockBodies.streamPreamble(o))
        if let type = o.sseErrorType {
            write(MockBodies.sseError(o, type: type))
            return connection.endResponse()
        }
        write(MockBodies.streamOpen(o))
        if o.cutAfterEvents == 0 { return connection.close() }
        if o.firstDelayMs > 0 {
            return handler.loop.arm(timer, afterNanos: UInt64(o.firstDelayMs) * nanosPerMilli)
        }
        next()
    }

    /// Sends the next events: all at once without a delay (a loop, not recursion, so a
    /// long stream does not overflow the stack), else one and a timer for the next.
    private func next() {
        while !closed {
            if sent == o.events {
                write(MockBodies.streamEnd(o))
                return connection.endResponse()
            }
            write(MockBodies.streamDelta(o, sent))
            sent += 1
            if let n = o.cutAfterEvents, sent >= n { return connection.close() }
            if sent == 1, let g = o.gate {
                let releasedAlready = gates.withLock { s -> Bool in
                    if s.released.remove(g) != nil { return true }
                    s.waiting[g] = GatedStream(loop: handler.loop, stream: self)
                    return false
                }
                if !releasedAlready {
                    waitingAtGate = true
                    return
                }
            }
            if o.delayMs > 0 {
                return handler.loop.arm(timer, afterNanos: UInt64(o.delayMs) * nanosPerMilli)
            }
        }
    }

    func release() {
        guard waitingAtGate else { return }
        waitingAtGate = false
        next()
    }

    func timerFired(_ timer: LoopTimer) {
        if !headDone { begin() } else { next() }
    }

    func clientWritable() {}

    func clientClosed() {
        closed = true
        handler.loop.disarm(timer)
    }
}
