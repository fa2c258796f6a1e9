import CEpoll
import Foundation
import Glibc
import XCTest

@testable import Proxy

/// The log rows as the writer binds them: multi-row INSERTs (`BatchWriter.rowsPerInsert`:
/// the largest statement that fits what is left), text bound from one buffer without a copy
/// (`BoundText`), the attempts column written as bytes (`AttemptJSON`).
final class BatchWriterRowsTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = StoreTest.tempDir() }
    override func tearDown() { StoreTest.remove(dir) }

    /// A migrated database and a writer on it.
    func writer(_ name: String) throws -> (Database, BatchWriter) {
        let db = try Database(path: dir + "/\(name).db")
        try Migrator.migrate(db, Schema.migrations, nowMillis: 1)
        return (db, BatchWriter(db: db))
    }

    /// Every text column different per row, some NULL, so a shifted binding shows.
    func record(_ i: Int) -> RequestRecord {
        var r = StoreTest.record(i, status: i % 5 == 0 ? 502 : 200, channel: i % 7 == 0 ? nil : i % 3 + 1,
                                 model: "model-\(i % 4)", token: i % 2 == 0 ? nil : 5)
        r.path = "/v1/messages?n=\(i)"
        r.upstreamModel = "up-\(i)"
        r.clientAddress = "10.0.\(i / 256).\(i % 256)"
        r.userAgent = "agent/\(i)"
        r.inputTokens = i
        r.attempts = (0..<(i % 3)).map { AttemptNote(channelID: i, keyIndex: $0, status: 500 + $0, failure: $0 == 0 ? "server #\(i)" : nil) }
        return r
    }

    func testBatchesOfEverySizeAroundTheRowsPerStatementWriteEachRecordOnceInOrder() throws {
        let sizes = BatchWriter.rowsPerInsert
        XCTAssertEqual(sizes.last, 1, "any remainder fits")
        XCTAssertEqual(sizes, sizes.sorted(by: >))
        // Each statement size, one either side, and every sum of distinct sizes.
        var batchSizes: Set<Int> = [1000, 2, 3 * sizes[0] - 1]
        for n in sizes { batchSizes.formUnion([n - 1, n, n + 1].filter { $0 > 0 }) }
        for mask in 1..<(1 << sizes.count) {
            batchSizes.insert(sizes.indices.filter { mask & (1 << $0) != 0 }.map { sizes[$0] }.reduce(0, +))
        }
        let (db, w) = try writer("sizes")
        defer { w.close() }
        var next = 0
        var expected: [RequestRecord] = []
        for size in batchSizes.sorted() {
            let batch = (next..<(next + size)).map(record)
            next += size
            XCTAssertNil(w.write(batch), "batch of \(size)")
            expected += batch
            XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_logs"), Int64(expected.count), "after a batch of \(size)")
        }
        let s = try db.prepare("""
            SELECT request_id, channel_id, channel_name, path, requested_model, upstream_model, attempts, client_address,
                user_agent, error, input_tokens, status, token_id FROM request_logs ORDER BY id
            """)
        defer { s.finalize() }
        var k = 0
        while try s.step() {
            XCTAssertLessThan(k, expected.count)
            if k >= expected.count { break }
            let r = expected[k]
            XCTAssertEqual(UInt64(bitPattern: s.int64(0)), r.id, "row \(k) in insertion order")
            XCTAssertEqual(s.optionalInt(1), r.channelID, "row \(k)")
            XCTAssertEqual(s.optionalText(2), r.channelName, "row \(k)")
            XCTAssertEqual(s.text(3), r.path, "row \(k)")
            XCTAssertEqual(s.text(4), r.requestedModel, "row \(k)")
            XCTAssertEqual(s.text(5), r.upstreamModel, "row \(k)")
            XCTAssertEqual(s.text(6), AttemptJSON.encode(r.attempts), "row \(k)")
            XCTAssertEqual(s.text(7), r.clientAddress, "row \(k)")
            XCTAssertEqual(s.text(8), r.userAgent, "row \(k)")
            XCTAssertEqual(s.optionalText(9), r.error, "row \(k)")
            XCTAssertEqual(s.int(10), r.inputTokens, "row \(k)")
            XCTAssertEqual(s.int(11), r.status, "row \(k)")
            XCTAssertEqual(s.optionalInt(12), r.tokenID, "row \(k)")
            k += 1
        }
        XCTAssertEqual(k, expected.count)
        XCTAssertEqual(try db.scalarInt("SELECT count(DISTINCT request_id) FROM request_logs"), Int64(expected.count))
        // The statistics count each record once too.
        XCTAssertEqual(try db.scalarInt("SELECT SUM(requests) FROM stats_hourly"), Int64(expected.count))
        XCTAssertEqual(try db.scalarInt("SELECT requests FROM stats_rollup WHERE dim = 'all'"), Int64(expected.count))
    }

    func testARowFailingInsideAMultiRowStatementLeavesNoTraceOfItsBatch() throws {
        let (db, w) = try writer("fail")
        defer { w.close() }
        try db.exec("INSERT INTO auth_tokens(id, hash, prefix, name, created_ms) VALUES(5, x'05', 'p', 't', 1)")
        XCTAssertNil(w.write((0..<10).map(record)))
        // A row deep inside the largest statement fails after the statement inserted others.
        let bad = 10 + BatchWriter.rowsPerInsert[0] / 2
        try db.exec("CREATE TRIGGER refuse BEFORE INSERT ON request_logs WHEN NEW.request_id = \(bad) BEGIN SELECT RAISE(FAIL, 'refused'); END")
        let failure = w.write((10..<(10 + 3 * BatchWriter.rowsPerInsert[0])).map(record))
        XCTAssertNotNil(failure)
        XCTAssertTrue(failure?.message.contains("refused") ?? false, failure?.message ?? "")
        XCTAssertEqual(failure?.retryable, false, "a refused row is not an outage: the batch is dropped, not kept")
        XCTAssertFalse(db.inTransaction)
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_logs"), 10)
        XCTAssertEqual(try db.scalarInt("SELECT max(request_id) FROM request_logs"), 9)
        XCTAssertEqual(try db.scalarInt("SELECT SUM(requests) FROM stats_hourly"), 10)
        XCTAssertEqual(try db.scalarInt("SELECT total_requests FROM auth_tokens WHERE id = 5"), 5)
        // The writer carries on with the next batch.
        try db.exec("DROP TRIGGER refuse")
        XCTAssertNil(w.write((1000..<1100).map(record)))
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_logs"), 110)
        XCTAssertEqual(try db.scalarInt("SELECT total_requests FROM auth_tokens WHERE id = 5"), 55)
    }

    static let awkward = ["", "a\u{0}b", "\u{0}", "tail\u{0}", "é", "日本語のモデル", "🙂 emoji", "e\u{301} combining",
                          "quote \" back \\ nl \n tab \t", String(repeating: "x", count: 70_000)]

    func testTextWithEmbeddedNULAndNonASCIIRoundTripsExactly() throws {
        let (db, w) = try writer("text")
        defer { w.close() }
        var batch: [RequestRecord] = []
        for (i, t) in Self.awkward.enumerated() {
            var r = StoreTest.record(i)
            r.channelName = t
            r.path = t
            r.requestedModel = t
            r.upstreamModel = t
            r.clientAddress = t
            r.userAgent = t
            r.error = t
            batch.append(r)
        }
        // Through every statement size (the largest first), then one by one.
        let copies = BatchWriter.rowsPerInsert[0] / batch.count + 1
        let many = Array(repeatElement(batch, count: copies).joined())
        XCTAssertNil(w.write(many))
        XCTAssertNil(w.write(batch))
        let s = try db.prepare("""
            SELECT request_id, channel_name, path, requested_model, upstream_model, client_address, user_agent, error,
                length(CAST(user_agent AS BLOB)) FROM request_logs ORDER BY id
            """)
        defer { s.finalize() }
        var rows = 0
        while try s.step() {
            let t = Self.awkward[Int(s.int64(0))]
            for c in Int32(1)...7 {
                XCTAssertEqual(Array(s.text(c).utf8), Array(t.utf8), "row \(rows) column \(c)")
                XCTAssertFalse(s.isNull(c), "row \(rows) column \(c): empty text is not NULL")
            }
            XCTAssertEqual(s.int(8), t.utf8.count)
            rows += 1
        }
        XCTAssertEqual(rows, many.count + batch.count)
        // The model names key the statistics exactly too (one row per distinct name).
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM stats_hourly"), Int64(Self.awkward.count))
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM stats_rollup WHERE dim = 'model'"), Int64(Self.awkward.count))
    }

    func testBindingAStringKeepsEveryByte() throws {
        let db = try Database(path: dir + "/bind.db")
        defer { db.close() }
        try db.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        for (i, t) in Self.awkward.enumerated() { try db.run("INSERT INTO t VALUES(?, ?)", [.int(Int64(i)), .text(t)]) }
        for (i, t) in Self.awkward.enumerated() {
            XCTAssertEqual(try db.scalarText("SELECT v FROM t WHERE k = ?", [.int(Int64(i))]).map { Array($0.utf8) }, Array(t.utf8))
            XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM t WHERE v = ?", [.text(t)]), 1, "compared by every byte: \(i)")
            XCTAssertEqual(try db.scalarInt("SELECT typeof(v) = 'text' FROM t WHERE k = ?", [.int(Int64(i))]), 1)
        }
    }

    func testAttemptsJSONIsExactlyTheColumnsFormat() throws {
        XCTAssertEqual(AttemptJSON.encode([]), "[]")
        XCTAssertEqual(AttemptJSON.encode([AttemptNote(channelID: 1, keyIndex: 0, status: 200, failure: nil)]),
                       #"[{"channelID":1,"keyIndex":0,"status":200}]"#)
        XCTAssertEqual(AttemptJSON.encode([AttemptNote(channelID: 12, keyIndex: 3, status: 0, failure: "connection"),
                                           AttemptNote(channelID: -4, keyIndex: Int.max, status: Int.min, failure: nil)]),
                       #"[{"channelID":12,"keyIndex":3,"status":0,"failure":"connection"},{"channelID":-4,"keyIndex":9223372036854775807,"status":-9223372036854775808}]"#)
        XCTAssertEqual(AttemptJSON.encode([AttemptNote(channelID: 0, keyIndex: 0, status: 529, failure: "q\"b\\n\nr\rt\t\u{1}\u{1f}\u{0}é🙂")]),
                       #"[{"channelID":0,"keyIndex":0,"status":529,"failure":"q\"b\\n\nr\rt\t\u0001\u001f\u0000é🙂"}]"#)
        for n in [0, 7, 10, 99, 100, 65_535, 1_000_000_007] {
            XCTAssertEqual(AttemptJSON.encode([AttemptNote(channelID: n, keyIndex: -n, status: n, failure: nil)]),
                           "[{\"channelID\":\(n),\"keyIndex\":\(-n),\"status\":\(n)}]")
        }
        // Whatever the failure text, the column reads back with JSONDecoder.
        var notes: [AttemptNote] = []
        for (i, t) in Self.awkward.enumerated() { notes.append(AttemptNote(channelID: i, keyIndex: i, status: i, failure: t)) }
        for u in UInt32(0)..<0x80 { notes.append(AttemptNote(channelID: 0, keyIndex: 0, status: 0, failure: String(UnicodeScalar(u)!))) }
        let back = try JSONDecoder().decode([AttemptNote].self, from: Data(AttemptJSON.encode(notes).utf8))
        XCTAssertEqual(back, notes)
    }

    func testSQLiteMemoryStatisticsAreOff() throws {
        let (db, w) = try writer("memstat")
        defer { w.close() }
        XCTAssertNil(w.write((0..<100).map(record)))
        XCTAssertEqual(try db.scalarInt("SELECT count(*) FROM request_logs"), 100)
        // With statistics on, SQLite counts (under a global mutex) every byte it holds.
        XCTAssertEqual(sqlite3_memory_used(), 0)
    }
}
