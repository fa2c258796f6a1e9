import Reactor
import Synchronization
import TLS

/// Why a list of channels cannot become a table.
public enum ChannelTableError: Error, Equatable, CustomStringConvertible {
    case duplicateName(String)
    case duplicateID(Int)
    case emptyName(id: Int)
    case noURL(channel: String)
    case noKey(channel: String)
    case emptyKey(channel: String, keyIndex: Int)
    case keyIndexMismatch(channel: String, position: Int, index: Int)
    case badURL(channel: String, url: String)
    case badProxy(channel: String, proxy: String)
    case badValue(channel: String, field: String, reason: String)

    public var description: String {
        switch self {
        case .duplicateName(let n): return "channel name \"\(n)\" is used twice"
        case .duplicateID(let i): return "channel id \(i) is used twice"
        case .emptyName(let i): return "channel \(i): name is empty"
        case .noURL(let c): return "channel \"\(c)\": no url"
        case .noKey(let c): return "channel \"\(c)\": no api key"
        case .emptyKey(let c, let k): return "channel \"\(c)\": api key \(k) is empty"
        case .keyIndexMismatch(let c, let p, let i): return "channel \"\(c)\": key at position \(p) has index \(i)"
        case .badURL(let c, let u): return "channel \"\(c)\": url \"\(u)\" is not http(s)://host[:port][/prefix]"
        case .badProxy(let c, let p): return "channel \"\(c)\": proxy \"\(p)\" is not http:// or socks5://host:port"
        case .badValue(let c, let f, let r): return "channel \"\(c)\": \(f) \(r)"
        }
    }
}

/// The mutable routing state of one channel id: in-flight requests, the round-robin key
/// cursor, and its smooth weighted round-robin weight. Lives in `RoutingState`, outside any
/// table snapshot, so a table swap keeps it; a table holds direct references to it so the
/// hot path does no lookup by id.
public final class ChannelCounters: @unchecked Sendable {
    public let channelID: Int
    let inFlightCount = Atomic<Int>(0)
    let keyCursor = Atomic<Int>(0)
    /// nginx's `current_weight`. Read and written only inside `RoutingState.withWeights`.
    var swrrCurrent = 0

    init(channelID: Int) { self.channelID = channelID }

    /// Adds `w` to the SWRR weight and returns it. Call inside `RoutingState.withWeights`.
    @inline(__always)
    func addWeight(_ w: Int) -> Int {
        swrrCurrent &+= w
        return swrrCurrent
    }

    /// Requests in flight on this channel now.
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// An attempt starts on this channel (pair with `end()`).
    public func begin() { inFlightCount.wrappingAdd(1, ordering: .relaxed) }

    /// Starts an attempt unless `limit` are already in flight (the selector only pre-filters;
    /// this is the exact check).
    public func tryBegin(limit: Int?) -> Bool {
        guard let limit else {
            begin()
            return true
        }
        var cur = inFlightCount.load(ordering: .relaxed)
        while cur < limit {
            let (done, seen) = inFlightCount.compareExchange(expected: cur, desired: cur + 1, ordering: .relaxed)
            if done { return true }
            cur = seen
        }
        return false
    }

    /// An attempt on this channel ended (any outcome).
    public func end() { inFlightCount.wrappingSubtract(1, ordering: .relaxed) }
}

/// Routing state that outlives table snapshots: per channel id counters, and the lock under
/// which one request's weighted round-robin pick is made. One per process, shared by all loops.
public final class RoutingState: Sendable {
    private let registry = Lock<[Int: ChannelCounters]>([:])
    /// Held while one tier's SWRR weights are read or updated (a few instructions per member).
    /// Its state counts the picks; it must not be `Void`: a zero-sized state shares its address
    /// with the lock's mutex pointer and the thread sanitizer then reports a false race.
    private let pickLock = Lock<Int>(0)

    /// Weighted round-robin picks made so far (for stats).
    public var picks: Int { pickLock.withLock { $0 } }

    /// Runs `body` under the lock that guards every `ChannelCounters.swrrCurrent` (one lock
    /// round trip); `countingPick` counts it as one weighted round-robin pick.
    @inline(__always)
    func withWeights<R>(countingPick: Bool, _ body: () -> R) -> R {
        pickLock.withLock { picks in
            if countingPick { picks &+= 1 }
            return body()
        }
    }

    public init() {}

    /// The counters of `channelID`, created on first use.
    public func counters(channelID: Int) -> ChannelCounters {
        registry.withLock { r in
            if let c = r[channelID] { return c }
            let c = ChannelCounters(channelID: channelID)
            r[channelID] = c
            return c
        }
    }

    /// The counters for `ids`, in order; counters of ids no longer listed are dropped from
    /// the registry (tables still holding them keep them alive until they go).
    func bind(_ ids: [Int]) -> [ChannelCounters] {
        registry.withLock { r in
            var next: [Int: ChannelCounters] = [:]
            next.reserveCapacity(ids.count)
            let out = ids.map { id -> ChannelCounters in
                let c = r[id] ?? ChannelCounters(channelID: id)
                next[id] = c
                return c
            }
            r = next
            return out
        }
    }
}

/// The hot fields of a channel, packed for the selector's scan.
struct ChannelInfo: Sendable {
    var id: Int
    var keyCount: Int32
    /// Explicit weight, or 0 for "the number of usable keys".
    var weight: Int32
    /// 0 = no limit.
    var maxConcurrency: Int32
    var roundRobin: Bool
    /// `.infinity` = no limit.
    var dailyCostLimitUSD: Double
}

/// The enabled channels serving one (kind, model), ordered by priority (descending), then
/// table order, with tier boundaries and the upstream model name per member.
/// A class so that handing one to the selector costs one retain, not one per array.
final class Route: Sendable {
    /// Channel indices into the table.
    let members: ContiguousArray<Int32>
    /// Exclusive end offset of each priority tier in `members`.
    let tierEnds: ContiguousArray<Int32>
    /// The model to send upstream per member; nil → the requested name.
    let upstream: ContiguousArray<String?>

    init(members: ContiguousArray<Int32>, tierEnds: ContiguousArray<Int32>, upstream: ContiguousArray<String?>) {
        self.members = members
        self.tierEnds = tierEnds
        self.upstream = upstream
    }

    static let empty = Route(members: [], tierEnds: [], upstream: [])
}

struct KindRoutes: Sendable {
    /// By `ModelNames` id: the route of each model named by some channel of these (in
    /// `models` or as a redirect source); nil for the table's other names.
    var byModelID: ContiguousArray<Route?> = []
    /// Channels with an empty model list, for any model without a route in `byModelID`.
    var wildcard = Route.empty
    var servedModels: [String] = []
    var hasChannels = false
}

/// An immutable, validated snapshot of every channel, with what routing needs precomputed:
/// per protocol kind and model the enabled channels grouped by priority, per channel its
/// parsed upstream targets. Built off the hot path (start-up, SIGHUP, admin edit); each loop
/// holds its own reference, replaced through `loop.submit` when a new table is built.
public final class ChannelTable: Sendable {
    /// In the order given.
    public let channels: [Channel]
    /// Per channel, one target per URL, in the channel's URL order.
    public let targets: [[UpstreamTarget]]
    /// Per channel, its counters (shared with every other table built on the same state).
    public let counters: [ChannelCounters]
    public let state: RoutingState
    let info: ContiguousArray<ChannelInfo>
    let kinds: [KindRoutes]  // indexed by `kindSlot`
    /// Per group id, the same routes over the group's member channels only: built once per
    /// table, so a grouped token's pick is one more dictionary lookup than an ungrouped one's.
    private let groupKinds: [Int: [KindRoutes]]
    /// The groups this table was built with (members not in the table left out).
    public let groups: [ChannelGroup]
    private let indexByID: [Int: Int]
    /// Every model name the channels list or redirect from, held once (`ModelNames`).
    let modelNames: ModelNames

    /// Validates `channels` (unique names and ids, at least one URL and one key, URLs and
    /// proxies that parse, sane numbers) and precomputes the routes, for every channel and
    /// per group (a group member that is not in `channels` is left out). `state` carries
    /// counters across tables: pass the same one to every table of the process.
    public init(_ channels: [Channel], groups: [ChannelGroup] = [], state: RoutingState) throws(ChannelTableError) {
        var names = Set<String>()
        var ids = [Int: Int]()
        var targets: [[UpstreamTarget]] = []
        var info = ContiguousArray<ChannelInfo>()
        for (i, c) in channels.enumerated() {
            guard !c.name.isEmpty else { throw .emptyName(id: c.id) }
            guard names.insert(c.name).inserted else { throw .duplicateName(c.name) }
            guard ids.updateValue(i, forKey: c.id) == nil else { throw .duplicateID(c.id) }
            guard !c.urls.isEmpty else { throw .noURL(channel: c.name) }
            guard !c.keys.isEmpty else { throw .noKey(channel: c.name) }
            for (p, k) in c.keys.enumerated() {
                guard k.index == p else { throw .keyIndexMismatch(channel: c.name, position: p, index: k.index) }
                guard !k.secret.isEmpty else { throw .emptyKey(channel: c.name, keyIndex: p) }
            }
            var proxy: EgressProxy?
            if let p = c.proxy, !p.isEmpty {
                guard let e = EgressProxy(url: p) else { throw .badProxy(channel: c.name, proxy: p) }
                proxy = e
            }
            var ts: [UpstreamTarget] = []
            for u in c.urls {
                guard let t = UpstreamTarget(url: u, proxy: proxy, verifyTLS: !c.insecureSkipVerify) else {
                    throw .badURL(channel: c.name, url: u)
                }
                ts.append(t)
            }
            targets.append(ts)
            if let w = c.weight, w < 1 { throw .badValue(channel: c.name, field: "weight", reason: "must be at least 1") }
            if let m = c.maxConcurrency, m < 1 {
                throw .badValue(channel: c.name, field: "max_concurrency", reason: "must be at least 1")
            }
            if let t = c.firstByteTimeoutSeconds, !(t > 0) {
                throw .badValue(channel: c.name, field: "first_byte_timeout", reason: "must be positive")
            }
            if !(c.costMultiplier >= 0) || !c.costMultiplier.isFinite {
                throw .badValue(channel: c.name, field: "cost_multiplier", reason: "must be a number ≥ 0")
            }
            if let l = c.dailyCostLimitUSD, !(l >= 0) || !l.isFinite {
                throw .badValue(channel: c.name, field: "daily_cost_limit", reason: "must be a number ≥ 0")
            }
            info.append(ChannelInfo(id: c.id, keyCount: Int32(clamping: c.keys.count), weight: Int32(clamping: c.weight ?? 0),
                                    maxConcurrency: Int32(clamping: c.maxConcurrency ?? 0),
                                    roundRobin: c.keyStrategy == .roundRobin,
                                    dailyCostLimitUSD: c.dailyCostLimitUSD ?? .infinity))
        }
        self.channels = channels
        self.targets = targets
        self.info = info
        self.indexByID = ids
        self.state = state
        self.counters = state.bind(channels.map(\.id))
        let modelNames = ModelNames(channels.flatMap { $0.models + $0.redirects.keys.sorted() })
        self.modelNames = modelNames
        self.kinds = ProtocolKind.allCases.map { Self.routes(channels, kind: $0, members: nil, names: modelNames) }
        var byGroup: [Int: [KindRoutes]] = [:]
        var kept: [ChannelGroup] = []
        for g in groups {
            var inTable = Set<Int>()
            for cid in g.channelIDs { if let i = ids[cid] { inTable.insert(i) } }
            var k = g
            k.channelIDs = g.channelIDs.filter { ids[$0] != nil }
            kept.append(k)
            byGroup[g.id] = ProtocolKind.allCases.map { Self.routes(channels, kind: $0, members: inTable, names: modelNames) }
        }
        self.groupKinds = byGroup
        self.groups = kept
    }

    /// The table's own `String` for a model name it knows, found by its UTF-8 (no `String`
    /// made); nil for a name no channel lists or redirects from.
    public func knownModel(_ utf8: UnsafeRawBufferPointer) -> String? { modelNames.interned(utf8) }

    /// Whether any group is defined (when none is, a request's token is not looked up for one).
    public var hasGroups: Bool { !groupKinds.isEmpty }

    /// A table with no channels.
    public static func empty(state: RoutingState) -> ChannelTable {
        // An empty list always validates.
        (try? ChannelTable([], state: state))!
    }

    public var count: Int { channels.count }

    /// The table index of channel `id`.
    public func index(ofChannelID id: Int) -> Int? { indexByID[id] }

    public func channel(id: Int) -> Channel? { indexByID[id].map { channels[$0] } }

    /// Whether any enabled channel speaks `kind`.
    public func hasChannels(kind: ProtocolKind) -> Bool { kinds[Self.kindSlot(kind)].hasChannels }

    /// Model names that enabled channels of `kind` (of `group`'s, when given) list (models and
    /// redirect sources), sorted; for `GET /v1/models`. Channels that take any model add
    /// nothing here. An unknown group lists none.
    public func servedModels(kind: ProtocolKind, group: Int? = nil) -> [String] {
        guard let group else { return kinds[Self.kindSlot(kind)].servedModels }
        return groupKinds[group]?[Self.kindSlot(kind)].servedModels ?? []
    }

    /// Whether some enabled channel of `kind` (of `group`'s, when given) serves `model`.
    public func serves(kind: ProtocolKind, model: String, group: Int? = nil) -> Bool {
        guard let r = route(kind, model, group: group) else { return false }
        return !r.members.isEmpty
    }

    @inline(__always)
    static func kindSlot(_ k: ProtocolKind) -> Int {
        switch k {
        case .anthropic: return 0
        case .openai: return 1
        case .codex: return 2
        case .gemini: return 3
        }
    }

    /// The route for (kind, model) over every channel, or over `group`'s channels only (nil
    /// for a group this table does not know: it serves nothing).
    @inline(__always)
    func route(_ kind: ProtocolKind, _ model: String, group: Int? = nil) -> Route? {
        let slot = Self.kindSlot(kind)
        let id = modelNames.id(of: model)
        guard let group else { return Self.route(kinds[slot], id) }
        guard let g = groupKinds[group] else { return nil }
        return Self.route(g[slot], id)
    }

    @inline(__always)
    private static func route(_ routes: KindRoutes, _ modelID: Int?) -> Route? {
        if let id = modelID, let r = routes.byModelID[id] { return r }
        let w = routes.wildcard
        return w.members.isEmpty ? nil : w
    }

    /// The routes of one kind over the channels at `members` (table indices; nil = all).
    private static func routes(_ channels: [Channel], kind: ProtocolKind, members: Set<Int>?, names modelNames: ModelNames) -> KindRoutes {
        // Enabled channels of this kind, by priority descending then table order.
        let ordered = channels.indices
            .filter { channels[$0].enabled && channels[$0].accountSignedIn && channels[$0].kind == kind && members?.contains($0) != false }
            .sorted { a, b in
                channels[a].priority != channels[b].priority ? channels[a].priority > channels[b].priority : a < b
            }
        var out = KindRoutes()
        out.hasChannels = !ordered.isEmpty
        var names = Set<String>()
        for i in ordered {
            names.formUnion(channels[i].models)
            names.formUnion(channels[i].redirects.keys)
        }
        out.servedModels = names.sorted()
        func build(_ model: String?) -> Route {
            var members = ContiguousArray<Int32>()
            var tierEnds = ContiguousArray<Int32>()
            var upstream = ContiguousArray<String?>()
            var lastPriority: Int?
            for i in ordered {
                let c = channels[i]
                let serves = model.map { c.serves($0) } ?? c.models.isEmpty
                guard serves else { continue }
                if let p = lastPriority, p != c.priority { tierEnds.append(Int32(members.count)) }
                lastPriority = c.priority
                members.append(Int32(i))
                upstream.append(model.flatMap { c.redirects[$0] })
            }
            if !members.isEmpty { tierEnds.append(Int32(members.count)) }
            return Route(members: members, tierEnds: tierEnds, upstream: upstream)
        }
        out.wildcard = build(nil)
        out.byModelID = ContiguousArray(repeating: nil, count: modelNames.count)
        for m in names {
            // Every name here came from a channel's models or redirects: ModelNames holds it.
            guard let id = modelNames.id(of: m) else { continue }
            out.byModelID[id] = build(m)
        }
        return out
    }
}
