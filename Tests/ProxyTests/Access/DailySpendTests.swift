import XCTest
@testable import Proxy
import Synchronization

final class DailySpendTests: XCTestCase {
    func testAddsPerChannelAndStartsOverAtUTCMidnight() {
        let clock = Atomic<UInt64>(86_400_000 * 20_000 + 1000)  // some day, just after midnight
        let spend = DailySpend(clock: { clock.load(ordering: .relaxed) })
        spend.add(channelID: 1, microUSD: 1_500_000)
        spend.add(channelID: 1, microUSD: 250_000)
        spend.add(channelID: 2, microUSD: 10)
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 1.75, accuracy: 1e-9)
        XCTAssertEqual(spend.todayCostUSD(channelID: 2), 0.00001, accuracy: 1e-12)
        XCTAssertEqual(spend.todayCostUSD(channelID: 3), 0)
        clock.store(86_400_000 * 20_001 - 1, ordering: .relaxed)  // last millisecond of the day
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 1.75, accuracy: 1e-9)
        clock.store(86_400_000 * 20_001, ordering: .relaxed)  // next day
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0)
    }

    /// A try's estimate counts against the daily limit while it is in flight, across midnight
    /// too, until it is given back; what it cost counts after.
    func testReservationsCountUntilReleased() {
        let clock = Atomic<UInt64>(86_400_000 * 20_000 + 1000)
        let spend = DailySpend(clock: { clock.load(ordering: .relaxed) })
        spend.reserve(channelID: 1, microUSD: 300_000)
        spend.reserve(channelID: 1, microUSD: 200_000)
        spend.reserve(channelID: 2, microUSD: -5)
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0.5, accuracy: 1e-9)
        XCTAssertEqual(spend.todayCostUSD(channelID: 2), 0)
        clock.store(86_400_000 * 20_001, ordering: .relaxed)  // next day: spend starts over, reservations stay
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0.5, accuracy: 1e-9)
        spend.release(channelID: 1, microUSD: 300_000)
        spend.add(channelID: 1, microUSD: 250_000)
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0.45, accuracy: 1e-9)
        spend.release(channelID: 1, microUSD: 999_999)  // more than held: nothing negative
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), 0.25, accuracy: 1e-9)
        spend.reserve(channelID: 3, microUSD: Int.max)
        spend.reserve(channelID: 3, microUSD: Int.max)
        spend.add(channelID: 3, microUSD: Int.max)
        XCTAssertEqual(spend.todayCostUSD(channelID: 3), Double(Int.max) / 1_000_000)
    }
}
