import Glibc
import Reactor
import XCTest

@testable import Proxy

final class StoreReaderTests: XCTestCase {
    var dir = ""
    var store: Store!
    let base: UInt64 = 1_700_000_000_000 / 3_600_000 * 3_600_000

    override func setUp() {
        dir = StoreTest.tempDir()
        store = try! StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options { $0.readerThreads = 2 })
        // 600 records: every minute for 10 hours; channel i%3+1, model a/b, token i%4 (0 = none),
        // status cycling 200, 200, 404, 503, 0.
        let statuses = [200, 200, 404, 503, 0]
        for i in 0..<600 {
            store.writer.enqueue(StoreTest.record(i, time: base + UInt64(i) * 60_000, status: statuses[i % 5],
                                                  channel: i % 3 + 1, model: i % 2 == 0 ? "a" : "b",
                                                  token: i % 4 == 0 ? nil : i % 4, ttfbMicros: UInt64(1000 + i * 1000),
                                                  cost: Int64(i)))
        }
        store.writer.flush()
    }

    override func tearDown() {
        store.close()
        store = nil
        StoreTest.remove(dir)
    }

    func testLogFiltersAndKeysetPagination() throws {
        try store.read { r in
            // Every filter at once.
            let q = LogQuery(fromMillis: base + 60 * 60_000, toMillis: base + 300 * 60_000, channelID: 2, model: "b",
                             statusClass: .success, tokenID: 1)
            let want = (60..<300).filter { $0 % 3 + 1 == 2 && $0 % 2 == 1 && [0, 1].contains($0 % 5) && $0 % 4 == 1 }
            XCTAssertEqual(try r.logs(q).entries.map { Int($0.record.id) }, want.reversed())

            for (cls, rem) in [(StatusClass.clientError, [2]), (.serverError, [3]), (.other, [4]), (.success, [0, 1])] {
                var q = LogQuery(statusClass: cls)
                q.limit = 1000
                XCTAssertEqual(try r.logs(q).entries.count, 600 / 5 * rem.count, "\(cls)")
            }
            // 429 alone: none among these statuses, then one written.
            XCTAssertEqual(try r.logs(LogQuery(statusClass: .rateLimited)).entries.count, 0)
            // Pages of 50 newest first, no overlap, nothing missed.
            var seen: [Int] = []
            var q2 = LogQuery(model: "a", limit: 50)
            while true {
                let page = try r.logs(q2)
                seen += page.entries.map { Int($0.record.id) }
                guard let next = page.nextBeforeID else { break }
                q2.beforeID = next
            }
            XCTAssertEqual(seen, Array(stride(from: 598, through: 0, by: -2)))
            XCTAssertEqual(try r.logCount(), 600)
        }
        store.writer.enqueue(StoreTest.record(600, time: base + 600 * 60_000, status: 429, channel: 1, model: "a",
                                              token: nil, ttfbMicros: 1000, cost: 0))
        store.writer.flush()
        try store.read { r in
            XCTAssertEqual(try r.logs(LogQuery(statusClass: .rateLimited)).entries.map { $0.record.status }, [429])
            XCTAssertEqual(try r.logs(LogQuery(statusClass: .clientError, limit: 1000)).entries.count, 600 / 5 + 1, "a 429 is also a 4xx")
        }
    }

    func testLogQueriesUseAnIndexNotASort() throws {
        try StoreTest.sqliteOnly()  // SQLite's query plans
        try store.withConfig { db in
            for (sql, index) in [("channel_id = 1", "request_logs_channel"), ("requested_model = 'a'", "request_logs_model"),
                                 ("token_id = 2", "request_logs_token")] {
                let plan = try db.prepare("EXPLAIN QUERY PLAN SELECT id FROM request_logs WHERE \(sql) AND +time_ms >= 0 AND id < 100 ORDER BY id DESC LIMIT 50")
                var text = ""
                while try plan.step() { text += plan.text(3) + "\n" }
                XCTAssertTrue(text.contains(index), text)
                XCTAssertFalse(text.contains("TEMP B-TREE"), text)
            }
        }
    }

    func testStatsByChannelModelTokenAndAll() throws {
        let to = base + 10 * 3_600_000
        try store.read { r in
            let all = try r.stats(fromMillis: base, toMillis: to, by: .all)
            XCTAssertEqual(all.count, 1)
            XCTAssertEqual(all[0].totals.requests, 600)
            XCTAssertEqual(all[0].totals.successes, 240)
            XCTAssertEqual(all[0].totals.errors4xx, 120)
            XCTAssertEqual(all[0].totals.errors5xx, 120)
            XCTAssertEqual(all[0].totals.errorsOther, 120)
            XCTAssertEqual(all[0].totals.costMicroUSD, Int64(599 * 600 / 2))
            XCTAssertEqual(all[0].totals.inputTokens, 600 * 100)
            XCTAssertEqual(all[0].totals.cacheWrite1hTokens, 600)
            // TTFB 1 ms … 600 ms uniformly: p50 ≈ 300 ms, p95 ≈ 570 ms, within a bucket.
            XCTAssertEqual(Double(all[0].ttfbP50Micros!), 300_000, accuracy: 300_000 * 0.2)
            XCTAssertEqual(Double(all[0].ttfbP95Micros!), 570_000, accuracy: 570_000 * 0.2)

            let byModel = try r.stats(fromMillis: base, toMillis: to, by: .model)
            XCTAssertEqual(Set(byModel.map(\.key)), ["a", "b"])
            XCTAssertEqual(byModel.map(\.totals.requests), [300, 300])
            let byToken = try r.stats(fromMillis: base, toMillis: to, by: .token)
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: byToken.map { ($0.key, $0.totals.requests) }),
                           ["0": 150, "1": 150, "2": 150, "3": 150])
            // A channel's models, first two hours only.
            let ch1 = try r.stats(fromMillis: base, toMillis: base + 2 * 3_600_000, by: .model, channelID: 1)
            XCTAssertEqual(ch1.reduce(0) { $0 + $1.totals.requests }, 40)
            // An empty range.
            XCTAssertEqual(try r.stats(fromMillis: to + 3_600_000, toMillis: to + 7_200_000, by: .all).count, 0)
        }
    }

    func testTrendHasEveryHour() throws {
        try store.read { r in
            let day = try r.trend(.day, endMillis: base + 23 * 3_600_000 + 5)
            XCTAssertEqual(day.count, 24)
            XCTAssertEqual(day.first?.hourMillis, base)
            XCTAssertEqual(day.map(\.totals.requests), Array(repeating: 60, count: 10) + Array(repeating: 0, count: 14))
            XCTAssertEqual(day[0].totals.costMicroUSD, Int64((0..<60).reduce(0, +)))
            // Per-hour percentiles from the hour's histogram: hour 0 holds TTFBs of 1…60 ms,
            // hour 9 of 541…600 ms; an empty hour has none.
            XCTAssertEqual(Double(try XCTUnwrap(day[0].ttfbP50Micros)), 30_500, accuracy: 30_500 * 0.2)
            XCTAssertEqual(Double(try XCTUnwrap(day[0].ttfbP95Micros)), 57_000, accuracy: 57_000 * 0.2)
            XCTAssertEqual(Double(try XCTUnwrap(day[9].ttfbP50Micros)), 570_500, accuracy: 570_500 * 0.2)
            XCTAssertNil(day[10].ttfbP50Micros)
            let week = try r.trend(.week, endMillis: base + 9 * 3_600_000, channelID: 3)
            XCTAssertEqual(week.count, 168)
            XCTAssertEqual(week.suffix(10).map(\.totals.requests), Array(repeating: 20, count: 10))
            XCTAssertEqual(week.reduce(0) { $0 + $1.totals.requests }, 200)
            XCTAssertEqual(try r.trend(.month, endMillis: base, model: "a", tokenID: 2).count, 720)
        }
    }

    func testQueryRunsOffTheLoopAndAnswersOnIt() throws {
        let group = LoopGroup(count: 1)
        group.start { _ in }
        defer { group.stopAndJoin() }
        let loop = group.loops[0]
        let answered = expectation(description: "answered")
        let failed = expectation(description: "failed")
        let loopThread = Lock<pthread_t?>(nil)
        loop.submit { loopThread.withLock { $0 = pthread_self() } }
        let store = self.store!
        loop.submit {
            store.query({ r -> (Int, Bool) in
                let onLoop = loopThread.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } ?? true }
                return ((try? r.logs(LogQuery(limit: 10)).entries.count) ?? -1, onLoop)
            }, on: loop) { result in
                loop.assertOnLoop()
                XCTAssertEqual(result.0, 10)
                XCTAssertFalse(result.1, "the body ran on the loop's thread")
                answered.fulfill()
            }
            store.tryQuery({ r in try r.store.setSetting("log_retention_days", "not a number") }, on: loop) { result in
                loop.assertOnLoop()
                if case .failure(let e) = result { XCTAssertEqual(e.kind, .invalid) } else { XCTFail("no error") }
                failed.fulfill()
            }
        }
        wait(for: [answered, failed], timeout: 5)
    }

    func testManyConcurrentQueries() throws {
        let group = LoopGroup(count: 2)
        group.start { _ in }
        defer { group.stopAndJoin() }
        let done = expectation(description: "all")
        done.expectedFulfillmentCount = 200
        let store = self.store!
        for k in 0..<200 {
            let loop = group.loops[k % 2]
            loop.submit {
                store.query({ r in (try? r.stats(fromMillis: 0, toMillis: UInt64.max / 2, by: .channel).count) ?? -1 }, on: loop) {
                    XCTAssertEqual($0, 3)
                    done.fulfill()
                }
            }
            if k % 10 == 0 { store.writer.enqueue(StoreTest.record(1000 + k)) }
        }
        wait(for: [done], timeout: 10)
    }
}
