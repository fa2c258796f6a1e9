import Reactor

/// A client session's identity (Anthropic `metadata.user_id`, Codex `session_id` /
/// `conversation_id`, `x-ccload-session`), kept as a 64-bit FNV-1a hash of its bytes: eight
/// bytes per entry whatever the id's length; a collision only shares a channel preference.
public struct SessionKey: Hashable, Sendable {
    public let hash: UInt64

    public init(hash: UInt64) { self.hash = hash }

    public init(bytes: some Sequence<UInt8>) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        self.hash = h
    }

    public init(_ s: String) { self.init(bytes: s.utf8) }
}

public struct SessionAffinitySettings: Sendable, Equatable {
    public var enabled = SettingsCatalog.defaultFlag("session_affinity")
    /// An entry unused (no success recorded) for this long is gone.
    public var ttlNanos = SettingsCatalog.defaultNanos("affinity_ttl_seconds")
    /// At most this many sessions; the least recently used goes first.
    public var capacity = 100_000

    public init() {}
}

/// Where a session went last: channel id and key index.
public struct AffinityTarget: Sendable, Equatable {
    public var channelID: Int
    public var keyIndex: Int

    public init(channelID: Int, keyIndex: Int) {
        self.channelID = channelID
        self.keyIndex = keyIndex
    }
}

/// An LRU map from session to the channel and key that last served it, so a session's
/// upstream prompt cache stays warm. Bounded, with a TTL; shared by every loop behind one
/// pthread mutex held for a few instructions.
public final class SessionAffinity: Sendable {
    private let lock: Lock<SessionLRU>

    public init(settings: SessionAffinitySettings = SessionAffinitySettings()) {
        lock = Lock(SessionLRU(settings: settings))
    }

    public var settings: SessionAffinitySettings {
        get { lock.withLock { $0.settings } }
        set {
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

    /// Where `session` went last, unless switched off, unknown, or expired (then dropped).
    public func lookup(_ session: SessionKey, now: UInt64) -> AffinityTarget? {
        lock.withLock { lru in
            guard lru.settings.enabled else { return nil }
            return lru.lookup(session, now: now)
        }
    }

    /// After a success: `session` sticks to (channel, key), as its most recent entry.
    public func record(session: SessionKey, channel: Int, key: Int, now: UInt64) {
        lock.withLock { lru in
            guard lru.settings.enabled, lru.settings.capacity > 0 else { return }
            lru.record(session, AffinityTarget(channelID: channel, keyIndex: key), now: now)
        }
    }

    public func forget(_ session: SessionKey) {
        lock.withLock { lru in
            if let i = lru.slots[session] { lru.remove(i) }
        }
    }

    /// Entries held (expired ones linger until looked up or evicted).
    public var count: Int { lock.withLock { $0.count } }
}

/// An intrusive doubly linked list over an array of nodes plus a hash index. Head = most
/// recently recorded, tail = least.
struct SessionLRU: Sendable {
    struct Node: Sendable {
        var key: SessionKey
        var target: AffinityTarget
        var lastUsed: UInt64
        var prev: Int32
        var next: Int32
    }

    var settings: SessionAffinitySettings
    var slots: [SessionKey: Int32] = [:]
    var nodes: ContiguousArray<Node> = []
    var free: ContiguousArray<Int32> = []
    var head: Int32 = -1
    var tail: Int32 = -1

    init(settings: SessionAffinitySettings) { self.settings = settings }

    var count: Int { slots.count }

    mutating func lookup(_ key: SessionKey, now: UInt64) -> AffinityTarget? {
        guard let i = slots[key] else { return nil }
        let n = nodes[Int(i)]
        if now >= n.lastUsed && now - n.lastUsed > settings.ttlNanos {
            remove(i)
            return nil
        }
        return n.target
    }

    mutating func record(_ key: SessionKey, _ target: AffinityTarget, now: UInt64) {
        if let i = slots[key] {
            nodes[Int(i)].target = target
            nodes[Int(i)].lastUsed = now
            unlink(i)
            pushFront(i)
            return
        }
        while slots.count >= settings.capacity { evictOldest() }
        let node = Node(key: key, target: target, lastUsed: now, prev: -1, next: -1)
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
