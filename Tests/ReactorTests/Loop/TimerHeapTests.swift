import Dispatch
import XCTest
@testable import Reactor

private final class Recorder: TimerTarget {
    var fired: [Int] = []
    func timerFired(_ timer: LoopTimer) { fired.append(timer.tag) }
}

private final class ElapsedTarget: TimerTarget, @unchecked Sendable {
    let done: XCTestExpectation
    var start: UInt64 = 0
    var elapsed: UInt64 = 0
    lazy var timer = LoopTimer(target: self)
    init(_ e: XCTestExpectation) { done = e }
    func timerFired(_ timer: LoopTimer) {
        elapsed = monotonicNanos() - start
        done.fulfill()
    }
}

/// A target that counts its firings (and its end) where the test can see them after it is gone.
private final class CountingTarget: TimerTarget, @unchecked Sendable {
    final class Tally: @unchecked Sendable {
        var fired = 0
        var ended = 0
    }
    let tally: Tally
    lazy var timer = LoopTimer(target: self)
    init(_ tally: Tally) { self.tally = tally }
    deinit { tally.ended += 1 }
    func timerFired(_ timer: LoopTimer) { tally.fired += 1 }
}

final class TimerHeapTests: XCTestCase {
    func testPopsInDeadlineOrderAfterUpdatesAndRemovals() {
        let r = Recorder()
        var heap = TimerHeap()
        var rng = SystemRandomNumberGenerator()
        let timers = (0..<500).map { LoopTimer(target: r, tag: $0) }
        var expected: [Int: UInt64] = [:]
        for t in timers {
            let d = UInt64.random(in: 1...1_000_000, using: &rng)
            heap.insertOrUpdate(t, deadline: d)
            expected[t.tag] = d
        }
        for t in timers where t.tag % 3 == 0 {
            let d = UInt64.random(in: 1...1_000_000, using: &rng)
            heap.insertOrUpdate(t, deadline: d)
            expected[t.tag] = d
        }
        for t in timers where t.tag % 3 == 1 {
            heap.remove(t)
            expected[t.tag] = nil
            XCTAssertFalse(t.isArmed)
        }
        var last: UInt64 = 0
        var popped = 0
        while let t = heap.popFirst() {
            XCTAssertGreaterThanOrEqual(t.deadline, last)
            XCTAssertEqual(expected[t.tag], t.deadline)
            last = t.deadline
            popped += 1
        }
        XCTAssertEqual(popped, expected.count)
    }

    func testLoopFiresTimersAndRunsSubmittedJobs() {
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let fired = expectation(description: "timer fired")
        let ran = expectation(description: "job ran")
        let target = ElapsedTarget(fired)
        group.start { _ in }
        loop.submit {
            ran.fulfill()
            target.start = monotonicNanos()
            loop.arm(target.timer, afterNanos: 20 * nanosPerMilli)
        }
        wait(for: [ran, fired], timeout: 5)
        XCTAssertGreaterThanOrEqual(target.elapsed, 20 * nanosPerMilli)
        group.stopAndJoin()
    }

    /// A timer's target that goes away while the timer is armed is never called (the loop
    /// holds the timer, not the target); one that stays is called.
    func testATimerWhoseTargetIsGoneDoesNotFire() {
        final class Seen: @unchecked Sendable {
            var keeper: CountingTarget?
            var keptFired = 0
            var goneFired = -1
            var goneEnded = -1
        }
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let gone = CountingTarget.Tally(), kept = CountingTarget.Tally()
        let seen = Seen()
        let armed = DispatchSemaphore(value: 0)
        group.start { _ in }
        loop.submit {
            let dropped = CountingTarget(gone)
            loop.arm(dropped.timer, afterNanos: 10 * nanosPerMilli)
            let held = CountingTarget(kept)
            loop.arm(held.timer, afterNanos: 10 * nanosPerMilli)
            seen.keeper = held
            armed.signal()
        }  // `dropped` ends here, its timer still armed
        XCTAssertEqual(armed.wait(timeout: .now() + 10), .success)
        let deadline = monotonicNanos() + 10 * nanosPerSecond
        while monotonicNanos() < deadline {
            let done = DispatchSemaphore(value: 0)
            loop.submit { seen.keptFired = kept.fired; done.signal() }
            _ = done.wait(timeout: .now() + 10)
            if seen.keptFired == 1 { break }
            usleep(5_000)
        }
        usleep(30_000)  // past the dropped one's deadline too
        let check = DispatchSemaphore(value: 0)
        loop.submit {
            seen.goneFired = gone.fired
            seen.goneEnded = gone.ended
            seen.keptFired = kept.fired
            seen.keeper = nil
            check.signal()
        }
        XCTAssertEqual(check.wait(timeout: .now() + 10), .success)
        group.stopAndJoin()
        XCTAssertEqual(seen.goneEnded, 1, "the dropped target was kept alive")
        XCTAssertEqual(seen.goneFired, 0, "a gone target's timer fired")
        XCTAssertEqual(seen.keptFired, 1)
        XCTAssertEqual(kept.ended, 1)
    }
}

/// `Loop.onTickEnd`: a hook runs after each round, so work gathered in a round (a job, a
/// timer) is handed on before the loop sleeps, and after the last round when it stops.
final class LoopTickEndTests: XCTestCase {
    final class Rounds: @unchecked Sendable {
        var gathered: [Int] = []
        var handedOn: [[Int]] = []
    }

    func testAHookSeesEachRoundsWorkBeforeTheLoopSleeps() {
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let rounds = Rounds()
        let registered = DispatchSemaphore(value: 0)
        group.start { _ in }
        loop.submit {
            loop.onTickEnd {
                if !rounds.gathered.isEmpty {
                    rounds.handedOn.append(rounds.gathered)
                    rounds.gathered.removeAll()
                }
            }
            registered.signal()
        }
        XCTAssertEqual(registered.wait(timeout: .now() + 10), .success)
        // Each job is its own round (the loop sleeps between them): handed on one by one.
        for i in 0..<3 {
            let done = DispatchSemaphore(value: 0)
            loop.submit { rounds.gathered.append(i) }
            loop.submit { done.signal() }
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
            usleep(5_000)
        }
        // A one-shot body at a round's end runs after the hooks (a barrier), and only once.
        final class Barrier: @unchecked Sendable { var seen: [[Int]] = []; var runs = 0 }
        let barrier = Barrier()
        let passed = DispatchSemaphore(value: 0)
        loop.submit {
            rounds.gathered.append(7)
            loop.atThisTickEnd {
                barrier.runs += 1
                barrier.seen = rounds.handedOn
                passed.signal()
            }
        }
        XCTAssertEqual(passed.wait(timeout: .now() + 10), .success)
        let after = DispatchSemaphore(value: 0)
        loop.submit { after.signal() }
        XCTAssertEqual(after.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(barrier.seen.last, [7], "the barrier ran before the round's work was handed on")
        XCTAssertEqual(barrier.runs, 1)
        // Work gathered in the last round before the loop stops is handed on too.
        loop.submit { rounds.gathered.append(99) }
        group.stopAndJoin()
        XCTAssertEqual(rounds.gathered, [], "work left behind when the loop stopped")
        XCTAssertEqual(rounds.handedOn.flatMap { $0 }, [0, 1, 2, 7, 99])
    }
}

final class FormatSecondsTests: XCTestCase {
    func testWholeAndFractionalSeconds() {
        XCTAssertEqual(formatSeconds(15 * nanosPerSecond), "15 s")
        XCTAssertEqual(formatSeconds(500 * nanosPerMilli), "0.5 s")
        XCTAssertEqual(formatSeconds(1_250 * nanosPerMilli), "1.25 s")
        XCTAssertEqual(formatSeconds(1_005 * nanosPerMilli), "1.005 s")
        XCTAssertEqual(formatSeconds(0), "0 s")
    }
}
