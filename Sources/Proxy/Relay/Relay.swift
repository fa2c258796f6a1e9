import Reactor
import TLS

/// One request's way through the channel table: try each candidate channel (and its
/// keys) in order; before the commit point every failure cools what failed and moves on;
/// at the commit point (the first content-bearing bytes) the response head and the held
/// bytes go to the client, and from then on every upstream read is written through at
/// once while the usage tap reads the same bytes. Owner: the client connection's loop.
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

    private unowned let handler: ProxyHandler
    private let client: HTTPServerConnection
    private let request: HTTPRequest
    private let route: APIRoute
    private let info: RequestInfo
    private let session: SessionKey?
    private let table: ChannelTable
    private var candidates: [Candidate]
    private var record: RequestRecord
    private let startNanos: UInt64

    // The current try.
    private var candidateIndex = 0
    private var keyPosition = 0
    /// Which of the channel's base URLs this try uses, and how many it has tried.
    private var urlIndex = 0
    private var urlsTried = 0
    private var upstream: HTTPClientConnection?
    private var dial: Dial?
    private var triedStaleRetry = false
    private var counting: ChannelCounters?
    private var phase = Phase.waiting
    private var responseHead: HTTPResponseHead?
    private var held: [UInt8] = []
    private var heldData: [UInt8] = []
    private var sse = SSEScanner()
    private var tap: UsageTap
    private var forwarder = ResponseForwarder()
    private var lastFailure = LastFailure.none
    private var attempts = 0
    /// This request's id in the loop's `ActiveRequests` (0 once it left).
    private var activeID: UInt64 = 0
    /// Response body bytes passed to the client.
    private var bytesStreamed: UInt64 = 0
    /// The token's admission (set before `start`), settled in `complete`.
    var admission = TokenAdmission(tokenID: nil)
    /// The estimate the current try holds against its channel's daily cost limit.
    private var channelReservation: (channelID: Int, microUSD: Int)?
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
         info: RequestInfo, session: SessionKey?, table: ChannelTable, candidates: [Candidate], record: RequestRecord) {
        self.handler = handler
        self.client = client
        self.request = request
        self.route = route
        self.info = info
        self.session = session
        self.table = table
        self.candidates = candidates
        self.record = record
        self.startNanos = handler.loop.now
        self.tap = UsageTap(kind: route.kind, streaming: info.stream)
        self.watch = StallWatch(idleNanos: handler.config.stream.upstreamIdleNanos,
                                keepAliveOnlyNanos: handler.config.stream.keepAliveOnlyNanos)
    }

    private var isHEAD: Bool { request.head.methodIs("HEAD") }

    func start() {
        client.streamDelegate = self
        client.userData = self
        client.writeStallTimeoutNanos = handler.config.stream.clientWriteNanos
        activeID = handler.active.add(self)
        nextTry()
    }

    // MARK: tries

    private var current: Candidate { candidates[candidateIndex] }
    private var channel: Channel { table.channels[current.channelIndex] }
    private var keyIndex: Int { current.keys[keyPosition] }
    private var target: UpstreamTarget { table.targets[current.channelIndex][urlIndex] }

    /// Starts the try at (candidateIndex, keyPosition), skipping channels at their
    /// concurrency limit; with nothing left, answers with the last failure.
    private func nextTry() {
        while candidateIndex < candidates.count {
            if current.keys.isEmpty {
                candidateIndex += 1
                keyPosition = 0
                continue
            }
            let counters = table.counters[current.channelIndex]
            if counters.tryBegin(limit: channel.maxConcurrency) {
                counting = counters
                reserveDailySpend()
                if urlsTried == 0 {
                    urlIndex = handler.preferredURL(channelID: channel.id, count: table.targets[current.channelIndex].count)
                }
                return send(fresh: false)
            }
            candidateIndex += 1
            keyPosition = 0
        }
        exhausted()
    }

    private func send(fresh: Bool) {
        phase = .waiting
        responseHead = nil
        held.removeAll(keepingCapacity: true)
        heldData.removeAll(keepingCapacity: true)
        sse = SSEScanner()
        attempts += 1
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
        let ch = channel
        let target = self.target
        let upstreamModel = current.upstreamModel
        var path = ProtocolRules.upstreamTarget(route: route, clientTarget: request.head.targetBytes, basePath: target.pathPrefix[...])
        var body = request.body
        if upstreamModel != info.model {
            if route.kind == .gemini {
                if let p = RequestScan.rewriteGeminiPath(target: path[...], to: upstreamModel) { path = p }
            } else if let r = info.modelRange {
                body = RequestScan.rewriteModel(body: body, range: r, to: upstreamModel)
            }
        }
        let head = HeaderRewriter.upstreamRequest(request.head, target: path, hostHeader: target.hostHeader,
                                                  credential: .channel(ch.kind, Array(ch.keys[keyIndex].secret.utf8)),
                                                  bodyLength: body.count)
        preCommitDeadline = Saturating.add(handler.loop.now, firstByteTimeoutNanos)
        handler.loop.arm(firstByteTimer, at: preCommitDeadline)
        c.send(head: head, body: body, isHEAD: isHEAD, delegate: self)
    }

    // MARK: upstream events

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        let watching = watch.start(now: handler.loop.now, eventStream: Relay.isEventStream(head))
        responseHead = head
        if head.status >= 400 {
            phase = .holdingError
        } else if head.status < 300 && Relay.isEventStream(head) && !isHEAD {
            phase = .holdingStream
            tap = UsageTap(kind: route.kind, streaming: true)
        } else {
            handler.loop.arm(stallTimer, at: watching)
            tap = UsageTap(kind: route.kind, streaming: false)
            return commit(flushNow: !bodyBytesFollow)
        }
        handler.loop.arm(stallTimer, at: min(watching, preCommitDeadline))
    }

    func responseRaw(_ raw: UnsafeRawBufferPointer) {
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
        let kind = route.kind
        sse.feed(data) { event in
            guard verdict == nil else { return }
            switch ProtocolRules.classify(kind, event) {
            case .content, .done: verdict = .content
            case .error(let type, let message): verdict = .error(type: type, message: message)
            case .metadata: break
            }
        }
        switch verdict {
        case .content?:
            commit(flushNow: false)
        case .error(let type, let message)?:
            switch Classifier.classify(sseErrorType: type) {
            case .failover(let cls, let scope, let reset):
                upstream?.close()
                upstream = nil
                failTry(cls, scope, reset: reset, status: ProtocolRules.status(forErrorType: type, kind: kind),
                        note: "stream error before content: \(type): \(message)")
            case .passThrough:
                commit(flushNow: false)
            }
        default:
            if heldData.count > Relay.maxHeldStreamBytes { commit(flushNow: false) }
        }
    }

    func responseEnd() {
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
            attempts -= 1
            return send(fresh: true)
        }
        failTry(transport: error)
    }

    private func classifyHeldError() {
        guard let head = responseHead else { return }
        switch Classifier.classify(status: head.status, headers: head, bodyPrefix: heldData[...], model: current.upstreamModel) {
        case .passThrough:
            respondWithHeld(head)
        case .failover(let cls, let scope, let reset):
            lastFailure = .response(head: head, body: heldData, candidate: candidateIndex, keyPosition: keyPosition)
            failTry(cls, scope, reset: reset, status: head.status, note: nil)
        }
    }

    // MARK: commit and streaming

    /// The commit point: the head and the held bytes go to the client; the rest streams.
    private func commit(flushNow: Bool) {
        guard let head = responseHead else { return }
        phase = .streaming
        record.ttfbMicros = (handler.loop.now - startNanos) / 1000
        record.status = head.status
        // Failed tries stay listed in `attempts`; the request itself answered.
        record.error = nil
        handler.notePreferredURL(channelID: channel.id, index: urlIndex)
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
        record.status = head.status
        record.ttfbMicros = (handler.loop.now - startNanos) / 1000
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
        let ch = channel
        let now = handler.loop.now
        if record.status < 400 {
            handler.shared.cooldowns.recordSuccess(channelID: ch.id, keyIndex: keyIndex, model: info.model)
            if let s = session { handler.shared.selector.affinity?.record(session: s, channel: ch.id, key: keyIndex, now: now) }
        }
        forwarder.finish(client)
        client.endResponse()
        complete(error: nil)
    }

    /// A failure after the commit point: the stream ends (with the protocol's error event
    /// when it has one and the framing allows) and the failure is recorded.
    private func breakCommittedStream(_ why: String) {
        phase = .finished
        record.error = why
        // An event stream stands at an event boundary (the partial event, if any, is never
        // sent): the error event is a whole event of its own.
        if forwarder.endWithErrorEvent(ProtocolRules.streamErrorEvent(route.kind, status: 502, message: why), client) {
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
        let (cls, scope) = Classifier.classify(transportError: error)
        lastFailure = .transport("\(error)")
        let urls = table.targets[current.channelIndex].count
        if urlsTried + 1 < urls && phase != .finished {
            // The channel has another base URL: try it before the channel counts as down.
            handler.loop.disarm(firstByteTimer)
            upstream?.close()
            upstream = nil
            record.attempts.append(AttemptNote(channelID: channel.id, keyIndex: keyIndex, status: 0, failure: cls.rawValue))
            record.error = "\(error)"
            urlsTried += 1
            urlIndex = (urlIndex + 1) % urls
            triedStaleRetry = false
            guard attempts < handler.shared.maxAttempts else { return exhausted() }
            return send(fresh: false)
        }
        failTry(cls, scope, reset: nil, status: 0, note: "\(error)")
    }

    /// Cools what failed, notes the try, and moves to the next key or channel.
    private func failTry(_ cls: FailureClass, _ scope: ScopeKind, reset: UInt64?, status: Int, note: String?) {
        handler.loop.disarm(firstByteTimer)
        upstream?.close()
        upstream = nil
        counting?.end()
        counting = nil
        releaseDailySpend()
        let ch = channel
        let now = handler.loop.now
        let cooldowns = handler.shared.cooldowns
        // (channel, model) cooldowns are keyed by the requested model, as the selector reads them;
        // a channel whose keys all cool counts as cooling there without a record of its own.
        let scopeValue = CooldownScope(scope, channelID: ch.id, keyIndex: keyIndex, model: info.model)
        cooldowns.record(failure: cls, scope: scopeValue, now: now, explicitResetAt: reset.map { Saturating.add(now, $0) })
        record.attempts.append(AttemptNote(channelID: ch.id, keyIndex: keyIndex, status: status, failure: cls.rawValue))
        if let note { record.error = note }
        if phase == .finished { return }
        guard attempts < handler.shared.maxAttempts else { return exhausted() }
        if scope == .key && keyPosition + 1 < current.keys.count {
            keyPosition += 1
        } else {
            candidateIndex += 1
            keyPosition = 0
            urlsTried = 0
        }
        triedStaleRetry = false
        nextTry()
    }

    /// The current channel's first-byte timeout (its own, clamped like the setting), else the setting.
    private var firstByteTimeoutNanos: UInt64 {
        channel.firstByteTimeoutSeconds.map(RuntimeSettings.firstByteTimeoutNanos(seconds:)) ?? handler.config.firstByteTimeoutNanos
    }

    func timerFired(_ timer: LoopTimer) {
        guard phase == .waiting else { return stallCheck() }
        let (cls, scope) = Classifier.classifyFirstByteTimeout()
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
            let (cls, scope) = Classifier.classifyFirstByteTimeout()
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
        let (cls, scope) = Classifier.classifyFirstByteTimeout()
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
            candidateIndex = candidate
            keyPosition = position
            heldData = body
            responseHead = head
            record.error = record.error ?? "every candidate failed; last status \(head.status)"
            respondWithHeld(head)
        case .timeout(let m):
            answerError(504, m)
        case .transport(let m):
            answerError(502, "upstream unreachable: \(m)")
        case .none:
            answerError(503, "no channel is available for model \(info.model)")
        }
    }

    private func answerError(_ status: Int, _ message: String) {
        phase = .finished
        record.status = status
        record.error = message
        client.respond(status: status, body: ProtocolRules.errorBody(route.kind, status: status, message: message))
        complete(error: message)
    }

    // MARK: client events

    func clientWritable() {
        watch.read(now: handler.loop.now)
        upstream?.resumeReading()
    }

    func clientFinishedSending() {
        if phase == .streaming && Relay.isEventStream(responseHead) { forwarder.probe(client) }
    }

    func clientClosed() {
        guard phase != .finished else { return }
        phase = .finished
        handler.loop.disarm(firstByteTimer)
        dial?.cancel()
        dial = nil
        upstream?.close()  // never back to the pool mid-response
        upstream = nil
        if record.status == 0 || record.ttfbMicros == nil { record.status = 499 }
        complete(error: client.closedForWriteStall
                 ? "client took no byte of the response for \(formatSeconds(client.writeStallTimeoutNanos)); connection closed"
                 : "client closed the connection")
    }

    // MARK: the record

    /// A channel with a daily cost limit holds this try's estimate against it until the try ends.
    private func reserveDailySpend() {
        let ch = channel
        guard ch.dailyCostLimitUSD != nil else { return }
        let estimate = handler.shared.pricing.estimate(model: current.upstreamModel, bodyBytes: request.body.count,
                                                       maxOutputTokens: info.maxOutputTokens, multiplier: ch.costMultiplier)
        handler.shared.spend.reserve(channelID: ch.id, microUSD: estimate)
        channelReservation = (ch.id, estimate)
    }

    private func releaseDailySpend() {
        guard let r = channelReservation else { return }
        handler.shared.spend.release(channelID: r.channelID, microUSD: r.microUSD)
        channelReservation = nil
    }

    private func complete(error: String?) {
        handler.loop.disarm(firstByteTimer)
        counting?.end()
        counting = nil
        releaseDailySpend()
        handler.active.remove(activeID)
        activeID = 0
        let now = handler.loop.now
        record.durationMicros = (now - startNanos) / 1000
        if error != nil && record.error == nil { record.error = error }
        if candidateIndex < candidates.count {
            let ch = channel
            record.channelID = ch.id
            record.channelName = ch.name
            record.keyIndex = keyIndex
            record.upstreamModel = current.upstreamModel
            let usage = tap.finish()
            record.usageKnown = usage.known
            record.inputTokens = usage.input
            record.outputTokens = usage.output
            record.cacheReadTokens = usage.cacheRead
            record.cacheWrite5mTokens = usage.cacheWrite5m
            record.cacheWrite1hTokens = usage.cacheWrite1h
            let cost = handler.shared.pricing.cost(model: current.upstreamModel, usage: usage, multiplier: ch.costMultiplier)
            record.costMicroUSD = Int64(cost.microUSD)
            record.priced = cost.priced
            if cost.microUSD > 0 { handler.shared.spend.add(channelID: ch.id, microUSD: cost.microUSD) }
        }
        handler.settle(admission, costMicroUSD: record.costMicroUSD)
        handler.shared.record(record)
    }

    var isStream: Bool { info.stream }

    /// What the admin's list of requests in flight shows of this one.
    func activeView(id: UInt64, now: UInt64) -> ActiveRequest {
        let ch = candidateIndex < candidates.count ? channel : nil
        return ActiveRequest(id: id, channelID: ch?.id, channelName: ch?.name, model: info.model,
                             protocolName: route.kind.rawValue, stream: info.stream, elapsedNanos: now &- startNanos,
                             bytesStreamed: bytesStreamed, client: record.clientAddress, tokenID: record.tokenID)
    }

    static func isEventStream(_ head: HTTPResponseHead?) -> Bool {
        guard let v = head?.value("content-type") else { return false }
        return ASCII.hasPrefixIgnoringCase(v, "text/event-stream")
    }
}
