import Reactor
import Synchronization

/// A client session's identity (Anthropic `metadata.user_id`, Codex `session_id` /
/// `conversation_id`, `x-ccload-session`), kept as a 64-bit FNV-1a hash of its bytes: eight
/// bytes per entry whatever the id's length; a collision only shares a channel preference.
public struct SessionKey: Hashable, Sendable {
    public let hash: UInt64

    public init(hash: UInt64) { self.hash = hash }

    public init(bytes: some Sequence<UInt8>) {
        var h = Hasher()
        for b in bytes { h.add(b) }
        self.hash = h.value
    }

    /// FNV-1a, fed byte by byte or by ranges of a buffer (hashed in place).
    public struct Hasher: Sendable {
        public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

        public init() {}

        @inline(__always) public mutating func add(_ b: UInt8) {
            value ^= UInt64(b)
            value = value &* 0x0000_0100_0000_01B3
        }

        public mutating func add(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>) {
            for i in range { add(buf[i]) }
        }
    }

    public init(_ s: String) { self.init(bytes: s.utf8) }
}

public struct SessionAffinitySettings: Sendable, Equatable {
    public var enabled = SettingsCatalog.defaultFlag("session_affinity")
    /// An entry unused (no success recorded) for this long, and no longer warm, is gone.
    /// Within it the session keeps its channel among channels of the same priority.
    public var ttlNanos = SettingsCatalog.defaultNanos("affinity_ttl_seconds")
    /// How long a turn keeps the upstream prompt cache warm when the request asks for no
    /// longer (`cache_control` `"ttl":"1h"`: `SessionAffinity.hourNanos`).
    public var cacheNanos = SettingsCatalog.defaultNanos("affinity_cache_seconds")
    /// At most this many sessions; the least recently used goes first.
    public var capacity = SettingsCatalog.defaultInteger("affinity_max_sessions")
    /// Requests with no session id are identified by a digest of their prompt.
    public var promptDigest = SettingsCatalog.defaultFlag("affinity_prompt_digest")

    public init() {}
}

/// Where a session went: channel id and key index.
public struct AffinityTarget: Sendable, Equatable {
    public var channelID: Int
    public var keyIndex: Int

    public init(channelID: Int, keyIndex: Int) {
        self.channelID = channelID
        self.keyIndex = keyIndex
    }
}

/// One channel and key a session used, and until when its upstream cache may be warm
/// (monotonic nanoseconds: the last turn there plus the cache's lifetime).
public struct AffinityUse: Sendable, Equatable {
    public var target: AffinityTarget
    public var warmUntil: UInt64

    public init(target: AffinityTarget, warmUntil: UInt64) {
        self.target = target
        self.warmUntil = warmUntil
    }
}

/// What the table remembers of one session: its last channel and key and up to two it used
/// before, most recent first, inline (no allocation per look-up).
public struct AffinityMemory: Sendable, Equatable {
    public static let depth = 3
    public private(set) var count = 0
    private var u0 = AffinityUse(target: AffinityTarget(channelID: 0, keyIndex: 0), warmUntil: 0)
    private var u1 = AffinityUse(target: AffinityTarget(channelID: 0, keyIndex: 0), warmUntil: 0)
    private var u2 = AffinityUse(target: AffinityTarget(channelID: 0, keyIndex: 0), warmUntil: 0)
    /// When the last turn was recorded.
    public internal(set) var lastUsed: UInt64 = 0

    public init() {}

    /// Use `i` (0 = the last), `0..<count`.
    public subscript(i: Int) -> AffinityUse {
        switch i {
        case 0: return u0
        case 1: return u1
        default: return u2
        }
    }

    /// The last channel and key.
    public var last: AffinityTarget? { count > 0 ? u0.target : nil }

    /// Whether any use is on channel `id`.
    public func names(channelID id: Int) -> Bool {
        (count > 0 && u0.target.channelID == id) || (count > 1 && u1.target.channelID == id) || (count > 2 && u2.target.channelID == id)
    }

    /// A turn on `target` at `now`, warm for `lifetime`: it becomes the last use; the
    /// previous last moves down (an older use of the same target is dropped, the oldest
    /// falls off). The same target again keeps the later of its warm-until times.
    mutating func record(_ target: AffinityTarget, now: UInt64, lifetime: UInt64) {
        let until = now &+ lifetime
        lastUsed = now
        if count > 0 && u0.target == target {
            u0.warmUntil = max(u0.warmUntil, until)
            return
        }
        let fresh = AffinityUse(target: target, warmUntil: until)
        if count > 1 && u1.target == target {
            u1 = u0
        } else {
            u2 = u1
            u1 = u0
            count = min(count + 1, Self.depth)
        }
        u0 = fresh
    }

    /// When nothing of it matters any more: idle past `ttl` and no use warm.
    func expires(ttl: UInt64) -> UInt64 {
        var e = lastUsed &+ ttl
        for i in 0..<count { e = max(e, self[i].warmUntil) }
        return e
    }
}

/// The one-hour lifetime a request's `cache_control` `"ttl":"1h"` asks for.
public let affinityHourNanos: UInt64 = 3600 * nanosPerSecond

/// An LRU map from session to the channels and keys that served it, so a session's upstream
/// prompt cache stays warm. Bounded (a cap with least-recently-used eviction; entries expire
/// once idle past the TTL and their cache lifetime); shared by every loop behind one pthread
/// mutex held for a few instructions.
public final class SessionAffinity: Sendable {
    private let lock: Lock<SessionLRU>
    private let digest: Atomic<Bool>

    public init(settings: SessionAffinitySettings = SessionAffinitySettings()) {
        lock = Lock(SessionLRU(settings: settings))
        digest = Atomic(settings.enabled && settings.promptDigest)
    }

    public var settings: SessionAffinitySettings {
        get { lock.withLock { $0.settings } }
        set {
            digest.store(newValue.enabled && newValue.promptDigest, ordering: .relaxed)
            lock.withLock { lru in
                lru.settings = newValue
                if !newValue.enabled {
                    lru.removeAll()
                } else {
                    while lru.count > max(newValue.capacity, 0) { lru.evictOldest() }
                }
            }
        }
    }

    /// Whether requests with no session id are identified by their prompt's digest (one
    /// atomic load, for the request path).
    public var digestsPrompts: Bool { digest.load(ordering: .relaxed) }

    /// Where `session` went last, unless switched off, unknown, or expired (then dropped).
    public func lookup(_ session: SessionKey, now: UInt64) -> AffinityTarget? {
        memory(session, now: now)?.last
    }

    /// What is remembered of `session` (nil when switched off, unknown or expired).
    public func memory(_ session: SessionKey, now: UInt64) -> AffinityMemory? {
        lock.withLock { lru in
            guard lru.settings.enabled else { return nil }
            return lru.lookup(session, now: now)
        }
    }

    /// After a success: `session` sticks to (channel, key), as its most recent entry, warm
    /// for `cacheLifetime` (nil: the `cacheNanos` setting). The observer hears of it when the
    /// target changed, or at most once a second per session (`SessionLRU.announceEveryNanos`).
    public func record(session: SessionKey, channel: Int, key: Int, now: UInt64, cacheLifetime: UInt64? = nil) {
        let notice = lock.withLock { lru -> (AffinityObserver, AffinityUse)? in
            guard lru.settings.enabled, lru.settings.capacity > 0 else { return nil }
            let use = lru.record(session, AffinityTarget(channelID: channel, keyIndex: key), now: now,
                                 lifetime: cacheLifetime ?? lru.settings.cacheNanos)
            guard let o = lru.observer, let use else { return nil }
            return (o, use)
        }
        if let (o, use) = notice { o(session, use, now) }
    }

    /// Registers the observer of placements (one; nil removes it): `AffinitySync` tells the
    /// other instances.
    public func observe(_ observer: AffinityObserver?) {
        lock.withLock { $0.observer = observer }
    }

    /// A peer's placement: `session` sticks to `use.target`, warm until `use.warmUntil`
    /// (monotonic). Not told to the observer.
    public func adopt(session: SessionKey, _ use: AffinityUse, now: UInt64) {
        lock.withLock { lru in
            guard lru.settings.enabled, lru.settings.capacity > 0 else { return }
            _ = lru.record(session, use.target, now: now, lifetime: Saturating.subtract(use.warmUntil, now), adopted: true)
        }
    }

    public func forget(_ session: SessionKey) {
        lock.withLock { lru in
            if let i = lru.slots[session] { lru.remove(i) }
        }
    }

    /// Entries held (expired ones linger until looked up, swept or evicted).
    public var count: Int { lock.withLock { $0.count } }

    /// Drops the expired entries from the least recently used end (a few at each record
    /// anyway; callable from a timer).
    public func sweep(now: UInt64) {
        lock.withLock { $0.sweep(now: now, limit: Int.max) }
    }
}

/// Told of a session's placement (its session key, the use, the monotonic now), on the
/// recording thread after the table's lock is released.
public typealias AffinityObserver = @Sendable (SessionKey, AffinityUse, UInt64) -> Void

/// An intrusive doubly linked list over an array of nodes plus a hash index. Head = most
/// recently recorded, tail = least.
struct SessionLRU: Sendable {
    struct Node: Sendable {
        var key: SessionKey
        var memory: AffinityMemory
        var prev: Int32
        var next: Int32
        /// When the observer last heard of this session.
        var announced: UInt64 = 0
    }

    /// A session's placement on the same target is told at most this often.
    static let announceEveryNanos = nanosPerSecond

    var settings: SessionAffinitySettings
    var observer: AffinityObserver?
    var slots: [SessionKey: Int32] = [:]
    var nodes: ContiguousArray<Node> = []
    var free: ContiguousArray<Int32> = []
    var head: Int32 = -1
    var tail: Int32 = -1

    init(settings: SessionAffinitySettings) { self.settings = settings }

    var count: Int { slots.count }

    mutating func lookup(_ key: SessionKey, now: UInt64) -> AffinityMemory? {
        guard let i = slots[key] else { return nil }
        let m = nodes[Int(i)].memory
        if now > m.expires(ttl: settings.ttlNanos) {
            remove(i)
            return nil
        }
        return m
    }

    /// Records a turn; returns the session's new last use when the observer should hear of
    /// it (never for an `adopted` one, nor without an observer).
    mutating func record(_ key: SessionKey, _ target: AffinityTarget, now: UInt64, lifetime: UInt64,
                         adopted: Bool = false) -> AffinityUse? {
        if let i = slots[key] {
            let moved = nodes[Int(i)].memory.last != target
            nodes[Int(i)].memory.record(target, now: now, lifetime: lifetime)
            unlink(i)
            pushFront(i)
            return announce(i, now: now, moved: moved, adopted: adopted)
        }
        // Expired entries at the old end go first (a few per record keeps the table at its
        // live size without a timer), then the least recently used while full.
        sweep(now: now, limit: 2)
        while slots.count >= settings.capacity { evictOldest() }
        var memory = AffinityMemory()
        memory.record(target, now: now, lifetime: lifetime)
        let node = Node(key: key, memory: memory, prev: -1, next: -1)
        let i: Int32
        if let f = free.popLast() {
            i = f
            nodes[Int(i)] = node
        } else {
            i = Int32(nodes.count)
            nodes.append(node)
        }
        slots[key] = i
        pushFront(i)
        return announce(i, now: now, moved: true, adopted: adopted)
    }

    private mutating func announce(_ i: Int32, now: UInt64, moved: Bool, adopted: Bool) -> AffinityUse? {
        if adopted {
            nodes[Int(i)].announced = now
            return nil
        }
        guard observer != nil, moved || now &- nodes[Int(i)].announced >= Self.announceEveryNanos else { return nil }
        nodes[Int(i)].announced = now
        return nodes[Int(i)].memory[0]
    }

    /// Removes up to `limit` expired entries from the tail. Entries are in recording order
    /// there, so the first live one ends the sweep (a 1 h entry may shield older 5 min ones
    /// until it expires or is evicted).
    mutating func sweep(now: UInt64, limit: Int) {
        var n = 0
        while tail >= 0 && n < limit && now > nodes[Int(tail)].memory.expires(ttl: settings.ttlNanos) {
            remove(tail)
            n += 1
        }
    }

    mutating func evictOldest() {
        guard tail >= 0 else { return }
        remove(tail)
    }

    mutating func remove(_ i: Int32) {
        guard i >= 0 else { return }
        unlink(i)
        slots[nodes[Int(i)].key] = nil
        free.append(i)
    }

    mutating func removeAll() {
        slots.removeAll()
        nodes.removeAll()
        free.removeAll()
        head = -1
        tail = -1
    }

    private mutating func unlink(_ i: Int32) {
        let p = nodes[Int(i)].prev
        let n = nodes[Int(i)].next
        if p >= 0 { nodes[Int(p)].next = n } else { head = n }
        if n >= 0 { nodes[Int(n)].prev = p } else { tail = p }
        nodes[Int(i)].prev = -1
        nodes[Int(i)].next = -1
    }

    private mutating func pushFront(_ i: Int32) {
        nodes[Int(i)].next = head
        nodes[Int(i)].prev = -1
        if head >= 0 { nodes[Int(head)].prev = i }
        head = i
        if tail < 0 { tail = i }
    }
}
