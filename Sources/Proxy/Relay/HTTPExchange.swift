import Reactor
import TLS

/// One request sent from a loop to a target and answered once: a new connection from the
/// loop's upstream pool (resolve, connect, tunnel, TLS as the target needs), the request,
/// the response head (its time to first byte) and up to `maxKeptBody` bytes of the body,
/// all within `timeoutNanos` for the head and as long again for the body. Not the relay:
/// no failover, no cooldown, no record. What the admin's channel test, the scheduled health
/// probes and the webhook sender share. Owner: `pool`'s loop; it keeps itself alive until
/// `completion` has run (once, on the loop) or `cancel` was called.
public final class HTTPExchange: HTTPClientDelegate, TimerTarget, @unchecked Sendable {
    public struct Outcome: Sendable {
        /// The response status; nil when no response head arrived.
        public var status: Int?
        /// From the start to the response head.
        public var ttfbNanos: UInt64?
        public var durationNanos: UInt64
        /// The first `maxKeptBody` bytes of the response body.
        public var body: [UInt8]
        /// Why no whole response arrived (transport failure, timeout); nil when one did.
        public var failure: String?
    }

    private let pool: UpstreamPool
    private let target: UpstreamTarget
    private let head: [UInt8]
    private let body: [UInt8]
    private let timeoutNanos: UInt64
    private let maxKeptBody: Int
    private let started: UInt64
    private var completion: ((Outcome) -> Void)?
    private var dial: Dial?
    private var upstream: HTTPClientConnection?
    private var responseHead: HTTPResponseHead?
    private var ttfb: UInt64?
    private var kept: [UInt8] = []
    private var self_: HTTPExchange?
    private lazy var timer = LoopTimer(target: self)

    private init(pool: UpstreamPool, target: UpstreamTarget, head: [UInt8], body: [UInt8], timeoutNanos: UInt64,
                 maxKeptBody: Int, completion: @escaping (Outcome) -> Void) {
        self.pool = pool
        self.target = target
        self.head = head
        self.body = body
        self.timeoutNanos = timeoutNanos
        self.maxKeptBody = maxKeptBody
        self.completion = completion
        started = pool.loop.now
    }

    /// Starts the exchange on `pool`'s loop (call it there). `head` is the request line and
    /// header fields with the blank line; `body` what follows.
    @discardableResult
    public static func start(pool: UpstreamPool, target: UpstreamTarget, head: [UInt8], body: [UInt8], timeoutNanos: UInt64,
                             maxKeptBody: Int = 16 * 1024, completion: @escaping (Outcome) -> Void) -> HTTPExchange {
        pool.loop.assertOnLoop()
        let x = HTTPExchange(pool: pool, target: target, head: head, body: body, timeoutNanos: timeoutNanos,
                             maxKeptBody: maxKeptBody, completion: completion)
        x.self_ = x
        x.dial = pool.dial(target) { [x] result in
            x.dial = nil
            guard x.self_ != nil else {
                if case .success(let c) = result { c.close() }
                return
            }
            switch result {
            case .success(let c):
                x.upstream = c
                // The connect and the handshake have the pool's connect timeout.
                x.pool.loop.arm(x.timer, afterNanos: x.timeoutNanos)
                c.send(head: x.head, body: x.body, isHEAD: false, delegate: x)
            case .failure(let e):
                x.finish(failure: "unreachable: \(e)")
            }
        }
        return x
    }

    /// Ends the exchange without calling `completion`.
    public func cancel() {
        pool.loop.assertOnLoop()
        completion = nil
        finish(failure: "cancelled")
    }

    public func responseHead(_ head: HTTPResponseHead, bodyBytesFollow: Bool) {
        pool.loop.assertOnLoop()
        responseHead = head
        ttfb = pool.loop.now &- started
        // The body gets as long again.
        pool.loop.disarm(timer)
        pool.loop.arm(timer, afterNanos: timeoutNanos)
    }

    public func responseRaw(_ raw: UnsafeRawBufferPointer) { pool.loop.assertOnLoop() }

    public func responseData(_ data: UnsafeRawBufferPointer) {
        pool.loop.assertOnLoop()
        let room = maxKeptBody - kept.count
        if room > 0 { kept.append(contentsOf: UnsafeRawBufferPointer(rebasing: data.prefix(room))) }
    }

    public func responseEnd() {
        pool.loop.assertOnLoop()
        if let c = upstream, c.state == .idle { pool.release(c, target) }
        upstream = nil
        finish(failure: responseHead == nil ? "closed without a response" : nil)
    }

    public func responseFailed(_ error: TransportError, receivedBytes: Bool) {
        pool.loop.assertOnLoop()
        upstream = nil
        finish(failure: responseHead == nil ? "failed: \(error)" : "failed mid-response: \(error)")
    }

    public func timerFired(_ timer: LoopTimer) {
        pool.loop.assertOnLoop()
        let seconds = formatSeconds(timeoutNanos)
        finish(failure: responseHead == nil ? "sent no response headers within \(seconds)" : "sent a response that did not end within \(seconds)")
    }

    private func finish(failure: String?) {
        guard self_ != nil else { return }
        self_ = nil
        pool.loop.disarm(timer)
        dial?.cancel()
        dial = nil
        upstream?.close()
        upstream = nil
        let done = completion
        completion = nil
        done?(Outcome(status: responseHead?.status, ttfbNanos: ttfb, durationNanos: pool.loop.now &- started,
                      body: kept, failure: failure))
    }
}
