import Foundation
import Glibc
import XCTest

/// Disk full while running: the proxy keeps serving, the records that cannot be written
/// are dropped and counted (the count is logged), and the file stays intact. Needs a small
/// tmpfs of its own (mount privileges); skipped where it cannot mount one.
final class StoreE2EDiskFullTests: StoreE2ECase {
    func testDiskFullKeepsServingAndCountsDroppedRecords() throws {
        let dir = try mountSmallDisk()
        let db = dir + "/ccload.db"
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: channels)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        try waitForLoggedRows(db, 1)

        // Fill the filesystem to the last byte.
        let filler = fillDisk(dir)

        // The proxy keeps serving every request.
        var statuses: [Int: Int] = [:]
        for i in 0..<300 {
            let r = try ccload.post("/v1/messages", anthropicBody(stream: i % 3 == 0))
            statuses[r.status, default: 0] += 1
        }
        XCTAssertEqual(statuses, [200: 300], "the proxy stopped serving on a full disk")
        XCTAssertEqual(try ccload.waitForRecords(100).count, 100, "the in-memory records go on")
        // The dropped records are counted and reported (the check runs every 10 s).
        XCTAssertTrue(ccload.process.waitForOutput("request records dropped so far", timeout: 15),
                      "no dropped-records report within 15 s:\n\(ccload.process.stderrText)")
        XCTAssertTrue(ccload.process.isRunning, "ccload died on a full disk")

        // Room again: the writer carries on with new records, no restart needed.
        try FileManager.default.removeItem(atPath: filler)
        let before = try int(db, "SELECT count(*) FROM request_logs")
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertNoThrow(try waitForLoggedRows(db, before + 1), "the writer did not recover once the disk had room")
        stopGracefully(ccload)
        XCTAssertEqual(try rows(db, "PRAGMA integrity_check").compactMap { $0.first as? String }, ["ok"])
        let logged = try int(db, "SELECT count(*) FROM request_logs")
        XCTAssertLessThan(logged, 302, "more rows than requests")
        XCTAssertGreaterThanOrEqual(logged, 1, "the record written before the disk filled was lost")
    }
}
