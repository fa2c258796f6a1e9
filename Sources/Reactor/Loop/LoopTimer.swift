import Glibc
/// Something that owns timers on a loop and hears when one fires.
public protocol TimerTarget: AnyObject {
    func timerFired(_ timer: LoopTimer)
}

/// A reusable timer slot owned by one connection. Arm, re-arm and disarm are
/// O(log n) on the loop's heap; the node stores its own heap index so removal
/// needs no search. Owned by one loop: touch only from that loop's thread. It is armed and
/// disarmed only through `Loop.arm`/`Loop.disarm`, which assert the loop.
///
/// Its target keeps it (a stored property), and nothing else does but the loop's heap while
/// it is armed. So a timer the heap alone still holds belongs to a target that is gone, and
/// the loop drops it unfired (`Loop.fireTimers`). That is what lets the timer refer to its
/// target without a weak reference: a weak reference gives the target a side table, which
/// makes every retain and release of it (a connection, a request, per event) take the
/// runtime's slow path.
public final class LoopTimer: @unchecked Sendable {
    public internal(set) var deadline: UInt64 = 0
    unowned(unsafe) let target: TimerTarget
    #if DEBUG
    /// Debug builds check the rule above: a timer fired for a target that is gone means
    /// something other than its target kept it.
    weak var checkedTarget: TimerTarget?
    #endif
    /// Position in the loop's heap, or -1 when not armed.
    var heapIndex: Int = -1
    /// A free tag the owner can use to tell its timers apart.
    public let tag: Int

    public init(target: TimerTarget, tag: Int = 0) {
        self.target = target
        self.tag = tag
        #if DEBUG
        checkedTarget = target
        #endif
    }

    public var isArmed: Bool { heapIndex >= 0 }
}

/// Binary min-heap of armed timers keyed by deadline.
struct TimerHeap {
    private(set) var items = ContiguousArray<LoopTimer>()

    var isEmpty: Bool { items.isEmpty }
    var first: LoopTimer? { items.first }

    mutating func insertOrUpdate(_ t: LoopTimer, deadline: UInt64) {
        if t.heapIndex >= 0 {
            let old = t.deadline
            t.deadline = deadline
            if deadline < old { siftUp(t.heapIndex) } else { siftDown(t.heapIndex) }
            return
        }
        t.deadline = deadline
        t.heapIndex = items.count
        items.append(t)
        siftUp(items.count - 1)
    }

    mutating func remove(_ t: LoopTimer) {
        let i = t.heapIndex
        guard i >= 0, i < items.count, items[i] === t else { return }
        let last = items.count - 1
        if i != last {
            items.swapAt(i, last)
            items[i].heapIndex = i
        }
        items.removeLast()
        t.heapIndex = -1
        if i < items.count {
            siftDown(i)
            siftUp(i)
        }
    }

    mutating func popFirst() -> LoopTimer? {
        guard let t = items.first else { return nil }
        remove(t)
        return t
    }

    // The sifts work on the heap's buffer in place: indexing the array of class references
    // retains and releases each timer it reads, several times per arm on the request path.

    private mutating func siftUp(_ start: Int) {
        items.withUnsafeMutableBufferPointer { h in
            var i = start
            while i > 0 {
                let parent = (i - 1) >> 1
                if h[parent].deadline <= h[i].deadline { break }
                h.swapAt(parent, i)
                h[parent].heapIndex = parent
                h[i].heapIndex = i
                i = parent
            }
        }
    }

    private mutating func siftDown(_ start: Int) {
        items.withUnsafeMutableBufferPointer { h in
            var i = start
            let n = h.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                let r = l + 1
                if r < n && h[r].deadline < h[l].deadline { m = r }
                if h[i].deadline <= h[m].deadline { break }
                h.swapAt(i, m)
                h[i].heapIndex = i
                h[m].heapIndex = m
                i = m
            }
        }
    }
}
