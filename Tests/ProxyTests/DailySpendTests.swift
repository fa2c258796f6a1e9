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
}
