import Reactor
import TLS

/// The last health probe of each channel, for the channel list. Shared; one short lock.
public final class ProbeBoard: Sendable {
    private let results = Lock<[Int: ChannelCheckResult]>([:])

    public init() {}

    public func last(channelID: Int) -> ChannelCheckResult? { results.withLock { $0[channelID] } }

    func set(_ r: ChannelCheckResult, channelID: Int) { results.withLock { $0[channelID] = r } }

    /// Forgets channels no longer in `ids`.
    func keep(_ ids: Set<Int>) { results.withLock { r in r = r.filter { ids.contains($0.key) } } }
}

/// Health probes: a channel with `probe_interval_s` gets a minimal request (`ChannelCheck`:
/// its first URL, its first key, its probe model) every that many seconds, on a loop of
/// its own (never a proxy loop: no request waits behind a probe), one probe at a time per
/// channel and at most `maxInFlight` in all. A channel without it is never probed (a
/// probe is a paid request).
///
/// A cooling channel (its own cooldown, every key cooling, or a (channel, model) pair
/// cooling: `CooldownBook.outage`) is probed once shortly before
/// its cooldown ends (at most `min(interval, half its duration)` before): success clears the
/// cooldown at once (the channel comes back early; `.recovered` is posted); failure extends
/// it as the next consecutive failure would (`CooldownBook.extend`: the channel stays
/// out). A probe of a channel that is not cooling that fails cools it as a request's failure
/// would (posting `.cooling`). Probes write no request log record: they are not traffic,
/// and their outcome is the channel's `probe` in the channel list (`ProbeBoard`).
/// Owner: `loop`.
public final class ProbeScheduler: TimerTarget, @unchecked Sendable {
    public let loop: Loop
    private let pool: UpstreamPool
    private let table: @Sendable () -> ChannelTable?
    /// The signed-in accounts' credentials: an account channel is probed with its token.
    private let accounts: @Sendable () -> AccountCredentials
    private let cooldowns: CooldownBook
    private let board: ProbeBoard
    private let timeoutNanos: @Sendable () -> UInt64
    public let maxInFlight: Int
    /// How often the table is looked at.
    public let tickNanos: UInt64
    private struct Plan {
        var lastStart: UInt64 = 0
        /// The cooldown end a cooling probe was sent for (one probe per cooldown).
        var probedUntil: UInt64 = 0
        var inFlight = false
    }
    private var plans: [Int: Plan] = [:]
    private var inFlight = 0
    private lazy var timer = LoopTimer(target: self)

    public init(loop: Loop, pool: UpstreamPool, cooldowns: CooldownBook, board: ProbeBoard, maxInFlight: Int = 4,
                tickNanos: UInt64 = nanosPerSecond, table: @escaping @Sendable () -> ChannelTable?,
                accounts: @escaping @Sendable () -> AccountCredentials = { .none },
                timeoutNanos: @escaping @Sendable () -> UInt64) {
        self.accounts = accounts
        self.loop = loop
        self.pool = pool
        self.cooldowns = cooldowns
        self.board = board
        self.maxInFlight = max(1, maxInFlight)
        self.tickNanos = max(1, tickNanos)
        self.table = table
        self.timeoutNanos = timeoutNanos
    }

    /// Starts the schedule (call on any thread).
    public func start() {
        loop.submit { [self] in loop.arm(timer, afterNanos: tickNanos) }
    }

    public func timerFired(_ timer: LoopTimer) {
        loop.assertOnLoop()
        tick()
        loop.arm(timer, afterNanos: tickNanos)
    }

    /// Starts the probes that are due.
    func tick() {
        guard let t = table() else { return }
        let now = loop.now
        var ids = Set<Int>()
        let signedIn = accounts()
        for (index, c) in t.channels.enumerated() {
            guard let interval = c.probeIntervalSeconds, c.enabled, !c.keys.isEmpty, !t.targets[index].isEmpty else { continue }
            // An account channel is probed with its token; one with no usable token (it needs
            // sign-in, and routing skips it) is not probed: its placeholder key would fail and
            // cool it for nothing.
            let account = c.account == nil ? nil : signedIn[c.id]
            if c.account != nil && account == nil { continue }
            ids.insert(c.id)
            var plan = plans[c.id] ?? Plan()
            guard !plan.inFlight, inFlight < maxInFlight else { continue }
            let intervalNanos = UInt64(interval) &* nanosPerSecond
            var cooling: (scope: CooldownScope, until: UInt64)?
            if let out = cooldowns.outage(channel: c, now: now) {
                // Shortly before it ends: by at most the interval, at most half its duration.
                let lead = min(intervalNanos, out.durationNanos / 2)
                guard out.until != plan.probedUntil, now &+ lead >= out.until else { continue }
                plan.probedUntil = out.until
                cooling = (out.scope, out.until)
            } else if plan.lastStart != 0 && now &- plan.lastStart < intervalNanos {
                continue
            }
            plan.lastStart = now
            plan.inFlight = true
            plans[c.id] = plan
            inFlight += 1
            let keyIndex: Int
            if case .key(_, let k)? = cooling?.scope { keyIndex = k } else { keyIndex = 0 }
            // A cooling (channel, model) pair is probed with that model.
            let model: String
            if case .model(_, let m)? = cooling?.scope { model = m } else { model = c.probeModel ?? ChannelCheck.defaultModel(c) }
            let timeout = c.firstByteTimeoutSeconds.map(RuntimeSettings.firstByteTimeoutNanos(seconds:)) ?? timeoutNanos()
            ChannelCheck.run(c, keyIndex: keyIndex, model: model, target: t.targets[index][0], pool: pool,
                             account: account,
                             timeoutNanos: timeout) { [self] result in
                finished(c, keyIndex: keyIndex, model: model, cooling: cooling?.scope, result)
            }
        }
        plans = plans.filter { ids.contains($0.key) || $0.value.inFlight }
        board.keep(ids)
    }

    private func finished(_ c: Channel, keyIndex: Int, model: String, cooling: CooldownScope?, _ r: ChannelCheckResult) {
        loop.assertOnLoop()
        inFlight -= 1
        plans[c.id]?.inFlight = false
        board.set(r, channelID: c.id)
        let now = monotonicNanos()
        if r.ok {
            if let scope = cooling {
                cooldowns.recordSuccess(scope)
                cooldowns.recordSuccess(channelID: c.id, keyIndex: keyIndex, model: model)
                Notices.post(.recovered(channelID: c.id, channel: c.name))
            }
            return
        }
        let failure = r.failure ?? .server
        if let scope = cooling {
            cooldowns.extend(failure: failure, scope: scope, now: now)
        } else {
            let scope = CooldownScope(.channel, channelID: c.id, keyIndex: keyIndex, model: model)
            let change = cooldowns.recordChange(failure: failure, scope: scope, now: now)
            if change.started { Notices.postCooling(c, scope, until: change.until, now: now, reason: failure) }
        }
    }
}
