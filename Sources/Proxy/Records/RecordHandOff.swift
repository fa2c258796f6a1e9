import Reactor

/// One loop's request records for the store's writer, gathered over a loop round and handed
/// on under the writer's lock once, when the round ends (`Loop.onTickEnd`), so a loop takes
/// that lock once per round rather than once per request.
///
/// Its own object, which the loop's hook holds (not the handler): the hook then needs no
/// weak reference, and makes no cycle. Owner: one loop.
final class RecordHandOff {
    private let writer: StoreWriter
    private var pending: [RequestRecord] = []
    private var hooked = false

    init(writer: StoreWriter) { self.writer = writer }

    /// Queues `record` for the end of this round (on `loop`).
    func add(_ record: consuming RequestRecord, on loop: Loop) {
        pending.append(record)
        if !hooked {
            hooked = true
            loop.onTickEnd { [self] in handOff() }
        }
    }

    private func handOff() {
        if pending.isEmpty { return }
        writer.enqueue(movingFrom: &pending)
    }
}
