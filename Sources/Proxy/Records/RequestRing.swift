import Reactor

/// The most recent request records in memory, newest last, shared by all loops. The
/// lock is held to copy one record in or a page out.
public final class RequestRing: Sendable {
    private struct State {
        var items: [RequestRecord] = []
        var start = 0
        var nextID: UInt64 = 1
    }

    public let capacity: Int
    private let state: Lock<State>

    public init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
        state = Lock(State())
    }

    /// Stores a copy of `record`, giving both the next id (the caller's copy goes on to the
    /// store's writer; one copy in the ring, where two were made before).
    public func append(_ record: inout RequestRecord) {
        state.withLock { s in
            record.id = s.nextID
            s.nextID += 1
            if s.items.count < capacity {
                s.items.append(record)
            } else {
                s.items[s.start] = record
                s.start = (s.start + 1) % capacity
            }
        }
    }

    /// Up to `limit` records, newest first, with ids below `beforeID` when given.
    public func page(limit: Int, beforeID: UInt64? = nil) -> [RequestRecord] {
        state.withLock { s in
            var out: [RequestRecord] = []
            let n = s.items.count
            var i = 0
            while i < n && out.count < limit {
                let r = s.items[(s.start + n - 1 - i) % n]
                if beforeID.map({ r.id < $0 }) ?? true { out.append(r) }
                i += 1
            }
            return out
        }
    }

    public var count: Int { state.withLock { $0.items.count } }
}
