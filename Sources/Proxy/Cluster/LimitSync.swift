import Reactor

/// A client token's limits across instances: each instance publishes its own figures on
/// the bus's `limits` topic (`LimitBatch`) and counts what the live peers publish in
/// `TokenMeters` (`PeerFigures`), so rpm, concurrency and cost caps hold for the fleet.
///
/// How exact:
/// - **rpm**: a token's requests this (wall-clock) minute, published every 250 ms while
///   they change. Exact within one publish interval plus the bus's latency (with
///   PostgreSQL, a few ms): N instances can together overshoot by at most what they admit
///   in that lag. A peer's figure counts only in its own minute (clocks agreed by NTP), and
///   not at all once the peer has been silent for 5 s.
/// - **concurrency**: in-flight counts published on change (at most every 100 ms) and
///   with a heartbeat every second; a peer's count lapses after 3 s without a word, so a
///   peer killed with `kill -9` frees its slots within 3 s. Overshoot as for rpm.
/// - **cost caps**: each instance's own spend, cumulative per period since it started, on
///   change (every 250 ms) together with its reservations; peers count it within about a
///   second. Meters are seeded from the store (which every instance's writer fills) at start
///   and, through `reseed`, after each outage of the bus. The store and the bus must not
///   both count a peer's spend, so a resync first asks the peers for all their figures
///   (`R1`), takes their answers as the base (only spend beyond it is added), and reads the
///   store `reseedDelayNanos` (250 ms) later. Spend a peer made before its answer but had
///   not yet written when the store is read is missed, spend it wrote between its answer and
///   the read is counted twice: both bounded by that peer's writer lag, once per resync, until
///   the period ends. A peer silent for 60 s is gone: what it spent is folded into the
///   meters' own counts (the next re-seed finds it in the store). Spend this instance had
///   queued but not written at a re-seed is missing from its own meters likewise.
///
/// Cost on the request path: none beyond `TokenMeters` (peers' figures are read from the
/// meter admission already holds). This type's threads (the bus's, its ticker) take the
/// meters' lock once per token they update, a few instructions each.
public final class LimitSync: Sendable {
    /// The schedule (tests shorten it).
    public struct Timing: Sendable {
        public var tickNanos: UInt64 = 50_000_000
        public var inFlightEveryNanos: UInt64 = 100_000_000
        public var requestsEveryNanos: UInt64 = 250_000_000
        public var heartbeatNanos: UInt64 = 1_000_000_000
        public var inFlightExpiryNanos: UInt64 = 3_000_000_000
        public var requestsExpiryNanos: UInt64 = 5_000_000_000
        public var departNanos: UInt64 = 60_000_000_000
        /// How long a peer asked to publish everything again may take before its latest
        /// figures become the base anyway.
        public var rebaseNanos: UInt64 = 5_000_000_000
        /// From a resync's request for the peers' figures to the reading of the store: their
        /// answers come first, so spend after an answer is either in the store or counted
        /// from the bus, not lost.
        public var reseedDelayNanos: UInt64 = 250_000_000
        public init() {}
    }

    /// Counters for `/metrics` and tests.
    public struct Counts: Sendable, Equatable {
        public var received = 0
        public var malformed = 0
        public var published = 0
        public var peersGone = 0
    }

    private struct PeerToken {
        var minute: UInt64
        var day: UInt64
        var figures: LocalFigures
        /// The figures the store already held at the last re-seed (nil: none).
        var base: (day: UInt64, figures: LocalFigures)?
    }

    private struct Peer {
        var start: UInt64
        var heardNanos: UInt64
        var tokens: [Int: PeerToken] = [:]
        /// Asked for all its figures after a re-seed: its spend does not count until its
        /// answer (or `rebaseNanos`) makes them the base.
        var rebaseSince: UInt64?
    }

    private struct Peers {
        var table: [String: Peer] = [:]
        /// When this instance last read the store (wall-clock ms).
        var seedMillis: UInt64 = 0
        var changed = true
        var counts = Counts()
        /// A peer asked for every figure again.
        var dumpAsked = false
        /// When the store is to be read again (monotonic; nil: not due).
        var reseedAt: UInt64?
    }

    /// The ticker's own state.
    private struct Publisher {
        var changed: [Int] = []
        var pending: Set<Int> = []
        var lastSent: [Int: LocalFigures] = [:]
        var lastInFlightSend: UInt64 = 0
        var lastRequestsSend: UInt64 = 0
        var lastHeartbeat: UInt64 = 0
        var lastAggregate: UInt64 = 0
        var pushed: [Int: PeerFigures] = [:]
    }

    private let meters: TokenMeters
    private let bus: ClusterBus
    private let timing: Timing
    private let reseed: (@Sendable () -> Void)?
    private let wallMillis: @Sendable () -> UInt64
    /// When this instance started (wall-clock ms): peers tell its figures from a restarted one's.
    public let startMillis: UInt64
    private let peers = Lock(Peers())
    private let publisher = Lock(Publisher())
    private let ticker: Lock<ClusterTicker?> = Lock(nil)

    /// `reseed` reads the store's spend into `meters` again (`StoreSetup.seedMeters`); it
    /// runs on the bus's thread at each resync (start, after an outage). `wallMillis` is the
    /// clock of the windows (minute, day) the figures count in; start and seed times, which
    /// only order instances, are always the system's.
    public init(meters: TokenMeters, bus: ClusterBus, timing: Timing = Timing(), reseed: (@Sendable () -> Void)? = nil,
                wallMillis: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.meters = meters
        self.bus = bus
        self.timing = timing
        self.reseed = reseed
        self.wallMillis = wallMillis
        startMillis = wallClockMillis()
        meters.trackChanges()
        bus.subscribe(.limits) { [weak self] m in self?.receive(m) }
        bus.onResync { [weak self] in self?.resync() }
    }

    /// Starts publishing (the bus runs its own thread: start it too).
    public func start() {
        let t = ClusterTicker(intervalNanos: timing.tickNanos) { [weak self] now in self?.tick(now: now) }
        ticker.withLock { $0 = t }
        t.start()
    }

    /// Stops publishing (peers then see this instance go silent).
    public func stop() {
        ticker.withLock { t in defer { t = nil }; return t }?.stop()
    }

    public var counts: Counts { peers.withLock { $0.counts } }

    // MARK: receiving (the bus's thread)

    func receive(_ m: ClusterMessage) {
        let now = monotonicNanos()
        let body = m.body[...]
        if body.utf8.starts(with: "R1".utf8) {
            let ok = body.utf8.count >= 4 && body.utf8.dropFirst(2).first == 0x20 && ClusterText.number(body.utf8.dropFirst(3)) != nil
            peers.withLock { p in
                if ok { p.counts.received += 1; p.dumpAsked = true } else { p.counts.malformed += 1 }
            }
            return
        }
        let wall = wallMillis()
        let myMinute = wall / 60_000
        let myDay = meters.calendar.day(wall)
        // Figures from more than two minutes (or a day) ahead of this clock are absurd.
        guard let batch = LimitBatch.parse(body), batch.minute <= myMinute + 2, batch.day <= myDay + 1 else {
            peers.withLock { $0.counts.malformed += 1 }
            return
        }
        let dump = batch.kind != .update
        peers.withLock { p in
            p.counts.received += 1
            p.changed = true
            var peer = p.table[m.sender] ?? Peer(start: batch.startMillis, heardNanos: now,
                                                 rebaseSince: batch.startMillis <= p.seedMillis ? now : nil)
            if peer.start != batch.startMillis {
                // The same name restarted: the old one is gone (its spend folded in at the next
                // aggregation, under a name no instance has: names have no spaces).
                var old = peer
                old.heardNanos = Saturating.subtract(now, timing.departNanos)
                p.table["\(m.sender) \(peer.start)"] = old
                peer = Peer(start: batch.startMillis, heardNanos: now)
            }
            peer.heardNanos = now
            for r in batch.records {
                var t = peer.tokens[r.tokenID] ?? PeerToken(minute: batch.minute, day: batch.day, figures: LocalFigures())
                t.minute = batch.minute
                t.day = batch.day
                t.figures = r.figures
                if dump && peer.rebaseSince != nil { t.base = (batch.day, r.figures) }
                peer.tokens[r.tokenID] = t
            }
            if batch.kind == .dumpEnd { peer.rebaseSince = nil }
            p.table[m.sender] = peer
        }
    }

    /// Start, and after an outage: the peers are asked for all their figures (which become
    /// the base of what they spend from then on), and `reseedDelayNanos` later the store is
    /// read again (on the ticker's thread: the bus's goes on delivering the answers).
    func resync() {
        let seed = wallClockMillis()
        let now = monotonicNanos()
        peers.withLock { p in
            p.seedMillis = seed
            p.changed = true
            for name in p.table.keys where p.table[name]!.start <= seed {
                p.table[name]!.rebaseSince = now
            }
            // This instance's own figures go out again too (peers may have missed some).
            p.dumpAsked = true
            if reseed != nil { p.reseedAt = now + timing.reseedDelayNanos }
        }
        publisher.withLock { $0.pushed.removeAll() }
        bus.publish(.limits, "R1 \(seed)")
    }

    /// No re-seed pending, and every known peer's figures have their base (tests).
    var settled: Bool {
        peers.withLock { p in p.reseedAt == nil && !p.table.isEmpty && p.table.values.allSatisfy { $0.rebaseSince == nil } }
    }

    // MARK: the ticker

    func tick(now: UInt64) {
        let due = peers.withLock { p -> Bool in
            guard let at = p.reseedAt, now >= at else { return false }
            p.reseedAt = nil
            return true
        }
        if due { reseed?() }
        publish(now: now)
        aggregate(now: now)
    }

    private func publish(now: UInt64) {
        let wall = wallMillis()
        let dump = peers.withLock { p -> Bool in defer { p.dumpAsked = false }; return p.dumpAsked }
        var bodies: [String] = []
        publisher.withLock { s in
            meters.takeChanged(&s.changed)
            s.pending.formUnion(s.changed)
            let minute = wall / 60_000
            let day = meters.calendar.day(wall)
            var ids: [Int]
            let requestsRound = now &- s.lastRequestsSend >= timing.requestsEveryNanos
            if dump {
                ids = meters.meteredTokenIDs()
            } else if requestsRound {
                ids = Array(s.pending)
                s.lastRequestsSend = now
            } else if now &- s.lastInFlightSend >= timing.inFlightEveryNanos {
                ids = s.pending.filter { id in
                    let f = meters.localFigures(tokenID: id, nowMillis: wall)
                    let last = s.lastSent[id]
                    return f?.inFlight != last?.inFlight || f?.reserved != last?.reserved
                }
                if !ids.isEmpty { s.lastInFlightSend = now }
            } else {
                ids = []
            }
            let heartbeat = now &- s.lastHeartbeat >= timing.heartbeatNanos
            if heartbeat {
                // In-flight counts are said again each second (against a lost body).
                for (id, f) in s.lastSent where f.inFlight > 0 || f.reserved > 0 { ids.append(id) }
            }
            if ids.isEmpty && !heartbeat && !dump { return }
            var records: [LimitBatch.Record] = []
            var seen = Set<Int>()
            for id in ids where seen.insert(id).inserted {
                guard let f = meters.localFigures(tokenID: id, nowMillis: wall) else { continue }
                records.append(LimitBatch.Record(tokenID: id, figures: f))
                s.lastSent[id] = f
                s.pending.remove(id)
            }
            s.lastHeartbeat = now
            bodies = LimitBatch.bodies(startMillis: startMillis, minute: minute, day: day, records: records,
                                       kind: dump ? .dump : .update)
        }
        for b in bodies { bus.publish(.limits, b) }
        if !bodies.isEmpty { peers.withLock { $0.counts.published += bodies.count } }
    }

    /// Sums the live peers' figures per token and hands the meters those that changed.
    private func aggregate(now: UInt64) {
        let wall = wallMillis()
        let minute = wall / 60_000
        let periods = SpendPeriods(day: meters.calendar.day(wall))
        let due = publisher.withLock { s -> Bool in
            guard now &- s.lastAggregate >= timing.inFlightEveryNanos else { return false }
            s.lastAggregate = now
            return true
        }
        var sums: [Int: PeerFigures] = [:]
        var gone: [Int: PeerFigures] = [:]
        var departures = 0
        let recompute = peers.withLock { p -> Bool in
            guard p.changed || due else { return false }
            p.changed = false
            for name in Array(p.table.keys) {
                var peer = p.table[name]!
                if let since = peer.rebaseSince, Saturating.subtract(now, since) >= timing.rebaseNanos {
                    // No answer: its latest figures are the base.
                    for id in peer.tokens.keys { peer.tokens[id]!.base = (peer.tokens[id]!.day, peer.tokens[id]!.figures) }
                    peer.rebaseSince = nil
                    p.table[name] = peer
                }
                // The bus's thread may have noted a body after `now` was read: silent 0, not 2^64 ns.
                let silent = Saturating.subtract(now, peer.heardNanos)
                let departed = silent >= timing.departNanos
                for (id, t) in peer.tokens {
                    var sum = departed ? gone[id] ?? PeerFigures() : sums[id] ?? PeerFigures()
                    if !departed {
                        if silent < timing.requestsExpiryNanos && t.minute == minute { sum.requests = Saturating.add(sum.requests, t.figures.requests) }
                        if silent < timing.inFlightExpiryNanos {
                            sum.inFlight = Saturating.add(sum.inFlight, t.figures.inFlight)
                            sum.reserved = Saturating.add(sum.reserved, t.figures.reserved)
                        }
                    }
                    if peer.rebaseSince == nil { Self.addSpend(t, into: &sum, periods) }
                    if departed { gone[id] = sum } else { sums[id] = sum }
                }
                if departed {
                    p.table.removeValue(forKey: name)
                    departures += 1
                }
            }
            return true
        }
        guard recompute else { return }
        for id in sums.keys {
            sums[id]!.minute = minute
            sums[id]!.day = periods.day
            sums[id]!.week = periods.week
            sums[id]!.month = periods.month
        }
        for id in gone.keys {
            gone[id]!.day = periods.day
            gone[id]!.week = periods.week
            gone[id]!.month = periods.month
        }
        let updates = publisher.withLock { s -> [(Int, PeerFigures)] in
            var out: [(Int, PeerFigures)] = []
            for (id, f) in sums where s.pushed[id] != f || gone[id] != nil { out.append((id, f)); s.pushed[id] = f }
            for id in Array(s.pushed.keys) where sums[id] == nil {
                s.pushed.removeValue(forKey: id)
                out.append((id, PeerFigures()))
            }
            for id in gone.keys where sums[id] == nil && s.pushed[id] == nil && !out.contains(where: { $0.0 == id }) {
                out.append((id, PeerFigures()))
            }
            return out
        }
        for (id, f) in updates { meters.setPeers(tokenID: id, f, absorbing: gone[id]) }
        // Counted once its spend is folded in: a reader that sees the count sees the meters.
        if departures > 0 { peers.withLock { $0.counts.peersGone += departures } }
    }

    /// A peer token's spend beyond its base, in the periods of now.
    private static func addSpend(_ t: PeerToken, into sum: inout PeerFigures, _ now: SpendPeriods) {
        let f = t.figures
        let p = SpendPeriods(day: t.day)
        let b = t.base
        let bp = b.map { SpendPeriods(day: $0.day) }
        func beyond(_ v: Int64, _ base: Int64?, same: Bool) -> Int64 {
            guard same, let base else { return max(0, v) }
            return max(0, Saturating.subtract(v, base))
        }
        if p.day == now.day { sum.today = Saturating.add(sum.today, beyond(f.today, b?.figures.today, same: bp?.day == p.day)) }
        if p.week == now.week { sum.thisWeek = Saturating.add(sum.thisWeek, beyond(f.thisWeek, b?.figures.thisWeek, same: bp?.week == p.week)) }
        if p.month == now.month {
            sum.thisMonth = Saturating.add(sum.thisMonth, beyond(f.thisMonth, b?.figures.thisMonth, same: bp?.month == p.month))
        }
        sum.total = Saturating.add(sum.total, beyond(f.total, b?.figures.total, same: true))
    }
}
