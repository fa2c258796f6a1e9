import Reactor

/// The instances of the fleet, as each one's heartbeats on the bus's `instance` topic tell
/// them (`FleetMessage`): name, start, address, requests and streams in flight, version,
/// and up to 50 of its requests in flight (newest first). An instance not heard from for
/// `expiryNanos` (3 s) is gone from the view. Without a bus the view holds this instance only.
public final class FleetView: Sendable {
    /// Who this instance is.
    public struct Identity: Sendable, Equatable {
        public var name: String
        public var startMillis: UInt64
        /// `host:port` clients and peers reach it at (nil: not known).
        public var address: String?
        public var version: String

        public init(name: String, startMillis: UInt64, address: String? = nil, version: String = "") {
            self.name = name
            self.startMillis = startMillis
            self.address = address
            self.version = version
        }
    }

    /// One live instance (this one included).
    public struct Instance: Sendable, Equatable {
        public var name: String
        public var startMillis: UInt64
        public var address: String?
        public var version: String
        public var activeRequests: Int
        public var streams: Int
        /// This instance (not a peer).
        public var local: Bool
        /// Since its last heartbeat (0 for this instance).
        public var silentMillis: UInt64
    }

    /// What this instance has in flight, for its heartbeat (gathered from the loops).
    public struct Activity: Sendable {
        public var activeRequests: Int
        public var streams: Int
        public var requests: [ActiveRequest]

        public init(activeRequests: Int, streams: Int, requests: [ActiveRequest]) {
            self.activeRequests = activeRequests
            self.streams = streams
            self.requests = requests
        }
    }

    /// A peer's request in flight.
    public struct PeerRequest: Sendable {
        public var instance: String
        public var request: ActiveRequest
    }

    public static let heartbeatNanos: UInt64 = 1_000_000_000
    public static let expiryNanos: UInt64 = 3_000_000_000

    private struct Peer {
        var heartbeat: FleetMessage.Heartbeat
        var heardNanos: UInt64
        var requests: [FleetMessage.Request] = []
        var requestsNanos: UInt64 = 0
    }

    private struct Link: Sendable {
        let bus: ClusterBus
        let activity: @Sendable (@escaping @Sendable (Activity) -> Void) -> Void
        let ticker: ClusterTicker
    }

    private let me: Lock<Identity>
    private let peers = Lock<[String: Peer]>([:])
    private let link = Lock<Link?>(nil)
    private let seq = Lock<UInt64>(0)
    private let expiryNanos: UInt64
    /// Bodies heard and bodies that did not parse (counted and ignored).
    public let received = Lock(0), malformed = Lock(0)

    public init(identity: Identity = Identity(name: ClusterBus.defaultInstanceName(), startMillis: wallClockMillis()),
                expiryNanos: UInt64 = FleetView.expiryNanos) {
        me = Lock(identity)
        self.expiryNanos = expiryNanos
    }

    public var identity: Identity {
        get { me.withLock { $0 } }
        set { me.withLock { $0 = newValue } }
    }

    /// Joins `bus` (before `bus.start`): hears the peers' heartbeats, and once `start`ed
    /// publishes this instance's every `heartbeatNanos`, with what `activity` reports (it
    /// is handed a completion; any thread). This instance's name becomes the bus's.
    public func attach(to bus: ClusterBus, heartbeatNanos: UInt64 = FleetView.heartbeatNanos,
                       activity: @escaping @Sendable (@escaping @Sendable (Activity) -> Void) -> Void) {
        me.withLock { $0.name = bus.instance }
        bus.subscribe(.instance) { [weak self] m in self?.receive(m, nowNanos: monotonicNanos()) }
        let ticker = ClusterTicker(intervalNanos: heartbeatNanos) { [weak self] _ in self?.beat() }
        link.withLock { $0 = Link(bus: bus, activity: activity, ticker: ticker) }
    }

    /// The bus's counters and the peers heard from within the expiry (for `/admin/metrics`
    /// and `/metrics`); nil without a bus (an SQLite store).
    public func busStatus(nowNanos now: UInt64 = monotonicNanos()) -> (peers: Int, counters: ClusterBus.Counters.Values)? {
        guard let l = link.withLock({ $0 }) else { return nil }
        return (live(now).count, l.bus.counters.snapshot)
    }

    public func start() { link.withLock { $0 }?.ticker.start() }
    public func stop() { link.withLock { $0 }?.ticker.stop() }

    private func beat() {
        guard let l = link.withLock({ $0 }) else { return }
        l.activity { [self] a in
            let n = seq.withLock { s -> UInt64 in s += 1; return s }
            let id = identity
            l.bus.publish(.instance, FleetMessage.heartbeat(.init(seq: n, startMillis: id.startMillis, address: id.address,
                                                                  activeRequests: a.activeRequests, streams: a.streams,
                                                                  version: id.version)).encoded()[0])
            let newest = a.requests.sorted { $0.elapsedNanos < $1.elapsedNanos }.prefix(FleetMessage.maxRequests).map {
                FleetMessage.Request(id: $0.id, tokenID: $0.tokenID, channelID: $0.channelID, stream: $0.stream,
                                     elapsedMillis: $0.elapsedNanos / 1_000_000, bytesStreamed: $0.bytesStreamed, model: $0.model,
                                     channelName: $0.channelName, protocolName: $0.protocolName, client: $0.client)
            }
            for body in FleetMessage.requests(seq: n, Array(newest)).encoded() { l.bus.publish(.instance, body) }
        }
    }

    /// A peer's body (the bus's thread).
    func receive(_ m: ClusterMessage, nowNanos now: UInt64) {
        guard let msg = FleetMessage.parse(m.body[...]) else {
            malformed.withLock { $0 += 1 }
            return
        }
        received.withLock { $0 += 1 }
        peers.withLock { p in
            switch msg {
            case .heartbeat(let h):
                var peer = p[m.sender] ?? Peer(heartbeat: h, heardNanos: now)
                if peer.heartbeat.seq != h.seq || peer.heartbeat.startMillis != h.startMillis { peer.requests = [] }
                peer.heartbeat = h
                peer.heardNanos = now
                peer.requestsNanos = now
                p[m.sender] = peer
            case .requests(let n, let list):
                // Parts of the latest heartbeat only, up to the bound.
                guard var peer = p[m.sender], peer.heartbeat.seq == n else { return }
                peer.requests += list.prefix(FleetMessage.maxRequests - min(FleetMessage.maxRequests, peer.requests.count))
                p[m.sender] = peer
            }
        }
    }

    /// This instance (with `local`'s counts) and the live peers, by name.
    public func instances(local: (activeRequests: Int, streams: Int), nowNanos now: UInt64 = monotonicNanos()) -> [Instance] {
        let id = identity
        var out = [Instance(name: id.name, startMillis: id.startMillis, address: id.address, version: id.version,
                            activeRequests: local.activeRequests, streams: local.streams, local: true, silentMillis: 0)]
        out += live(now).map { name, p in
            Instance(name: name, startMillis: p.heartbeat.startMillis, address: p.heartbeat.address, version: p.heartbeat.version,
                     activeRequests: p.heartbeat.activeRequests, streams: p.heartbeat.streams, local: false,
                     silentMillis: Saturating.subtract(now, p.heardNanos) / 1_000_000)
        }.sorted { $0.name < $1.name }
        return out
    }

    /// The live peers' requests in flight (what their last heartbeat carried, aged since).
    public func peerRequests(nowNanos now: UInt64 = monotonicNanos()) -> [PeerRequest] {
        live(now).flatMap { name, p in
            p.requests.map { r in
                PeerRequest(instance: name, request: ActiveRequest(
                    id: r.id, channelID: r.channelID, channelName: r.channelName, model: r.model, protocolName: r.protocolName,
                    stream: r.stream, elapsedNanos: Saturating.add(Saturating.multiply(r.elapsedMillis, 1_000_000), Saturating.subtract(now, p.requestsNanos)),
                    bytesStreamed: r.bytesStreamed, client: r.client, tokenID: r.tokenID))
            }
        }
    }

    /// Peers heard within the expiry; the others are forgotten. `now` may be older than a
    /// heartbeat the bus's thread noted since it was read: that peer is live, not 2^64 ns silent.
    private func live(_ now: UInt64) -> [(String, Peer)] {
        peers.withLock { p in
            for (name, peer) in p where Saturating.subtract(now, peer.heardNanos) >= expiryNanos { p.removeValue(forKey: name) }
            return p.map { ($0.key, $0.value) }
        }
    }
}
