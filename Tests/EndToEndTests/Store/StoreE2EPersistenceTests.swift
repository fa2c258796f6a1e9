import Foundation
import Glibc
import XCTest

/// What reaches the database file: every request's record after a clean stop, the hourly
/// statistics that go with them, CCLOAD_AUTH seeds (hashes only), and nothing with
/// CCLOAD_REQUEST_LOG=0.
final class StoreE2EPersistenceTests: StoreE2ECase {
    /// The writer's counters in `/admin/metrics`.
    func writerCounters(_ ccload: CcloadProcess) throws -> [String: Any] {
        guard let w = try ccload.adminJSON("/admin/metrics")["request_log_writer"] as? [String: Any] else {
            throw TestFailure("no request_log_writer in /admin/metrics")
        }
        return w
    }

    /// CCLOAD_REQUEST_LOG_PACKING=always packs every batch (a relay this test cannot make
    /// busy packs only full ones): the log search finds the rows while and after they are
    /// moved, the metrics count the packed batches, and a clean stop leaves every row in
    /// request_logs. `never` packs none.
    func testPackedBatchesReachTheLogSearchAndTheTable() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: channels, ["CCLOAD_REQUEST_LOG_PACKING": "always"])
        for i in 0..<6 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: i % 2 == 0)).status, 200)
        }
        var logged: [[String: Any]] = []
        var writer: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(10)
        repeat {
            logged = try ccload.adminJSON("/admin/logs?limit=100")["data"] as? [[String: Any]] ?? []
            writer = try writerCounters(ccload)
            if logged.count >= 6 && writer["pending_rows"] as? Int == 0 { break }
            usleep(20_000)
        } while Date() < deadline
        XCTAssertEqual(logged.count, 6, "\(logged)")
        XCTAssertEqual(Set(logged.compactMap { $0["status"] as? Int }), [200])
        XCTAssertGreaterThanOrEqual(writer["packed_batches"] as? Int ?? 0, 1, "\(writer)")
        XCTAssertGreaterThanOrEqual(writer["moved_segments"] as? Int ?? 0, 1, "\(writer)")
        XCTAssertEqual(writer["pending_rows"] as? Int, 0, "\(writer)")
        stopGracefully(ccload)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), 6)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_log_pending"), 0)
        XCTAssertEqual(try int(db, "SELECT sum(requests) FROM stats_hourly"), 6)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs WHERE id BETWEEN 1 AND 6"), 6, "ids 1 to 6, none skipped")

        let again = try startOn(db: db, channelsFile: channels, ["CCLOAD_REQUEST_LOG_PACKING": "never"])
        XCTAssertEqual(try again.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        _ = try again.waitForRecords(1)
        _ = try waitForLoggedRows(db, 7)
        XCTAssertEqual(try writerCounters(again)["packed_batches"] as? Int, 0)
        stopGracefully(again)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), 7)
    }

    func testCleanStopWritesEveryRecordWithStatusesTokensAndChannels() throws {
        let good = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("good", url: good.url, priority: 5, ["models": [RelayCase.model]])])
        let ccload = try startOn(db: db, channelsFile: channels)

        // Successes with distinct usage, streamed and not; upstream 400s that pass through;
        // a model no channel serves (503, no channel).
        let inputs = [11, 22, 33, 44, 55, 66]
        for (i, n) in inputs.enumerated() {
            let r = try ccload.post("/v1/messages", anthropicBody(stream: i % 2 == 0),
                                    headers: ["x-mock-input-tokens: \(n)", "x-mock-output-tokens: \(n + 1)"])
            XCTAssertEqual(r.status, 200, r.bodyText)
        }
        for _ in 0..<2 {
            let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-mock-status: 400"])
            XCTAssertEqual(r.status, 400, r.bodyText)
        }
        for _ in 0..<2 {
            let r = try ccload.post("/v1/messages", anthropicBody(model: "no-such-model-x", stream: false),
                                    headers: ["x-mock-input-tokens: 999"])
            XCTAssertEqual(r.status, 503, r.bodyText)
        }
        XCTAssertEqual(try good.requests(), 8)
        let n = inputs.count + 4
        _ = try ccload.waitForRecords(n)
        stopGracefully(ccload)

        let goodID = try channelID(db, "good")
        XCTAssertGreaterThan(goodID, 0)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), n, "one row per request after a clean stop")
        let byStatus = try rows(db, "SELECT status, count(*), ifnull(channel_id, -1) FROM request_logs GROUP BY status, channel_id ORDER BY status")
        XCTAssertEqual(byStatus.map { "\($0[0])x\($0[1])@\($0[2])" }, ["200x6@\(goodID)", "400x2@\(goodID)", "503x2@-1"])
        let success = try rows(db, "SELECT input_tokens, output_tokens, usage_known, stream, requested_model, path FROM request_logs WHERE status = 200 ORDER BY id")
        XCTAssertEqual(success.compactMap { $0[0] as? Int }, inputs)
        XCTAssertEqual(success.compactMap { $0[1] as? Int }, inputs.map { $0 + 1 })
        XCTAssertEqual(success.compactMap { $0[2] as? Int }, Array(repeating: 1, count: 6))
        XCTAssertEqual(success.compactMap { $0[3] as? Int }, [1, 0, 1, 0, 1, 0])
        XCTAssertEqual(Set(success.compactMap { $0[4] as? String }), [RelayCase.model])
        XCTAssertEqual(Set(success.compactMap { $0[5] as? String }), ["/v1/messages"])
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs WHERE status = 503 AND input_tokens = 0 AND error IS NOT NULL"), 2,
                       "the 503s carry their reason and no usage")

        // The hourly statistics add up to the same as the rows.
        let sums = try rows(db, "SELECT sum(requests), sum(successes), sum(errors_4xx), sum(errors_5xx), sum(input_tokens), sum(output_tokens) FROM stats_hourly")[0]
        let logSums = try rows(db, """
            SELECT count(*), sum(status = 200), sum(status BETWEEN 400 AND 499), sum(status >= 500),
                   sum(input_tokens), sum(output_tokens) FROM request_logs
            """)[0]
        XCTAssertEqual(sums.compactMap { $0 as? Int }, [n, 6, 2, 2, inputs.reduce(0, +), inputs.reduce(0, +) + 6])
        XCTAssertEqual(sums.compactMap { $0 as? Int }, logSums.compactMap { $0 as? Int })
        let perChannel = try int(db, "SELECT sum(requests) FROM stats_hourly WHERE channel_id = \(goodID)")
        XCTAssertEqual(perChannel, 8, "the channel's hourly rows count its 8 requests")
    }

    func testAuthSeedsAreIdempotentAndOnlyHashesAreStored() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let s1 = "ccl-seed-first-Zq81xk2Lw9Tt", s2 = "ccl-seed-second-Pf73nb5Rr0Yy", s3 = "ccl-seed-third-Hc62vd4Mm1Uu"

        var ids: [Int] = []
        for (run, auth) in [[s1, s2], [s1, s2], [s2, s1, s3]].enumerated() {
            let ccload = try startOn(db: db, channelsFile: channels, auth: auth)
            let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: \(s1)"])
            XCTAssertEqual(r.status, 200, "run \(run): \(r.bodyText)")
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: ccl-seed-unknown"]).status, 401)
            let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
            ids.append(rec["token_id"] as? Int ?? -1)
            stopGracefully(ccload)
            let log = ccload.process.stderrText
            for s in [s1, s2, s3] { XCTAssertFalse(log.contains(s), "a client secret in ccload's log (run \(run)):\n\(log)") }
            let expected = run < 2 ? 2 : 3
            XCTAssertEqual(try int(db, "SELECT count(*) FROM auth_tokens"), expected, "run \(run): one row per secret")
        }
        XCTAssertEqual(Set(ids).count, 1, "the same token id across restarts: \(ids)")
        for s in [s1, s2, s3] {
            XCTAssertEqual(try int(db, "SELECT count(*) FROM auth_tokens WHERE hash = sha256('\(s)')"), 1, "the hash of a seed is stored once")
        }
        XCTAssertEqual(try int(db, "SELECT count(*) FROM auth_tokens WHERE length(hash) = 32"), 3)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs WHERE token_id = \(ids[0])"), 3, "s1's requests are logged against its id")
        // Not a byte of any secret in the files (the display prefix is its first 8 characters only).
        let bytes = databaseBytes(db)
        XCTAssertGreaterThan(bytes.count, 0)
        for s in [s1, s2, s3] {
            XCTAssertNil(bytes.range(of: Data(s.utf8)), "secret stored in the database file")
            XCTAssertNil(bytes.range(of: Data(s.dropFirst(8).utf8)), "the secret's tail stored in the database file")
        }
    }

    func testRequestLogOffKeepsRecordsInMemoryOnly() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: channels, ["CCLOAD_REQUEST_LOG": "0"])
        for i in 0..<4 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: i % 2 == 1)).status, 200)
        }
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-mock-status: 400"]).status, 400)
        let recs = try ccload.waitForRecords(5)
        XCTAssertEqual(recs.count, 5, "the ring shows every request")
        XCTAssertEqual(recs.compactMap { $0["status"] as? Int }.sorted(), [200, 200, 200, 200, 400])
        stopGracefully(ccload)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), 0, "CCLOAD_REQUEST_LOG=0 wrote request rows")
        // The database itself is in use (channels seeded), so the zero is not an empty file's.
        XCTAssertEqual(try int(db, "SELECT count(*) FROM channels WHERE name = 'main'"), 1)

        // Control: the same database with logging switched on writes them. (An explicit
        // CCLOAD_REQUEST_LOG is stored as the log_request_records setting, so it is given again.)
        let again = try startOn(db: db, channelsFile: channels, ["CCLOAD_REQUEST_LOG": "1"])
        XCTAssertEqual(try again.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        _ = try again.waitForRecords(1)
        stopGracefully(again)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), 1)
    }
}

/// SIGHUP re-applies the channels file on top of the database: a known name is updated in
/// place (same id), a new one is added, and what it wrote is what a restart routes by.
final class StoreE2EReloadTests: StoreE2ECase {
    func testSIGHUPUpdatesTheStoredChannels() throws {
        let a = try startMock(), b = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: a.url)])
        let ccload = try startOn(db: db, channelsFile: channels)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try a.requests(), 1)
        let mainID = try channelID(db, "main")

        try writeChannelsFile([channel("main", url: b.url, priority: 5), channel("extra", url: a.url, priority: 1)], path: channels)
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(ccload.process.waitForOutput("SIGHUP: 2 channels loaded", timeout: 5), ccload.process.stderrText)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try b.requests(), 1, "the reloaded channel's new URL is not used")
        XCTAssertEqual(try a.requests(), 1)
        XCTAssertEqual(try channelID(db, "main"), mainID, "an update in place keeps the id")
        XCTAssertEqual(try int(db, "SELECT count(*) FROM channels"), 2)
        let urls = try rows(db, "SELECT urls FROM channels WHERE name = 'main'").first?.first as? String ?? ""
        XCTAssertTrue(urls.contains(":\(b.port)"), "stored urls: \(urls)")
        stopGracefully(ccload)

        // A bad file on SIGHUP changes nothing, in memory or in the database.
        let again = try startOn(db: db, channelsFile: channels)
        try Data("[{\"name\": \"broken\"".utf8).write(to: URL(fileURLWithPath: channels))
        again.process.signal(SIGHUP)
        XCTAssertTrue(again.process.waitForOutput("the running channels stay", timeout: 5), again.process.stderrText)
        XCTAssertEqual(try again.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try b.requests(), 2)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM channels"), 2)
        stopGracefully(again)
    }
}
