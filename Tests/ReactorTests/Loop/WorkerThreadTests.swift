import Glibc
import XCTest
@testable import Reactor

/// The one worker-thread type (and the job queue its pools keep in their state): order,
/// drain on close, timed wake-ups, demand-driven growth, and no lost wake-ups (this suite
/// is also run under the thread sanitizer).
final class WorkerThreadTests: XCTestCase {
    /// A queue of numbered jobs and what ran, in order.
    struct Jobs {
        var queue = JobQueue<Int>()
        var ran: [Int] = []
        var gate = false
        /// Threads that took their `.exit` step.
        var ended = 0
    }

    /// The queue's step, counting ends.
    static func serve(_ s: inout Jobs) -> WorkerStep<Int> {
        let step = s.queue.nextStep()
        if case .exit = step { s.ended += 1 }
        return step
    }

    /// Polls `cond` (under the worker's lock) until it holds or `seconds` pass.
    func eventually<S>(_ w: WorkerThread<S>, _ seconds: Double = 60, _ cond: (S) -> Bool) -> Bool {
        eventually(seconds) { w.withLock { cond($0) } }
    }

    func eventually(_ seconds: Double = 60, _ cond: () -> Bool) -> Bool {
        let end = monotonicNanos() + UInt64(seconds * 1e9)
        while monotonicNanos() < end {
            if cond() { return true }
            usleep(1_000)
        }
        return false
    }

    func startServing(_ w: WorkerThread<Jobs>, detached: Bool = false) -> Bool {
        w.start(detached: detached, next: { Self.serve(&$0) }, perform: { n in w.withLock { $0.ran.append(n) } })
    }

    func testJobQueueIsFirstInFirstOutAndRefusesOnceClosed() {
        var q = JobQueue<Int>()
        XCTAssertTrue(q.isEmpty)
        for i in 0..<5 { XCTAssertTrue(q.append(i)) }
        XCTAssertEqual(q.popFirst(), 0)
        XCTAssertEqual(q.popFirst(), 1)
        XCTAssertEqual(q.count, 3)
        // Emptied and refilled: the storage is reused, the order kept.
        XCTAssertEqual(q.popFirst(), 2)
        XCTAssertEqual(q.popFirst(), 3)
        XCTAssertEqual(q.popFirst(), 4)
        XCTAssertNil(q.popFirst())
        XCTAssertTrue(q.append(7))
        XCTAssertTrue(q.append(8))
        guard case .run(7) = q.nextStep() else { return XCTFail("the oldest job runs first") }
        q.close()
        XCTAssertTrue(q.isClosed)
        XCTAssertFalse(q.append(9), "a closed queue takes no more jobs")
        XCTAssertEqual(q.count, 1)
        guard case .run(8) = q.nextStep() else { return XCTFail("a closed queue still drains") }
        guard case .exit = q.nextStep() else { return XCTFail("closed and empty: the thread ends") }
        var open = JobQueue<Int>()
        guard case .wait(until: nil) = open.nextStep() else { return XCTFail("open and empty: the thread sleeps") }
    }

    func testOneThreadRunsJobsInOrder() {
        let w = WorkerThread(Jobs())
        XCTAssertTrue(startServing(w))
        for i in 0..<2_000 {
            XCTAssertTrue(w.withLock { $0.queue.append(i) })
            w.wakeOne()
        }
        XCTAssertTrue(eventually(w) { $0.ran.count == 2_000 })
        XCTAssertEqual(w.withLock { $0.ran }, Array(0..<2_000))
        w.withLock { $0.queue.close() }
        w.wakeAll()
        w.join()
        XCTAssertEqual(w.threadCount, 0)
    }

    func testCloseDrainsWhatIsQueuedThenJoinEndsEveryThread() {
        // The first job holds its thread until the gate opens, so the rest stay queued.
        let w = WorkerThread(Jobs())
        for _ in 0..<3 {
            XCTAssertTrue(w.start(next: { $0.queue.nextStep() }, perform: { n in
                if n == 0 { while !w.withLock({ $0.gate }) { usleep(500) } }
                w.withLock { $0.ran.append(n) }
            }))
        }
        XCTAssertEqual(w.threadCount, 3)
        for i in 0..<100 { w.withLock { _ = $0.queue.append(i) } }
        w.wakeAll()
        w.withLock { s in
            s.queue.close()
            s.gate = true
        }
        XCTAssertFalse(w.withLock { $0.queue.append(100) }, "closed: no more jobs")
        w.wakeAll()
        w.join()
        XCTAssertEqual(w.threadCount, 0, "every thread ended")
        XCTAssertEqual(w.withLock { $0.ran.sorted() }, Array(0..<100), "every queued job ran, none twice, the refused one never")
        w.join()  // a second join has nothing to wait for
    }

    func testATimedWaitWakesAtItsDeadlineWithoutAWakeUp() {
        struct Timer { var deadline: UInt64 = 0; var woke: UInt64 = 0; var passes = 0 }
        let w = WorkerThread(Timer())
        let started = monotonicNanos()
        w.withLock { $0.deadline = started + 50 * nanosPerMilli }
        XCTAssertTrue(w.start(next: { s -> WorkerStep<Void> in
            s.passes += 1
            let now = monotonicNanos()
            if now < s.deadline { return .wait(until: s.deadline) }
            s.woke = now
            return .exit
        }, perform: { _ in }))
        // Nobody wakes it: only its deadline can.
        XCTAssertTrue(eventually(w) { $0.woke != 0 })
        w.join()
        let woke = w.withLock { $0.woke }
        XCTAssertGreaterThanOrEqual(woke, started + 50 * nanosPerMilli, "it does not run before its deadline")
        XCTAssertGreaterThanOrEqual(w.withLock { $0.passes }, 2, "it slept at least once")
        XCTAssertLessThan(w.withLock { $0.passes }, 100, "it slept until its deadline, it did not spin")
    }

    func testADeadlineInThePastReturnsAtOnce() {
        struct Count { var passes = 0 }
        let w = WorkerThread(Count())
        XCTAssertTrue(w.start(next: { s -> WorkerStep<Void> in
            s.passes += 1
            return s.passes < 4 ? .wait(until: 0) : .exit
        }, perform: { _ in }))
        XCTAssertTrue(eventually(w, 30) { $0.passes == 4 })
        w.join()
        XCTAssertEqual(w.threadCount, 0)
    }

    func testWaitUntilReturnsWhenAWorkerStepMakesItTrue() {
        let w = WorkerThread(Jobs())
        XCTAssertTrue(startServing(w))
        // Already true: returns at once, with no worker involved.
        w.waitUntil { $0.ran.isEmpty }
        for i in 0..<50 { w.withLock { _ = $0.queue.append(i) } }
        w.wakeOne()
        w.waitUntil { $0.ran.count == 50 }
        XCTAssertEqual(w.withLock { $0.ran }, Array(0..<50))
        w.withLock { $0.queue.close() }
        w.wakeAll()
        // A thread's end (no job run, no sleep) also wakes the waiters.
        w.waitUntil { $0.ended == 1 }
        w.join()
        XCTAssertEqual(w.threadCount, 0)
    }

    func testAPoolGrowsOnlyWhenNoThreadSleepsAndNeverPastItsLimit() {
        let w = WorkerThread(Jobs())
        func grow() -> Bool {
            w.startIfNoneSleeping(limit: 2, next: { Self.serve(&$0) }, perform: { n in
                while !w.withLock({ $0.gate }) { usleep(500) }
                w.withLock { $0.ran.append(n) }
            })
        }
        XCTAssertTrue(grow(), "none running: one starts")
        XCTAssertTrue(eventually { w.sleepingCount == 1 }, "with nothing queued it sleeps")
        XCTAssertFalse(grow(), "one is asleep: it takes the next job instead")
        XCTAssertEqual(w.threadCount, 1)
        // Both busy (held at the gate): the second start fills the limit, a third is refused.
        w.withLock { _ = $0.queue.append(0) }
        w.wakeOne()
        XCTAssertTrue(eventually { w.withLock { $0.queue.isEmpty } && w.sleepingCount == 0 })
        XCTAssertTrue(grow())
        w.withLock { _ = $0.queue.append(1) }
        w.wakeOne()
        XCTAssertTrue(eventually(w) { $0.queue.isEmpty })
        XCTAssertFalse(grow(), "at the limit")
        XCTAssertEqual(w.threadCount, 2)
        w.withLock { s in
            s.gate = true
            s.queue.close()
        }
        w.wakeAll()
        XCTAssertTrue(eventually(w) { $0.ran.count == 2 })
        XCTAssertTrue(eventually(w) { $0.ended == 2 }, "detached threads end when the queue closes")
        XCTAssertTrue(eventually { w.threadCount == 0 })
        XCTAssertEqual(w.withLock { $0.ran.sorted() }, [0, 1])
    }

    /// Producers on several threads, two workers that sleep whenever the queue runs dry:
    /// a wake-up lost between a worker's last look and its sleep would strand jobs (and
    /// the thread sanitizer checks the hand-offs).
    func testNoWakeUpIsLostUnderContention() {
        let w = WorkerThread(Jobs())
        XCTAssertTrue(startServing(w))
        XCTAssertTrue(startServing(w))
        let producers = 4, each = 2_000
        var threads: [pthread_t] = []
        for p in 0..<producers {
            let box = Unmanaged.passRetained(Producer {
                for i in 0..<each {
                    w.withLock { _ = $0.queue.append(p * each + i) }
                    w.wakeOne()
                    if i % 64 == 0 { sched_yield() }
                }
            })
            var tid = pthread_t()
            XCTAssertEqual(pthread_create(&tid, nil, { arg in
                Unmanaged<Producer>.fromOpaque(arg!).takeRetainedValue().body()
                return nil
            }, box.toOpaque()), 0)
            threads.append(tid)
        }
        for t in threads { pthread_join(t, nil) }
        XCTAssertTrue(eventually(w) { $0.ran.count == producers * each }, "every job ran: no worker slept through one")
        XCTAssertEqual(Set(w.withLock { $0.ran }).count, producers * each)
        w.withLock { $0.queue.close() }
        w.wakeAll()
        w.join()
        XCTAssertEqual(w.threadCount, 0)
    }
}

private final class Producer: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
