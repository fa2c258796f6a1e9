import XCTest
@testable import Reactor

/// Durations and deadlines near the end of the clock saturate instead of trapping or
/// wrapping around into the past.
final class ClockArithmeticTests: XCTestCase {
    func testFormatSecondsTakesAnyValue() {
        XCTAssertEqual(formatSeconds(0), "0 s")
        XCTAssertEqual(formatSeconds(15 * nanosPerSecond), "15 s")
        XCTAssertEqual(formatSeconds(250 * nanosPerMilli), "0.25 s")
        XCTAssertEqual(formatSeconds(nanosPerMilli / 2), "0.001 s")
        XCTAssertEqual(formatSeconds(nanosPerMilli / 2 - 1), "0 s")
        // The rounding used to add half a millisecond and trap here.
        XCTAssertEqual(formatSeconds(UInt64.max), "18446744073.709 s")
        XCTAssertEqual(formatSeconds(UInt64.max - nanosPerMilli / 2 + 1), "18446744073.709 s")
    }

    func testDeadlinesSaturateAtTheEndOfTheClock() {
        XCTAssertEqual(Loop.deadline(now: 10, after: 5), 15)
        XCTAssertEqual(Loop.deadline(now: 10, after: UInt64.max), UInt64.max, "wrapped to 9: already due")
        XCTAssertEqual(Loop.deadline(now: UInt64.max - 1, after: 2), UInt64.max)
        XCTAssertEqual(Loop.deadline(now: UInt64.max, after: 0), UInt64.max)
    }

    func testTheEpollWaitForAnyDeadline() {
        XCTAssertEqual(Loop.waitMillis(until: 100, now: 100), 0)
        XCTAssertEqual(Loop.waitMillis(until: 100, now: 200), 0)
        XCTAssertEqual(Loop.waitMillis(until: 1, now: 0), 1, "rounded up, never a busy 0")
        XCTAssertEqual(Loop.waitMillis(until: 3 * nanosPerMilli, now: 0), 3)
        XCTAssertEqual(Loop.waitMillis(until: 120 * nanosPerSecond, now: 0), 60_000)
        // `deadline - now + nanosPerMilli - 1` used to trap for these.
        XCTAssertEqual(Loop.waitMillis(until: UInt64.max, now: 0), 60_000)
        XCTAssertEqual(Loop.waitMillis(until: UInt64.max, now: UInt64.max - 1), 1)
    }

    /// A timer armed a whole clock ahead does not fire (it wrapped to a deadline in the past);
    /// one armed shortly after it still does, so the loop did run past that time.
    func testATimerArmedForeverAheadNeverFires() {
        final class Target: TimerTarget, @unchecked Sendable {
            var fired = 0
            let done: XCTestExpectation?
            init(_ done: XCTestExpectation?) { self.done = done }
            func timerFired(_ timer: LoopTimer) { fired += 1; done?.fulfill() }
        }
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let later = expectation(description: "the 30 ms timer fired")
        let forever = Target(nil), soon = Target(later)
        let far = LoopTimer(target: forever), near = LoopTimer(target: soon)
        group.start { _ in }
        loop.submit {
            loop.arm(far, afterNanos: UInt64.max)
            loop.arm(near, afterNanos: 30 * nanosPerMilli)
        }
        wait(for: [later], timeout: 10)
        let checked = expectation(description: "checked on the loop")
        loop.submit {
            XCTAssertEqual(far.deadline, UInt64.max)
            XCTAssertEqual(forever.fired, 0, "a timer armed UInt64.max ahead fired")
            loop.disarm(far)
            checked.fulfill()
        }
        wait(for: [checked], timeout: 10)
        group.stopAndJoin()
    }
}
