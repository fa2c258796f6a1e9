import Foundation
import XCTest

@testable import Proxy

/// The daily counters reset at local midnight of `CCLOAD_TZ` (here Asia/Shanghai, UTC+8:
/// 16:00 UTC), with an injected clock: a millisecond before the boundary is still the old
/// day, the boundary itself the new one; the job keeps its last run and outcome.
final class DailyResetTests: XCTestCase {
    /// 2026-12-01T16:00:00Z, midnight in Shanghai.
    let boundary = UInt64(ISO8601DateFormatter().date(from: "2026-12-01T16:00:00Z")!.timeIntervalSince1970 * 1000)

    func token() -> ClientToken {
        var t = ClientToken(id: 7, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        t.dailyCostCapMicroUSD = 1000
        return t
    }

    func testATokensDailyCapResetsAtLocalMidnight() throws {
        let shanghai = try LocalCalendar.named("Asia/Shanghai")
        let meters = TokenMeters(calendar: shanghai)
        let before = boundary - 1
        XCTAssertNil(meters.admit(token(), model: "m", nowMillis: before - 3_600_000))
        meters.finish(tokenID: 7, costMicroUSD: 1000, nowMillis: before - 3_600_000)
        let refused = meters.admit(token(), model: "m", nowMillis: before)
        XCTAssertEqual(refused?.status, 429, "1 ms before local midnight: the same day, the cap holds")
        XCTAssertEqual(refused?.retryAfterSeconds, 1, "1 ms to wait, rounded up to a second")
        XCTAssertTrue(refused?.message.contains("00:00 Asia/Shanghai") == true, refused?.message ?? "")
        XCTAssertNil(meters.admit(token(), model: "m", nowMillis: boundary), "at local midnight the day's spend starts again")
        // In UTC the same instants are one day (the reset is 8 hours later there).
        let utc = TokenMeters()
        XCTAssertNil(utc.admit(token(), model: "m", nowMillis: before - 3_600_000))
        utc.finish(tokenID: 7, costMicroUSD: 1000, nowMillis: before - 3_600_000)
        XCTAssertEqual(utc.admit(token(), model: "m", nowMillis: boundary)?.status, 429)
        XCTAssertEqual(utc.admit(token(), model: "m", nowMillis: boundary)?.retryAfterSeconds, 8 * 3600)
    }

    func testTheJobResetsEveryDailyCounterOnceADayAndKeepsItsOutcome() throws {
        let shanghai = try LocalCalendar.named("Asia/Shanghai")
        let meters = TokenMeters(calendar: shanghai)
        let clock = ManualClock(boundary - 7_200_000)
        let spend = DailySpend(calendar: shanghai, clock: { clock.now })
        let job = DailyReset(calendar: shanghai, meters: meters, spend: spend, nowMillis: clock.now)
        XCTAssertNil(job.status.lastRunMillis, "no run before the first midnight")
        XCTAssertEqual(job.status.nextRunMillis, boundary)
        XCTAssertNil(meters.admit(token(), model: "m", nowMillis: clock.now))
        meters.finish(tokenID: 7, costMicroUSD: 600, nowMillis: clock.now)
        spend.add(channelID: 3, microUSD: 2_000_000)
        XCTAssertEqual(spend.todayCostUSD(channelID: 3), 2)

        clock.now = boundary - 1
        XCTAssertFalse(job.tick(nowMillis: clock.now), "not yet")
        XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: clock.now).today, 600)
        XCTAssertEqual(spend.todayCostUSD(channelID: 3), 2)

        clock.now = boundary
        XCTAssertTrue(job.tick(nowMillis: clock.now))
        XCTAssertFalse(job.tick(nowMillis: clock.now + 10_000), "once per day")
        XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: clock.now).today, 0)
        XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: clock.now).total, 600, "totals are not daily")
        XCTAssertEqual(spend.todayCostUSD(channelID: 3), 0)
        let s = job.status
        XCTAssertEqual(s.name, "daily_reset")
        XCTAssertEqual(s.lastRunMillis, boundary)
        XCTAssertEqual(s.outcome, "ok")
        XCTAssertEqual(s.runs, 1)
        XCTAssertEqual(s.nextRunMillis, boundary + 86_400_000)
        XCTAssertEqual(s.detail, "daily counters reset for 2026-12-02 (Asia/Shanghai): 1 token(s), 1 channel(s) had spent today")

        // A day skipped (the process was asleep): one run catches up.
        clock.now = boundary + 3 * 86_400_000 + 5
        XCTAssertTrue(job.tick(nowMillis: clock.now))
        XCTAssertEqual(job.status.runs, 2)
        XCTAssertEqual(job.status.nextRunMillis, boundary + 4 * 86_400_000)
    }

    func testAChannelsDailySpendRollsAtLocalMidnightWithoutTheJob() throws {
        let shanghai = try LocalCalendar.named("Asia/Shanghai")
        let clock = ManualClock(boundary - 1)
        let spend = DailySpend(calendar: shanghai, clock: { clock.now })
        spend.add(channelID: 1, microUSD: 500_000)
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0.5)
        clock.now = boundary
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0, "the counter rolls at the boundary by itself")
    }
}

/// A wall clock a test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64
    init(_ start: UInt64) { value = start }
    var now: UInt64 {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
