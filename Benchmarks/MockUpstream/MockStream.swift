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

    private func begin() {
        headDone = true
        if o.cut == "head" { return connection.close() }
        if o.status != 200 {
            return connection.respond(status: o.status, extraHeaders: o.status == 429 ? [("retry-after", "7")] : [],
                                      body: MockBodies.error(status: o.status))
        }
        if !o.stream {
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
        if o.sseError {
            MockBodies.sseError.withUnsafeBytes { connection.writeBody($0) }
            return connection.endResponse()
        }
        MockBodies.messageStart(inputTokens: o.inputTokens).withUnsafeBytes { connection.writeBody($0) }
        next()
    }

    /// Sends the next event, then schedules the one after.
    private func next() {
        guard !closed else { return }
        if sent == o.events {
            MockBodies.messageStop(outputTokens: o.outputTokens).withUnsafeBytes { connection.writeBody($0) }
            return connection.endResponse()
        }
        MockBodies.delta(sent).withUnsafeBytes { connection.writeBody($0) }
        sent += 1
        if sent == 1 && o.cut == "body" { return connection.close() }
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
            handler.loop.arm(timer, afterNanos: UInt64(o.delayMs) * nanosPerMilli)
        } else {
            next()
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
