import Foundation
import Glibc
import XCTest

/// A cooldown outlives the process: saved at SIGTERM, restored at the next start, so the
/// restarted relay does not hammer the channel that was cooling.
final class StoreE2ECooldownTests: StoreE2ECase {
    func testCooldownSurvivesARestart() throws {
        let failing = try startMock(["--status", "500"])
        let healthy = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("failing", url: failing.url, priority: 10)])

        // Run 1: the only channel fails and cools.
        let first = try startOn(db: db, channelsFile: channels)
        let r = try first.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 500, r.bodyText)
        XCTAssertEqual(try failing.requests(), 1)
        XCTAssertFalse(try first.cooldowns().isEmpty, "the failing channel did not cool")
        stopGracefully(first)
        XCTAssertFalse(first.process.stderrText.contains("restored"), "nothing to restore on a new database")

        let failingID = try channelID(db, "failing")
        let saved = try rows(db, "SELECT scope, channel_id, until_ms, last_class FROM cooldowns")
        XCTAssertEqual(saved.count, 1, "one cooldown saved at SIGTERM: \(saved)")
        XCTAssertEqual(saved.first?[1] as? Int, failingID)
        let nowMs = Int(Date().timeIntervalSince1970 * 1000)
        XCTAssertGreaterThan(saved.first?[2] as? Int ?? 0, nowMs, "the saved cooldown already ended: \(saved)")

        // Run 2: same database, a healthy fallback added; the cooling channel is skipped.
        try writeChannelsFile([channel("failing", url: failing.url, priority: 10),
                               channel("healthy", url: healthy.url, priority: 1)], path: channels)
        let second = try startOn(db: db, channelsFile: channels)
        XCTAssertTrue(second.process.waitForOutput("restored 1 cooldowns"), "no restore line:\n\(second.process.stderrText)")
        XCTAssertEqual(try channelID(db, "failing"), failingID, "the channel kept its id across the restart")
        for _ in 0..<3 {
            let ok = try second.post("/v1/messages", anthropicBody(stream: true))
            assertCompleteAnthropicStream(ok)
        }
        XCTAssertEqual(try failing.requests(), 1, "the restarted relay sent requests to the cooling channel")
        XCTAssertEqual(try healthy.requests(), 3)
        let recs = try second.waitForRecords(3)
        XCTAssertEqual(recs.prefix(3).compactMap { ($0["attempts"] as? [Any])?.count }, [0, 0, 0],
                       "no failed attempt on the cooling channel first: \(recs.prefix(3))")
        let cools = try second.cooldowns()
        XCTAssertEqual(cools.count, 1, "\(cools)")
        XCTAssertGreaterThan(cools.first?["remaining_ms"] as? Int ?? 0, 0, "\(cools)")
        stopGracefully(second)
    }
}
