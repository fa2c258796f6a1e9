import Reactor
import Synchronization

/// Today's spend per channel, for daily cost limits. Called during selection while the
/// cooldown book's lock is held: it must be quick and must not call the `CooldownBook`.
public protocol DailyCostSource: Sendable {
    func todayCostUSD(channelID: Int) -> Double
}

public struct SelectorSettings: Sendable, Equatable {
    /// When every serving channel is cooling, offer the one whose cooldown ends first.
    public var fallbackToSoonest = SettingsCatalog.defaultFlag("fallback_to_soonest")
    /// Keys tried per channel (1...`KeyOrder.capacity`).
    public var maxKeyRetries = SettingsCatalog.defaultInteger("max_key_retries")
    /// Channels per request (1...64): bounds the attempts together with `maxKeyRetries`.
    public var maxChannels = SettingsCatalog.defaultInteger("max_channels_per_request")

    public init() {}
}

/// The keys of one channel to try, in order: at most `capacity`, stored inline.
public struct KeyOrder: RandomAccessCollection, Sendable, Equatable, CustomStringConvertible {
    public static let capacity = 8
    private var storage = SIMD8<Int32>()
    public private(set) var count = 0

    public init() {}

    public init(_ keys: [Int]) {
        for k in keys.prefix(Self.capacity) { append(k) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Int {
        precondition(i >= 0 && i < count)
        return Int(storage[i])
    }

    mutating func append(_ k: Int) {
        guard count < Self.capacity else { return }
        storage[count] = Int32(truncatingIfNeeded: k)
        count += 1
    }

    func contains(_ k: Int) -> Bool {
        for i in 0..<count where storage[i] == Int32(truncatingIfNeeded: k) { return true }
        return false
    }

    public static func == (a: KeyOrder, b: KeyOrder) -> Bool {
        a.count == b.count && a.elementsEqual(b)
    }

    public var description: String { Array(self).description }
}

/// One channel to try, with its keys in order and the model name to send it.
public struct Candidate: Sendable, Equatable {
    /// Index into the table's `channels`, `targets` and `counters`.
    public var channelIndex: Int
    public var channelID: Int
    public var keys: KeyOrder
    public var upstreamModel: String
    /// Set only on the fallback candidate: when its cooldown ends (monotonic nanoseconds).
    public var coolingUntil: UInt64?
    /// Chosen because the session succeeded here before (its cache may be warm).
    public var fromAffinity: Bool
}

public enum SelectionStatus: Sendable, Equatable {
    /// At least one healthy candidate.
    case ok
    /// Every serving channel is cooling: one candidate, the one whose cooldown ends first.
    case fallback
    /// No enabled channel of this protocol serves the model: answer 503 naming it.
    case noChannelForModel
    /// Channels serve the model but none may be tried (all cooling without fallback, at max
    /// concurrency, or over their daily cost limit).
    case unavailable
}

/// Picks the channels (and keys) to try for one request from a table snapshot.
///
/// Order: priority descending; within a priority, nginx's smooth weighted round-robin over
/// the usable channels (weight = explicit weight, else the number of usable keys) — the
/// winner first, then the rest by their current weight. Skipped: disabled channels, channels
/// not serving the model, cooling channels, cooling (channel, model) pairs, channels with
/// every key cooling, channels at max concurrency or over their daily cost limit.
///
/// Session affinity follows the upstream's prompt cache (`SessionAffinity`): the channel and
/// key of the session's last turn go first, whatever their priority, while both are usable
/// and the cache is warm; past its lifetime only while the channel is in the top usable tier
/// (within the affinity TTL). When that key or channel may not be tried, a channel and key
/// the session used before whose cache is still warm goes first; else priority decides.
///
/// Shared by every loop; its settings change live (each is one atomic word).
public final class Selector: Sendable {
    private let fallbackToSoonest: Atomic<Bool>
    private let maxKeyRetries: Atomic<Int>
    private let maxChannels: Atomic<Int>

    public var settings: SelectorSettings {
        get {
            var s = SelectorSettings()
            s.fallbackToSoonest = fallbackToSoonest.load(ordering: .relaxed)
            s.maxKeyRetries = maxKeyRetries.load(ordering: .relaxed)
            s.maxChannels = maxChannels.load(ordering: .relaxed)
            return s
        }
        set {
            fallbackToSoonest.store(newValue.fallbackToSoonest, ordering: .relaxed)
            maxKeyRetries.store(newValue.maxKeyRetries, ordering: .relaxed)
            maxChannels.store(newValue.maxChannels, ordering: .relaxed)
        }
    }
    /// nil: no session affinity.
    public let affinity: SessionAffinity?
    public let costs: (any DailyCostSource)?

    public init(settings: SelectorSettings = SelectorSettings(), affinity: SessionAffinity? = SessionAffinity(),
                costs: (any DailyCostSource)? = nil) {
        fallbackToSoonest = Atomic(settings.fallbackToSoonest)
        maxKeyRetries = Atomic(settings.maxKeyRetries)
        maxChannels = Atomic(settings.maxChannels)
        self.affinity = affinity
        self.costs = costs
    }

    /// The candidates in order (see `select` for why there may be none).
    public func candidates(table: ChannelTable, kind: ProtocolKind, model: String, group: Int? = nil, session: SessionKey?,
                           now: UInt64, cooldowns: CooldownBook) -> [Candidate] {
        var out: [Candidate] = []
        _ = select(table: table, kind: kind, model: model, group: group, session: session, now: now, cooldowns: cooldowns,
                   into: &out)
        return out
    }

    /// Fills `out` (emptied first; reuse it across requests to avoid an allocation). With a
    /// `group`, only that group's channels are candidates (a group the table does not know
    /// serves nothing: `.noChannelForModel`).
    public func select(table: ChannelTable, kind: ProtocolKind, model: String, group: Int? = nil, session: SessionKey?,
                       now: UInt64, cooldowns: CooldownBook, into out: inout [Candidate]) -> SelectionStatus {
        out.removeAll(keepingCapacity: true)
        guard let route = table.route(kind, model, group: group), !route.members.isEmpty else { return .noChannelForModel }
        // Scratch for the scanned members: on the stack (1 KiB) when it fits, else on the heap.
        let n = route.members.count
        let onStack = 1024 / MemoryLayout<Slot>.stride
        if let status = withUnsafeTemporaryAllocation(of: Slot.self, capacity: onStack, { slots in
            select(table, route, model, session, now, cooldowns, UnsafeMutableBufferPointer(rebasing: slots[..<min(n, onStack)]), &out)
        }) {
            return status
        }
        let heap = UnsafeMutableBufferPointer<Slot>.allocate(capacity: n)
        defer { heap.deallocate() }
        return select(table, route, model, session, now, cooldowns, heap, &out)!
    }

    /// One serving channel as seen by this request (32 bytes).
    struct Slot {
        /// 0 = usable now; else when it stops cooling.
        var until: UInt64
        var current: Int
        var channel: Int32  // table index
        var member: Int32  // position in the route
        var weight: Int32
        var tier: Int16
        var coolingKeys: Bool
        var taken: Bool
    }

    private func select(_ table: ChannelTable, _ route: Route, _ model: String, _ session: SessionKey?,
                        _ now: UInt64, _ cooldowns: CooldownBook, _ slots: UnsafeMutableBufferPointer<Slot>,
                        _ out: inout [Candidate]) -> SelectionStatus? {
        let maxChannels = min(max(1, self.maxChannels.load(ordering: .relaxed)), 64)
        let maxKeys = min(max(1, maxKeyRetries.load(ordering: .relaxed)), KeyOrder.capacity)
        var filled = 0
        var usable = 0
        let infos = table.info
        let members = route.members
        let tierEnds = route.tierEnds
        // Empty (count 0) without a remembered session, so the scan tests one integer.
        let memory = session.flatMap { s in affinity?.memory(s, now: now) } ?? AffinityMemory()
        // Per use of `memory`: the slot whose channel it names, when that channel and its key
        // may be tried (-1: not scanned, not usable, or its key cools).
        var useSlot = (Int32(-1), Int32(-1), Int32(-1))
        // The slot of the last use's channel when it may be tried, its key cooling or not.
        var lastChannelSlot: Int32 = -1
        // Whether a warm use could sit in a lower tier (then the scan goes on until found).
        var anyWarm = false
        for u in 0..<memory.count where memory[u].warmUntil >= now { anyWarm = true }

        // 1. Which serving channels may be tried, tier by tier, until enough are usable.
        //    Read-only: when `slots` is too small, the caller retries with a larger one.
        let fits = cooldowns.read { view -> Bool in
            let anyCooling = view.anyCooling
            var m = 0
            // Enough are usable but a warm session's channel is not yet found: the lower
            // tiers are only searched for it (nothing else of them would be tried).
            var searching = false
            for t in 0..<tierEnds.count {
                let end = Int(tierEnds[t])
                while m < end {
                    let ci = Int(members[m])
                    let member = m
                    m += 1
                    let info = infos[ci]
                    if searching && !memory.names(channelID: info.id) { continue }
                    if info.maxConcurrency > 0 && table.counters[ci].inFlight >= Int(info.maxConcurrency) { continue }
                    if info.dailyCostLimitUSD < .infinity, let costs = self.costs,
                       costs.todayCostUSD(channelID: info.id) >= info.dailyCostLimitUSD { continue }
                    var until: UInt64 = 0
                    var usableKeys = Int(info.keyCount)
                    var coolingKeys = false
                    if anyCooling, let cc = view.cooling(channelID: info.id) {
                        (until, usableKeys) = cc.availability(model: model, keyCount: Int(info.keyCount), now: now)
                        coolingKeys = cc.hasKeyEntries
                    }
                    guard filled < slots.count else { return false }
                    if memory.count > 0 && until == 0 {
                        if memory[0].target.channelID == info.id { lastChannelSlot = Int32(filled) }
                        for u in 0..<memory.count where memory[u].target.channelID == info.id {
                            let key = memory[u].target.keyIndex
                            guard key >= 0 && key < Int(info.keyCount) else { continue }
                            if coolingKeys, let cc = view.cooling(channelID: info.id), cc.keyCooling(key, now: now) != nil { continue }
                            switch u {
                            case 0: useSlot.0 = Int32(filled)
                            case 1: useSlot.1 = Int32(filled)
                            default: useSlot.2 = Int32(filled)
                            }
                        }
                    }
                    slots[filled] = Slot(until: until, current: 0, channel: Int32(ci), member: Int32(member),
                                         weight: info.weight > 0 ? info.weight : Int32(clamping: usableKeys),
                                         tier: Int16(truncatingIfNeeded: t), coolingKeys: coolingKeys, taken: false)
                    filled += 1
                    if until == 0 { usable += 1 }
                }
                // A warm session may sit in a lower tier: on until its last use is found.
                if usable >= maxChannels {
                    guard anyWarm && useSlot.0 < 0 else { break }
                    searching = true
                }
            }
            return true
        }
        guard fits else { return nil }
        guard filled > 0 else { return .unavailable }

        var pendingKeys: UInt64 = 0

        // 2a. Nothing usable: the channel whose cooldown ends first, if allowed.
        if usable == 0 {
            guard fallbackToSoonest.load(ordering: .relaxed) else { return .unavailable }
            var best = 0
            for k in 1..<filled where slots[k].until < slots[best].until { best = k }
            emit(table, route, model, slots[best], preferredKey: nil, affinity: false, maxKeys, &out, &pendingKeys)
            out[0].coolingUntil = slots[best].until
            if pendingKeys != 0 { fillKeys(table, cooldowns, now, maxKeys, pendingKeys, &out) }
            return .fallback
        }

        // 2b. The session's warm channel and key first (any tier); then tier by tier: the
        //     SWRR winner first (none in the affinity channel's tier), then by current weight.
        var aff = -1
        var affKey = 0
        if memory.count > 0 {
            var topTier: Int16 = -1
            for k in 0..<filled where slots[k].until == 0 {
                topTier = slots[k].tier
                break
            }
            for u in 0..<memory.count {
                let k = Int(u == 0 ? useSlot.0 : u == 1 ? useSlot.1 : useSlot.2)
                guard k >= 0 else { continue }
                // The last use also holds, cold, among its equals; earlier ones only warm.
                if memory[u].warmUntil >= now || (u == 0 && slots[k].tier == topTier) {
                    aff = k
                    affKey = memory[u].target.keyIndex
                    break
                }
            }
            // Its key cools and no earlier use is warm: the same channel, another key.
            let k = Int(lastChannelSlot)
            if aff < 0 && k >= 0 && (memory[0].warmUntil >= now || slots[k].tier == topTier) {
                aff = k
                affKey = -1
            }
        }
        if aff >= 0 {
            slots[aff].taken = true
            emit(table, route, model, slots[aff], preferredKey: affKey >= 0 ? affKey : nil, affinity: true, maxKeys,
                 &out, &pendingKeys)
        }
        var i = 0
        while i < filled && out.count < maxChannels {
            let tier = slots[i].tier
            var j = i
            var usableHere = 0
            while j < filled && slots[j].tier == tier {
                if slots[j].until == 0 { usableHere += 1 }
                j += 1
            }
            defer { i = j }
            guard usableHere > 0 else { continue }

            let affinityTier = aff >= i && aff < j
            var first = -1
            let counters = table.counters
            table.state.withWeights(countingPick: !affinityTier) {
                if !affinityTier {
                    // nginx: every peer gains its weight; the largest wins and pays the total.
                    var total = 0
                    var best = -1
                    var bestCurrent = Int.min
                    for k in i..<j where slots[k].until == 0 {
                        let cur = counters[Int(slots[k].channel)].addWeight(Int(slots[k].weight))
                        slots[k].current = cur
                        total &+= Int(slots[k].weight)
                        if cur > bestCurrent {
                            best = k
                            bestCurrent = cur
                        }
                    }
                    slots[best].current = counters[Int(slots[best].channel)].addWeight(-total)
                    first = best
                } else {
                    for k in i..<j where slots[k].until == 0 {
                        slots[k].current = counters[Int(slots[k].channel)].swrrCurrent
                    }
                }
            }
            if first >= 0 {
                slots[first].taken = true
                emit(table, route, model, slots[first], preferredKey: nil, affinity: false, maxKeys, &out, &pendingKeys)
            }
            // The rest of the tier by current weight (descending, ties in table order): one pass
            // keeping the best `want` in a small sorted buffer.
            let want = maxChannels - out.count
            guard want > 0 else { break }
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: want) { top in
                var n = 0
                for k in i..<j where slots[k].until == 0 && !slots[k].taken {
                    let cur = slots[k].current
                    if n == want && cur <= slots[Int(top[n - 1])].current { continue }
                    var p = n < want ? n : want - 1
                    if n < want { n += 1 }
                    while p > 0 && slots[Int(top[p - 1])].current < cur {
                        top[p] = top[p - 1]
                        p -= 1
                    }
                    top[p] = Int32(k)
                }
                for q in 0..<n {
                    emit(table, route, model, slots[Int(top[q])], preferredKey: nil, affinity: false, maxKeys,
                         &out, &pendingKeys)
                }
            }
        }
        if pendingKeys != 0 { fillKeys(table, cooldowns, now, maxKeys, pendingKeys, &out) }
        return .ok
    }

    /// Appends the candidate for `slot`; its keys now when none of the channel's keys cool,
    /// else later in `fillKeys` (from the book's read view).
    private func emit(_ table: ChannelTable, _ route: Route, _ model: String, _ slot: Slot, preferredKey: Int?,
                      affinity: Bool, _ maxKeys: Int, _ out: inout [Candidate], _ pendingKeys: inout UInt64) {
        let ci = Int(slot.channel)
        var c = Candidate(channelIndex: ci, channelID: table.info[ci].id, keys: KeyOrder(),
                          upstreamModel: route.upstream[Int(slot.member)] ?? model,
                          coolingUntil: nil, fromAffinity: affinity)
        if slot.coolingKeys {
            // Filled in by fillKeys; until then `keys` holds just the preferred key, if any.
            if let p = preferredKey { c.keys.append(p) }
            pendingKeys |= 1 << UInt64(out.count)
        } else {
            c.keys = Self.keyOrder(table, ci, nil, now: 0, preferred: preferredKey, maxKeys)
        }
        out.append(c)
    }

    private func fillKeys(_ table: ChannelTable, _ cooldowns: CooldownBook, _ now: UInt64, _ maxKeys: Int,
                          _ pending: UInt64, _ out: inout [Candidate]) {
        cooldowns.read { view in
            for n in out.indices where pending & (1 << UInt64(n)) != 0 {
                let ci = out[n].channelIndex
                let preferred = out[n].keys.count > 0 ? out[n].keys[0] : nil
                out[n].keys = Self.keyOrder(table, ci, view.cooling(channelID: table.info[ci].id), now: now,
                                            preferred: preferred, maxKeys)
            }
        }
    }

    /// Keys to try on channel `ci`: the preferred one first when usable, then the usable ones
    /// in index order (sequential) or from a rotating start (round robin); when none is
    /// usable, the ones whose cooldowns end first.
    static func keyOrder(_ table: ChannelTable, _ ci: Int, _ cooling: ChannelCooling?, now: UInt64,
                         preferred: Int?, _ maxKeys: Int) -> KeyOrder {
        let info = table.info[ci]
        let n = Int(info.keyCount)
        var order = KeyOrder()
        func usable(_ k: Int) -> Bool { cooling?.keyCooling(k, now: now) == nil }
        let usableCount = cooling?.usableKeyCount(keyCount: n, now: now) ?? n
        if usableCount == 0 {
            // Every key cools (fallback): soonest first.
            guard let cooling else { return order }
            var taken = [Bool](repeating: false, count: n)
            while order.count < min(maxKeys, n) {
                var best = -1
                var bestUntil = UInt64.max
                for k in 0..<n where !taken[k] {
                    let u = cooling.keyUntil(k)
                    if best < 0 || u < bestUntil {
                        best = k
                        bestUntil = u
                    }
                }
                taken[best] = true
                order.append(best)
            }
            return order
        }
        if let p = preferred, p >= 0, p < n, usable(p) { order.append(p) }
        var start = 0
        if info.roundRobin {
            let ticket = table.counters[ci].keyCursor.wrappingAdd(1, ordering: .relaxed).oldValue
            start = Int(UInt(bitPattern: ticket) % UInt(usableCount))
        }
        // Position of the start-th usable key.
        var k = 0
        if start > 0 {
            var seen = 0
            while k < n {
                if usable(k) {
                    if seen == start { break }
                    seen += 1
                }
                k += 1
            }
        }
        var visited = 0
        while visited < n && order.count < maxKeys {
            if usable(k) && !order.contains(k) { order.append(k) }
            k += 1
            if k == n { k = 0 }
            visited += 1
        }
        return order
    }
}

