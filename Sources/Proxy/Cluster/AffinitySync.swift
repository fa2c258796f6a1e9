import Reactor

/// The `affinity` topic's body: `1 <session> <channel> <key> <warmUntilMs>` (version 1; the
/// session key's 64-bit hash as 16 lowercase hex digits, never its text; the channel id and
/// key index; until when the upstream cache is warm, wall-clock milliseconds).
struct AffinityWire: Equatable {
    var session: UInt64
    var channelID: Int
    var keyIndex: Int
    var warmUntilMs: UInt64

    static let maxChannelID: UInt64 = 1 << 53
    static let maxKeyIndex: UInt64 = 1 << 20
    static let maxMillis: UInt64 = 1 << 53

    func encode() -> String {
        "1 \(ClusterText.hex64(session)) \(channelID) \(keyIndex) \(warmUntilMs)"
    }

    static func parse(_ body: Substring) -> AffinityWire? {
        guard var f = ClusterFields(body, maxBytes: 96), f.literal("1"), let h = f.next(), let session = ClusterText.hex64(h),
              let channel = f.number(0...maxChannelID), let key = f.number(0...maxKeyIndex),
              let warm = f.number(0...maxMillis), f.atEnd else { return nil }
        return AffinityWire(session: session, channelID: Int(channel), keyIndex: Int(key), warmUntilMs: warm)
    }
}

/// Keeps session affinity in step across instances, so a conversation's next turn goes to the
/// same channel and key whichever instance serves it (behind a round-robin load balancer):
/// each placement here (`SessionAffinity.observe`: a new target, or at most once a second per
/// session) is published; a peer's placement is adopted (`SessionAffinity.adopt`), and the
/// selector then prefers it while that channel and key stay healthy.
///
/// Nothing is stored: at a resync the table simply fills again with the next turns. Peers'
/// messages are untrusted: one that does not parse, or whose warm-until lies more than
/// `maxWarmNanos` ahead, is counted and ignored.
public final class AffinitySync: Sendable {
    private let affinity: SessionAffinity
    private let bus: ClusterBus
    /// Counters for `/metrics` and the tests.
    public let counters = Lock(Counters())

    /// The longest a peer's placement may be warm from now (a day; caches ask for an hour).
    public static let maxWarmNanos: UInt64 = 24 * 3600 * nanosPerSecond

    public struct Counters: Sendable, Equatable {
        public var published = 0
        public var adopted = 0
        /// Peers' messages that did not parse or held absurd numbers (ignored).
        public var rejected = 0
    }

    /// Observes `affinity` and subscribes to the bus: before `bus.start()`.
    public init(affinity: SessionAffinity, bus: ClusterBus) {
        self.affinity = affinity
        self.bus = bus
        affinity.observe { [weak self] session, use, now in self?.local(session, use, now: now) }
        bus.subscribe(.affinity) { [weak self] m in self?.heard(m.body) }
    }

    /// Stops observing the table.
    public func stop() { affinity.observe(nil) }

    /// On the loop that recorded the turn.
    private func local(_ session: SessionKey, _ use: AffinityUse, now: UInt64) {
        let warm = ClusterClock.wallMillis(of: use.warmUntil, nowMono: now, nowWall: wallClockMillis())
        let wire = AffinityWire(session: session.hash, channelID: use.target.channelID, keyIndex: use.target.keyIndex,
                                warmUntilMs: min(warm, AffinityWire.maxMillis))
        bus.publish(.affinity, wire.encode())
        counters.withLock { $0.published += 1 }
    }

    private func heard(_ body: String) {
        guard let wire = AffinityWire.parse(body[...]), apply(wire, nowMono: monotonicNanos(), nowWall: wallClockMillis()) else {
            counters.withLock { $0.rejected += 1 }
            return
        }
        counters.withLock { $0.adopted += 1 }
    }

    /// Adopts a peer's placement at (`nowMono`, `nowWall`); false when its time is absurd.
    func apply(_ wire: AffinityWire, nowMono: UInt64, nowWall: UInt64) -> Bool {
        guard wire.warmUntilMs <= Saturating.add(nowWall, Self.maxWarmNanos / nanosPerMilli) else { return false }
        let warm = ClusterClock.mono(ofWallMillis: wire.warmUntilMs, nowMono: nowMono, nowWall: nowWall)
        affinity.adopt(session: SessionKey(hash: wire.session),
                       AffinityUse(target: AffinityTarget(channelID: wire.channelID, keyIndex: wire.keyIndex), warmUntil: warm),
                       now: nowMono)
        return true
    }
}
