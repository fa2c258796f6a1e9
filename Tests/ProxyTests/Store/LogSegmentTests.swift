import Foundation
import Glibc
import Reactor
import XCTest

@testable import Proxy

/// `LogRows`: a batch's log rows as bytes, read back exactly, and nothing else read at all.
final class LogRowsTests: XCTestCase {
    /// Records that take every kind of value: NULLs, empty and non-ASCII texts, extremes.
    static func varied() -> [RequestRecord] {
        var out: [RequestRecord] = []
        for i in 0..<12 {
            var r = StoreTest.record(i, time: 1_700_000_000_000 + UInt64(i), status: [200, 429, 503, 0, -1, 999][i % 6],
                                     channel: i % 3 == 0 ? nil : i, model: i % 2 == 0 ? "a" : "claude-ü-é-😀",
                                     token: i % 4 == 0 ? nil : i, ttfbMicros: i % 5 == 0 ? nil : UInt64(i) * 1_000, cost: Int64(i) - 6)
            r.userID = i % 3 == 1 ? i : nil
            r.groupID = i % 4 == 2 ? 9 : nil
            r.keyIndex = i % 2 == 0 ? nil : i
            r.error = i % 3 == 2 ? "line one\nline \"two\"\t\u{1}" : nil
            r.userAgent = i == 3 ? "" : String(repeating: "ua ", count: i * 20)
            r.requestID = i % 2 == 0 ? RequestID() : RequestID(text: "req-\(i)")!
            r.attempts = i % 3 == 0 ? [] : [AttemptNote(channelID: i, keyIndex: -1, status: 500, failure: "x\"y"),
                                            AttemptNote(channelID: Int.max, keyIndex: Int.min, status: 200, failure: nil)]
            if i == 5 {
                r.costMicroUSD = .min
                r.inputTokens = .max
                r.durationMicros = .max  // stored clamped to Int64.max
                r.id = .max
            }
            out.append(r)
        }
        return out
    }

    /// The record as the log search returns it: JSON, keys sorted, to compare whole.
    static func json(_ r: RequestRecord) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: try! e.encode(r), as: UTF8.self)
    }

    func encoded(_ records: [RequestRecord], keepValues: Bool = true) -> LogRows {
        var rows = LogRows()
        rows.start(keepValues: keepValues)
        for var r in records { withUnsafePointer(to: &r) { rows.append($0) } }
        return rows
    }

    func testRowsRoundTripThroughTheirBytes() throws {
        let records = Self.varied()
        let rows = encoded(records)
        XCTAssertEqual(rows.rows, records.count)
        XCTAssertEqual(rows.values.count, records.count * LogRows.columns)
        let back = try XCTUnwrap(LogRows.decode(rows.bytes))
        XCTAssertEqual(back.rows, records.count)
        XCTAssertEqual(back.values, rows.values, "the values decode where they were encoded")
        // Without the values kept, the bytes are the same.
        XCTAssertEqual(encoded(records, keepValues: false).bytes, rows.bytes)
        let decoder = JSONDecoder()
        for (k, r) in records.enumerated() {
            var want = r
            want.durationMicros = min(want.durationMicros, UInt64(Int64.max))
            XCTAssertEqual(Self.json(StoreReader.record(back.row(k, id: 7 + Int64(k)), decoder)), Self.json(want), "row \(k)")
            XCTAssertEqual(back.row(k, id: 7 + Int64(k)).int64(0), 7 + Int64(k))
        }
        // An empty set of rows is a valid segment too.
        XCTAssertEqual(LogRows.decode(encoded([]).bytes)?.rows, 0)
    }

    func testDecodeRefusesEveryMalformedSegment() throws {
        let good = encoded(Array(Self.varied().prefix(3))).bytes
        XCTAssertNotNil(LogRows.decode(good))
        for n in 0..<good.count {
            XCTAssertNil(LogRows.decode(Array(good.prefix(n))), "cut at \(n) of \(good.count)")
        }
        XCTAssertNil(LogRows.decode(good + [0]), "a byte after the last row")
        var bad = good
        bad[0] = 0x44
        XCTAssertNil(LogRows.decode(bad), "magic")
        bad = good
        bad[2] = 2
        XCTAssertNil(LogRows.decode(bad), "version 2")
        for rows: UInt32 in [2, 4, UInt32(LogRows.maxRows) + 1, .max] {
            bad = good
            withUnsafeBytes(of: rows.littleEndian) { for k in 0..<4 { bad[3 + k] = $0[k] } }
            XCTAssertNil(LogRows.decode(bad), "\(rows) rows declared, 3 there")
        }
        // One row of NULLs is well formed; each single change of it is not.
        let nulls: [UInt8] = [0x43, 0x4C, 0x01, 1, 0, 0, 0] + Array(repeating: 0, count: LogRows.columns)
        XCTAssertEqual(LogRows.decode(nulls)?.values, Array(repeating: .null, count: LogRows.columns))
        var tag = nulls
        tag[7] = 3
        XCTAssertNil(LogRows.decode(tag), "unknown tag")
        // An integer: ten varint bytes at most, no bits past 64.
        let maxInt: [UInt8] = [1] + Array(repeating: 0xFF, count: 9) + [0x01]
        XCTAssertEqual(LogRows.decode(Array(nulls.prefix(7)) + maxInt + Array(nulls.suffix(LogRows.columns - 1)))?.values.first,
                       .int(Int64.min), "zigzag of UInt64.max")
        let tooLong: [UInt8] = [1] + Array(repeating: 0xFF, count: 9) + [0x02]
        XCTAssertNil(LogRows.decode(Array(nulls.prefix(7)) + tooLong + Array(nulls.suffix(LogRows.columns - 1))))
        let eleven: [UInt8] = [1] + Array(repeating: 0x80, count: 10) + [0x00]
        XCTAssertNil(LogRows.decode(Array(nulls.prefix(7)) + eleven + Array(nulls.suffix(LogRows.columns - 1))))
        // A text that claims more bytes than follow.
        let text: [UInt8] = [2, 0x7F, 0x41]
        XCTAssertNil(LogRows.decode(Array(nulls.prefix(7)) + text + Array(nulls.suffix(LogRows.columns - 1))))
    }

    /// The pending rows' status filter is the SQL one, status by status.
    func testStatusClassMatchesItsSQL() throws {
        let db = try Database(path: ":memory:")
        defer { db.close() }
        for c in StatusClass.allCases {
            let s = try db.prepare("SELECT CASE WHEN \(c.sql) THEN 1 ELSE 0 END FROM (SELECT ? AS status)")
            defer { s.finalize() }
            for status in Int64(-3)...705 {
                s.reset()
                try s.bind(1, status)
                XCTAssertTrue(try s.step())
                XCTAssertEqual(s.int64(0) == 1, c.matches(status), "\(c) \(status)")
            }
        }
    }
}

/// The writer's pending segments (`LogPacking`): what readers see before and after a move,
/// when moves happen, what a restart and a damaged segment do. SQLite only (PostgreSQL's
/// writer never packs).
final class LogSegmentStoreTests: XCTestCase {
    var dir = ""
    var store: Store?
    let base: UInt64 = 1_700_000_000_000 / 3_600_000 * 3_600_000

    override func setUpWithError() throws {
        try StoreTest.sqliteOnly()
        dir = StoreTest.tempDir()
    }

    override func tearDown() {
        store?.close()
        store = nil
        if !dir.isEmpty { StoreTest.remove(dir) }
    }

    func open(_ change: (inout StoreOptions) -> Void = { _ in }) throws -> Store {
        store?.close()
        let s = try StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options(change))
        store = s
        return s
    }

    func waitUntil(_ seconds: Double = 10, _ cond: () -> Bool) -> Bool {
        let end = monotonicNanos() + UInt64(seconds * 1e9)
        while monotonicNanos() < end {
            if cond() { return true }
            usleep(2_000)
        }
        return cond()
    }

    func records(_ n: Int, from: Int = 0) -> [RequestRecord] {
        (from..<(from + n)).map { i in
            var r = StoreTest.record(i, time: base + UInt64(i) * 60_000, status: [200, 200, 404, 503, 429, 0][i % 6],
                                     channel: i % 3 + 1, model: i % 2 == 0 ? "a" : "b", token: i % 4 == 0 ? nil : i % 4,
                                     cost: Int64(i))
            r.userID = i % 4 == 0 ? nil : i % 2 + 1
            r.requestID = RequestID(text: "req-\(i)")!
            return r
        }
    }

    /// Every log search and usage answer the tests compare, as text.
    func answers(_ s: Store) throws -> [String] {
        try s.read { r in
            var out: [String] = []
            let queries: [LogQuery] = [
                LogQuery(limit: 1000), LogQuery(channelID: 2, limit: 1000), LogQuery(model: "b", limit: 1000),
                LogQuery(statusClass: .clientError, limit: 1000), LogQuery(statusClass: .rateLimited, limit: 1000),
                LogQuery(statusClass: .other, limit: 1000), LogQuery(tokenID: 3, limit: 1000), LogQuery(userID: 2, limit: 1000),
                LogQuery(requestID: "req-17"), LogQuery(fromMillis: base + 10 * 60_000, toMillis: base + 30 * 60_000, limit: 1000),
                LogQuery(fromMillis: base + 79 * 60_000),
            ]
            for q in queries {
                out.append("\(q): " + (try r.logs(q).entries.map { "\($0.id)=\(LogRowsTests.json($0.record))" }.joined(separator: ",")))
            }
            // Pages of 7, newest first, following nextBeforeID.
            var q = LogQuery(channelID: 1, limit: 7)
            var pages: [String] = []
            while true {
                let page = try r.logs(q)
                pages.append(page.entries.map { String($0.id) }.joined(separator: " "))
                guard let next = page.nextBeforeID else { break }
                q.beforeID = next
            }
            out.append("pages: " + pages.joined(separator: " | "))
            for scoped in [UsageQuery(by: .user, period: .day, fromMillis: base, toMillis: base + 86_400_000, userID: 2),
                           UsageQuery(by: .token, period: .day, fromMillis: base, toMillis: base + 86_400_000, userID: 2),
                           UsageQuery(by: .model, period: .hour, fromMillis: base, toMillis: base + 86_400_000, tokenID: 3),
                           UsageQuery(by: .channel, period: .hour, fromMillis: base + 3_600_000, toMillis: base + 86_400_000, tokenID: 1)] {
                XCTAssertTrue(scoped.scoped)
                out.append("usage: " + (try r.usage(scoped, calendar: .utc).map { "\($0.key) \($0.bucketMillis) \($0.totals.requests) \($0.totals.costMicroUSD) \($0.totals.inputTokens)" }.joined(separator: ",")))
            }
            out.append("count: \(try r.logCount())")
            return out
        }
    }

    func testPendingRowsReadAsTheyDoOnceMoved() throws {
        // Batches of 8, each full: the writer is busy and packs them; with a 5 s interval it
        // stays busy for 10 s, so nothing moves until the flush.
        let s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 5_000_000_000 }
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(80)), 80)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 80 }, "\(s.writer.snapshot())")
        var c = s.writer.snapshot()
        XCTAssertEqual(c.packedBatches, 10, "\(c)")
        XCTAssertEqual(c.pendingLogRows, 80)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 0)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_log_pending"), 10)
        // Statistics are written with the batch, packed or not.
        XCTAssertEqual(try StoreTest.count(s, "SELECT SUM(requests) FROM stats_hourly"), 80)
        let pending = try answers(s)
        s.writer.flush()
        c = s.writer.snapshot()
        XCTAssertEqual(c.pendingLogRows, 0)
        XCTAssertEqual(c.movedSegments, 10)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_log_pending"), 0)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 80)
        let moved = try answers(s)
        XCTAssertEqual(pending, moved)
        // And both are right (not only alike): ids in order, each record where it belongs.
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs WHERE id = request_id + 1"), 80)
        try s.read { r in
            XCTAssertEqual(try r.logs(LogQuery(channelID: 2, limit: 1000)).entries.map { Int($0.record.id) },
                           (0..<80).filter { $0 % 3 + 1 == 2 }.reversed())
            XCTAssertEqual(try r.logs(LogQuery(requestID: "req-17")).entries.map(\.id), [18])
            XCTAssertEqual(try r.logCount(), 80)
        }
        XCTAssertEqual(pending.filter { $0.hasSuffix(": ") }, [], "every query finds something")
    }

    /// Reads while the writer moves segments: every read sees each row exactly once (a
    /// segment is moved in one transaction, and a read is one snapshot).
    func testReadsWhileSegmentsMoveSeeEachRowOnce() throws {
        // 400 segments of 64: the moves take long enough (about 0.1 s) for reads to land among them.
        let n = 25_600
        let s = try open { $0.batchSize = 64; $0.batchIntervalNanos = 5_000_000_000 }
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(n)), n)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == UInt64(n) && s.writer.snapshot().pendingLogRows == n })
        let mover = Thread { s.writer.flush() }
        mover.start()
        var reads = 0, sawBoth = 0
        let newest = Array((n - 999...n).reversed().map(Int64.init))
        let end = monotonicNanos() + 10_000_000_000
        while monotonicNanos() < end {
            let (ids, count, moved) = try s.read { r -> ([Int64], Int64, Int64) in
                (try r.logs(LogQuery(limit: 1000)).entries.map(\.id), try r.logCount(),
                 try r.db.scalarInt("SELECT count(*) FROM request_logs") ?? 0)
            }
            reads += 1
            XCTAssertEqual(count, Int64(n), "read \(reads), \(moved) rows moved")
            XCTAssertEqual(ids, newest, "read \(reads), \(moved) rows moved")
            if moved > 0 && moved < Int64(n) { sawBoth += 1 }
            if moved == Int64(n) { break }
        }
        XCTAssertTrue(waitUntil { s.writer.snapshot().pendingLogRows == 0 })
        XCTAssertGreaterThan(sawBoth, 0, "no read landed while the rows were split (\(reads) reads)")
        print("reads while moving: \(reads), \(sawBoth) of them with the rows split between segments and the table")
    }

    func testABusyWriterMovesOnceTheLoadStops() throws {
        let s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 20_000_000 }
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(16)), 16)
        // No flush: twice the batch interval with no batch, and the segments are moved.
        XCTAssertTrue(waitUntil { s.writer.snapshot().pendingLogRows == 0 && s.writer.snapshot().written == 16 })
        let c = s.writer.snapshot()
        XCTAssertEqual(c.packedBatches, 2, "\(c)")
        XCTAssertEqual(c.movedSegments, 2, "\(c)")
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 16)
    }

    func testALightLoadWritesRowsAndNeverPacks() throws {
        let s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 10_000_000 }
        for r in records(12) {
            XCTAssertTrue(s.writer.enqueue(r))
            usleep(25_000)  // one record a batch interval: no batch is ever full
        }
        s.writer.flush()
        let c = s.writer.snapshot()
        XCTAssertEqual(c.packedBatches, 0, "\(c)")
        XCTAssertEqual(c.written, 12)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 12)
    }

    func testPendingRowsPastTheCapAreMovedWhileBusy() throws {
        let s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 5_000_000_000; $0.maxPendingLogRows = 16 }
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(80)), 80)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 80 && s.writer.snapshot().pendingLogRows <= 16 }, "\(s.writer.snapshot())")
        usleep(50_000)
        let c = s.writer.snapshot()
        XCTAssertEqual(c.pendingLogRows, 16, "still busy: moved down to the cap, no further: \(c)")
        XCTAssertEqual(c.movedSegments, 8, "\(c)")
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 64)
        XCTAssertEqual(try s.read { try $0.logCount() }, 80)
    }

    func testPendingSegmentsOutliveARestartAndKeepTheirIDs() throws {
        var s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 5_000_000_000; $0.stopMoveNanos = 0 }
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(16)), 16)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 16 })
        s.close()
        store = nil
        // Closing with no time to move them left them pending.
        s = try open { $0.batchSize = 8; $0.batchIntervalNanos = 5_000_000_000 }
        XCTAssertEqual(try s.read { try $0.logCount() }, 16)
        // A record of this run: packed behind the pending ones (their ids come first).
        XCTAssertTrue(s.writer.enqueue(records(1, from: 16)[0]))
        s.writer.flush()
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_log_pending"), 0)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 17)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs WHERE id = request_id + 1"), 17)
        // Closing moves what is pending (within its budget, 2 s by default).
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(16, from: 17)), 16)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 17 })
        s.close()
        store = nil
        let db = try Database(path: dir + "/ccload.db")
        defer { db.close() }
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_logs"), 33)
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_log_pending"), 0)
    }

    /// Retention deletes pending segments whose every row is past the cutoff, as it would the
    /// rows once moved; a segment that straddles the cutoff stays, and its old rows go once
    /// it has moved. A flush after it does not wait for the deleted rows.
    func testRetentionExpiresPendingSegmentsPastTheCutoff() throws {
        let day: UInt64 = 86_400_000
        // `records` are a minute apart from `base`: 24 of them, batches of 8, packed.
        let now = base + 23 * 60_000 + 30 * day
        let s = try open {
            $0.batchSize = 8; $0.batchIntervalNanos = 5_000_000_000
            $0.wallClock = { now }
            $0.logRetentionDays = 30
            $0.retentionChunkRows = 1  // one segment a chunk
        }
        // The cutoff falls inside the third batch: its rows 16...22 are older, row 23 is not.
        let cutoff = now - 30 * day
        XCTAssertEqual(cutoff, base + 23 * 60_000)
        XCTAssertEqual(s.writer.enqueue(contentsOf: records(24)), 24)
        XCTAssertTrue(waitUntil { s.writer.snapshot().written == 24 }, "\(s.writer.snapshot())")
        XCTAssertEqual(s.writer.snapshot().pendingLogRows, 24)
        s.writer.runRetention()
        var c = s.writer.snapshot()
        XCTAssertEqual(c.retentionDeletedLogs, 16, "\(c)")
        XCTAssertEqual(c.pendingLogRows, 8)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_log_pending"), 1)
        XCTAssertEqual(try s.read { try $0.logCount() }, 8)
        // Statistics are not the request log's: they stay.
        XCTAssertEqual(try StoreTest.count(s, "SELECT SUM(requests) FROM stats_hourly"), 24)
        // The flush ends (it does not wait for the 16 deleted rows), and the straddling
        // segment's old rows go in the next pass.
        s.writer.flush()
        c = s.writer.snapshot()
        XCTAssertEqual(c.pendingLogRows, 0)
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 8)
        s.writer.runRetention()
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_logs"), 1)
        XCTAssertEqual(try s.read { try $0.logs(LogQuery()).entries.map { Int($0.record.id) } }, [23])
        XCTAssertEqual(s.writer.snapshot().retentionDeletedLogs, 23)
    }

    func testADamagedSegmentIsSkippedByReadersAndDroppedByTheWriter() throws {
        var s = try open()
        s.writer.enqueue(records(1)[0])
        s.writer.flush()
        try s.withConfig { db in
            try db.run("INSERT INTO request_log_pending(first_id, rows, min_time_ms, max_time_ms, data) VALUES(2, 5, 0, ?, ?)",
                       [.int(Int64.max), .blob([0x43, 0x4C, 0x01, 5, 0, 0, 0, 9])])
        }
        s.close()
        store = nil
        // Reopened, the writer knows of the 5 rows; readers skip what does not decode.
        s = try open { $0.batchIntervalNanos = 5_000_000_000 }
        try s.read { r in
            XCTAssertEqual(try r.logs(LogQuery()).entries.map(\.id), [1])
        }
        s.writer.flush()
        let c = s.writer.snapshot()
        XCTAssertEqual(c.pendingLogRows, 0)
        XCTAssertEqual(c.droppedWriteFailed, 5, "\(c)")
        XCTAssertTrue(c.lastError?.contains("did not decode") == true, c.lastError ?? "")
        XCTAssertEqual(try StoreTest.count(s, "SELECT count(*) FROM request_log_pending"), 0)
        // The writer carries on.
        s.writer.enqueue(records(1, from: 1)[0])
        s.writer.flush()
        XCTAssertEqual(try s.read { try $0.logs(LogQuery()).entries.map { Int($0.record.id) } }, [1, 0])
    }
}
