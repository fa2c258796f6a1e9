/// A dictionary keyed by an id ccload hands out itself (a token's, a channel's) or by a
/// value already drawn from a keyed hash: its keys are hashed with one multiply, not SipHash
/// (~130 instructions a lookup for an `Int` key, several lookups a request). SipHash is what
/// protects a table whose keys a client picks; no client picks these.
public struct IDMap<Value> {
    private var storage: [IDKey: Value] = [:]

    public init() {}

    public subscript(_ id: Int) -> Value? {
        get { storage[IDKey(id)] }
        set { storage[IDKey(id)] = newValue }
        _modify { yield &storage[IDKey(id)] }
    }

    public subscript(_ id: Int, default value: @autoclosure () -> Value) -> Value {
        get { storage[IDKey(id), default: value()] }
        _modify { yield &storage[IDKey(id), default: value()] }
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    public var keys: [Int] { storage.keys.map(\.raw) }

    public mutating func removeAll(keepingCapacity keep: Bool = false) {
        storage.removeAll(keepingCapacity: keep)
    }

    @discardableResult
    public mutating func removeValue(forKey id: Int) -> Value? {
        storage.removeValue(forKey: IDKey(id))
    }
}

extension IDMap: Sendable where Value: Sendable {}

/// `IDMap`'s key: an `Int` whose hash is a multiply by the golden ratio and a fold, mixed
/// with the table's per-instance seed.
struct IDKey: Hashable, Sendable {
    let raw: Int

    init(_ raw: Int) { self.raw = raw }

    func hash(into hasher: inout Hasher) { hasher.combine(raw) }

    func _rawHashValue(seed: Int) -> Int {
        let h = UInt64(truncatingIfNeeded: raw ^ seed) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
