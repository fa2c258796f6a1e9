import Reactor

/// The proxy state every loop shares: cooldowns, the selector (with session affinity),
/// prices, spend, client tokens and the request ring. Each piece guards itself.
public final class ProxyShared: Sendable {
    public let cooldowns: CooldownBook
    public let selector: Selector
    public let pricing: Pricing
    public let spend: DailySpend
    public let auth: ClientAuth
    public let ring: RequestRing
    public let routing: RoutingState
    public let meters: TokenMeters
    /// Where records are persisted (nil: memory only).
    public let store: Store?
    /// Whether request records go to the store (`CCLOAD_REQUEST_LOG`); the ring keeps them either way.
    public let logRequests: Bool
    /// Upper bound on upstream tries for one request.
    public let maxAttempts: Int

    public init(cooldowns: CooldownBook = CooldownBook(), selectorSettings: SelectorSettings = SelectorSettings(),
                affinity: SessionAffinity? = SessionAffinity(), pricing: Pricing = .builtIn,
                auth: ClientAuth = ClientAuth(tokens: [ClientToken]()), ring: RequestRing = RequestRing(),
                store: Store? = nil, logRequests: Bool = true, meters: TokenMeters = TokenMeters(),
                routing: RoutingState = RoutingState(), maxAttempts: Int = 12) {
        let spend = DailySpend()
        self.cooldowns = cooldowns
        self.spend = spend
        self.selector = Selector(settings: selectorSettings, affinity: affinity, costs: spend)
        self.pricing = pricing
        self.auth = auth
        self.ring = ring
        self.routing = routing
        self.store = store
        self.logRequests = logRequests
        self.meters = meters
        self.maxAttempts = maxAttempts
    }

    /// Keeps a finished request's record: in the ring, and queued for the store (never
    /// waits: a full queue drops it and counts the drop).
    public func record(_ r: RequestRecord) {
        ring.append(r)
        if logRequests { store?.writer.enqueue(r) }
    }
}
