import Glibc
import Reactor
import XCTest

@testable import Proxy

/// Usage per user, token, channel, group and model: the writer's `user` and `group`
/// rollups, the request log's owner and group, the query's two sources (rollups for
/// everything, the request log for one user or token) agreeing, and the row cap.
final class UsageTests: StoreTestCase {
    let base: UInt64 = 1_700_000_000_000 / 3_600_000 * 3_600_000

    /// 240 records over 4 hours: user i%3 (0 = none), group i%2+1 (i%5 == 0: none), token
    /// 10 + i%6, channel i%4+1, model a/b; cost i, input 100 each.
    func writeRecords() {
        for i in 0..<240 {
            var r = StoreTest.record(i, time: base + UInt64(i) * 60_000, channel: i % 4 + 1, model: i % 2 == 0 ? "a" : "b",
                                     token: 10 + i % 6, cost: Int64(i))
            r.userID = i % 3 == 0 ? nil : i % 3
            r.groupID = i % 5 == 0 ? nil : i % 2 + 1
            store.writer.enqueue(r)
        }
        store.writer.flush()
    }

    func sums(_ rows: [UsageRow]) -> [String: (requests: Int64, cost: Int64)] {
        var out: [String: (Int64, Int64)] = [:]
        for r in rows {
            let o = out[r.key] ?? (0, 0)
            out[r.key] = (o.0 + r.totals.requests, o.1 + r.totals.costMicroUSD)
        }
        return out
    }

    func testWriterRollsUpByUserAndGroupAndTheLogKeepsThem() throws {
        writeRecords()
        let want = { (key: (Int) -> String) -> [String: (Int64, Int64)] in
            var w: [String: (Int64, Int64)] = [:]
            for i in 0..<240 {
                let o = w[key(i)] ?? (0, 0)
                w[key(i)] = (o.0 + 1, o.1 + Int64(i))
            }
            return w
        }
        try store.read { r in
            for (by, key) in [(StatsGrouping.user, { (i: Int) in String(i % 3) }),
                              (.group, { i in i % 5 == 0 ? "0" : String(i % 2 + 1) }),
                              (.token, { i in String(10 + i % 6) }), (.channel, { i in String(i % 4 + 1) }),
                              (.model, { i in i % 2 == 0 ? "a" : "b" })] {
                let rows = try r.usage(UsageQuery(by: by, period: .hour, fromMillis: base, toMillis: base + 4 * 3_600_000),
                                       calendar: .utc)
                let got = sums(rows)
                let w = want(key)
                XCTAssertEqual(got.count, w.count, "\(by)")
                for (k, v) in w {
                    XCTAssertEqual(got[k]?.requests, v.0, "\(by) \(k) requests")
                    XCTAssertEqual(got[k]?.cost, v.1, "\(by) \(k) cost")
                }
                // Four hours, each key in each hour it had requests.
                XCTAssertEqual(Set(rows.map(\.bucketMillis)), Set((0..<4).map { base + UInt64($0) * 3_600_000 }), "\(by)")
                XCTAssertEqual(rows.reduce(0) { $0 + $1.totals.inputTokens }, 240 * 100, "\(by)")
                XCTAssertEqual(rows.reduce(0) { $0 + $1.totals.cacheWrite5mTokens }, 240 * 5, "\(by)")
                XCTAssertEqual(rows.reduce(0) { $0 + $1.totals.cacheWrite1hTokens }, 240, "\(by)")
            }
            // The log keeps each row's owner and group.
            var q = LogQuery(userID: 2, limit: 1000)
            let mine = try r.logs(q).entries
            XCTAssertEqual(mine.count, 80)
            XCTAssertTrue(mine.allSatisfy { $0.record.userID == 2 && $0.record.tokenID.map { [12, 15].contains($0) } == true })
            XCTAssertEqual(mine.filter { $0.record.groupID == nil }.count, (0..<240).filter { $0 % 3 == 2 && $0 % 5 == 0 }.count)
            q.userID = 5
            XCTAssertEqual(try r.logs(q).entries.count, 0)
        }
    }

    func testStatisticsByUserAndGroupComeFromTheirRollups() throws {
        writeRecords()
        try store.read { r in
            let users = try r.stats(fromMillis: base, toMillis: base + 4 * 3_600_000, by: .user)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: users.map { ($0.key, $0.totals.requests) }), ["0": 80, "1": 80, "2": 80])
            let groups = try r.stats(fromMillis: base, toMillis: base + 4 * 3_600_000, by: .group)
            XCTAssertEqual(groups.reduce(0) { $0 + $1.totals.requests }, 240)
            XCTAssertEqual(groups.first { $0.key == "0" }?.totals.requests, 48)
            XCTAssertThrowsError(try r.stats(fromMillis: base, toMillis: base + 3_600_000, by: .user, channelID: 1))
            XCTAssertThrowsError(try r.stats(fromMillis: base, toMillis: base + 3_600_000, by: .group, tokenID: 10))
        }
    }

    func testOneUsersUsageFromTheLogMatchesTheRollups() throws {
        writeRecords()
        try store.read { r in
            for by in [StatsGrouping.token, .channel, .group, .model, .user] {
                var q = UsageQuery(by: by, period: .day, fromMillis: base + 30 * 60_000, toMillis: base + 3 * 3_600_000 + 1)
                q.userID = 1
                let scoped = sums(try r.usage(q, calendar: .utc))
                // Whole hours: minutes 0..<240 of the 4 hours, user 1's.
                var want: [String: (Int64, Int64)] = [:]
                for i in 0..<240 where i % 3 == 1 {
                    let k: String
                    switch by {
                    case .token: k = String(10 + i % 6)
                    case .channel: k = String(i % 4 + 1)
                    case .group: k = i % 5 == 0 ? "0" : String(i % 2 + 1)
                    case .model: k = i % 2 == 0 ? "a" : "b"
                    default: k = "1"
                    }
                    let o = want[k] ?? (0, 0)
                    want[k] = (o.0 + 1, o.1 + Int64(i))
                }
                XCTAssertEqual(scoped.count, want.count, "\(by)")
                for (k, v) in want {
                    XCTAssertEqual(scoped[k]?.requests, v.0, "\(by) \(k)")
                    XCTAssertEqual(scoped[k]?.cost, v.1, "\(by) \(k)")
                }
            }
            // By user, the log's one user equals the rollup's row for them.
            let all = try r.usage(UsageQuery(by: .user, period: .month, fromMillis: base, toMillis: base + 4 * 3_600_000), calendar: .utc)
            var one = UsageQuery(by: .user, period: .month, fromMillis: base, toMillis: base + 4 * 3_600_000)
            one.userID = 2
            XCTAssertEqual(try r.usage(one, calendar: .utc), all.filter { $0.key == "2" })
            // One token, and a user and token that are not each other's: nothing.
            one.tokenID = 12
            XCTAssertEqual(sums(try r.usage(one, calendar: .utc))["2"]?.requests, 40)
            one.tokenID = 11
            XCTAssertEqual(try r.usage(one, calendar: .utc), [])
            // A range before every row: nothing (no first id).
            XCTAssertEqual(try r.usage(UsageQuery(by: .user, period: .day, fromMillis: base + 5 * 3_600_000, toMillis: base + 6 * 3_600_000,
                                                  userID: 1), calendar: .utc), [])
        }
    }

    func testOneUsersUsageReadsTheirIndexFromTheRangesFirstRow() throws {
        try StoreTest.sqliteOnly()  // SQLite's query plans
        try store.withConfig { db in
            let plan = try db.prepare("EXPLAIN QUERY PLAN SELECT count(*) FROM request_logs WHERE user_id = 1 AND id >= 5 AND +time_ms >= 0 AND +time_ms < 9 GROUP BY channel_id")
            var text = ""
            while try plan.step() { text += plan.text(3) + "\n" }
            XCTAssertTrue(text.contains("request_logs_user"), text)
            XCTAssertTrue(text.contains("id>?"), text)
        }
    }

    func testRowCapOnBothSides() throws {
        writeRecords()
        try store.read { r in
            // By channel and hour: 4 channels x 4 hours = 16 rows.
            var q = UsageQuery(by: .channel, period: .hour, fromMillis: base, toMillis: base + 4 * 3_600_000)
            q.maxRows = 16
            XCTAssertEqual(try r.usage(q, calendar: .utc).count, 16)
            q.maxRows = 15
            XCTAssertThrowsError(try r.usage(q, calendar: .utc)) { e in
                XCTAssertEqual((e as? StoreError)?.kind, .invalid)
                XCTAssertTrue("\(e)".contains("more than 15 rows"), "\(e)")
            }
            // The same by day: the 4 hours are 22:00 to 02:00 UTC, two days; 8 rows fit a cap of 8.
            q.period = .day
            q.maxRows = 8
            XCTAssertEqual(try r.usage(q, calendar: .utc).count, 8)
            q.userID = 1
            XCTAssertEqual(try r.usage(q, calendar: .utc).count, 8, "user 1 has requests on every channel")
            q.maxRows = 7
            XCTAssertThrowsError(try r.usage(q, calendar: .utc))
        }
    }

    func testMigrationSevenGivesEarlierRowsAndHoursTheirTokensOwner() throws {
        let path = dir + "/v6.db"
        let old = try StoreTest.open(path: path, options: StoreTest.options { $0.migrations = Array(Schema.migrations.prefix(6)) })
        let alice = try old.createUser(User(username: "alice", passwordHash: "x"))
        let owned = try old.createToken(AuthToken(name: "alice's")).token
        let admins = try old.createToken(AuthToken(name: "admin's")).token
        try old.withConfig { db in
            try db.exec("UPDATE auth_tokens SET owner_user_id = \(alice.id) WHERE id = \(owned.id)")
            for (i, token) in [owned.id, owned.id, admins.id].enumerated() {
                try db.exec("""
                    INSERT INTO request_logs(request_id, time_ms, token_id, protocol, path, requested_model, upstream_model, stream,
                        status, attempts, duration_us, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
                        cache_write_1h_tokens, usage_known, cost_micro, priced, client_address, user_agent)
                    VALUES(\(i), \(base), \(token), 'anthropic', '/v1/messages', 'm', 'm', 0, 200, '[]', 1, 1, 1, 0, 0, 0, 1, 7, 1, '', '')
                    """)
            }
            try db.exec("INSERT INTO stats_hourly(hour_ms, channel_id, model, token_id, requests, cost_micro) VALUES(\(base), 1, 'm', \(owned.id), 2, 14)")
            try db.exec("INSERT INTO stats_hourly(hour_ms, channel_id, model, token_id, requests, cost_micro) VALUES(\(base), 1, 'm', \(admins.id), 1, 7)")
        }
        old.close()
        store.close()
        store = try StoreTest.open(path: path, options: StoreTest.options())
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM request_logs WHERE user_id = \(alice.id)"), 2)
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM request_logs WHERE user_id IS NULL"), 1)
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM request_logs WHERE group_id IS NOT NULL"), 0)
        let rows = try store.read { try $0.usage(UsageQuery(by: .user, period: .day, fromMillis: base, toMillis: base + 3_600_000), calendar: .utc) }
        XCTAssertEqual(sums(rows)[String(alice.id)]?.requests, 2)
        XCTAssertEqual(sums(rows)[String(alice.id)]?.cost, 14)
        XCTAssertEqual(sums(rows)["0"]?.requests, 1, "the admin's token is user 0")
    }
}

/// Hours into local days and months, and bucket names, in zones other than UTC.
final class UsageBucketsTests: XCTestCase {
    let hour: UInt64 = 3_600_000

    /// 2026-12-01 00:00 UTC.
    let dec1: UInt64 = 1_796_083_200_000

    func testHalfHourZoneDaysStartAtLocalMidnightAndTheStraddlingHourGoesWhereItStarts() {
        let india = LocalCalendar(fixedOffsetSeconds: 19_800, id: "Asia/Kolkata")
        var b = UsageBuckets(period: .day, calendar: india)
        // 2026-12-01 local starts at 2026-11-30 18:30 UTC.
        let localDec1 = dec1 - 5 * hour - hour / 2
        // The UTC hour 18:00–19:00 on Nov 30 starts at 23:30 local on Nov 30: that day.
        XCTAssertEqual(b.start(ofHour: dec1 - 6 * hour), localDec1 - 86_400_000)
        // 19:00 UTC is 00:30 local on Dec 1.
        XCTAssertEqual(b.start(ofHour: dec1 - 5 * hour), localDec1)
        XCTAssertEqual(b.start(ofHour: dec1 + 18 * hour), localDec1, "18:00 UTC is 23:30 local, still Dec 1")
        XCTAssertEqual(b.start(ofHour: dec1 + 19 * hour), localDec1 + 86_400_000)
        XCTAssertEqual(b.label(localDec1), "2026-12-01")
        let h = UsageBuckets(period: .hour, calendar: india)
        XCTAssertEqual(h.label(dec1 - 5 * hour), "2026-12-01 00:30")
        XCTAssertEqual(h.label(dec1), "2026-12-01 05:30")
    }

    func testMonthsStartOnTheLocalFirst() throws {
        let shanghai = try LocalCalendar.named("Asia/Shanghai")
        var m = UsageBuckets(period: .month, calendar: shanghai)
        // 2026-12-01 00:00 in Shanghai is 2026-11-30 16:00 UTC.
        let start = dec1 - 8 * hour
        XCTAssertEqual(m.start(ofHour: start), start)
        XCTAssertEqual(m.start(ofHour: start - hour), shanghai.start(ofDay: SpendPeriods(day: shanghai.day(start - hour)).monthStartDay))
        XCTAssertEqual(m.label(m.start(ofHour: start - hour)), "2026-11")
        XCTAssertEqual(m.start(ofHour: start + 30 * 24 * hour), start, "Dec 31 16:00 UTC is still December there")
        XCTAssertEqual(m.label(start), "2026-12")
        XCTAssertEqual(UsageBuckets(period: .month, calendar: .utc).label(start), "2026-11", "in UTC that hour is November")
    }

    func testDaylightSavingDaysAreTwentyThreeAndTwentyFiveHours() throws {
        let berlin = try LocalCalendar.named("Europe/Berlin")
        var b = UsageBuckets(period: .day, calendar: berlin)
        // 2026-03-29: clocks go from 02:00 to 03:00 (23 hours); 2026-10-25: back (25 hours).
        let mar29 = berlin.start(ofDay: 20_541)
        let mar30 = berlin.start(ofDay: 20_542)
        XCTAssertEqual(mar30 - mar29, 23 * hour)
        XCTAssertEqual(b.label(mar29), "2026-03-29")
        var hours = 0
        var t = mar29
        while t < mar30 { XCTAssertEqual(b.start(ofHour: t), mar29); hours += 1; t += hour }
        XCTAssertEqual(hours, 23)
        let oct25 = berlin.start(ofDay: 20_751)
        XCTAssertEqual(berlin.start(ofDay: 20_752) - oct25, 25 * hour)
        XCTAssertEqual(b.start(ofHour: oct25 + 24 * hour), oct25)
        XCTAssertEqual(b.label(oct25), "2026-10-25")
    }
}
