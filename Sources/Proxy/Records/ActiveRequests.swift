import Reactor

/// One request in flight, as the admin sees it.
public struct ActiveRequest: Sendable {
    /// Unique in the process while the request runs (the loop's index in the top bits).
    public var id: UInt64
    /// The channel of the current try (nil before the first).
    public var channelID: Int?
    public var channelName: String?
    /// The model the client asked for.
    public var model: String
    public var protocolName: String
    public var stream: Bool
    public var elapsedNanos: UInt64
    /// Response body bytes passed to the client so far.
    public var bytesStreamed: UInt64
    public var client: String
    public var tokenID: Int?
}

/// The relayed requests one loop has in flight: a relay registers when it starts and
/// leaves when it completes; an admin asks each loop for its list through the control
/// plane's `gather`, so nothing here is shared between loops. Owner: one loop.
public final class ActiveRequests: @unchecked Sendable {
    private let loop: Loop
    private var relays: [UInt64: Relay] = [:]
    private var nextSequence: UInt64 = 1

    init(loop: Loop) {
        self.loop = loop
    }

    /// Registers `relay`; returns its id.
    func add(_ relay: Relay) -> UInt64 {
        loop.assertOnLoop()
        let id = UInt64(loop.index) << 48 | nextSequence
        nextSequence += 1
        relays[id] = relay
        return id
    }

    func remove(_ id: UInt64) {
        loop.assertOnLoop()
        relays.removeValue(forKey: id)
    }

    public var count: Int {
        loop.assertOnLoop()
        return relays.count
    }

    /// How many of them stream their answer.
    public var streamCount: Int {
        loop.assertOnLoop()
        return relays.values.reduce(0) { $0 + ($1.isStream ? 1 : 0) }
    }

    /// The requests in flight now (in no particular order).
    public func snapshot() -> [ActiveRequest] {
        loop.assertOnLoop()
        let now = loop.now
        return relays.map { $0.value.activeView(id: $0.key, now: now) }
    }
}
