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
    /// Upper bound on upstream tries for one request.
    public let maxAttempts: Int

    public init(cooldowns: CooldownBook = CooldownBook(), selectorSettings: SelectorSettings = SelectorSettings(),
                affinity: SessionAffinity? = SessionAffinity(), pricing: Pricing = .builtIn,
                auth: ClientAuth = ClientAuth(tokens: []), ring: RequestRing = RequestRing(), maxAttempts: Int = 12) {
        let spend = DailySpend()
        self.cooldowns = cooldowns
        self.spend = spend
        self.selector = Selector(settings: selectorSettings, affinity: affinity, costs: spend)
        self.pricing = pricing
        self.auth = auth
        self.ring = ring
        self.routing = RoutingState()
        self.maxAttempts = maxAttempts
    }
}
