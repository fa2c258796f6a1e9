import Reactor

/// Why an attempt failed over, as far as cooldown durations care.
public enum FailureClass: String, Sendable, CaseIterable {
    /// 401, 402, 403 (a key or an account).
    case auth
    /// 429 and its SSE twin.
    case rateLimit = "rate_limit"
    /// 5xx, 529 overloaded, an SSE api_error.
    case server
    /// No first byte within the first-byte timeout.
    case timeout
    /// Refused, reset, DNS, TLS, egress proxy, connect timeout, malformed response.
    case connection
    /// 404 (the model, or the whole channel's base URL).
    case notFound = "not_found"
}

/// What a failure cools: one key, the whole channel, or one (channel, model) pair.
public enum ScopeKind: String, Sendable {
    case key
    case channel
    case model
}

/// One thing that can cool down. `model` is the model the client asked for (before
/// redirects): that is the name the selector looks cooldowns up by.
public enum CooldownScope: Hashable, Sendable, CustomStringConvertible {
    case channel(Int)
    case key(channelID: Int, keyIndex: Int)
    case model(channelID: Int, model: String)

    /// The scope of `kind` for a failed attempt on (channel, key, model).
    public init(_ kind: ScopeKind, channelID: Int, keyIndex: Int, model: String) {
        switch kind {
        case .channel: self = .channel(channelID)
        case .key: self = .key(channelID: channelID, keyIndex: keyIndex)
        case .model: self = .model(channelID: channelID, model: model)
        }
    }

    public var channelID: Int {
        switch self {
        case .channel(let c), .key(let c, _), .model(let c, _): return c
        }
    }

    public var description: String {
        switch self {
        case .channel(let c): return "channel \(c)"
        case .key(let c, let k): return "channel \(c) key \(k)"
        case .model(let c, let m): return "channel \(c) model \(m)"
        }
    }
}

/// Every cooldown number. Durations in nanoseconds.
public struct CooldownSettings: Sendable, Equatable {
    public var authNanos = SettingsCatalog.defaultNanos("cooldown_auth_seconds")
    public var serverNanos = SettingsCatalog.defaultNanos("cooldown_server_seconds")
    public var timeoutNanos = SettingsCatalog.defaultNanos("cooldown_timeout_seconds")
    public var rateLimitNanos = SettingsCatalog.defaultNanos("cooldown_rate_limit_seconds")
    /// Refused / reset / DNS / TLS: the upstream is down, like a server error.
    public var connectionNanos = SettingsCatalog.defaultNanos("cooldown_server_seconds")
    /// A 404 is a configuration problem (wrong base URL, model not offered): like auth.
    public var notFoundNanos = SettingsCatalog.defaultNanos("cooldown_auth_seconds")
    /// Computed durations (first × 2^(n-1)) are clamped to [minimum, maximum].
    public var minimumNanos = SettingsCatalog.defaultNanos("cooldown_min_seconds")
    public var maximumNanos = SettingsCatalog.defaultNanos("cooldown_max_seconds")
    /// An explicit reset time from the upstream (retry-after, anthropic-ratelimit-unified-reset)
    /// wins over the computed duration, clamped to [explicitMinimum, explicitMaximum]. The
    /// maximum is above the computed one so that a subscription's 5-hour window is honoured.
    public var explicitMinimumNanos: UInt64 = 1 * nanosPerSecond
    public var explicitMaximumNanos: UInt64 = 6 * 3600 * nanosPerSecond
    /// A failure this long after the previous cooldown ended counts as a first failure again.
    public var forgetAfterNanos: UInt64 = 3600 * nanosPerSecond

    public init() {}

    public func firstDuration(_ c: FailureClass) -> UInt64 {
        switch c {
        case .auth: return authNanos
        case .rateLimit: return rateLimitNanos
        case .server: return serverNanos
        case .timeout: return timeoutNanos
        case .connection: return connectionNanos
        case .notFound: return notFoundNanos
        }
    }

    /// The cooldown for the `consecutive`-th failure in a row (1-based): the first duration
    /// doubled `consecutive - 1` times, clamped to [minimum, maximum].
    public func duration(_ c: FailureClass, consecutive: Int) -> UInt64 {
        let base = firstDuration(c)
        let shift = UInt64(max(consecutive, 1) - 1)
        var d: UInt64
        if base == 0 {
            d = 0
        } else if shift >= 63 || base > (UInt64.max >> shift) {
            d = UInt64.max
        } else {
            d = base << shift
        }
        d = min(d, maximumNanos)
        return max(d, minimumNanos)
    }

    func explicitDuration(_ nanos: UInt64) -> UInt64 {
        max(min(nanos, explicitMaximumNanos), explicitMinimumNanos)
    }
}

/// One scope's cooling state.
struct CooldownEntry: Sendable {
    var until: UInt64
    /// Consecutive failures so far (1 after the first).
    var failures: UInt32
    var lastClass: FailureClass
    /// The duration chosen at the last record that started a cooldown.
    var duration: UInt64
    var explicit: Bool
}

/// Everything cooling about one channel; absent from the book when nothing is.
struct ChannelCooling: Sendable {
    var channel: CooldownEntry?
    var keys: [Int: CooldownEntry] = [:]
    var models: [String: CooldownEntry] = [:]

    var isEmpty: Bool { channel == nil && keys.isEmpty && models.isEmpty }

    /// The entry of `scope` (one of this channel's).
    subscript(_ scope: CooldownScope) -> CooldownEntry? {
        get {
            switch scope {
            case .channel: return channel
            case .key(_, let k): return keys[k]
            case .model(_, let m): return models[m]
            }
        }
        set {
            switch scope {
            case .channel: channel = newValue
            case .key(_, let k): keys[k] = newValue
            case .model(_, let m): models[m] = newValue
            }
        }
    }
    var entryCount: Int { (channel == nil ? 0 : 1) + keys.count + models.count }

    /// Keys among `0..<keyCount` not cooling at `now`.
    func usableKeyCount(keyCount: Int, now: UInt64) -> Int {
        if keys.isEmpty { return keyCount }
        var cooling = 0
        for (k, e) in keys where k < keyCount && e.until > now { cooling += 1 }
        return keyCount - cooling
    }

    /// The earliest time any of `0..<keyCount` stops cooling (meaningful when all cool).
    func soonestKeyEnd(keyCount: Int) -> UInt64 {
        var soonest = UInt64.max
        for (k, e) in keys where k < keyCount { soonest = min(soonest, e.until) }
        return soonest
    }

    /// Whether any key has an entry (cooling or kept for doubling).
    var hasKeyEntries: Bool { !keys.isEmpty }

    /// When key `k` stops (or stopped) cooling; 0 when it has no entry.
    func keyUntil(_ k: Int) -> UInt64 { keys[k]?.until ?? 0 }

    func keyCooling(_ k: Int, now: UInt64) -> UInt64? {
        guard let e = keys[k], e.until > now else { return nil }
        return e.until
    }

    /// When the channel becomes usable for `model` (0 = now) and how many keys are usable.
    func availability(model: String, keyCount: Int, now: UInt64) -> (until: UInt64, usableKeys: Int) {
        var until: UInt64 = 0
        if let c = channel, c.until > now { until = c.until }
        if !models.isEmpty, let m = models[model], m.until > now { until = max(until, m.until) }
        let usable = usableKeyCount(keyCount: keyCount, now: now)
        if usable == 0 && keyCount > 0 { until = max(until, soonestKeyEnd(keyCount: keyCount)) }
        return (until, usable)
    }
}

/// What the selector may read of the book, handed out by `CooldownBook.read` while the
/// book's lock is held. A value (the book's state is copy-on-write), so a view kept past the
/// call would be a stale copy, never a race; read it inside the call. (Non-copyable and
/// borrowed, it crashes this toolchain's release optimizer.)
struct CooldownView {
    fileprivate let channels: [Int: ChannelCooling]

    /// Whether anything cools at all (the selector skips every look-up when not).
    var anyCooling: Bool { !channels.isEmpty }

    /// What cools about channel `id`, nil when nothing does.
    func cooling(channelID id: Int) -> ChannelCooling? {
        channels.isEmpty ? nil : channels[id]
    }
}

struct CooldownState: Sendable {
    var settings: CooldownSettings
    var channels: [Int: ChannelCooling] = [:]
    var entryCount = 0
    /// `record` prunes when `entryCount` passes this; raised after a prune that kept much.
    var pruneAt = 4096
    /// Told of starts, growths and clears (`CooldownBook.observe`).
    var observer: CooldownObserver?

    /// Sets (nil: removes) the entry of `scope`, keeping `entryCount`.
    mutating func set(_ scope: CooldownScope, _ entry: CooldownEntry?) {
        let c = scope.channelID
        var cc = channels[c] ?? ChannelCooling()
        let before = cc.entryCount
        cc[scope] = entry
        entryCount += cc.entryCount - before
        channels[c] = cc.isEmpty ? nil : cc
    }
}

/// A change of the book the other instances should hear of (`CooldownSync`).
public enum CooldownChange: Sendable, Equatable {
    /// The scope started cooling, or its cooldown grew.
    case cooling(CooldownSnapshotEntry)
    /// The scope's entry was forgotten (a success, a probe, an admin reset).
    case cleared(CooldownScope)
}

/// Called with a change and, for `.cooling`, the monotonic `now` its entry is relative to
/// (0 for `.cleared`), on the thread that made it, after the book's lock is released.
public typealias CooldownObserver = @Sendable (CooldownChange, UInt64) -> Void

/// One line of the admin view of cooldowns.
public struct CooldownSnapshotEntry: Sendable, Equatable {
    public var scope: CooldownScope
    /// Monotonic nanoseconds when it stops cooling (may be past: kept for doubling).
    public var until: UInt64
    /// Nanoseconds left at the snapshot's `now` (0 when no longer cooling).
    public var remainingNanos: UInt64
    public var consecutiveFailures: Int
    public var lastClass: FailureClass
    public var durationNanos: UInt64
    public var explicit: Bool
}

/// Cooldowns of channels, keys and (channel, model) pairs, shared by every loop. One pthread
/// mutex held for a few instructions per call. Every call takes `now` (monotonic
/// nanoseconds, `monotonicNanos()` in production) so tests drive the clock.
///
/// Consecutive failures double the duration. A failure recorded while its scope is still
/// cooling (a request that was already in flight when the cooldown began, or a fallback try)
/// does not double it again; it only extends `until` when it carries a later explicit reset.
public final class CooldownBook: Sendable {
    private let lock: Lock<CooldownState>

    public init(settings: CooldownSettings = CooldownSettings()) {
        lock = Lock(CooldownState(settings: settings))
    }

    public var settings: CooldownSettings {
        get { lock.withLock { $0.settings } }
        set { lock.withLock { $0.settings = newValue } }
    }

    /// Records a failure of `scope`; returns when it stops cooling. `explicitResetAt` is a
    /// monotonic time from the upstream's own reset hint (now + `Verdict` resetAfterNanos).
    @discardableResult
    public func record(failure: FailureClass, scope: CooldownScope, now: UInt64, explicitResetAt: UInt64? = nil) -> UInt64 {
        recordChange(failure: failure, scope: scope, now: now, explicitResetAt: explicitResetAt).until
    }

    /// `record`, also telling whether this failure started a cooldown (the scope was not
    /// cooling before): the once-per-transition moment a notice is posted.
    public func recordChange(failure: FailureClass, scope: CooldownScope, now: UInt64,
                             explicitResetAt: UInt64? = nil) -> (until: UInt64, started: Bool) {
        let (result, notice) = lock.withLock { s -> ((until: UInt64, started: Bool), (CooldownObserver, CooldownChange)?) in
            let settings = s.settings
            let explicitNanos = explicitResetAt.map { $0 > now ? $0 - now : 0 }
            var added = 0
            let until: UInt64
            let prevUntil: UInt64?
            switch scope {
            case .channel(let c):
                let prev = s.channels[c]?.channel
                let e = Self.next(prev, failure, now, explicitNanos, settings)
                if prev == nil { added = 1 }
                s.channels[c, default: ChannelCooling()].channel = e
                until = e.until
                prevUntil = prev?.until
            case .key(let c, let k):
                let prev = s.channels[c]?.keys[k]
                let e = Self.next(prev, failure, now, explicitNanos, settings)
                if prev == nil { added = 1 }
                s.channels[c, default: ChannelCooling()].keys[k] = e
                until = e.until
                prevUntil = prev?.until
            case .model(let c, let m):
                let prev = s.channels[c]?.models[m]
                let e = Self.next(prev, failure, now, explicitNanos, settings)
                if prev == nil { added = 1 }
                s.channels[c, default: ChannelCooling()].models[m] = e
                until = e.until
                prevUntil = prev?.until
            }
            s.entryCount += added
            if s.entryCount > s.pruneAt { Self.prune(&s, now: now) }
            // Only a start or a growth is news (a failure while cooling changes nothing).
            var notice: (CooldownObserver, CooldownChange)?
            if until > now, until > prevUntil ?? 0, let o = s.observer { notice = (o, .cooling(Self.entry(s, scope, now))) }
            return ((until, until > now && (prevUntil.map { $0 <= now } ?? true)), notice)
        }
        if let (o, change) = notice { o(change, now) }
        return result
    }

    /// Registers the observer of starts, growths and clears (one; nil removes it). What
    /// `merge`, `forget(_:startedBefore:)`, `restore`, `clearAll` and pruning change is not
    /// told: those are how a peer's or the store's state comes in.
    public func observe(_ observer: CooldownObserver?) {
        lock.withLock { $0.observer = observer }
    }

    /// The snapshot line of `scope` (which has an entry).
    private static func entry(_ s: CooldownState, _ scope: CooldownScope, _ now: UInt64) -> CooldownSnapshotEntry {
        let x = s.channels[scope.channelID]?[scope] ?? CooldownEntry(until: 0, failures: 1, lastClass: .server, duration: 0, explicit: false)
        return CooldownSnapshotEntry(scope: scope, until: x.until, remainingNanos: x.until > now ? x.until - now : 0,
                                     consecutiveFailures: Int(x.failures), lastClass: x.lastClass,
                                     durationNanos: x.duration, explicit: x.explicit)
    }

    /// A peer's entry: taken unless this book's entry for the scope lasts at least as long
    /// (a longer local cooldown is never shortened). Returns whether it was taken. Not told
    /// to the observer.
    @discardableResult
    public func merge(_ e: CooldownSnapshotEntry) -> Bool {
        lock.withLock { s in
            let prev = s.channels[e.scope.channelID]?[e.scope]
            if let p = prev, p.until >= e.until { return false }
            let failures = max(UInt32(clamping: max(1, e.consecutiveFailures)), prev?.failures ?? 0)
            s.set(e.scope, CooldownEntry(until: e.until, failures: failures, lastClass: e.lastClass,
                                         duration: e.durationNanos, explicit: e.explicit))
            return true
        }
    }

    /// A peer's clear at monotonic time `at`: forgets the scope's entry unless it began after
    /// `at` (a failure here that followed the peer's success stands). Returns whether an
    /// entry was forgotten. Not told to the observer.
    @discardableResult
    public func forget(_ scope: CooldownScope, startedBefore at: UInt64) -> Bool {
        lock.withLock { s in
            guard let e = s.channels[scope.channelID]?[scope], Saturating.subtract(e.until, e.duration) <= at else { return false }
            s.set(scope, nil)
            return true
        }
    }

    /// A failure found by a health probe while `scope` still cools: the cooldown goes on as
    /// a failure after it would have (the next, doubled duration, from now), never shorter
    /// than it was. Returns when it stops cooling.
    @discardableResult
    public func extend(failure: FailureClass, scope: CooldownScope, now: UInt64) -> UInt64 {
        let (until, notice) = lock.withLock { s -> (UInt64, (CooldownObserver, CooldownChange)?) in
            let settings = s.settings
            let c = scope.channelID
            var cc = s.channels[c] ?? ChannelCooling()
            let before = cc.entryCount
            func grown(_ prev: CooldownEntry?) -> CooldownEntry {
                guard let p = prev else { return Self.next(nil, failure, now, nil, settings) }
                let failures = p.failures &+ 1
                let d = settings.duration(failure, consecutive: Int(failures))
                return CooldownEntry(until: max(p.until, Saturating.add(now, d)), failures: failures, lastClass: failure,
                                     duration: d, explicit: false)
            }
            let e: CooldownEntry
            let prevUntil: UInt64
            switch scope {
            case .channel: prevUntil = cc.channel?.until ?? 0; e = grown(cc.channel); cc.channel = e
            case .key(_, let k): prevUntil = cc.keys[k]?.until ?? 0; e = grown(cc.keys[k]); cc.keys[k] = e
            case .model(_, let m): prevUntil = cc.models[m]?.until ?? 0; e = grown(cc.models[m]); cc.models[m] = e
            }
            s.entryCount += cc.entryCount - before
            s.channels[c] = cc
            var notice: (CooldownObserver, CooldownChange)?
            if e.until > now, e.until > prevUntil, let o = s.observer { notice = (o, .cooling(Self.entry(s, scope, now))) }
            return (e.until, notice)
        }
        if let (o, change) = notice { o(change, now) }
        return until
    }

    /// What keeps `channel` out now, as a health probe sees it: its own cooldown, else (when
    /// every key cools) the key that comes back first, else the cooling (channel, model) pair
    /// that comes back first. nil when nothing of it cools.
    public func outage(channel: Channel, now: UInt64) -> (scope: CooldownScope, until: UInt64, durationNanos: UInt64)? {
        lock.withLock { s in
            guard let cc = s.channels[channel.id] else { return nil }
            if let e = cc.channel, e.until > now { return (.channel(channel.id), e.until, e.duration) }
            if !channel.keys.isEmpty && cc.usableKeyCount(keyCount: channel.keys.count, now: now) == 0 {
                var best: (Int, CooldownEntry)?
                for (k, e) in cc.keys where k < channel.keys.count && e.until < (best?.1.until ?? .max) { best = (k, e) }
                if let (k, e) = best { return (.key(channelID: channel.id, keyIndex: k), e.until, e.duration) }
            }
            var model: (String, CooldownEntry)?
            for (m, e) in cc.models where e.until > now && e.until < (model?.1.until ?? .max) { model = (m, e) }
            guard let (m, e) = model else { return nil }
            return (.model(channelID: channel.id, model: m), e.until, e.duration)
        }
    }

    private static func next(_ prev: CooldownEntry?, _ c: FailureClass, _ now: UInt64,
                             _ explicitNanos: UInt64?, _ settings: CooldownSettings) -> CooldownEntry {
        var failures: UInt32 = 1
        if let p = prev {
            if now < p.until {
                var e = p
                if let x = explicitNanos {
                    let u = now &+ settings.explicitDuration(x)
                    if u > e.until {
                        e.until = u
                        e.explicit = true
                        e.duration = u - now
                    }
                }
                return e
            }
            if now - p.until <= settings.forgetAfterNanos { failures = p.failures &+ 1 }
        }
        let d = explicitNanos.map { settings.explicitDuration($0) }
            ?? settings.duration(c, consecutive: Int(failures))
        return CooldownEntry(until: now &+ d, failures: failures, lastClass: c, duration: d,
                             explicit: explicitNanos != nil)
    }

    /// A success: the scope is healthy again and its failure count starts over.
    public func recordSuccess(_ scope: CooldownScope) {
        let observer = lock.withLock { s -> CooldownObserver? in
            guard !s.channels.isEmpty else { return nil }
            let c = scope.channelID
            guard var cc = s.channels.removeValue(forKey: c) else { return nil }
            let before = cc.entryCount
            switch scope {
            case .channel: cc.channel = nil
            case .key(_, let k): cc.keys[k] = nil
            case .model(_, let m): cc.models[m] = nil
            }
            s.entryCount -= before - cc.entryCount
            if !cc.isEmpty { s.channels[c] = cc }
            return cc.entryCount != before ? s.observer : nil
        }
        observer?(.cleared(scope), 0)
    }

    /// A success of one attempt: resets the channel, the key and the (channel, model) pair.
    /// Returns whether that ended a cooldown (an entry was there to forget): the
    /// once-per-transition moment a recovery is posted.
    @discardableResult
    public func recordSuccess(channelID: Int, keyIndex: Int, model: String) -> Bool {
        // Which of the three had an entry (bits 0, 1, 2: channel, key, model), and the observer.
        let (removed, observer) = lock.withLock { s -> (UInt8, CooldownObserver?) in
            guard !s.channels.isEmpty, var cc = s.channels.removeValue(forKey: channelID) else { return (0, nil) }
            let before = cc.entryCount
            var removed: UInt8 = 0
            if cc.channel != nil { removed |= 1; cc.channel = nil }
            if cc.keys.removeValue(forKey: keyIndex) != nil { removed |= 2 }
            if !cc.models.isEmpty && cc.models.removeValue(forKey: model) != nil { removed |= 4 }
            s.entryCount -= before - cc.entryCount
            if !cc.isEmpty { s.channels[channelID] = cc }
            return (removed, removed != 0 ? s.observer : nil)
        }
        if let o = observer {
            if removed & 1 != 0 { o(.cleared(.channel(channelID)), 0) }
            if removed & 2 != 0 { o(.cleared(.key(channelID: channelID, keyIndex: keyIndex)), 0) }
            if removed & 4 != 0 { o(.cleared(.model(channelID: channelID, model: model)), 0) }
        }
        return removed != 0
    }

    /// Nanoseconds until `scope` stops cooling, or nil if it is not cooling. Only the scope
    /// itself: a key's remaining time says nothing about its channel's.
    public func remaining(_ scope: CooldownScope, now: UInt64) -> UInt64? {
        lock.withLock { s in
            guard let cc = s.channels[scope.channelID] else { return nil }
            let e: CooldownEntry?
            switch scope {
            case .channel: e = cc.channel
            case .key(_, let k): e = cc.keys[k]
            case .model(_, let m): e = cc.models[m]
            }
            guard let e, e.until > now else { return nil }
            return e.until - now
        }
    }

    /// Whether every key of `channel` is cooling: the selector then treats the channel as
    /// cooling until its first key comes back, so the caller need not cool the channel too.
    public func allKeysCooling(channel: Channel, now: UInt64) -> Bool {
        lock.withLock { s in
            guard let cc = s.channels[channel.id] else { return false }
            return !channel.keys.isEmpty && cc.usableKeyCount(keyCount: channel.keys.count, now: now) == 0
        }
    }

    /// Every entry (cooling or kept for doubling), channel by channel.
    public func snapshot(now: UInt64) -> [CooldownSnapshotEntry] {
        lock.withLock { s in
            var out: [CooldownSnapshotEntry] = []
            out.reserveCapacity(s.entryCount)
            func add(_ scope: CooldownScope, _ e: CooldownEntry) {
                out.append(CooldownSnapshotEntry(
                    scope: scope, until: e.until, remainingNanos: e.until > now ? e.until - now : 0,
                    consecutiveFailures: Int(e.failures), lastClass: e.lastClass,
                    durationNanos: e.duration, explicit: e.explicit))
            }
            for (c, cc) in s.channels.sorted(by: { $0.key < $1.key }) {
                if let e = cc.channel { add(.channel(c), e) }
                for (k, e) in cc.keys.sorted(by: { $0.key < $1.key }) { add(.key(channelID: c, keyIndex: k), e) }
                for (m, e) in cc.models.sorted(by: { $0.key < $1.key }) { add(.model(channelID: c, model: m), e) }
            }
            return out
        }
    }

    /// Runs `body` with a read view of the book, under the book's lock (one lock round trip).
    /// `body` must be quick and must not call the book.
    func read<R>(_ body: (CooldownView) -> R) -> R {
        lock.withLock { s in body(CooldownView(channels: s.channels)) }
    }

    /// Sets entries as they were saved (replacing any for the same scope).
    public func restore(_ entries: [CooldownSnapshotEntry]) {
        lock.withLock { s in
            for e in entries {
                s.set(e.scope, CooldownEntry(until: e.until, failures: UInt32(clamping: max(1, e.consecutiveFailures)),
                                             lastClass: e.lastClass, duration: e.durationNanos, explicit: e.explicit))
            }
        }
    }

    /// Admin: forget one scope, cooling or not.
    public func clear(_ scope: CooldownScope) { recordSuccess(scope) }

    /// Admin: forget every cooldown.
    public func clearAll() {
        lock.withLock { s in
            s.channels.removeAll()
            s.entryCount = 0
        }
    }

    /// Drops entries whose cooldown ended more than `forgetAfter` ago (they can no longer
    /// double anything). Runs by itself when the book grows large; callable from a timer.
    public func prune(now: UInt64) {
        lock.withLock { Self.prune(&$0, now: now) }
    }

    /// How many scopes the book holds (cooling or kept for doubling).
    public var count: Int { lock.withLock { $0.entryCount } }

    private static func prune(_ s: inout CooldownState, now: UInt64) {
        let forget = s.settings.forgetAfterNanos
        func live(_ e: CooldownEntry) -> Bool { e.until > now || now - e.until <= forget }
        var total = 0
        var kept: [Int: ChannelCooling] = [:]
        for (c, var cc) in s.channels {
            if let e = cc.channel, !live(e) { cc.channel = nil }
            cc.keys = cc.keys.filter { live($0.value) }
            cc.models = cc.models.filter { live($0.value) }
            if !cc.isEmpty {
                total += cc.entryCount
                kept[c] = cc
            }
        }
        s.channels = kept
        s.entryCount = total
        s.pruneAt = max(4096, total * 2)
    }
}
