import Glibc
import Reactor

/// One keep-alive connection of the load: connects (and reconnects with back-off),
/// sends the request template, and times each exchange. Owner: its worker's loop.
final class LoadConnection: HTTPClientDelegate, TimerTarget, @unchecked Sendable {
    unowned let worker: Worker
    let index: Int
    private(set) var conn: HTTPClientConnection?
    private var connector: Connector?
    private lazy var retryTimer = LoopTimer(target: self)
    private var backoff: UInt64 = 0
    /// `--first-match`, reset per exchange; `matchTimed` once this exchange's match is recorded.
    private var match: BodyMatch?
    private var matchTimed = false

    /// Open loop: intended start times of requests due on this connection, not yet sent.
    private var due = ContiguousArray<UInt64>()
    private var dueHead = 0

    /// The exchange in flight.
    private(set) var busy = false
    private(set) var gotHead = false
    private var gotBody = false
    private var status = 0
    /// Latency origin: the intended send time (open loop) or the actual one (closed loop).
    private var origin: UInt64 = 0
    private(set) var sentAt: UInt64 = 0

    init(worker: Worker, index: Int) {
        self.worker = worker
        self.index = index
        self.match = worker.plan.firstMatch.map { BodyMatch($0) }
    }

    // MARK: connecting

    func connect() {
        guard !worker.stopping, conn == nil, connector == nil else { return }
        var finished = false
        let c = Connector(loop: worker.loop, addresses: worker.plan.addresses,
                          timeoutNanos: worker.plan.connectTimeoutNanos) { [unowned self] result in
            finished = true
            self.connector = nil
            switch consume result {
            case .success(let fd):
                self.connected(HTTPClientConnection(loop: self.worker.loop, transport: PlainTransport(fd: fd)))
            case .failure:
                self.worker.countConnectError()
                self.retryLater()
            }
        }
        if !finished { connector = c }
    }

    private func connected(_ c: HTTPClientConnection) {
        worker.stats.connects += 1
        conn = c
        c.onIdleClose = { [unowned self] _ in
            // The server closed a keep-alive connection between requests: not an error.
            self.conn = nil
            self.connect()
        }
        if worker.stopping { c.close(); conn = nil; return }
        trySend()
    }

    private func retryLater() {
        guard !worker.stopping else { return }
        backoff = backoff == 0 ? 10 * nanosPerMilli : min(backoff * 2, nanosPerSecond)
        worker.loop.arm(retryTimer, afterNanos: backoff)
    }

    func timerFired(_ timer: LoopTimer) {
        connect()
    }

    // MARK: sending

    /// Open loop: one more request is due on this connection at `intended`.
    func schedule(_ intended: UInt64) {
        due.append(intended)
        let backlog = due.count - dueHead
        if backlog > worker.stats.maxBacklog { worker.stats.maxBacklog = backlog }
        trySend()
    }

    func trySend() {
        guard !busy, !worker.stopping, let c = conn, c.state == .idle else { return }
        if worker.openLoop {
            guard dueHead < due.count else { return }
            origin = due[dueHead]
            dueHead += 1
            if dueHead == due.count { due.removeAll(keepingCapacity: true); dueHead = 0 }
        }
        busy = true
        gotHead = false
        gotBody = false
        status = 0
        if match != nil { match!.reset(); matchTimed = false }
        sentAt = monotonicNanos()
        if !worker.openLoop {
            origin = sentAt
        } else if origin >= worker.plan.measureStart {
            worker.stats.sendLag.record(RunStats.clamp(sentAt &- origin))
        }
        let r = worker.plan.request
        c.send(head: r.head, body: r.body, isHEAD: r.isHEAD, delegate: self)
    }

    // MARK: HTTPClientDelegate

    func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        let now = monotonicNanos()
        gotHead = true
        status = head.status
        if worker.inWindow(now) { worker.stats.bytes += head.bytes.count }
        if status >= 200 && status < 300 && origin >= worker.plan.measureStart && now <= worker.plan.measureEnd {
            worker.stats.ttfb.record(RunStats.clamp(now &- origin))
        }
    }

    func responseRaw(_ raw: UnsafeRawBufferPointer) {
        guard raw.count > 0 else { return }
        let now = monotonicNanos()
        if worker.inWindow(now) { worker.stats.bytes += raw.count }
        if !gotBody {
            gotBody = true
            if status >= 200 && status < 300 && origin >= worker.plan.measureStart && now <= worker.plan.measureEnd {
                worker.stats.firstBody.record(RunStats.clamp(now &- origin))
            }
        }
    }

    func responseData(_ data: UnsafeRawBufferPointer) {
        guard match != nil, !matchTimed, match!.feed(data) else { return }
        matchTimed = true
        let now = monotonicNanos()
        if status >= 200 && status < 300 && origin >= worker.plan.measureStart && now <= worker.plan.measureEnd {
            worker.stats.firstMatch.record(RunStats.clamp(now &- origin))
        }
    }

    func responseEnd() {
        let now = monotonicNanos()
        busy = false
        backoff = 0
        if origin >= worker.plan.measureStart && now <= worker.plan.measureEnd {
            if status >= 200 && status < 300 {
                worker.stats.requests += 1
                worker.stats.total.record(RunStats.clamp(now &- origin))
            } else {
                worker.stats.non2xx += 1
                worker.stats.statuses[status, default: 0] += 1
            }
        }
        if let c = conn, c.state == .idle {
            trySend()
        } else {
            // The server ended the connection with the response (Connection: close).
            conn = nil
            connect()
        }
    }

    func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        busy = false
        conn = nil
        if worker.inWindow(monotonicNanos()) { worker.stats.ioErrors += 1 }
        retryLater()
    }

    // MARK: timeouts and the end

    /// Called by the worker's sweep: gives up on an exchange that took too long.
    func timeOut() {
        guard busy, let c = conn else { return }
        busy = false
        conn = nil
        c.close()
        if worker.inWindow(monotonicNanos()) { worker.stats.timeouts += 1 }
        retryLater()
    }

    /// Closes everything; no callback runs after this.
    func shutDown() {
        connector?.cancel()
        connector = nil
        worker.loop.disarm(retryTimer)
        if let c = conn { c.close() }
        conn = nil
        busy = false
    }
}
