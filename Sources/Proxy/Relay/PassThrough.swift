import Reactor
import TLS

/// One request forwarded to the single `CCLOAD_UPSTREAM` (no channel table): get a
/// connection (pooled or new), send, wait for the response head under the first-byte
/// timeout, then stream every read to the client as it arrives, pausing the upstream
/// while the client is congested.
/// A pooled connection found closed before any response byte gets one retry on a
/// fresh connection. No client credential goes upstream (`CCLOAD_UPSTREAM_KEY`, if set,
/// takes its place). The token's admission is settled once the exchange ends, charged
/// (when `priced`) with what the answer reports it used, priced by the requested model;
/// the exchange is counted, not recorded. After the head, a failure leaves the body
/// incomplete, and an upstream that stalls (`StallWatch`) ends it too: an event stream with
/// the protocol's error event. Owner: the client connection's loop.
final class PassThrough: HTTPClientDelegate, ResponseStreamDelegate, TimerTarget, @unchecked Sendable {
    /// Strong: the handler outlives every request on its loop (an unowned reference costs
    /// a checked retain on each use).
    private let handler: ProxyHandler
    /// The loop that owns this exchange (the handler's): every entry point asserts it in debug builds.
    private let loop: Loop
    private let client: HTTPServerConnection
    private let request: HTTPRequest
    private let target: UpstreamTarget
    private var upstream: HTTPClientConnection?
    private var connector: Dial?
    private var retried = false
    private var headSent = false
    private var finished = false
    private var forwarder = ResponseForwarder()
    private lazy var firstByteTimer = LoopTimer(target: self)
    /// Once the head is in, the same timer guards the response (see `StallWatch`).
    private var stallTimer: LoopTimer { firstByteTimer }
    private var watch: StallWatch
    private var eventStream = false
    private let isHEAD: Bool
    private let admission: TokenAdmission
    private var settled = false
    /// The protocol and requested model of a known route, for pricing; nil: not priced.
    private let priced: (kind: ProtocolKind, model: String)?
    private var tap: UsageTap?

    init(handler: ProxyHandler, client: HTTPServerConnection, request: HTTPRequest, target: UpstreamTarget,
         admission: TokenAdmission, priced: (kind: ProtocolKind, model: String)?) {
        self.handler = handler
        self.loop = handler.loop
        self.client = client
        self.request = request
        self.target = target
        self.isHEAD = request.head.methodIs("HEAD")
        self.admission = admission
        self.priced = priced
        self.watch = StallWatch(idleNanos: handler.config.stream.upstreamIdleNanos,
                                keepAliveOnlyNanos: handler.config.stream.keepAliveOnlyNanos)
    }

    func start() {
        loop.assertOnLoop()
        client.streamDelegate = self
        client.writeStallTimeoutNanos = handler.config.stream.clientWriteNanos
        if let c = handler.pool.checkout(target) {
            send(on: c)
        } else {
            dialFresh()
        }
    }

    private func dialFresh() {
        connector = handler.pool.dial(target) { [self] result in
            connector = nil
            guard !finished else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c):
                send(on: c)
            case .failure(let e):
                if case .local = e { return failBeforeHead(status: 503, "\(e)") }  // never the upstream's fault
                failBeforeHead(status: 502, "upstream unreachable: \(e)")
            }
        }
    }

    private func send(on c: HTTPClientConnection) {
        upstream = c
        let credential: HeaderRewriter.Credential = handler.config.upstreamKey.map { .keyInClientsPlace($0) } ?? .noKey
        let path = target.pathPrefix + ProtocolRules.removingCredentialParameters(request.head.targetBytes)
        let head = HeaderRewriter.upstreamRequest(request.head, target: path,
                                                  hostHeader: target.hostHeader, credential: credential,
                                                  bodyLength: request.body.count)
        handler.loop.arm(firstByteTimer, afterNanos: handler.config.firstByteTimeoutNanos)
        c.send(head: head, body: request.body, isHEAD: isHEAD, delegate: self)
    }

    // MARK: upstream events

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        loop.assertOnLoop()
        handler.loop.disarm(firstByteTimer)
        headSent = true
        handler.shared.counters.count(status: head.status)
        if let priced, head.status < 300, !isHEAD { tap = UsageTap(kind: priced.kind, streaming: Relay.isEventStream(head), bodyLength: head.contentLength) }
        eventStream = Relay.isEventStream(head) && !isHEAD
        handler.loop.arm(stallTimer, at: watch.start(now: handler.loop.now, eventStream: eventStream))
        // An event stream is re-chunked so a stall can still end it with a whole error event.
        forwarder.begin(head, client: client, requestIsHEAD: isHEAD, flushNow: !bodyBytesFollow, reframe: eventStream)
    }

    /// One upstream read's writes to the client leave together (`HTTPServerConnection.cork`);
    /// the congestion check that each write made is made once, after the one write.
    func responseReadBegan() {
        loop.assertOnLoop()
        client.cork()
    }

    func responseReadEnded() {
        loop.assertOnLoop()
        client.uncork()
        if client.isCongested { upstream?.pauseReading() }
    }

    func responseRaw(_ raw: UnsafeRawBufferPointer) {
        loop.assertOnLoop()
        watch.read(now: handler.loop.now)
        if forwarder.raw(raw, to: client) { upstream?.pauseReading() }
    }

    func responseData(_ data: UnsafeRawBufferPointer) {
        loop.assertOnLoop()
        tap?.feed(data)
        watch.data(data, now: handler.loop.now)
        if forwarder.data(data, to: client) { upstream?.pauseReading() }
    }

    func responseEnd() {
        loop.assertOnLoop()
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        if let c = upstream, c.state == .idle { handler.pool.release(c, target) }
        upstream = nil
        forwarder.finish(client)
        client.endResponse()
        settle()
    }

    func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        loop.assertOnLoop()
        guard !finished else { return }
        let c = upstream
        upstream = nil
        if !headSent {
            if let c, c.isReused, !receivedBytes, !retried {
                // A pooled connection the upstream had already closed: one safe retry.
                retried = true
                handler.loop.disarm(firstByteTimer)
                dialFresh()
                return
            }
            return failBeforeHead(status: 502, "upstream failed: \(error)")
        }
        // After the head went out the only honest ending is an incomplete body.
        finished = true
        handler.loop.disarm(stallTimer)
        client.abortResponse()
        settle()
    }

    /// A stall after the head went out: an event stream ends with the protocol's error
    /// event (clients show it and retry); any other body is left incomplete.
    private func endStalled(_ why: String) {
        finished = true
        handler.loop.disarm(stallTimer)
        let event = ProtocolRules.route(request.head).flatMap { $0.kind.wire.streamErrorEvent(status: 502, message: why) }
        if forwarder.endWithErrorEvent(event, client) {
            client.endResponse()
        } else {
            client.abortResponse()
        }
        settle()
    }

    // MARK: client events

    func clientWritable() {
        loop.assertOnLoop()
        watch.read(now: handler.loop.now)
        upstream?.resumeReading()
    }

    func clientFinishedSending() {
        loop.assertOnLoop()
        if headSent && !finished && eventStream { forwarder.probe(client) }
    }

    func clientClosed() {
        loop.assertOnLoop()
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        connector?.cancel()
        connector = nil
        upstream?.close()  // never back to the pool mid-response
        upstream = nil
        settle()
    }

    // MARK: timeouts and errors

    func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        if headSent {
            guard !finished else { return }
            let verdict = watch.check(now: handler.loop.now, paused: upstream?.isPaused ?? false)
            if case .wait(let deadline) = verdict { return handler.loop.arm(stallTimer, at: deadline) }
            upstream?.close()  // never back to the pool mid-response
            upstream = nil
            return endStalled(watch.describe(verdict))
        }
        guard !finished, !headSent else { return }
        upstream?.close()
        upstream = nil
        failBeforeHead(status: 504, "upstream sent no response headers within \(formatSeconds(handler.config.firstByteTimeoutNanos))")
    }

    private func failBeforeHead(status: Int, _ message: String) {
        guard !finished else { return }
        finished = true
        handler.loop.disarm(firstByteTimer)
        handler.shared.counters.count(status: status)
        ProxyHandler.fail(client, status, message)
        settle()
    }

    /// Gives the token's admission back (once), charged with the usage the answer reported.
    private func settle() {
        guard !settled else { return }
        settled = true
        var cost: Int64 = 0
        if let priced, var t = tap {
            cost = Int64(handler.shared.pricing.cost(handler.price(of: priced.model), usage: t.finish()).microUSD)
            tap = nil
        }
        handler.settle(admission, costMicroUSD: cost)
    }
}
