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
    init(_ e: XCTestExpectation) { done = e }
    func timerFired(_ timer: LoopTimer) {
        elapsed = monotonicNanos() - start
        done.fulfill()
    }
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
            let t = LoopTimer(target: target)
            target.start = monotonicNanos()
            loop.arm(t, afterNanos: 20 * nanosPerMilli)
        }
        wait(for: [ran, fired], timeout: 5)
        XCTAssertGreaterThanOrEqual(target.elapsed, 20 * nanosPerMilli)
        group.stopAndJoin()
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
        // Work gathered in the last round before the loop stops is handed on too.
        loop.submit { rounds.gathered.append(99) }
        group.stopAndJoin()
        XCTAssertEqual(rounds.gathered, [], "work left behind when the loop stopped")
        XCTAssertEqual(rounds.handedOn.flatMap { $0 }, [0, 1, 2, 99])
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
