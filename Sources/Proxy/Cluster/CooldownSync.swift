import Reactor

/// The `cooldown` topic's bodies (version 1; times in wall-clock milliseconds, durations in
/// milliseconds):
///
///     1 s <scope> <untilMs> <durationMs> <failures> <class> <explicit 0|1>   a scope cools
///     1 x <scope> <atMs>                                                    a scope cleared at atMs
///     1 ?                                                                   "tell me what cools"
///
/// where `<scope>` is `c <channel> -`, `k <channel> <key index>` or `m <channel> <model>` (the
/// model name requested by the client, `%XX`-escaped outside 0x21...0x7E and for `%`).
enum CooldownWire: Equatable {
    case cooling(scope: CooldownScope, untilMs: UInt64, durationMs: UInt64, failures: UInt64,
                 failure: FailureClass, explicit: Bool)
    case cleared(scope: CooldownScope, atMs: UInt64)
    case request

    /// Numbers a parser accepts (a peer's clock is not trusted further than this: a time must
    /// also be near the receiver's, checked when applied).
    static let maxChannelID: UInt64 = 1 << 53
    static let maxKeyIndex: UInt64 = 1 << 20
    static let maxMillis: UInt64 = 1 << 53
    static let maxFailures: UInt64 = 1 << 20
    static let maxModelBytes = 200

    func encode() -> String {
        switch self {
        case .cooling(let scope, let until, let duration, let failures, let failure, let explicit):
            return "1 s \(Self.encode(scope)) \(until) \(duration) \(failures) \(failure.rawValue) \(explicit ? 1 : 0)"
        case .cleared(let scope, let at):
            return "1 x \(Self.encode(scope)) \(at)"
        case .request:
            return "1 ?"
        }
    }

    static func encode(_ scope: CooldownScope) -> String {
        switch scope {
        case .channel(let c): return "c \(c) -"
        case .key(let c, let k): return "k \(c) \(k)"
        case .model(let c, let m): return "m \(c) \(ClusterText.escape(m, .printable))"
        }
    }

    static func parse(_ body: Substring) -> CooldownWire? {
        guard var f = ClusterFields(body), f.literal("1"), let op = f.word() else { return nil }
        switch op {
        case "?":
            return f.atEnd ? .request : nil
        case "s":
            guard let scope = scope(&f), let until = f.number(1...maxMillis), let duration = f.number(0...maxMillis),
                  let failures = f.number(1...maxFailures), let cls = f.word().flatMap(FailureClass.init(rawValue:)),
                  let explicit = f.number(0...1), f.atEnd else { return nil }
            return .cooling(scope: scope, untilMs: until, durationMs: duration, failures: failures, failure: cls,
                            explicit: explicit == 1)
        case "x":
            guard let scope = scope(&f), let at = f.number(0...maxMillis), f.atEnd else { return nil }
            return .cleared(scope: scope, atMs: at)
        default:
            return nil
        }
    }

    private static func scope(_ f: inout ClusterFields) -> CooldownScope? {
        guard let kind = f.word(), let channel = f.number(0...maxChannelID), let last = f.next() else { return nil }
        let c = Int(channel)
        switch kind {
        case "c": return last.elementsEqual("-".utf8) ? .channel(c) : nil
        case "k":
            guard let k = ClusterText.decimal(last), k <= maxKeyIndex else { return nil }
            return .key(channelID: c, keyIndex: Int(k))
        case "m":
            guard let m = ClusterText.unescape(last, .printable, limit: maxModelBytes, whole: true) else { return nil }
            return .model(channelID: c, model: m)
        default: return nil
        }
    }
}

/// Keeps cooldowns in step across instances: a scope that starts cooling here (or whose
/// cooldown grows) is published, and so is its clear (a success, a probe, an admin reset);
/// a peer's entry is merged into this book (`CooldownBook.merge`: a longer local cooldown is
/// never shortened) and a peer's clear forgets the entry unless it began after the clear.
///
/// Only transitions are published, and at most one message per scope per `minIntervalNanos`
/// (a later change inside the window is sent when it ends, as the scope's latest state). At
/// the bus's resync this instance merges the stored cooldowns (`Store.loadCooldowns`) and asks
/// the peers to publish what cools on them (`1 ?`; each answers at most once per
/// `minIntervalNanos` × 10): stored rows alone may be up to one save period old and are
/// rewritten by each instance's save, so the peers' answers are what a resync relies on.
///
/// Peers' messages are untrusted: a body that does not parse, or whose times are absurd
/// (more than `maxAheadNanos` away), is counted and ignored.
public final class CooldownSync: Sendable {
    private let book: CooldownBook
    private let bus: ClusterBus
    private let store: Store?
    private let minIntervalNanos: UInt64
    private let worker: WorkerThread<State>
    /// Counters for `/metrics` and the tests.
    public let counters = Lock(Counters())

    /// The furthest in the future (and, for a clear, in the past) a peer's time may be.
    public static let maxAheadNanos: UInt64 = 7 * 24 * 3600 * nanosPerSecond

    public struct Counters: Sendable, Equatable {
        /// Changes published (answers to requests aside).
        public var published = 0
        /// Changes held back by the per-scope interval (sent later as the latest state).
        public var deferred = 0
        /// Peers' entries merged, clears applied.
        public var applied = 0
        /// Peers' messages that changed nothing (an older cooldown, a clear of nothing).
        public var unchanged = 0
        /// Peers' messages that did not parse or held absurd numbers (ignored).
        public var rejected = 0
        /// Entries re-published for a peer that asked.
        public var answered = 0
        /// Stored entries merged at resyncs.
        public var restored = 0
    }

    struct State {
        /// Per scope: when its last message went out.
        var sent: [CooldownScope: UInt64] = [:]
        /// Per scope: the latest change held back, and when it may go.
        var held: [CooldownScope: (change: CooldownChange, due: UInt64)] = [:]
        var answerDue: UInt64?
        var lastAnswer: UInt64 = 0
        var started = false
        var stopping = false
    }

    enum Work {
        case changes([CooldownChange])
        case answer
    }

    /// Observes `book` and subscribes to the bus: before `bus.start()`. `store`: where
    /// the resync reads the stored cooldowns (nil: none).
    public init(book: CooldownBook, bus: ClusterBus, store: Store?, minIntervalNanos: UInt64 = 100 * nanosPerMilli) {
        self.book = book
        self.bus = bus
        self.store = store
        self.minIntervalNanos = minIntervalNanos
        worker = WorkerThread(State())
        book.observe { [weak self] change, now in self?.local(change, now: now) }
        bus.subscribe(.cooldown) { [weak self] m in self?.heard(m.body) }
        bus.onResync { [weak self] in self?.resync() }
    }

    /// Starts the thread that sends held-back changes and answers peers' requests.
    public func start() {
        let started = worker.withLock { s -> Bool in
            defer { s.started = true }
            return !s.started
        }
        guard started else { return }
        let ok = worker.start(next: { s -> WorkerStep<Work> in
            if s.stopping { return .exit }
            let now = monotonicNanos()
            if let due = s.answerDue, due <= now {
                s.answerDue = nil
                s.lastAnswer = now
                return .run(.answer)
            }
            var ready: [CooldownChange] = []
            var soonest = s.answerDue ?? .max
            for (scope, h) in s.held {
                if h.due <= now {
                    ready.append(h.change)
                    s.held[scope] = nil
                    s.sent[scope] = now
                } else {
                    soonest = min(soonest, h.due)
                }
            }
            if !ready.isEmpty { return .run(.changes(ready)) }
            return .wait(until: soonest == .max ? nil : soonest)
        }, perform: { [self] work in
            switch work {
            case .changes(let list): for c in list { send(c) }
            case .answer: answer()
            }
        })
        precondition(ok, "cannot start the cooldown sync thread")
    }

    /// Ends the thread (held-back changes are dropped: the next resync's answers cover them).
    public func stop() {
        worker.withLock { $0.stopping = true }
        worker.wakeAll()
        worker.join()
        book.observe(nil)
    }

    // MARK: this instance's changes

    /// On the thread that changed the book (a loop, a probe, an admin handler).
    private func local(_ change: CooldownChange, now: UInt64) {
        let scope: CooldownScope
        switch change {
        case .cooling(let e): scope = e.scope
        case .cleared(let s): scope = s
        }
        let clock = monotonicNanos()
        let interval = minIntervalNanos
        let sendNow = worker.withLock { s -> Bool in
            // Another thread may have sent after `clock` was read: then it is 0 ns ago.
            if let last = s.sent[scope], Saturating.subtract(clock, last) < interval {
                s.held[scope] = (Self.relative(change, from: now, to: clock), last &+ interval)
                return false
            }
            s.held[scope] = nil
            // Send times only matter within the interval: forget old ones now and then.
            if s.sent.count >= 4_096 { s.sent = s.sent.filter { Saturating.subtract(clock, $0.value) < interval } }
            s.sent[scope] = clock
            return true
        }
        if sendNow {
            send(Self.relative(change, from: now, to: clock))
        } else {
            counters.withLock { $0.deferred += 1 }
            worker.wakeAll()
        }
    }

    /// A cooling change's times moved from the caller's clock (`from`, which tests drive) to
    /// the monotonic clock read at `to`.
    private static func relative(_ change: CooldownChange, from: UInt64, to: UInt64) -> CooldownChange {
        guard case .cooling(var e) = change, from != to else { return change }
        e.until = e.until >= from ? Saturating.add(to, e.until - from) : Saturating.subtract(to, from - e.until)
        return .cooling(e)
    }

    /// Publishes `change` (counted as `published` unless it `answers` a peer's request).
    private func send(_ change: CooldownChange, answers: Bool = false) {
        let nowMono = monotonicNanos()
        let nowWall = wallClockMillis()
        let wire: CooldownWire
        switch change {
        case .cooling(let e):
            let until = ClusterClock.wallMillis(of: e.until, nowMono: nowMono, nowWall: nowWall)
            wire = .cooling(scope: e.scope, untilMs: min(max(until, 1), CooldownWire.maxMillis),
                            durationMs: min(e.durationNanos / nanosPerMilli, CooldownWire.maxMillis),
                            failures: min(UInt64(max(1, e.consecutiveFailures)), CooldownWire.maxFailures),
                            failure: e.lastClass, explicit: e.explicit)
        case .cleared(let scope):
            wire = .cleared(scope: scope, atMs: nowWall)
        }
        bus.publish(.cooldown, wire.encode())
        if !answers { counters.withLock { $0.published += 1 } }
    }

    // MARK: peers

    private func heard(_ body: String) {
        guard let wire = CooldownWire.parse(body[...]) else {
            counters.withLock { $0.rejected += 1 }
            return
        }
        let outcome = apply(wire, nowMono: monotonicNanos(), nowWall: wallClockMillis())
        counters.withLock { c in
            switch outcome {
            case .applied: c.applied += 1
            case .unchanged: c.unchanged += 1
            case .rejected: c.rejected += 1
            case .requested: break
            }
        }
    }

    enum Outcome { case applied, unchanged, rejected, requested }

    /// Applies a peer's message at (`nowMono`, `nowWall`).
    func apply(_ wire: CooldownWire, nowMono: UInt64, nowWall: UInt64) -> Outcome {
        let aheadMs = Self.maxAheadNanos / nanosPerMilli
        switch wire {
        case .request:
            worker.withLock { s in
                if s.answerDue == nil { s.answerDue = max(monotonicNanos(), s.lastAnswer &+ minIntervalNanos &* 10) }
            }
            worker.wakeAll()
            return .requested
        case .cooling(let scope, let untilMs, let durationMs, let failures, let failure, let explicit):
            guard untilMs <= Saturating.add(nowWall, aheadMs), durationMs <= aheadMs else { return .rejected }
            if untilMs <= nowWall { return .unchanged }
            let until = ClusterClock.mono(ofWallMillis: untilMs, nowMono: nowMono, nowWall: nowWall)
            let entry = CooldownSnapshotEntry(scope: scope, until: until, remainingNanos: Saturating.subtract(until, nowMono),
                                              consecutiveFailures: Int(failures), lastClass: failure,
                                              durationNanos: Saturating.multiply(durationMs, nanosPerMilli), explicit: explicit)
            return book.merge(entry) ? .applied : .unchanged
        case .cleared(let scope, let atMs):
            guard atMs <= Saturating.add(nowWall, aheadMs), atMs >= Saturating.subtract(nowWall, aheadMs) else { return .rejected }
            let at = ClusterClock.mono(ofWallMillis: atMs, nowMono: nowMono, nowWall: nowWall)
            return book.forget(scope, startedBefore: at) ? .applied : .unchanged
        }
    }

    /// Publishes every scope cooling now (a peer asked).
    private func answer() {
        let now = monotonicNanos()
        let cooling = book.snapshot(now: now).filter { $0.remainingNanos > 0 }
        for e in cooling { send(.cooling(e), answers: true) }
        counters.withLock { $0.answered += cooling.count }
    }

    /// On the bus's thread at start and after an outage: the stored cooldowns, then a
    /// request for what cools on the peers.
    private func resync() {
        if let store {
            do {
                let stored = try store.loadCooldowns(nowMonotonic: monotonicNanos(), nowWallMillis: wallClockMillis())
                var merged = 0
                for e in stored where e.remainingNanos > 0 && book.merge(e) { merged += 1 }
                counters.withLock { $0.restored += merged }
            } catch {
                Log.warn("cluster: reading the stored cooldowns failed: \(error)")
            }
        }
        bus.publish(.cooldown, CooldownWire.request.encode())
    }
}
