import Reactor
import Synchronization

/// The proxy state every loop shares: cooldowns, the selector (with session affinity),
/// prices, spend, client tokens and the request ring. Each piece guards itself.
public final class ProxyShared: Sendable {
    public let cooldowns: CooldownBook
    public let selector: Selector
    public let pricing: Pricing
    public let spend: DailySpend
    /// The client tokens now in force. Loops route by their own copy (`ProxyHandler.auth`),
    /// replaced when this changes; this one is for start-up, admin and tests.
    public var auth: ClientAuth {
        get { currentAuth.withLock { $0 } }
        set { currentAuth.withLock { $0 = newValue } }
    }
    private let currentAuth: Lock<ClientAuth>
    public let ring: RequestRing
    public let routing: RoutingState
    public let meters: TokenMeters
    /// The daily reset job (the local day's counters start again at midnight).
    public let dailyReset: DailyReset
    /// Finished requests by status class (metrics).
    public let counters = RequestCounters()
    /// Each channel's last health probe (`ProbeScheduler`).
    public let probes = ProbeBoard()
    /// Where records are persisted (nil: memory only).
    public let store: Store?
    /// Whether request records go to the store (`log_request_records`); the ring keeps them either way.
    public var logRequests: Bool {
        get { logging.load(ordering: .relaxed) }
        set { logging.store(newValue, ordering: .relaxed) }
    }
    private let logging: Atomic<Bool>
    /// Upper bound on upstream tries for one request.
    public let maxAttempts: Int
    /// Subscription accounts: requests waiting for a refresh, rate-limit windows, pending sign-ins.
    public let accounts = AccountBook()
    /// The instances of the fleet (this one only without a cluster bus).
    public let fleet: FleetView

    public init(cooldowns: CooldownBook = CooldownBook(), selectorSettings: SelectorSettings = SelectorSettings(),
                affinity: SessionAffinity? = SessionAffinity(), pricing: Pricing = .builtIn,
                auth: ClientAuth = ClientAuth(tokens: [ClientToken]()), ring: RequestRing = RequestRing(),
                store: Store? = nil, logRequests: Bool = true, meters: TokenMeters = TokenMeters(),
                routing: RoutingState = RoutingState(), maxAttempts: Int = 12, fleet: FleetView = FleetView()) {
        // One calendar for every daily counter: the meters'.
        let spend = DailySpend(calendar: meters.calendar)
        self.dailyReset = DailyReset(calendar: meters.calendar, meters: meters, spend: spend, nowMillis: wallClockMillis())
        self.cooldowns = cooldowns
        self.spend = spend
        self.selector = Selector(settings: selectorSettings, affinity: affinity, costs: spend)
        self.pricing = pricing
        self.currentAuth = Lock(auth)
        self.ring = ring
        self.routing = routing
        self.store = store
        self.logging = Atomic(logRequests)
        self.meters = meters
        self.maxAttempts = maxAttempts
        self.fleet = fleet
    }

    /// What happens at once to a finished request's record: counted, and in the ring (where
    /// the admin API sees it before the client has its answer). Returns whether the record is
    /// also for the store, which a loop hands on with the rest of its round
    /// (`ProxyHandler.keepRecord`; a full writer queue drops and counts it). The record
    /// takes the ring's id, so the stored row and the ring's copy carry the same one.
    func keep(_ r: inout RequestRecord) -> Bool {
        counters.count(status: r.status)
        ring.append(&r)
        return logRequests && store != nil
    }
}
