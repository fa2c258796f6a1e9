/// A map of at most `capacity` entries that forgets the least recently used one to make
/// room: every read through `touch` and every write makes an entry the most recent. All
/// operations are O(1) (a dictionary into a doubly linked list kept in arrays). Not
/// thread-safe: its owner guards it.
struct LRUMap<Key: Hashable, Value> {
    let capacity: Int
    private var slots: [Key: Int] = [:]
    private var keys: [Key?] = []
    private var values: [Value?] = []
    private var prev: [Int] = []
    private var next: [Int] = []
    private var free: [Int] = []
    /// Most recent, least recent (-1 when empty).
    private var head = -1
    private var tail = -1

    init(capacity: Int) {
        precondition(capacity > 0, "an LRU map needs room for one entry")
        self.capacity = capacity
    }

    var count: Int { slots.count }

    /// The value for `key`, made the most recent.
    mutating func touch(_ key: Key) -> Value? {
        guard let i = slots[key] else { return nil }
        moveToFront(i)
        return values[i]
    }

    /// Stores `value` as the most recent; returns the key evicted to make room, if any.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value) -> Key? {
        if let i = slots[key] {
            values[i] = value
            moveToFront(i)
            return nil
        }
        var evicted: Key?
        if slots.count >= capacity, tail >= 0 {
            evicted = keys[tail]
            remove(at: tail)
        }
        let i: Int
        if let f = free.popLast() {
            i = f
            keys[i] = key
            values[i] = value
        } else {
            i = keys.count
            keys.append(key)
            values.append(value)
            prev.append(-1)
            next.append(-1)
        }
        slots[key] = i
        linkFront(i)
        return evicted
    }

    mutating func remove(_ key: Key) {
        if let i = slots[key] { remove(at: i) }
    }

    /// Keys from the most to the least recent (tests).
    var keysByRecency: [Key] {
        var out: [Key] = []
        var i = head
        while i >= 0 {
            out.append(keys[i]!)
            i = next[i]
        }
        return out
    }

    private mutating func remove(at i: Int) {
        unlink(i)
        slots[keys[i]!] = nil
        keys[i] = nil
        values[i] = nil
        free.append(i)
    }

    private mutating func moveToFront(_ i: Int) {
        guard head != i else { return }
        unlink(i)
        linkFront(i)
    }

    private mutating func linkFront(_ i: Int) {
        prev[i] = -1
        next[i] = head
        if head >= 0 { prev[head] = i }
        head = i
        if tail < 0 { tail = i }
    }

    private mutating func unlink(_ i: Int) {
        let p = prev[i], n = next[i]
        if p >= 0 { next[p] = n } else { head = n }
        if n >= 0 { prev[n] = p } else { tail = p }
        prev[i] = -1
        next[i] = -1
    }
}
