import XCTest

@testable import Admin
@testable import Proxy

/// The log and stats views add the 5 min and 1 h cache writes; both come from upstream
/// usage (saturated at Int64.max in the store), so the sum saturates rather than trapping.
/// (Found by the hostile usage campaign: `/admin/stats` after two saturated writes.)
final class AdminQueriesViewTests: XCTestCase {
    func testLogViewCacheWritesSaturate() {
        var r = RequestRecord()
        r.cacheWrite5mTokens = Int.max
        r.cacheWrite1hTokens = Int.max
        let v = AdminQueries.LogView(LogEntry(id: 1, record: r), tokenNames: [:])
        XCTAssertEqual(v.cacheWriteTokens, Int.max)
        XCTAssertEqual(v.cacheWrite5mTokens, Int.max)
    }

    func testStatsViewCacheWritesSaturate() {
        var t = StatsTotals()
        t.cacheWrite5mTokens = Int64.max
        t.cacheWrite1hTokens = Int64.max - 1
        XCTAssertEqual(AdminQueries.StatsView(t).cacheWriteTokens, Int64.max)
        t.cacheWrite5mTokens = 5
        t.cacheWrite1hTokens = 7
        XCTAssertEqual(AdminQueries.StatsView(t).cacheWriteTokens, 12)
    }
}
