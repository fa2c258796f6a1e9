import Reactor
import TLS

/// Sends notices to the webhooks in settings, off the request path: `post` (any thread, a
/// reactor thread included) only queues under a short lock and wakes the dispatcher's own
/// loop; that loop sends, one delivery in flight per webhook, each within
/// `deliveryTimeoutNanos`. A delivery a receiver refuses (no 2xx, no answer) is tried again
/// after 1 s, 2 s, 4 s … (`backoffNanos` doubled) up to `maxAttempts` tries, then given up
/// and counted. Each webhook's queue holds at most `capacity` deliveries: past it a notice
/// is dropped for that webhook and counted (a hanging receiver costs memory bounded by
/// it, and the proxy never waits). A change of the webhook list drops what was queued.
public final class NoticeDispatcher: @unchecked Sendable {
    public struct Counts: Sendable, Equatable {
        /// Deliveries a receiver took (a 2xx answer).
        public var sent: UInt64 = 0
        /// Deliveries given up after `maxAttempts` tries.
        public var failed: UInt64 = 0
        /// Tries after a failed one.
        public var retried: UInt64 = 0
        /// Notices not queued for a webhook because its queue was full.
        public var dropped: UInt64 = 0
        /// Deliveries waiting now (all webhooks), in flight included.
        public var queued: Int = 0

        public init() {}
    }

    struct Delivery {
        var notice: Notice
        /// When it was posted (wall clock): the payload's time, the same on every try.
        var postedMillis: UInt64
        var attempt: Int
        var notBefore: UInt64
    }

    struct State {
        var hooks: [Webhook] = []
        var generation = 0
        var queues: [[Delivery]] = []
        var inFlight: [Bool] = []
        var counts = Counts()
        var wakeRequested = false
    }

    public let loop: Loop
    private let pool: UpstreamPool
    private let webhooks: @Sendable () -> [Webhook]
    public let capacity: Int
    public let maxAttempts: Int
    public let backoffNanos: UInt64
    public let deliveryTimeoutNanos: UInt64
    private let state = Lock(State())
    /// Owner: `loop`.
    private var timer: LoopTimer?
    private let timerTarget = DispatcherTimer()

    /// `webhooks` is read at each `post` (the live settings' list); `pool` belongs to `loop`.
    public init(loop: Loop, pool: UpstreamPool, capacity: Int = 64, maxAttempts: Int = 4,
                backoffNanos: UInt64 = nanosPerSecond, deliveryTimeoutNanos: UInt64 = 10 * nanosPerSecond,
                webhooks: @escaping @Sendable () -> [Webhook]) {
        self.loop = loop
        self.pool = pool
        self.capacity = max(1, capacity)
        self.maxAttempts = max(1, maxAttempts)
        self.backoffNanos = backoffNanos
        self.deliveryTimeoutNanos = deliveryTimeoutNanos
        self.webhooks = webhooks
        timerTarget.owner = self
    }

    public var counts: Counts {
        state.withLock { s in
            var c = s.counts
            c.queued = s.queues.reduce(0) { $0 + $1.count }
            return c
        }
    }

    /// Queues `n` for every webhook (dropping it for one whose queue is full).
    public func post(_ n: Notice) {
        let hooks = webhooks()
        let posted = wallClockMillis()
        let wake = state.withLock { s -> Bool in
            if s.hooks != hooks { Self.reset(&s, hooks) }
            var any = false
            for i in s.queues.indices {
                if s.queues[i].count >= capacity {
                    s.counts.dropped &+= 1
                } else {
                    s.queues[i].append(Delivery(notice: n, postedMillis: posted, attempt: 1, notBefore: 0))
                    any = true
                }
            }
            guard any, !s.wakeRequested else { return false }
            s.wakeRequested = true
            return true
        }
        if wake { loop.submit { [self] in pump() } }
    }

    private static func reset(_ s: inout State, _ hooks: [Webhook]) {
        s.hooks = hooks
        s.generation &+= 1
        s.queues = Array(repeating: [], count: hooks.count)
        s.inFlight = Array(repeating: false, count: hooks.count)
    }

    /// Starts every delivery that is due and whose webhook has none in flight; arms the
    /// timer for the next one that is not yet due. On the loop.
    func pump() {
        loop.assertOnLoop()
        let now = loop.now
        var starts: [(Int, Int, Webhook, Delivery)] = []
        var nextDue = UInt64.max
        state.withLock { s in
            s.wakeRequested = false
            for i in s.queues.indices where !s.inFlight[i] {
                guard let d = s.queues[i].first else { continue }
                if d.notBefore > now {
                    nextDue = min(nextDue, d.notBefore)
                    continue
                }
                s.inFlight[i] = true
                starts.append((s.generation, i, s.hooks[i], d))
            }
        }
        if nextDue != .max {
            let t = timer ?? LoopTimer(target: timerTarget)
            timer = t
            loop.disarm(t)
            loop.arm(t, at: nextDue)
        }
        for (generation, i, hook, d) in starts {
            Self.send(hook, d.notice, postedMillis: d.postedMillis, pool: pool, timeoutNanos: deliveryTimeoutNanos) { [self] result in
                finished(generation, i, hook, result)
            }
        }
    }

    private func finished(_ generation: Int, _ i: Int, _ hook: Webhook, _ result: HTTPExchange.Outcome) {
        let ok = Self.accepted(result)
        var gaveUp: Int?
        state.withLock { s in
            guard s.generation == generation, i < s.queues.count, !s.queues[i].isEmpty else { return }
            s.inFlight[i] = false
            var d = s.queues[i].removeFirst()
            if ok {
                s.counts.sent &+= 1
            } else if d.attempt < maxAttempts {
                s.counts.retried &+= 1
                let shift = UInt64(min(d.attempt - 1, 30))
                let wait = backoffNanos > (UInt64.max >> shift) ? UInt64.max : backoffNanos << shift
                d.attempt += 1
                d.notBefore = Saturating.add(loop.now, wait)
                s.queues[i].insert(d, at: 0)
            } else {
                s.counts.failed &+= 1
                gaveUp = d.attempt
            }
        }
        if let tries = gaveUp {
            Log.warn("\(hook.label(i)): gave up after \(tries) tries: \(Self.describe(result))")
        }
        pump()
    }

    /// Whether the receiver took the delivery.
    public static func accepted(_ r: HTTPExchange.Outcome) -> Bool {
        r.failure == nil && (r.status.map { $0 >= 200 && $0 < 300 } ?? false)
    }

    /// The outcome in a few words, for logs and the test button (no URL, no body).
    public static func describe(_ r: HTTPExchange.Outcome) -> String {
        if let f = r.failure { return f }
        return "HTTP \(r.status ?? 0)"
    }

    /// One POST of `notice` (posted at `postedMillis`) to `hook` on `pool`'s loop;
    /// `completion` runs once there.
    @discardableResult
    public static func send(_ hook: Webhook, _ notice: Notice, postedMillis: UInt64 = wallClockMillis(), pool: UpstreamPool,
                            timeoutNanos: UInt64, completion: @escaping (HTTPExchange.Outcome) -> Void) -> HTTPExchange {
        let body = WebhookPayload.body(notice, format: hook.format, nowMillis: postedMillis)
        var head: [UInt8] = []
        HTTP1Writer.appendRequestLine(&head, method: "POST", target: hook.requestTarget[...])
        HTTP1Writer.appendHeader(&head, name: "Host", value: hook.target.hostHeader[...])
        HTTP1Writer.appendHeader(&head, name: "Content-Type", value: "application/json; charset=utf-8")
        HTTP1Writer.appendHeader(&head, name: "User-Agent", value: "ccload-notify")
        HTTP1Writer.appendHeader(&head, name: "Content-Length", value: body.count)
        HTTP1Writer.appendEndOfHead(&head)
        return HTTPExchange.start(pool: pool, target: hook.target, head: head, body: body, timeoutNanos: timeoutNanos,
                                  maxKeptBody: 1024, completion: completion)
    }

    fileprivate func timerFired() { pump() }
}

/// The dispatcher's timer target (the dispatcher is `Sendable`; its timer is its loop's).
private final class DispatcherTimer: TimerTarget {
    weak var owner: NoticeDispatcher?
    func timerFired(_ timer: LoopTimer) { owner?.timerFired() }
}
