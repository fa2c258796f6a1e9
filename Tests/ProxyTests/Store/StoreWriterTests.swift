import Glibc
import Reactor
import XCTest

@testable import Proxy

final class StoreWriterTests: XCTestCase {
    var dir = ""
    var store: Store?

    override func setUp() { dir = StoreTest.tempDir() }

    override func tearDown() {
        store?.close()
        store = nil
        StoreTest.remove(dir)
    }

    func open(_ change: (inout StoreOptions) -> Void = { _ in }) throws -> Store {
        let s = try StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options(change))
        store = s
        return s
    }

    func waitUntil(_ seconds: Double = 5, _ cond: () -> Bool) -> Bool {
        let end = monotonicNanos() + UInt64(seconds * 1e9)
        while monotonicNanos() < end {
            if cond() { return true }
            usleep(2_000)
        }
        return cond()
    }

    func testBatchesOfAThousandAndAPartialBatchByTheTimer() throws {
        let s = try open()
        for i in 0..<2_500 { XCTAssertTrue(s.writer.enqueue(StoreTest.record(i))) }
        // No flush: the last 500 go out when the 100 ms timer fires.
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 2_500 })
        let c = s.writer.snapshot()
        XCTAssertEqual(c.fullBatches, 2, "\(c)")
        XCTAssertEqual(c.batches, 3, "\(c)")
        XCTAssertEqual(c.dropped, 0)
        // SQLite: two full batches packed, and the partial one behind them (PostgreSQL never packs).
        XCTAssertEqual(c.packedBatches, StoreTest.backend == .sqlite ? 3 : 0, "\(c)")
        XCTAssertEqual(try s.read { try $0.logCount() }, 2_500)
    }

    func testAPartialBatchWaitsForTheTimerNotLonger() throws {
        let s = try open()
        let t0 = monotonicNanos()
        for i in 0..<5 { s.writer.enqueue(StoreTest.record(i)) }
        usleep(40_000)
        XCTAssertEqual(s.writer.snapshot().written, 0, "written before the 100 ms timer")
        XCTAssertTrue(waitUntil(2) { s.writer.snapshot().written == 5 })
        let elapsed = monotonicNanos() - t0
        XCTAssertGreaterThanOrEqual(elapsed, 95_000_000)
        XCTAssertLessThan(elapsed, 1_000_000_000)
        XCTAssertEqual(s.writer.snapshot().batches, 1)
    }

    func testFullQueueDropsAndCounts() throws {
        // The writer collects for 10 s, so the queue fills and stays full.
        let s = try open {
            $0.queueCapacity = 100
            $0.batchIntervalNanos = 10 * 1_000_000_000
        }
        var refused = 0
        for i in 0..<150 where !s.writer.enqueue(StoreTest.record(i)) { refused += 1 }
        XCTAssertEqual(refused, 50)
        XCTAssertEqual(s.writer.droppedCount, 50)
        XCTAssertEqual(s.writer.queuedCount, 100)
        s.writer.flush()
        let c = s.writer.snapshot()
        XCTAssertEqual(c.written, 100)
        XCTAssertEqual(c.droppedQueueFull, 50)
        XCTAssertEqual(c.accepted, 100)
        // Room again.
        XCTAssertTrue(s.writer.enqueue(StoreTest.record(1000)))
    }

    func testARoundOfRecordsIsQueuedInOrderAndWhatDoesNotFitIsCounted() throws {
        let s = try open {
            $0.queueCapacity = 100
            $0.batchIntervalNanos = 10 * 1_000_000_000
        }
        XCTAssertEqual(s.writer.enqueue(contentsOf: []), 0)
        XCTAssertEqual(s.writer.enqueue(contentsOf: (0..<60).map { StoreTest.record($0) }), 60)
        // 40 places left: the first 40 of this round go in, the other 30 are dropped.
        XCTAssertEqual(s.writer.enqueue(contentsOf: (60..<130).map { StoreTest.record($0) }), 40)
        XCTAssertEqual(s.writer.droppedCount, 30)
        s.writer.flush()
        let c = s.writer.snapshot()
        XCTAssertEqual(c.accepted, 100)
        XCTAssertEqual(c.written, 100)
        XCTAssertEqual(c.droppedQueueFull, 30)
        // The records kept are the first 100 (request ids 0…99), written in the order queued.
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs WHERE request_id < 100"), 100)
        XCTAssertEqual(try StoreTest.count(s, """
            SELECT count(*) FROM request_logs a JOIN request_logs b ON a.id < b.id AND a.request_id > b.request_id
            """), 0, "written out of order")
    }

    func testARoundThatFillsABatchWakesTheWriterAtOnce() throws {
        // A 10 s interval: only a full batch (the round's records) makes the writer write now.
        let s = try open {
            $0.batchSize = 50
            $0.batchIntervalNanos = 10 * 1_000_000_000
        }
        XCTAssertEqual(s.writer.enqueue(contentsOf: (0..<10).map { StoreTest.record($0) }), 10)
        usleep(50_000)
        XCTAssertEqual(s.writer.snapshot().written, 0, "a partial batch waits for its interval")
        XCTAssertEqual(s.writer.enqueue(contentsOf: (10..<60).map { StoreTest.record($0) }), 50)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written >= 50 }, "\(s.writer.snapshot())")
        XCTAssertEqual(s.writer.snapshot().fullBatches, 1)
    }

    func testQueueGrowsAndWrapsInOrder() throws {
        let s = try open {
            $0.queueCapacity = 5_000
            $0.batchSize = 100_000
            $0.batchIntervalNanos = 10 * 1_000_000_000
        }
        for i in 0..<700 { s.writer.enqueue(StoreTest.record(i)) }
        s.writer.flush()
        // The ring (1,024 slots at first) now starts at 700: these wrap, then make it grow twice.
        for i in 700..<4_700 { XCTAssertTrue(s.writer.enqueue(StoreTest.record(i))) }
        let accepted = (0..<1_400).map { s.writer.enqueue(StoreTest.record(4_700 + $0)) }
        XCTAssertEqual(accepted, Array(repeating: true, count: 1_000) + Array(repeating: false, count: 400))
        s.writer.flush()
        let ids = try s.withConfig { db -> [Int] in
            let st = try db.prepare("SELECT request_id FROM request_logs ORDER BY id")
            var out: [Int] = []
            while try st.step() { out.append(st.int(0)) }
            return out
        }
        XCTAssertEqual(ids, Array(0..<5_700))
        XCTAssertEqual(s.writer.droppedCount, 400)
    }

    func testFlushWritesEverythingAndCloseDrains() throws {
        let s = try open()
        for i in 0..<10_123 { s.writer.enqueue(StoreTest.record(i)) }
        s.writer.flush()
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 10_123)
        for i in 0..<777 { s.writer.enqueue(StoreTest.record(20_000 + i)) }
        s.close()
        store = nil
        XCTAssertFalse(s.writer.enqueue(StoreTest.record(1)), "a closed writer refuses")
        let again = try open()
        XCTAssertEqual(try StoreTest.count(again, "SELECT count(*) FROM request_logs"), 10_900)
    }

    /// Two records of one token whose costs sum past Int64.max, written in one batch: the
    /// token's running total saturates (it trapped the writer thread, found by the hostile
    /// usage campaign under the thread sanitizer, whose timing put both in one batch).
    func testTokenCostsThatSumPastInt64MaxInOneBatchSaturate() throws {
        let s = try open()
        // The writer collects for 100 ms before its first partial batch: both land in it.
        s.writer.enqueue(StoreTest.record(1, token: 7, cost: Int64.max))
        s.writer.enqueue(StoreTest.record(2, token: 7, cost: Int64.max))
        s.writer.flush()
        XCTAssertEqual(s.writer.snapshot().batches, 1, "both records in one batch")
        XCTAssertEqual(s.writer.snapshot().written, 2)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs WHERE token_id = 7"), 2)
    }

    func testRecordRoundTripThroughTheLog() throws {
        let s = try open()
        var r = StoreTest.record(42, status: 529, channel: 9, model: "claude-opus-4", token: 3, ttfbMicros: nil, cost: 77)
        r.attempts = [AttemptNote(channelID: 9, keyIndex: 2, status: 529, failure: "server \"overloaded\"\n"),
                      AttemptNote(channelID: 10, keyIndex: 0, status: 0, failure: "connection"),
                      AttemptNote(channelID: 11, keyIndex: 1, status: 529, failure: nil)]
        r.priced = false
        r.usageKnown = false
        r.id = UInt64.max - 1
        s.writer.enqueue(r)
        s.writer.flush()
        let page = try s.read { try $0.logs(LogQuery()) }
        XCTAssertEqual(page.entries.count, 1)
        let b = page.entries[0].record
        XCTAssertEqual(b.id, r.id)
        XCTAssertEqual(b.timeMillis, r.timeMillis)
        XCTAssertEqual(b.tokenID, 3)
        XCTAssertEqual(b.channelID, 9)
        XCTAssertEqual(b.channelName, "ch9")
        XCTAssertEqual(b.keyIndex, 0)
        XCTAssertEqual(b.protocolName, r.protocolName)
        XCTAssertEqual(b.path, r.path)
        XCTAssertEqual(b.requestedModel, "claude-opus-4")
        XCTAssertEqual(b.upstreamModel, "claude-opus-4-up")
        XCTAssertEqual(b.stream, r.stream)
        XCTAssertEqual(b.status, 529)
        XCTAssertEqual(b.attempts, r.attempts)
        XCTAssertNil(b.ttfbMicros)
        XCTAssertEqual(b.durationMicros, r.durationMicros)
        XCTAssertEqual([b.inputTokens, b.outputTokens, b.cacheReadTokens, b.cacheWrite5mTokens, b.cacheWrite1hTokens],
                       [100, 50, 10, 5, 1])
        XCTAssertEqual(b.usageKnown, false)
        XCTAssertEqual(b.costMicroUSD, 77)
        XCTAssertEqual(b.priced, false)
        XCTAssertEqual(b.clientAddress, r.clientAddress)
        XCTAssertEqual(b.userAgent, r.userAgent)
        XCTAssertEqual(b.error, r.error)
        XCTAssertTrue(b.requestID.isEmpty, "no id: none stored")
    }

    /// A record's request id is stored as its bytes (the 64-byte longest too) and found by
    /// them; a record without one stores NULL.
    func testRequestIDsAreStoredAndFoundByTheirBytes() throws {
        let s = try open()
        let longest = String(repeating: "z", count: RequestID.maxLength)
        for (n, key) in [(1, "3f9a0c21b7e4-000000000000002a"), (2, longest), (3, "")] {
            var r = StoreTest.record(n, status: 200, channel: 1, model: "m", token: 1, ttfbMicros: 5, cost: 1)
            r.requestID = key.isEmpty ? RequestID() : try XCTUnwrap(RequestID(text: key))
            s.writer.enqueue(r)
        }
        s.writer.flush()
        for key in ["3f9a0c21b7e4-000000000000002a", longest] {
            var q = LogQuery()
            q.requestID = key
            let found = try s.read { try $0.logs(q) }.entries
            XCTAssertEqual(found.map { $0.record.requestID.description }, [key])
        }
        let stored = try s.withConfig { db in try db.scalarInt("SELECT COUNT(*) FROM request_logs WHERE request_key IS NULL") }
        XCTAssertEqual(stored, 1, "the record without an id")
    }

    func testHourlyStatsMatchTheRecords() throws {
        let s = try open()
        let base: UInt64 = 1_700_000_000_000 / 3_600_000 * 3_600_000
        var rng = SystemRandomNumberGenerator()
        var records: [RequestRecord] = []
        let statuses = [200, 200, 200, 201, 400, 401, 429, 500, 529, 0]
        for i in 0..<7_000 {
            var r = StoreTest.record(i, time: base + UInt64.random(in: 0..<(5 * 3_600_000), using: &rng),
                                     status: statuses.randomElement(using: &rng)!,
                                     channel: Bool.random(using: &rng) ? Int.random(in: 1...3, using: &rng) : nil,
                                     model: ["a", "b", "c"].randomElement(using: &rng)!,
                                     token: Bool.random(using: &rng) ? Int.random(in: 1...4, using: &rng) : nil,
                                     ttfbMicros: i % 10 == 0 ? nil : UInt64.random(in: 500...20_000_000, using: &rng),
                                     cost: Int64.random(in: 0...50_000, using: &rng))
            r.inputTokens = Int.random(in: 0...10_000, using: &rng)
            r.outputTokens = Int.random(in: 0...2_000, using: &rng)
            if i % 7 == 0 { r.attempts.append(AttemptNote(channelID: 1, keyIndex: 1, status: 200, failure: nil)) }
            records.append(r)
            s.writer.enqueue(r)
        }
        s.writer.flush()

        // Every (hour, channel, model, token) row equals the sums of its records.
        struct K: Hashable { var h: UInt64; var c: Int; var m: String; var t: Int }
        var expected: [K: StatsDelta] = [:]
        for r in records {
            expected[K(h: r.timeMillis / 3_600_000 * 3_600_000, c: r.channelID ?? 0, m: r.requestedModel, t: r.tokenID ?? 0),
                     default: StatsDelta()].add(r)
        }
        let rows = try s.withConfig { db -> [K: [Int64]] in
            let st = try db.prepare("SELECT hour_ms, channel_id, model, token_id, requests, successes, errors_4xx, errors_5xx, errors_other, rate_limited, failovers, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_micro, duration_sum_us, ttfb_count, ttfb_sum_us, \(TTFBBuckets.columns().joined(separator: ",")) FROM stats_hourly")
            var out: [K: [Int64]] = [:]
            while try st.step() {
                out[K(h: UInt64(st.int64(0)), c: st.int(1), m: st.text(2), t: st.int(3))] = (4..<(20 + Int32(TTFBBuckets.count))).map { st.int64($0) }
            }
            return out
        }
        XCTAssertEqual(rows.count, expected.count)
        for (k, d) in expected {
            let want = [d.requests, d.successes, d.errors4xx, d.errors5xx, d.errorsOther, d.rateLimited, d.failovers, d.input,
                        d.output, d.cacheRead, d.cacheWrite5m, d.cacheWrite1h, d.cost, d.durationSum, d.ttfbCount, d.ttfbSum] + d.hist
            XCTAssertEqual(rows[k], want, "\(k)")
        }

        // The rollups are stats_hourly summed along each dimension.
        let vals = Schema.valueColumns.joined(separator: ", ")
        let sums = Schema.valueColumns.map { "SUM(\($0))" }.joined(separator: ", ")
        for (dim, col) in [("all", "''"), ("channel", "CAST(channel_id AS TEXT)"), ("model", "model"), ("token", "CAST(token_id AS TEXT)")] {
            let (a, b) = try s.withConfig { db -> ([[Int64]], [[Int64]]) in
                func rows(_ sql: String) throws -> [[Int64]] {
                    let st = try db.prepare(sql)
                    var out: [[Int64]] = []
                    while try st.step() { out.append([Int64(st.text(0).hashValue)] + (1..<Int32(2 + Schema.valueColumns.count)).map { st.int64($0) }) }
                    return out
                }
                return (try rows("SELECT key, hour_ms, \(vals) FROM stats_rollup WHERE dim = '\(dim)' ORDER BY 1, 2"),
                        try rows("SELECT \(col), hour_ms, \(sums) FROM stats_hourly GROUP BY 1, 2 ORDER BY 1, 2"))
            }
            XCTAssertEqual(a, b, dim)
            XCTAssertFalse(a.isEmpty)
        }
        // A breakdown with two dimensions reads stats_hourly and agrees with the records.
        let ch2a = try s.read { try $0.stats(fromMillis: base, toMillis: base + 5 * 3_600_000, by: .model, channelID: 2) }
        for row in ch2a {
            XCTAssertEqual(row.totals.costMicroUSD, records.filter { $0.channelID == 2 && $0.requestedModel == row.key }.reduce(0) { $0 + $1.costMicroUSD })
        }
        XCTAssertEqual(ch2a.count, 3)

        // And the reader's sums per channel agree with the records.
        let byChannel = try s.read { try $0.stats(fromMillis: base, toMillis: base + 5 * 3_600_000, by: .channel) }
        for row in byChannel {
            let mine = records.filter { ($0.channelID ?? 0) == Int(row.key)! }
            XCTAssertEqual(row.totals.requests, Int64(mine.count))
            XCTAssertEqual(row.totals.successes, Int64(mine.filter { (200..<300).contains($0.status) }.count))
            XCTAssertEqual(row.totals.errors4xx, Int64(mine.filter { (400..<500).contains($0.status) }.count))
            XCTAssertEqual(row.totals.errors5xx, Int64(mine.filter { (500..<600).contains($0.status) }.count))
            XCTAssertEqual(row.totals.errorsOther, Int64(mine.filter { $0.status == 0 }.count))
            XCTAssertEqual(row.totals.rateLimited, Int64(mine.filter { $0.status == 429 }.count))
            XCTAssertEqual(row.totals.inputTokens, mine.reduce(0) { $0 + Int64($1.inputTokens) })
            XCTAssertEqual(row.totals.outputTokens, mine.reduce(0) { $0 + Int64($1.outputTokens) })
            XCTAssertEqual(row.totals.costMicroUSD, mine.reduce(0) { $0 + $1.costMicroUSD })
            // Percentiles from the buckets are within a bucket (±√2) of the exact ones.
            let ttfbs = mine.compactMap(\.ttfbMicros).sorted()
            let exact50 = Double(ttfbs[(ttfbs.count + 1) / 2 - 1])
            let exact95 = Double(ttfbs[Int((0.95 * Double(ttfbs.count)).rounded(.up)) - 1])
            XCTAssertEqual(Double(row.ttfbP50Micros!), exact50, accuracy: exact50 * 0.42)
            XCTAssertEqual(Double(row.ttfbP95Micros!), exact95, accuracy: exact95 * 0.42)
        }
        XCTAssertEqual(Set(byChannel.map(\.key)), ["0", "1", "2", "3"])
    }

    func testRetentionDeletesExactlyTheOldRows() throws {
        let day: UInt64 = 86_400_000
        let now: UInt64 = 1_800_000_000_000
        let s = try open {
            $0.wallClock = { now }
            $0.logRetentionDays = 30
            $0.statsRetentionDays = 365
            $0.retentionChunkRows = 7  // many chunks
        }
        let ages: [(UInt64, Int)] = [(400 * day, 5), (40 * day, 30), (30 * day + 1, 11), (30 * day, 4), (29 * day, 20), (1 * day, 9)]
        var i = 0
        for (age, n) in ages {
            for _ in 0..<n {
                s.writer.enqueue(StoreTest.record(i, time: now - age))
                i += 1
            }
        }
        s.writer.flush()
        s.writer.runRetention()
        // Kept: exactly 30 days old (the cutoff is exclusive) and younger.
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 4 + 20 + 9)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs WHERE time_ms < \(now - 30 * day)"), 0)
        XCTAssertEqual(s.writer.snapshot().retentionDeletedLogs, 5 + 30 + 11)
        // Aggregates stay a year: only the 400-day-old hour goes.
        XCTAssertEqual(try StoreTest.count(s, "SELECT SUM(requests) FROM stats_hourly"), 79 - 5)
        XCTAssertEqual(s.writer.snapshot().retentionDeletedStats, 1, s.writer.snapshot().lastError ?? "")
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM stats_rollup WHERE hour_ms < \(now - 365 * day)"), 0)
        XCTAssertEqual(try StoreTest.count(s, "SELECT SUM(requests) FROM stats_rollup WHERE dim = 'model'"), 79 - 5)
        // The job's last run, as /admin/jobs shows it.
        let first = s.writer.retentionStatus()
        XCTAssertEqual(first.name, "retention")
        XCTAssertEqual(first.lastRunMillis, now)
        XCTAssertEqual(first.outcome, "ok")
        XCTAssertEqual(first.detail, "deleted 46 request records and 1 statistics rows")
        XCTAssertEqual(first.runs, 1)
        XCTAssertGreaterThan(first.nextRunMillis ?? 0, now, "the next pass is due later")
        // A second pass has nothing to do.
        s.writer.runRetention()
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 33)
        XCTAssertEqual(s.writer.snapshot().retentionPasses, 2)
        XCTAssertEqual(s.writer.retentionStatus().detail, "deleted 0 request records and 0 statistics rows", "per pass, not in all")
        XCTAssertEqual(s.writer.retentionStatus().runs, 2)
    }

    func testRetentionRunsOnItsOwnAndInterleavesWithWrites() throws {
        let day: UInt64 = 86_400_000
        let now: UInt64 = 1_800_000_000_000
        let s = try open {
            $0.wallClock = { now }
            $0.retentionChunkRows = 100
            $0.firstRetentionDelayNanos = 300_000_000
        }
        for i in 0..<3_000 { s.writer.enqueue(StoreTest.record(i, time: now - 60 * day)) }
        s.writer.flush()
        // While retention runs in chunks, new records keep being written.
        for i in 0..<2_000 {
            s.writer.enqueue(StoreTest.record(10_000 + i, time: now))
            if i % 100 == 0 { usleep(20_000) }
        }
        XCTAssertTrue(waitUntil { s.writer.snapshot().retentionPasses >= 1 })
        s.writer.flush()
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 2_000)
        XCTAssertEqual(s.writer.snapshot().dropped, 0)
    }

    func testDiskFullDropsTheBatchAndTheWriterRecovers() throws {
        try StoreTest.sqliteOnly()
        let s = try open()
        for i in 0..<1_000 { s.writer.enqueue(StoreTest.record(i)) }
        s.writer.flush()
        // No page beyond what the file has now: the next batches cannot grow it.
        s.writer.perform { db in _ = try? db.scalarInt("PRAGMA max_page_count = \(try! db.scalarInt("PRAGMA page_count")!)") }
        var big = StoreTest.record(0)
        big.userAgent = String(repeating: "u", count: 2_000)
        for i in 0..<3_000 {
            big.id = UInt64(10_000 + i)
            XCTAssertTrue(s.writer.enqueue(big), "the proxy side never notices")
        }
        s.writer.flush()
        let c = s.writer.snapshot()
        XCTAssertEqual(c.droppedWriteFailed, 3_000, "\(c)")
        XCTAssertGreaterThan(c.failedBatches, 0)
        XCTAssertTrue(c.lastError?.contains("full") == true, c.lastError ?? "no error")
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 1_000)
        // Space again: later records are written.
        s.writer.perform { db in _ = try? db.scalarInt("PRAGMA max_page_count = 1073741823") }
        for i in 0..<500 { s.writer.enqueue(StoreTest.record(50_000 + i)) }
        s.writer.flush()
        XCTAssertEqual(s.writer.snapshot().written, 1_500)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 1_500)
        XCTAssertEqual(try s.withConfig { try $0.scalarText("PRAGMA integrity_check") }, "ok")
    }

    func testConfigurationWriteFailsClearlyWhenFull() throws {
        try StoreTest.sqliteOnly()
        let s = try open()
        try s.withConfig { db in _ = try db.scalarInt("PRAGMA max_page_count = \(try db.scalarInt("PRAGMA page_count")!)") }
        var c = Channel(id: 0, name: "big", kind: .anthropic, urls: ["https://a"], keys: [])
        c.keys = (0..<500).map { ChannelKey(index: $0, secret: String(repeating: "k", count: 200)) }
        XCTAssertThrowsError(try s.createChannel(c)) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .full, e.message)
            XCTAssertTrue(e.message.contains("full"), e.message)
        }
        XCTAssertEqual(try s.channels().count, 0)
    }
}

/// A connection that fails with `.unavailable` while `down` is set (a PostgreSQL server
/// that went away), otherwise the SQLite connection it wraps.
final class FlakyConnection: SQLConnection, @unchecked Sendable {
    let inner: Database
    let down = Lock(false)
    init(_ inner: Database) { self.inner = inner }
    var path: String { inner.path }
    var dialect: SQLDialect { inner.dialect }
    func check() throws { if down.withLock({ $0 }) { throw StoreError(.unavailable, "server closed the connection unexpectedly") } }
    func exec(_ sql: String) throws { try check(); try inner.exec(sql) }
    func prepare(_ sql: String) throws -> any SQLStatement { FlakyStatement(try inner.prepare(sql), self) }
    func cached(_ sql: String) throws -> any SQLStatement { FlakyStatement(try inner.cached(sql), self) }
    var changes: Int { inner.changes }
    var inTransaction: Bool { inner.inTransaction }
    func transaction<T>(_ body: () throws -> T) throws -> T { try check(); return try inner.transaction(body) }
    func rollbackQuietly() { inner.rollbackQuietly() }
    func close() { inner.close() }

    final class FlakyStatement: SQLStatement {
        let s: any SQLStatement
        let owner: FlakyConnection
        init(_ s: any SQLStatement, _ owner: FlakyConnection) { self.s = s; self.owner = owner }
        func reset() { s.reset() }
        func resetKeepingBindings() { s.resetKeepingBindings() }
        func bind(_ i: Int32, _ v: Int64) throws { try s.bind(i, v) }
        func bind(_ i: Int32, _ v: Double) throws { try s.bind(i, v) }
        func bindNull(_ i: Int32) throws { try s.bindNull(i) }
        func bind(_ i: Int32, _ v: String) throws { try s.bind(i, v) }
        func bindStatic(_ i: Int32, _ text: UnsafeBufferPointer<UInt8>) throws { try s.bindStatic(i, text) }
        func bind(_ i: Int32, _ v: [UInt8]) throws { try s.bind(i, v) }
        func step() throws -> Bool { try owner.check(); return try s.step() }
        func isNull(_ c: Int32) -> Bool { s.isNull(c) }
        func int64(_ c: Int32) -> Int64 { s.int64(c) }
        func double(_ c: Int32) -> Double { s.double(c) }
        func text(_ c: Int32) -> String { s.text(c) }
        func blob(_ c: Int32) -> [UInt8] { s.blob(c) }
        func finalize() { s.finalize() }
    }
}

final class StoreWriterOutageTests: XCTestCase {
    /// The database server goes away: batches are kept (not dropped) and retried with a
    /// growing wait, the proxy side keeps enqueueing, and everything is written in order
    /// once the server is back.
    func testAnOutageKeepsTheRecordsAndWritesThemWhenTheDatabaseReturns() throws {
        let dir = StoreTest.tempDir()
        defer { StoreTest.remove(dir) }
        let path = dir + "/ccload.db"
        try Store.open(path: path, options: StoreTest.options()).close()
        let flaky = FlakyConnection(try Database(path: path))
        let writer = try StoreWriter(db: flaky, options: StoreTest.options { $0.batchIntervalNanos = 10_000_000; $0.batchSize = 100 })
        defer { writer.close() }
        flaky.down.withLock { $0 = true }
        for i in 0..<250 { XCTAssertTrue(writer.enqueue(StoreTest.record(i))) }
        let end = monotonicNanos() + 5_000_000_000
        while writer.snapshot().retriedBatches < 3 && monotonicNanos() < end { usleep(5_000) }
        var c = writer.snapshot()
        XCTAssertGreaterThanOrEqual(c.retriedBatches, 3, "\(c)")
        XCTAssertLessThan(c.retriedBatches, 12, "the retries back off (250 ms, doubling), not a tight loop: \(c)")
        XCTAssertEqual(c.written, 0)
        XCTAssertEqual(c.dropped, 0, "nothing is lost while the queue has room")
        XCTAssertTrue(c.lastError?.contains("server closed") == true, c.lastError ?? "")
        for i in 250..<300 { XCTAssertTrue(writer.enqueue(StoreTest.record(i))) }
        flaky.down.withLock { $0 = false }
        let back = monotonicNanos() + 10_000_000_000
        while writer.snapshot().written < 300 && monotonicNanos() < back { usleep(5_000) }
        c = writer.snapshot()
        XCTAssertEqual(c.written, 300, "\(c)")
        XCTAssertEqual(c.dropped, 0)
        writer.flush()  // full batches were packed: into request_logs now
        let db = try Database(path: path)
        defer { db.close() }
        let st = try db.prepare("SELECT request_id FROM request_logs ORDER BY id")
        var ids: [Int] = []
        while try st.step() { ids.append(st.int(0)) }
        st.finalize()
        XCTAssertEqual(ids, Array(0..<300), "in order, each once")
    }

    /// The queue's putBack keeps a retried batch in front, in order, across the ring's wrap,
    /// and keeps only what fits.
    func testPutBackKeepsOrderAndCapacity() {
        var q = RecordQueue(capacity: 8)
        for i in 0..<6 { XCTAssertTrue(q.append(StoreTest.record(i))) }
        var batch: [RequestRecord] = []
        q.take(4, into: &batch)
        for i in 6..<10 { XCTAssertTrue(q.append(StoreTest.record(i))) }
        XCTAssertEqual(q.putBack(&batch), 2, "8 slots, 6 queued: two of the four do not fit")
        var all: [RequestRecord] = []
        q.take(100, into: &all)
        XCTAssertEqual(all.map(\.id), [2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertTrue(batch.isEmpty)
    }
}
