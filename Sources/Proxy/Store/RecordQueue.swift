/// The writer's bounded queue of request records: a ring that starts small and doubles
/// (up to `capacity`) only when a burst needs it, so an idle writer does not hold 65,536
/// empty slots. Kept in the writer's guarded state.
struct RecordQueue {
    let capacity: Int
    private var ring: ContiguousArray<RequestRecord?>
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        ring = ContiguousArray(repeating: nil, count: min(self.capacity, 1024))
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == capacity }

    /// Adds `record` at the tail; false (not kept) when the queue is full.
    mutating func append(_ record: consuming RequestRecord) -> Bool {
        if count == capacity { return false }
        if count == ring.count { grow() }
        var tail = head + count
        if tail >= ring.count { tail -= ring.count }
        ring[tail] = record
        count += 1
        return true
    }

    /// Moves the oldest `n` records (at most `count`) to the end of `batch`.
    mutating func take(_ n: Int, into batch: inout [RequestRecord]) {
        for _ in 0..<min(n, count) {
            batch.append(ring[head].take()!)
            head += 1
            if head == ring.count { head = 0 }
            count -= 1
        }
    }

    /// Puts `batch` back in front of the queue, in its order (a batch whose write is to be
    /// tried again). When newer records came meanwhile and not all of it fits, the batch's
    /// oldest records are the ones not kept; returns how many.
    mutating func putBack(_ batch: inout [RequestRecord]) -> Int {
        let room = capacity - count
        let lost = max(0, batch.count - room)
        var k = batch.count - 1
        while k >= lost {
            if count == ring.count { grow() }
            head -= 1
            if head < 0 { head += ring.count }
            ring[head] = batch[k]
            count += 1
            k -= 1
        }
        batch.removeAll(keepingCapacity: true)
        return lost
    }

    /// Doubles the ring (up to `capacity`). Rare: a burst beyond anything seen before.
    private mutating func grow() {
        let size = min(capacity, max(ring.count * 2, 1))
        var bigger = ContiguousArray<RequestRecord?>(repeating: nil, count: size)
        var i = head
        for k in 0..<count {
            swap(&bigger[k], &ring[i])
            i += 1
            if i == ring.count { i = 0 }
        }
        ring = bigger
        head = 0
    }
}
