import Foundation
import Glibc
import XCTest

/// Usage and CSV exports through the real binary: two users with two tokens each in their
/// own groups, requests through mock upstreams, each user seeing only their own usage and
/// log export (another's user or token id: 404), the admin seeing both, and the totals
/// matching what was sent. Then the request log export at its page boundaries and, for a
/// large log, in bounded memory.
final class AdminUsageTests: AdminDataCase {
    /// What users' sessions were answered (looked through for secrets and others' names).
    var userBodies: [String] = []

    func call(_ ccload: CcloadProcess, _ session: String, _ method: String, _ target: String, _ body: String? = nil,
              timeout: Double = 15) throws -> HTTPResponse {
        var s = "\(method) \(target) HTTP/1.1\r\nHost: ccload.test\r\nAuthorization: Bearer \(session)\r\n"
        if let body {
            s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            s += "\r\n"
        }
        let r = try ccload.request(s, timeout: timeout)
        userBodies.append(r.bodyText)
        return r
    }

    func sessionOf(_ ccload: CcloadProcess, _ username: String, _ password: String) throws -> String {
        let r = try ccload.post("/login", #"{"username":"\#(username)","password":"\#(password)"}"#, timeout: 15)
        guard r.status == 200, let t = r.json?["token"] as? String else { throw TestFailure("login \(username): \(r.bodyText)") }
        return t
    }

    /// A user's token: 201 and its id and secret.
    func userToken(_ ccload: CcloadProcess, _ session: String, _ body: String) throws -> (Int, String) {
        let r = try call(ccload, session, "POST", "/admin/tokens", body)
        _ = userBodies.popLast()  // the one answer that shows the secret
        XCTAssertEqual(r.status, 201, r.bodyText)
        guard let id = (r.json?["token"] as? [String: Any])?["id"] as? Int, let secret = r.json?["secret"] as? String else {
            throw TestFailure("no token in \(r.bodyText)")
        }
        return (id, secret)
    }

    /// `data` rows of a usage answer, by key: requests, input, output, cache read, 5m, 1h.
    func byKey(_ j: [String: Any]) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for row in j["data"] as? [[String: Any]] ?? [] {
            let k = row["key"] as? String ?? "?"
            let v = ["requests", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens"]
                .map { row[$0] as? Int ?? -1 }
            out[k] = zip(out[k] ?? [0, 0, 0, 0, 0, 0], v).map { $0 + $1 }
        }
        return out
    }

    /// Data lines of a CSV export (after the BOM and header), split into cells (no quoted commas in these).
    func csvRows(_ r: HTTPResponse) -> (header: [String], rows: [[String]]) {
        var text = r.bodyText
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let split = { (l: String) in l.components(separatedBy: ",") }
        return (lines.first.map(split) ?? [], lines.dropFirst().map(split))
    }

    func testTwoUsersSeeOnlyTheirOwnUsageAndExportsAndTheAdminSeesBoth() throws {
        let mocks = try (0..<2).map { _ in try startMock() }
        let (ccload, _) = try startRelay([channel("east", url: mocks[0].url), channel("west", url: mocks[1].url)])
        let channels = try adminOK(ccload, "GET", "/admin/channels")["data"] as? [[String: Any]] ?? []
        let east = try XCTUnwrap(channels.first { $0["name"] as? String == "east" }?["id"] as? Int)
        let west = try XCTUnwrap(channels.first { $0["name"] as? String == "west" }?["id"] as? Int)
        let g1 = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-east","channel_ids":[\#(east)]}"#, status: 201)["id"] as? Int)
        let g2 = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-west","channel_ids":[\#(west)]}"#, status: 201)["id"] as? Int)
        let alice = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/users",
                                              #"{"username":"alice","password":"alice-pass-1","allowed_group_ids":[\#(g1)]}"#, status: 201)["id"] as? Int)
        let bob = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/users",
                                            #"{"username":"bob","password":"bob-pass-12","allowed_group_ids":[\#(g2)]}"#, status: 201)["id"] as? Int)
        let sa = try sessionOf(ccload, "alice", "alice-pass-1")
        let sb = try sessionOf(ccload, "bob", "bob-pass-12")

        // The group check of users' tokens: a group they are not allowed is a 400 on
        // group_id, an allowed one a 201.
        let wrongGroup = try call(ccload, sa, "POST", "/admin/tokens", #"{"name":"a1","group_id":\#(g2)}"#)
        XCTAssertEqual(wrongGroup.status, 400, wrongGroup.bodyText)
        XCTAssertEqual((wrongGroup.json?["error"] as? [String: Any])?["field"] as? String, "group_id")
        let (a1, ta1) = try userToken(ccload, sa, #"{"name":"a1","group_id":\#(g1)}"#)
        // A name a spreadsheet would run as a formula.
        let (a2, ta2) = try userToken(ccload, sa, #"{"name":"=HYPERLINK(\"x\")","group_id":\#(g1)}"#)
        let (b1, tb1) = try userToken(ccload, sb, #"{"name":"b1","group_id":\#(g2)}"#)
        let (b2, tb2) = try userToken(ccload, sb, #"{"name":"b2","group_id":\#(g2)}"#)

        // Requests with distinct usage per user (the mock reports what the query asks).
        let aliceUsage = "input_tokens=100&output_tokens=10&cache_read=7&cache_write_5m=3&cache_write_1h=2"
        let bobUsage = "input_tokens=200&output_tokens=20&cache_read=11&cache_write_5m=5&cache_write_1h=1"
        let sent: [(String, String, Int)] = [(ta1, aliceUsage, 3), (ta2, aliceUsage, 2), (tb1, bobUsage, 4), (tb2, bobUsage, 1)]
        for (token, usage, n) in sent {
            for _ in 0..<n { XCTAssertEqual(try proxy(ccload, token: token, query: usage).status, 200) }
        }
        XCTAssertEqual(try mocks.map { try $0.requests() }, [5, 5], "each user's tokens reached only their group's channel")
        let logs = try waitForLogs(ccload, 10)
        let loggedCost = logs.reduce(0.0) { $0 + ($1["cost_usd"] as? Double ?? 0) }

        // The admin: both users, every token, both groups and channels, by day, hour and month.
        let byUser = try adminOK(ccload, "GET", "/admin/usage?by=user&period=day")
        XCTAssertEqual(byKey(byUser), [String(alice): [5, 500, 50, 35, 15, 10], String(bob): [5, 1000, 100, 55, 25, 5]])
        let names = Dictionary(uniqueKeysWithValues: (byUser["data"] as? [[String: Any]] ?? []).map { ($0["key"] as? String ?? "", $0["name"] as? String ?? "") })
        XCTAssertEqual(names, [String(alice): "alice", String(bob): "bob"])
        let totals = try XCTUnwrap(byUser["totals"] as? [String: Any])
        XCTAssertEqual(totals["requests"] as? Int, 10)
        XCTAssertEqual(totals["input_tokens"] as? Int, 1500)
        XCTAssertEqual(totals["cache_write_1h_tokens"] as? Int, 15)
        XCTAssertEqual(try XCTUnwrap(totals["cost_usd"] as? Double), loggedCost, accuracy: 1e-9)
        XCTAssertGreaterThan(loggedCost, 0, "the model is priced")
        XCTAssertNotNil(byUser["time_zone"] as? String)
        XCTAssertEqual(byKey(try adminOK(ccload, "GET", "/admin/usage?by=token&period=hour")).mapValues { $0[0] },
                       [String(a1): 3, String(a2): 2, String(b1): 4, String(b2): 1])
        XCTAssertEqual(byKey(try adminOK(ccload, "GET", "/admin/usage?by=group&period=month")).mapValues { $0[0] },
                       [String(g1): 5, String(g2): 5])
        XCTAssertEqual(byKey(try adminOK(ccload, "GET", "/admin/usage?by=channel")).mapValues { $0[0] }, [String(east): 5, String(west): 5])
        XCTAssertEqual(byKey(try adminOK(ccload, "GET", "/admin/usage?by=model")).mapValues { $0[0] }, [RelayCase.model: 10])
        XCTAssertEqual(byKey(try adminOK(ccload, "GET", "/admin/usage?by=channel&user_id=\(bob)")).mapValues { $0[0] }, [String(west): 5])
        let stats = try adminOK(ccload, "GET", "/admin/stats?by=group")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(stats.compactMap { $0["name"] as? String }), ["team-east", "team-west"])

        // Each user: only their own, whatever they group by.
        for (s, me, other, mine, theirs, want) in [(sa, alice, bob, [a1, a2], [b1, b2], [5, 500, 50, 35, 15, 10]),
                                                   (sb, bob, alice, [b1, b2], [a1, a2], [5, 1000, 100, 55, 25, 5])] {
            let u = try call(ccload, s, "GET", "/admin/usage?by=user&period=day")
            XCTAssertEqual(u.status, 200, u.bodyText)
            XCTAssertEqual(byKey(u.json ?? [:]), [String(me): want])
            let t = try call(ccload, s, "GET", "/admin/usage?by=token&period=hour")
            XCTAssertEqual(Set(byKey(t.json ?? [:]).keys), Set(mine.map(String.init)))
            for by in ["channel", "group", "model"] {
                let r = try call(ccload, s, "GET", "/admin/usage?by=\(by)&period=month")
                XCTAssertEqual(r.status, 200, r.bodyText)
                XCTAssertEqual(byKey(r.json ?? [:]).values.map { $0[0] }.reduce(0, +), 5, "\(by)")
            }
            // Another user's user or token id: 404, never 200.
            XCTAssertEqual(try call(ccload, s, "GET", "/admin/usage?user_id=\(other)").status, 404)
            XCTAssertEqual(try call(ccload, s, "GET", "/admin/usage?token_id=\(theirs[0])").status, 404)
            XCTAssertEqual(try call(ccload, s, "GET", "/admin/usage.csv?token_id=\(theirs[1])").status, 404)
            XCTAssertEqual(try call(ccload, s, "GET", "/admin/logs.csv?token_id=\(theirs[0])").status, 404)
            XCTAssertEqual(try call(ccload, s, "GET", "/admin/logs.csv?user_id=\(other)").status, 404)
            let own = try call(ccload, s, "GET", "/admin/usage?by=token&token_id=\(mine[0])&user_id=\(me)")
            XCTAssertEqual(own.status, 200, own.bodyText)
            XCTAssertEqual(byKey(own.json ?? [:]).keys.sorted(), [String(mine[0])])

            // Their log export: their rows only.
            let csv = try call(ccload, s, "GET", "/admin/logs.csv")
            XCTAssertEqual(csv.status, 200, csv.bodyText)
            XCTAssertEqual(csv.header("content-type"), "text/csv; charset=utf-8")
            XCTAssertTrue(csv.chunked && csv.complete)
            let (header, rows) = csvRows(csv)
            let userCol = try XCTUnwrap(header.firstIndex(of: "user_id"))
            let tokenCol = try XCTUnwrap(header.firstIndex(of: "token_id"))
            XCTAssertEqual(rows.count, 5)
            XCTAssertTrue(rows.allSatisfy { $0[userCol] == String(me) })
            XCTAssertEqual(Set(rows.map { Int($0[tokenCol]) ?? 0 }), Set(mine))
            // Their usage export.
            let ucsv = try call(ccload, s, "GET", "/admin/usage.csv?by=token&period=day")
            XCTAssertEqual(ucsv.status, 200, ucsv.bodyText)
            let (uh, urows) = csvRows(ucsv)
            XCTAssertEqual(uh.first, "bucket")
            let keyCol = try XCTUnwrap(uh.firstIndex(of: "key")), reqCol = try XCTUnwrap(uh.firstIndex(of: "requests"))
            XCTAssertEqual(Set(urows.map { Int($0[keyCol]) ?? 0 }), Set(mine))
            XCTAssertEqual(urows.reduce(0) { $0 + (Int($1[reqCol]) ?? 0) }, 5)
        }
        // Alice's token named as a formula is exported as text.
        let aliceCSV = try call(ccload, sa, "GET", "/admin/logs.csv").bodyText
        XCTAssertTrue(aliceCSV.contains("'=HYPERLINK"), aliceCSV.prefix(600).description)
        XCTAssertFalse(aliceCSV.contains(",=HYPERLINK"))
        // No user saw the other's name, and nobody a channel key.
        for body in userBodies {
            XCTAssertFalse(body.contains("sk-secret-"), "a channel key in a user's answer")
        }
        let aliceAnswers = try [call(ccload, sa, "GET", "/admin/usage?by=user"), call(ccload, sa, "GET", "/admin/usage.csv?by=user"),
                                call(ccload, sa, "GET", "/admin/logs.csv")]
        for r in aliceAnswers { XCTAssertFalse(r.bodyText.contains("bob"), r.bodyText) }

        // The admin's export holds both; its filters are the log's.
        let all = csvRows(try admin(ccload, "GET", "/admin/logs.csv"))
        XCTAssertEqual(all.rows.count, 10)
        XCTAssertEqual(csvRows(try admin(ccload, "GET", "/admin/logs.csv?user_id=\(bob)")).rows.count, 5)
        XCTAssertEqual(csvRows(try admin(ccload, "GET", "/admin/logs.csv?token_id=\(b1)")).rows.count, 4)
        XCTAssertEqual(csvRows(try admin(ccload, "GET", "/admin/logs.csv?channel_id=\(east)")).rows.count, 5)
        let costCol = try XCTUnwrap(all.header.firstIndex(of: "cost_usd"))
        XCTAssertEqual(all.rows.reduce(0.0) { $0 + (Double($1[costCol]) ?? 0) }, loggedCost, accuracy: 1e-9)
        let usageCSV = csvRows(try admin(ccload, "GET", "/admin/usage.csv?by=user&period=month"))
        XCTAssertEqual(usageCSV.rows.count, 2)

        // Bad input names the field.
        try assertBadField(ccload, "GET", "/admin/usage?by=key", field: "by")
        try assertBadField(ccload, "GET", "/admin/usage?period=week", field: "period")
        try assertBadField(ccload, "GET", "/admin/usage?period=hour&from_ms=0&to_ms=\(31 * 86_400_000 + 1)", field: "from_ms")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/usage?period=hour&from_ms=0&to_ms=\(31 * 86_400_000)").status, 200)
        try assertBadField(ccload, "GET", "/admin/logs.csv?status_class=6xx", field: "status_class")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/usage", auth: .none).status, 401)
        XCTAssertEqual(try admin(ccload, "GET", "/admin/logs.csv", auth: .none).status, 401)
        assertNoSecrets(ccload, [ta1, ta2, tb1, tb2])
    }

    /// Inserts `count` log rows straight into the database (ids after what is there), each
    /// with a `padding`-byte user agent.
    func insertLogRows(_ db: String, _ count: Int, padding: Int = 10) throws {
        try sql(db, ["""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(count))
            INSERT INTO request_logs(request_id, time_ms, protocol, path, requested_model, upstream_model, stream, status, attempts,
                duration_us, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
                usage_known, cost_micro, priced, client_address, user_agent)
            SELECT i, 1700000000000 + (SELECT COALESCE(MAX(id), 0) FROM request_logs) + i, 'anthropic', '/v1/messages', 'm', 'm', 0, 200, '[]', 1000, 1, 1, 0, 0, 0, 1, 1, 1,
                '127.0.0.1', printf('%.\(padding)c', 'u') FROM n
            """])
    }

    func testLogExportAtItsPageBoundaries() throws {
        let db = tempDatabase()
        let mock = try startMock()
        let file = try writeChannelsFile([channel("a", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: file)
        _ = try ccload.adminToken()
        // Pages are 500 rows: 499, 500, 501, 1000 and 1001 rows all come out whole.
        var have = 0
        for want in [499, 500, 501, 1000, 1001] {
            try insertLogRows(db, want - have)
            have = want
            let r = try admin(ccload, "GET", "/admin/logs.csv", timeout: 30)
            XCTAssertEqual(r.status, 200)
            XCTAssertTrue(r.complete, "\(want)")
            let (_, rows) = csvRows(r)
            XCTAssertEqual(rows.count, want)
            XCTAssertEqual(Set(rows.map { $0[0] }).count, want, "no row twice")
        }
        // Filters and a start point apply to the export too.
        XCTAssertEqual(csvRows(try admin(ccload, "GET", "/admin/logs.csv?before_id=101")).rows.count, 100)
        XCTAssertEqual(csvRows(try admin(ccload, "GET", "/admin/logs.csv?from_ms=1700000000901")).rows.count, 101)
    }

    /// Resident set size high-water mark of a process, in KiB.
    func peakRSS(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") else {
            throw TestFailure("no VmHWM in /proc/\(pid)/status")
        }
        return kb
    }

    /// One export over HTTP/1.0 (the body runs until close). The client waits a second
    /// before reading, so the export must stop at the write queue's high-water mark and go
    /// on as it drains. Returns the body's size and line count.
    func export(_ ccload: CcloadProcess, _ target: String) throws -> (bytes: Int, lines: Int) {
        let c = try ccload.connect()
        try c.send("GET \(target) HTTP/1.0\r\nHost: ccload.test\r\nAuthorization: Bearer \(try ccload.adminToken())\r\n\r\n")
        usleep(1_000_000)
        XCTAssertTrue(c.readUntilClose(timeout: 120), "the export did not end")
        let all = c.takeBuffer()
        guard let headEnd = all.rangeOf([13, 10, 13, 10])?.upperBound else { throw TestFailure("no head") }
        XCTAssertTrue(String(decoding: all[..<headEnd], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        let body = all[headEnd...]
        let lines = body.withContiguousStorageIfAvailable { p in p.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } } ?? -1
        return (body.count, lines)
    }

    func testALargeLogExportsInBoundedMemory() throws {
        let db = tempDatabase()
        let mock = try startMock()
        let file = try writeChannelsFile([channel("a", url: mock.url)])
        // 30,001 rows of 2 KB: a 64 MB export (60 pages and one row).
        let count = 30_001
        let ccload0 = try startOn(db: db, channelsFile: file)
        _ = try ccload0.adminToken()
        stopGracefully(ccload0)
        try insertLogRows(db, count, padding: 2000)
        // Under ASan (`.ci/run` sets CCLOAD_TEST_ASAN=1) freed memory is quarantined, 256 MB
        // by default: the peak would grow by what the export allocates and frees, bounded
        // or not. Without the quarantine, memory freed is reused, as without ASan.
        var extra: [String: String] = [:]
        if HostileCase.memoryScale > 1 {
            let base = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] ?? ""
            extra["ASAN_OPTIONS"] = (base.isEmpty ? "" : base + ":") + "quarantine_size_mb=0"
        }
        let ccload = try startOn(db: db, channelsFile: file, extra)
        _ = try ccload.adminToken()
        // A quarter of the log first, then all of it: with memory bounded by a page, the
        // whole log's export needs no more than the quarter's did (a held export would need
        // about its size again; the difference does not depend on a sanitizer's overhead).
        let quarter = try export(ccload, "/admin/logs.csv?before_id=\(count / 4 + 1)")
        XCTAssertEqual(quarter.lines, count / 4 + 1)
        let afterQuarter = try peakRSS(ccload.process.pid)
        let whole = try export(ccload, "/admin/logs.csv")
        XCTAssertGreaterThan(whole.bytes, count * 2000)
        XCTAssertEqual(whole.lines, count + 1, "the header and every row")
        let grown = try peakRSS(ccload.process.pid) - afterQuarter
        print("log export: \(quarter.bytes) then \(whole.bytes) bytes of CSV; peak RSS \(afterQuarter) KiB after the first, grew \(grown) KiB in the second")
        XCTAssertLessThan(grown * 1024, (whole.bytes - quarter.bytes) / 4,
                          "peak memory grew by \(grown) KiB exporting \(whole.bytes / 1_000_000) MB")
    }
}
