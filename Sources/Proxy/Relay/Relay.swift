import Reactor
import TLS

/// The byte engine of one request's way through the channel table: it sends each try,
/// holds the answer until the commit point (the first content-bearing bytes), then passes
/// the response head and the held bytes to the client and writes every upstream read
/// through at once while the usage tap reads the same bytes. Every decision (which try,
/// what to send, whether an answer fails over, what cools, what is recorded) is its
/// policy's (`RelayPolicy`), asked through named hooks: `pick`, `rewriteRequest`,
/// `classifyAnswer`, `onFailure`, `onCommit`, `onSuccess`, `onFinish`.
/// Owner: the client connection's loop.
final class Relay: HTTPClientDelegate, ResponseStreamDelegate, TimerTarget, @unchecked Sendable {
    /// Where the response of the current try stands.
    private enum Phase {
        /// Connecting or waiting for the response head.
        case waiting
        /// An error status: its body is held (bounded) to classify it.
        case holdingError
        /// A 2xx event stream: held until its first content event.
        case holdingStream
        /// Committed: bytes go to the client as they come.
        case streaming
        case finished
    }

    /// The last failure seen, passed to the client when no candidate is left.
    private enum LastFailure {
        case none
        /// An upstream answer, with the candidate and key position that gave it.
        case response(head: HTTPResponseHead, body: [UInt8], candidate: Int, keyPosition: Int)
        case transport(String)
        case timeout(String)
    }

    /// Strong: the handler outlives every request on its loop (an unowned reference costs
    /// a checked retain on each use).
    private let handler: ProxyHandler
    /// The loop that owns this relay (the handler's): every entry point asserts it in debug builds.
    private let loop: Loop
    private let client: HTTPServerConnection
    private let request: HTTPRequest
    /// Every decision about this request, and its record.
    private var policy: RelayPolicy

    // The current try.
    private var upstream: HTTPClientConnection?
    private var dial: Dial?
    private var triedStaleRetry = false
    private var phase = Phase.waiting
    private var responseHead: HTTPResponseHead?
    private var held: [UInt8] = []
    private var heldData: [UInt8] = []
    private var sse = SSEScanner()
    private var tap: UsageTap
    private var forwarder = ResponseForwarder()
    private var lastFailure = LastFailure.none
    /// This request's id in the loop's `ActiveRequests` (0 once it left).
    private var activeID: UInt64 = 0
    /// Response body bytes passed to the client.
    private var bytesStreamed: UInt64 = 0
    /// The token's admission (set before `start`), settled in `RelayPolicy.onFinish`.
    var admission: TokenAdmission {
        get { loop.assertOnLoop(); return policy.admission }
        set { loop.assertOnLoop(); policy.admission = newValue }
    }
    private lazy var firstByteTimer = LoopTimer(target: self)
    /// Once the head is in, the same timer guards the response (see `StallWatch`).
    private var stallTimer: LoopTimer { firstByteTimer }
    private var watch: StallWatch
    /// The current try must reach the commit point (or end its error answer) by then: its
    /// first-byte timeout bounds the whole time before the commit point, head or no head,
    /// however slowly the bytes trickle.
    private var preCommitDeadline: UInt64 = 0

    /// Error bodies are read up to this many bytes to classify them.
    private static let maxHeldErrorBytes = 64 * 1024
    /// A stream that shows no content event within this many bytes is committed anyway.
    private static let maxHeldStreamBytes = 256 * 1024

    init(handler: ProxyHandler, client: HTTPServerConnection, request: HTTPRequest, route: APIRoute,
         info: RequestInfo, session: SessionKey?, table: ChannelTable, candidates: [Candidate], record: consuming RequestRecord) {
        self.handler = handler
        self.loop = handler.loop
        self.client = client
        self.request = request
        self.policy = RelayPolicy(handler: handler, route: route, info: info, bodyBytes: request.body.count, session: session,
                                  table: table, candidates: candidates, record: record)
        self.tap = UsageTap(kind: route.kind, streaming: info.stream)
        self.watch = StallWatch(idleNanos: handler.config.stream.upstreamIdleNanos,
                                keepAliveOnlyNanos: handler.config.stream.keepAliveOnlyNanos)
    }

    private var isHEAD: Bool { request.head.methodIs("HEAD") }

    func start() {
        loop.assertOnLoop()
        client.streamDelegate = self
        client.userData = self
        client.writeStallTimeoutNanos = handler.config.stream.clientWriteNanos
        activeID = handler.active.add(self)
        nextTry()
    }

    // MARK: tries

    private var target: UpstreamTarget { _read { yield policy.target } }

    /// Starts the next try the policy picks; with nothing left, answers with the last failure.
    private func nextTry() {
        guard policy.pick() else { return exhausted() }
        if policy.accountTokenExpired() { return parkForRefresh() }
        send(fresh: false)
    }

    /// The picked account's token has expired: the request waits (parked, no thread held)
    /// for the one refresh in flight (`AccountRefresher`), then sends, or fails over when
    /// the token is still not fresh.
    private func parkForRefresh() {
        let me = UncheckedRelay(self)
        let waiting = handler.shared.accounts.wait(channelID: policy.channel.id, loop: loop, nowMillis: wallClockMillis(),
                                                   waitMillis: handler.shared.accounts.settings.waitMillis) {
            me.value.resumeAfterRefresh()
        }
        if !waiting { resumeAfterRefresh() }
    }

    private func resumeAfterRefresh() {
        loop.assertOnLoop()
        guard phase != .finished else { return }
        if policy.accountTokenExpired() {
            lastFailure = .transport("the account's token expired and its refresh did not finish")
            return failTry(.auth, .channel, reset: nil, status: 0, note: "account token expired")
        }
        send(fresh: false)
    }

    private func send(fresh: Bool) {
        phase = .waiting
        responseHead = nil
        held.removeAll(keepingCapacity: true)
        heldData.removeAll(keepingCapacity: true)
        sse = SSEScanner()
        policy.attempts += 1
        if !fresh, let c = handler.pool.checkout(target) {
            return write(on: c)
        }
        dial = handler.pool.dial(target) { [self] result in
            dial = nil
            guard phase != .finished else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c): write(on: c)
            case .failure(let e): failTry(transport: e)
            }
        }
    }

    private func write(on c: HTTPClientConnection) {
        upstream = c
        let (head, body) = policy.rewriteRequest(request)
        preCommitDeadline = Saturating.add(handler.loop.now, firstByteTimeoutNanos)
        handler.loop.arm(firstByteTimer, at: preCommitDeadline)
        c.send(head: head, body: body, isHEAD: isHEAD, delegate: self)
    }

    // MARK: upstream events

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        loop.assertOnLoop()
        if policy.channel.account != nil { policy.noteAccountWindows(head) }
        let eventStream = Relay.isEventStream(head)
        let watching = watch.start(now: handler.loop.now, eventStream: eventStream)
        responseHead = head
        if head.status >= 400 {
            phase = .holdingError
        } else if head.status < 300 && eventStream && !isHEAD {
            phase = .holdingStream
            tap = UsageTap(kind: policy.route.kind, streaming: true)
        } else {
            handler.loop.arm(stallTimer, at: watching)
            tap = UsageTap(kind: policy.route.kind, streaming: false, bodyLength: head.contentLength)
            return commit(flushNow: !bodyBytesFollow)
        }
        handler.loop.arm(stallTimer, at: min(watching, preCommitDeadline))
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
        switch phase {
        case .streaming:
            if forwarder.mode == .raw { bytesStreamed &+= UInt64(raw.count) }
            if forwarder.raw(raw, to: client) { upstream?.pauseReading() }
        case .holdingStream:
            held.append(contentsOf: raw)
        default:
            break
        }
    }

    func responseData(_ data: UnsafeRawBufferPointer) {
        loop.assertOnLoop()
        switch phase {
        case .streaming:
            watch.data(data, now: handler.loop.now)
            tap.feed(data)
            if forwarder.mode == .data { bytesStreamed &+= UInt64(data.count) }
            if forwarder.data(data, to: client) { upstream?.pauseReading() }
        case .holdingError:
            let room = Relay.maxHeldErrorBytes - heldData.count
            heldData.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room)))
            if heldData.count >= Relay.maxHeldErrorBytes {
                // Enough to classify: the rest of the body is never read, so the connection
                // cannot go back to the pool.
                upstream?.close()
                upstream = nil
                handler.loop.disarm(firstByteTimer)
                classifyHeldError()
            }
        case .holdingStream:
            watch.data(data, now: handler.loop.now)
            heldData.append(contentsOf: data)
            scanHeldStream(data)
        default:
            break
        }
    }

    /// Looks for the commit point in a held stream: the first content event commits, an
    /// error event before it fails over, and a long stream without either commits anyway.
    private func scanHeldStream(_ data: UnsafeRawBufferPointer) {
        var verdict: StreamEventClass?
        let wire = policy.wire
        sse.feed(data) { event in
            guard verdict == nil else { return }
            switch wire.classify(event) {
            case .content, .done: verdict = .content
            case .error(let type, let message): verdict = .error(type: type, message: message)
            case .metadata: break
            }
        }
        switch verdict {
        case .content?:
            commit(flushNow: false)
        case .error(let type, let message)?:
            let answer = policy.classifyAnswer(streamErrorType: type)
            switch answer.verdict {
            case .failover(let cls, let scope, let reset):
                upstream?.close()
                upstream = nil
                failTry(cls, scope, reset: reset, status: answer.status,
                        note: "stream error before content: \(type): \(message)")
            case .passThrough:
                commit(flushNow: false)
            }
        default:
            if heldData.count > Relay.maxHeldStreamBytes { commit(flushNow: false) }
        }
    }

    func responseEnd() {
        loop.assertOnLoop()
        guard phase != .finished else { return }
        handler.loop.disarm(firstByteTimer)
        let c = upstream
        upstream = nil
        if let c, c.state == .idle { handler.pool.release(c, target) }
        switch phase {
        case .holdingError:
            classifyHeldError()
        case .holdingStream:
            commit(flushNow: false)
            finishCommitted()
        case .streaming:
            finishCommitted()
        default:
            break
        }
    }

    func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        loop.assertOnLoop()
        guard phase != .finished else { return }
        let c = upstream
        upstream = nil
        if phase == .streaming {
            return breakCommittedStream("upstream failed mid-stream: \(error)")
        }
        if let c, c.isReused, !receivedBytes, !triedStaleRetry {
            // A pooled connection the upstream had already closed: one retry, fresh.
            triedStaleRetry = true
            handler.loop.disarm(firstByteTimer)
            policy.attempts -= 1
            return send(fresh: true)
        }
        failTry(transport: error)
    }

    private func classifyHeldError() {
        guard let head = responseHead else { return }
        switch policy.classifyAnswer(head, body: heldData[...]) {
        case .passThrough:
            respondWithHeld(head)
        case .failover(let cls, let scope, let reset):
            lastFailure = .response(head: head, body: heldData, candidate: policy.candidateIndex, keyPosition: policy.keyPosition)
            failTry(cls, scope, reset: reset, status: head.status, note: nil)
        }
    }

    // MARK: commit and streaming

    /// The commit point: the head and the held bytes go to the client; the rest streams.
    private func commit(flushNow: Bool) {
        guard let head = responseHead else { return }
        phase = .streaming
        policy.onCommit(status: head.status, streams: true)
        // Event streams are re-framed from de-chunked data, so the chunk stream is always
        // at a boundary when a failure needs to append the protocol's error event.
        forwarder.begin(head, client: client, requestIsHEAD: isHEAD, flushNow: flushNow,
                        reframe: Relay.isEventStream(head))
        if !heldData.isEmpty {
            heldData.withUnsafeBytes { tap.feed($0) }
        }
        switch forwarder.mode {
        case .raw:
            if !held.isEmpty { _ = held.withUnsafeBytes { forwarder.raw($0, to: client) } }
            bytesStreamed &+= UInt64(held.count)
        case .data:
            if !heldData.isEmpty { _ = heldData.withUnsafeBytes { forwarder.data($0, to: client) } }
            bytesStreamed &+= UInt64(heldData.count)
        }
        held = []
        heldData = []
        if client.isCongested { upstream?.pauseReading() }
    }

    /// Sends a held error response as it is (it was the client's own fault, or the last).
    private func respondWithHeld(_ head: HTTPResponseHead) {
        phase = .streaming
        policy.onCommit(status: head.status, streams: false)
        var fixed = head
        // The held body is complete and de-chunked: send it with its length.
        fixed.chunked = false
        fixed.contentLength = heldData.count
        var out: [UInt8] = []
        HeaderRewriter.clientResponse(fixed, keepLength: true, into: &out)
        client.appendConnectionHeader(&out)
        HTTP1Writer.appendEndOfHead(&out)
        out.append(contentsOf: heldData)
        out.withUnsafeBytes { client.startResponse(head: $0, framing: .asIs, flushNow: true) }
        finishCommitted()
    }

    private func finishCommitted() {
        guard phase != .finished else { return }
        phase = .finished
        policy.onSuccess()
        forwarder.finish(client)
        client.endResponse()
        complete(error: nil)
    }

    /// A failure after the commit point: the stream ends (with the protocol's error event
    /// when it has one and the framing allows) and the failure is recorded.
    private func breakCommittedStream(_ why: String) {
        phase = .finished
        policy.record.error = why
        // An event stream stands at an event boundary (the partial event, if any, is never
        // sent): the error event is a whole event of its own.
        if forwarder.endWithErrorEvent(policy.wire.streamErrorEvent(status: 502, message: why), client) {
            client.endResponse()
        } else {
            client.abortResponse()
        }
        complete(error: why)
    }

    // MARK: failures before the commit point

    private func failTry(transport error: TransportError) {
        if case .local = error {
            // This process is out of descriptors (or socket memory): no channel is at fault,
            // none cools, and another try would fail the same way.
            handler.loop.disarm(firstByteTimer)
            return answerError(503, "\(error)")
        }
        let (cls, scope) = policy.classifyAnswer(transportError: error)
        lastFailure = .transport("\(error)")
        fail(TryFailure(failure: cls, scope: scope, resetAfterNanos: nil, status: 0, note: "\(error)", transport: true))
    }

    private func failTry(_ cls: FailureClass, _ scope: ScopeKind, reset: UInt64?, status: Int, note: String?) {
        fail(TryFailure(failure: cls, scope: scope, resetAfterNanos: reset, status: status, note: note))
    }

    /// Ends the try (its timer, its connection) and does what the policy's `onFailure` says.
    private func fail(_ f: TryFailure) {
        handler.loop.disarm(firstByteTimer)
        upstream?.close()
        upstream = nil
        switch policy.onFailure(f, over: phase == .finished) {
        case .nextURL:
            triedStaleRetry = false
            send(fresh: false)
        case .nextTry:
            triedStaleRetry = false
            nextTry()
        case .exhausted:
            exhausted()
        case .stop:
            break
        }
    }

    private var firstByteTimeoutNanos: UInt64 { policy.firstByteTimeoutNanos }

    func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        guard phase == .waiting else { return stallCheck() }
        let (cls, scope) = policy.classifyTimeout()
        lastFailure = .timeout("upstream sent no response headers within \(formatSeconds(firstByteTimeoutNanos))")
        failTry(cls, scope, reset: nil, status: 0, note: "first-byte timeout")
    }

    /// The stall timer fired: look again later, or end the try (before the commit point, a
    /// failover that cools the (channel, model) as a timeout) or the stream (after it).
    private func stallCheck() {
        let holding = phase == .holdingError || phase == .holdingStream
        guard holding || phase == .streaming else { return }
        let now = handler.loop.now
        if holding && now >= preCommitDeadline {
            let why = phase == .holdingError
                ? "upstream error answer (\(responseHead?.status ?? 0)) did not end within the first-byte timeout (\(formatSeconds(firstByteTimeoutNanos)))"
                : "upstream stream sent no content within the first-byte timeout (\(formatSeconds(firstByteTimeoutNanos)))"
            let (cls, scope) = policy.classifyTimeout()
            lastFailure = .timeout(why)
            return failTry(cls, scope, reset: nil, status: 0, note: why)
        }
        let verdict = watch.check(now: now, paused: upstream?.isPaused ?? false)
        if case .wait(let deadline) = verdict {
            return handler.loop.arm(stallTimer, at: holding ? min(deadline, preCommitDeadline) : deadline)
        }
        let why = watch.describe(verdict)
        if phase == .streaming {
            upstream?.close()  // never back to the pool mid-response
            upstream = nil
            return breakCommittedStream(why)
        }
        let (cls, scope) = policy.classifyTimeout()
        lastFailure = .timeout(why)
        failTry(cls, scope, reset: nil, status: 0, note: why)
    }

    /// Nothing left to try: the last upstream answer passes through as it came;
    /// a timeout is 504 and a connection failure 502.
    private func exhausted() {
        guard phase != .finished else { return }
        switch lastFailure {
        case .response(let head, let body, let candidate, let position):
            // The record names the channel whose answer the client gets.
            policy.restore(candidate: candidate, keyPosition: position)
            heldData = body
            responseHead = head
            policy.record.error = policy.record.error ?? "every candidate failed; last status \(head.status)"
            respondWithHeld(head)
        case .timeout(let m):
            answerError(504, m)
        case .transport(let m):
            answerError(502, "upstream unreachable: \(m)")
        case .none:
            answerError(503, "no channel is available for model \(policy.info.model)")
        }
    }

    private func answerError(_ status: Int, _ message: String) {
        phase = .finished
        policy.record.status = status
        policy.record.error = message
        client.respond(status: status, body: policy.wire.errorBody(status: status, message: message))
        complete(error: message)
    }

    // MARK: client events

    func clientWritable() {
        loop.assertOnLoop()
        watch.read(now: handler.loop.now)
        upstream?.resumeReading()
    }

    func clientFinishedSending() {
        loop.assertOnLoop()
        if phase == .streaming && Relay.isEventStream(responseHead) { forwarder.probe(client) }
    }

    func clientClosed() {
        loop.assertOnLoop()
        guard phase != .finished else { return }
        phase = .finished
        handler.loop.disarm(firstByteTimer)
        dial?.cancel()
        dial = nil
        upstream?.close()  // never back to the pool mid-response
        upstream = nil
        if policy.record.status == 0 || policy.record.ttfbMicros == nil { policy.record.status = 499 }
        complete(error: client.closedForWriteStall
                 ? "client took no byte of the response for \(formatSeconds(client.writeStallTimeoutNanos)); connection closed"
                 : "client closed the connection")
    }

    // MARK: the end

    private func complete(error: String?) {
        handler.loop.disarm(firstByteTimer)
        handler.active.remove(activeID)
        activeID = 0
        policy.onFinish(error: error, usage: { tap.finish() })
    }

    var isStream: Bool { loop.assertOnLoop(); return policy.info.stream }

    /// What the admin's list of requests in flight shows of this one.
    func activeView(id: UInt64, now: UInt64) -> ActiveRequest {
        loop.assertOnLoop()
        let ch = policy.hasChannel ? policy.channel : nil
        return ActiveRequest(id: id, channelID: ch?.id, channelName: ch?.name, model: policy.info.model,
                             protocolName: policy.route.kind.rawValue, stream: policy.info.stream, elapsedNanos: now &- policy.startNanos,
                             bytesStreamed: bytesStreamed, client: policy.record.clientAddress, tokenID: policy.record.tokenID)
    }

    static func isEventStream(_ head: HTTPResponseHead?) -> Bool {
        guard let v = head?.value("content-type") else { return false }
        return ASCII.hasPrefixIgnoringCase(v, "text/event-stream")
    }
}

/// A relay carried to its own loop through `submit` (a parked request's resumption).
private struct UncheckedRelay: @unchecked Sendable {
    let value: Relay
    init(_ value: Relay) { self.value = value }
}
