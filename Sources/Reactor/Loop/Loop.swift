import Glibc
import CEpoll
import Synchronization

/// Receives readiness events for one registered file descriptor.
public protocol LoopHandler: AnyObject {
    func handleEvents(_ events: UInt32)
}

/// epoll interest bits, as plain UInt32 (glibc's enum imports need `.rawValue`).
public enum Interest {
    public static let read = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    public static let write = EPOLLOUT.rawValue
    public static let readWrite = read | write
    public static let none: UInt32 = 0
    public static let errorOrHangup = EPOLLERR.rawValue | EPOLLHUP.rawValue
    public static let readHangup = EPOLLRDHUP.rawValue
    public static let readable = EPOLLIN.rawValue
    public static let writable = EPOLLOUT.rawValue
}

/// One event loop: an epoll fd, an eventfd for cross-thread wake-ups, a timer heap
/// and one reusable read buffer. Level-triggered, with `EPOLLOUT` registered only
/// while a write is pending: a handler that does not drain a socket in one go is
/// called again on the next tick, which keeps one busy connection from starving the
/// others, and idle writable sockets cost nothing.
///
/// Owner: the thread that calls `run()`. Every method except `submit` must be called
/// on that thread.
public final class Loop: @unchecked Sendable {
    public typealias Job = @Sendable () -> Void

    private struct Slot {
        var handler: LoopHandler?
        var generation: UInt32
    }

    public let index: Int
    private let epfd: Int32
    private let wakeFd: Int32
    private var slots = ContiguousArray<Slot>()
    private var generation: UInt32 = 1
    private var timers = TimerHeap()
    private let jobs = Lock<[Job]>([])
    private let wakeRequested = Atomic<Bool>(false)
    private var stopRequested = false
    /// Run after each round of events and timers (`onTickEnd`), then the one-shot ones.
    private var tickEndHooks: [() -> Void] = []
    private var tickEndOnce: [() -> Void] = []
    /// The thread inside `run()` (a `pthread_t`), 0 when the loop is not running.
    private let ownerThread = Atomic<UInt>(0)
    private static let wakeData: UInt64 = UInt64.max

    /// The loop's one read buffer, reused by every connection on it.
    public let readBuffer: UnsafeMutableRawBufferPointer
    /// Cached monotonic time, refreshed once per tick.
    public private(set) var now: UInt64 = monotonicNanos()

    public init(index: Int = 0, readBufferSize: Int = 64 * 1024) {
        self.index = index
        epfd = cc_epoll_create()
        precondition(epfd >= 0, "epoll_create1 failed: errno \(cc_errno())")
        wakeFd = cc_eventfd()
        precondition(wakeFd >= 0, "eventfd failed: errno \(cc_errno())")
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        _ = cc_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFd, EPOLLIN.rawValue, Loop.wakeData)
    }

    deinit {
        readBuffer.deallocate()
        _ = Glibc.close(epfd)
        _ = Glibc.close(wakeFd)
    }

    /// The one check that a loop-owned object is touched on its loop: every entry point of
    /// a loop-owned class (its owner comment names the loop) calls it first. Debug builds
    /// trap when the calling thread is not the one running this loop; release builds
    /// compile it away. Before `run()` starts and after it returns, whoever holds the loop
    /// owns it (set-up and tear-down), so nothing is checked then.
    @inline(__always)
    public func assertOnLoop(file: StaticString = #fileID, line: UInt = #line) {
        #if DEBUG
        let owner = ownerThread.load(ordering: .relaxed)
        if owner != 0 && pthread_equal(pthread_t(owner), pthread_self()) == 0 {
            assertionFailure("touched off its loop (loop \(index))", file: file, line: line)
        }
        #endif
    }

    // MARK: registration

    /// Registers `fd` for `events`. The registration id packed into epoll's data
    /// (generation << 32 | fd) keeps a recycled fd from receiving a stale event.
    public func register(_ fd: Int32, _ handler: LoopHandler, _ events: UInt32) {
        assertOnLoop()
        let i = Int(fd)
        if i >= slots.count {
            slots.append(contentsOf: repeatElement(Slot(handler: nil, generation: 0), count: i + 1 - slots.count + 64))
        }
        generation &+= 1
        if generation == 0 { generation = 1 }
        slots[i] = Slot(handler: handler, generation: generation)
        let rc = cc_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, events, UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd)))
        precondition(rc == 0, "epoll_ctl ADD failed: errno \(cc_errno())")
    }

    public func modify(_ fd: Int32, _ events: UInt32) {
        assertOnLoop()
        let i = Int(fd)
        let data = UInt64(slots[i].generation) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = cc_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, events, data)
    }

    /// Removes `fd`; call before closing it.
    public func deregister(_ fd: Int32) {
        assertOnLoop()
        let i = Int(fd)
        guard i < slots.count else { return }
        _ = cc_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0)
        slots[i] = Slot(handler: nil, generation: 0)
    }

    // MARK: timers

    public func arm(_ timer: LoopTimer, at deadline: UInt64) {
        assertOnLoop()
        timers.insertOrUpdate(timer, deadline: deadline)
    }

    /// A delay past the end of the clock arms the timer at `UInt64.max` (never), not at a
    /// wrapped-around deadline in the past.
    public func arm(_ timer: LoopTimer, afterNanos delay: UInt64) {
        assertOnLoop()
        timers.insertOrUpdate(timer, deadline: Loop.deadline(now: now, after: delay))
    }

    /// The epoll wait for a timer due at `deadline`: 0 when due, else the milliseconds to it
    /// rounded up (any deadline up to `UInt64.max`), at most a minute.
    static func waitMillis(until deadline: UInt64, now: UInt64) -> Int32 {
        guard deadline > now else { return 0 }
        let wait = deadline - now
        let ms = wait / nanosPerMilli + (wait % nanosPerMilli == 0 ? 0 : 1)
        return Int32(min(ms, 60_000))
    }

    /// `now + after`, saturating at `UInt64.max`.
    @inline(__always)
    static func deadline(now: UInt64, after: UInt64) -> UInt64 {
        let (d, over) = now.addingReportingOverflow(after)
        return over ? UInt64.max : d
    }

    public func disarm(_ timer: LoopTimer) {
        assertOnLoop()
        timers.remove(timer)
    }

    // MARK: cross-thread

    /// Runs `job` on this loop's thread. Safe from any thread. The eventfd is written
    /// at most once until the loop drains its queue.
    public func submit(_ job: @escaping Job) {
        jobs.withLock { $0.append(job) }
        if !wakeRequested.exchange(true, ordering: .acquiringAndReleasing) {
            var one: UInt64 = 1
            _ = withUnsafeBytes(of: &one) { Glibc.write(wakeFd, $0.baseAddress, 8) }
        }
    }

    /// Asks the loop to return from `run()` after the current tick. Safe from any thread.
    public func stop() {
        submit { [unowned self] in self.stopRequested = true }
    }

    /// Runs `hook` on this loop after every round of events and timers, before it waits for
    /// events again (and after the last round when it stops): for work gathered during a
    /// round and handed on once (the request records to the store's writer). On the loop.
    public func onTickEnd(_ hook: @escaping () -> Void) {
        assertOnLoop()
        tickEndHooks.append(hook)
    }

    /// Runs `body` once, at the end of this round, after the `onTickEnd` hooks: a barrier
    /// (whatever the hooks hand on for this round has been handed on). On the loop.
    public func atThisTickEnd(_ body: @escaping () -> Void) {
        assertOnLoop()
        tickEndOnce.append(body)
    }

    // MARK: running

    public func run() {
        ownerThread.store(UInt(pthread_self()), ordering: .relaxed)
        let maxEvents = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        defer {
            events.deallocate()
            ownerThread.store(0, ordering: .relaxed)
        }
        while !stopRequested {
            now = monotonicNanos()
            let timeout = timers.first.map { Loop.waitMillis(until: $0.deadline, now: now) } ?? -1
            let n = epoll_wait(epfd, events, Int32(maxEvents), timeout)
            now = monotonicNanos()
            if n < 0 {
                if cc_errno() == EINTR { continue }
                fatalError("epoll_wait failed: errno \(cc_errno())")
            }
            for k in 0..<Int(n) {
                let data = cc_epoll_event_data(events + k)
                let ev = cc_epoll_event_events(events + k)
                if data == Loop.wakeData {
                    drainJobs()
                    continue
                }
                let fd = Int(UInt32(truncatingIfNeeded: data))
                let gen = UInt32(truncatingIfNeeded: data >> 32)
                guard fd < slots.count, slots[fd].generation == gen, let h = slots[fd].handler else { continue }
                h.handleEvents(ev)
            }
            fireTimers()
            for hook in tickEndHooks { hook() }
            if !tickEndOnce.isEmpty {
                let once = tickEndOnce
                tickEndOnce.removeAll()
                for body in once { body() }
            }
        }
    }

    private func drainJobs() {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { Glibc.read(wakeFd, $0.baseAddress, 8) }
        wakeRequested.store(false, ordering: .releasing)
        let batch = jobs.withLock { q -> [Job] in
            let b = q
            q.removeAll(keepingCapacity: true)
            return b
        }
        for job in batch { job() }
    }

    private func fireTimers() {
        while var t = timers.first, t.deadline <= now {
            timers.remove(t)
            // Held by nothing but this local: its target (which keeps it) is gone.
            if isKnownUniquelyReferenced(&t) { continue }
            #if DEBUG
            precondition(t.checkedTarget != nil, "a LoopTimer outlived its target: only its target may keep it")
            #endif
            t.target.timerFired(t)
        }
    }
}
