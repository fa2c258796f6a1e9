import Foundation
import Glibc
import Proxy
import XCTest

/// Shared pieces of the store end-to-end tests: databases of the test's own (so ccload can
/// be restarted on the same file), graceful stops, and reading or editing the database
/// with Python's `sqlite3` module while no ccload writes to it.
class StoreE2ECase: RelayCase {
    /// A database path for this test; the file and its -wal and -shm are removed at tear-down
    /// (after the processes were stopped).
    func tempDatabase() -> String {
        let p = NSTemporaryDirectory() + "ccload-store-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        onTearDown {
            for suffix in ["", "-wal", "-shm", "-journal", ".key"] { try? FileManager.default.removeItem(atPath: p + suffix) }
        }
        return p
    }

    /// ccload routing by `channelsFile` on the database `db`; `auth` becomes CCLOAD_AUTH.
    func startOn(db: String, channelsFile: String, auth: [String] = [], threads: Int = 1,
                 _ extra: [String: String] = [:]) throws -> CcloadProcess {
        var env = ["CCLOAD_CHANNELS_FILE": channelsFile, "SQLITE_PATH": db]
        if !auth.isEmpty { env["CCLOAD_AUTH"] = auth.joined(separator: ",") }
        for (k, v) in extra { env[k] = v }
        return try startCcload(upstream: nil, threads: threads, env)
    }

    /// SIGTERM, then a bounded wait for a clean exit (status 0, not a signal).
    func stopGracefully(_ c: CcloadProcess, file: StaticString = #filePath, line: UInt = #line) {
        c.process.signal(SIGTERM)
        let status = c.process.waitForExit(timeout: 15)
        XCTAssertNotNil(status, "ccload did not exit within 15 s of SIGTERM", file: file, line: line)
        XCTAssertFalse(c.process.endedBySignal, "ccload died of signal \(status ?? -1)", file: file, line: line)
        XCTAssertEqual(status, 0, "exit status after SIGTERM; log:\n\(c.process.stderrText)", file: file, line: line)
    }

    /// Starts ccload with `env` (over a loopback port 0, one thread) and expects it to refuse:
    /// exits (not a signal) non-zero within 20 s, never says it listens, says each of
    /// `expect`, shows no trap or backtrace and none of `hidden`. Returns the log.
    @discardableResult
    func assertRefusesToStart(_ env: [String: String], expect: [String], hidden: [String],
                              file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var e = ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": "1"]
        for (k, v) in env { e[k] = v }
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"), environment: e)
        track(p)
        let status = p.waitForExit(timeout: 20)
        let log = p.stderrText + p.stdoutText
        XCTAssertNotNil(status, "ccload still runs:\n\(log)", file: file, line: line)
        XCTAssertFalse(p.endedBySignal, "ccload died of signal \(status ?? -1):\n\(log)", file: file, line: line)
        XCTAssertNotEqual(status, 0, "exit status 0:\n\(log)", file: file, line: line)
        XCTAssertFalse(log.contains("listening on"), "half-started: it listened:\n\(log)", file: file, line: line)
        for bad in ["Fatal error", "Backtrace", "Crash", "Segmentation"] {
            XCTAssertFalse(log.contains(bad), "a crash, not a message:\n\(log)", file: file, line: line)
        }
        for text in expect {
            XCTAssertTrue(log.contains(text), "the log does not say \"\(text)\":\n\(log)", file: file, line: line)
        }
        for s in hidden {
            XCTAssertFalse(log.contains(s), "a secret is in the log:\n\(log)", file: file, line: line)
        }
        return log
    }

    /// Runs SQL statements on `db` with Python's sqlite3 (committed at the end) and returns
    /// each statement's rows; BLOBs come back as lowercase hex. SQL may call `sha256(text)`
    /// (the digest as a BLOB, the way `auth_tokens.hash` keeps it).
    func sql(_ db: String, _ statements: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [[[Any]]] {
        let script = """
            import sqlite3, json, sys, hashlib
            c = sqlite3.connect(sys.argv[1], timeout=5)
            c.create_function("sha256", 1, lambda s: hashlib.sha256(s.encode()).digest())
            out = []
            for q in sys.argv[2:]:
                rows = c.execute(q).fetchall()
                out.append([[(v.hex() if isinstance(v, bytes) else v) for v in r] for r in rows])
            c.commit()
            c.close()
            print(json.dumps(out))
            """
        let p = try ProcessUnderTest(executable: "/usr/bin/python3", arguments: ["-c", script, db] + statements)
        defer { p.stop() }
        guard let status = p.waitForExit(timeout: 20) else { throw TestFailure("python3 sqlite3 did not finish in 20 s") }
        guard status == 0 else { throw TestFailure("python3 sqlite3 failed (\(status)) on \(statements): \(p.stderrText)") }
        guard let data = p.stdoutText.data(using: .utf8),
              let result = try JSONSerialization.jsonObject(with: data) as? [[[Any]]] else {
            throw TestFailure("python3 sqlite3 printed no JSON: \(p.stdoutText)")
        }
        return result
    }

    /// A sealed value read from `db`, opened with the key file beside it (`<db>.key`, made
    /// by ccload at first start); throws for a plaintext value or another key's.
    func openStored(_ db: String, _ stored: String) throws -> String {
        guard let text = FileManager.default.contents(atPath: db + ".key"),
              let key = SecretKey(text: String(decoding: text, as: UTF8.self)) else {
            throw TestFailure("no key file beside \(db)")
        }
        return try SecretBox(key: key).open(stored)
    }

    /// The rows of one query.
    func rows(_ db: String, _ query: String) throws -> [[Any]] {
        try sql(db, [query])[0]
    }

    /// The single integer a query answers (NULL → 0).
    func int(_ db: String, _ query: String) throws -> Int {
        let r = try rows(db, query)
        guard let row = r.first, let v = row.first else { throw TestFailure("no row from \(query)") }
        if v is NSNull { return 0 }
        guard let n = v as? Int else { throw TestFailure("not an integer from \(query): \(v)") }
        return n
    }

    /// The request log's rows: those in `request_logs` and those of the writer's pending
    /// segments (a busy writer packs its batches and moves them later).
    static let loggedRowsSQL = "SELECT (SELECT count(*) FROM request_logs) + (SELECT COALESCE(SUM(rows), 0) FROM request_log_pending)"

    /// Waits (bounded) until `request_logs` holds at least `count` rows (the writer commits
    /// in batches, up to 100 ms after a record is queued).
    @discardableResult
    func waitForLoggedRows(_ db: String, _ count: Int, timeout: Double = 5) throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let n = try int(db, "SELECT count(*) FROM request_logs")
            if n >= count { return n }
            if Date() > deadline { throw TestFailure("only \(n) request_logs rows after \(timeout) s, wanted \(count)") }
            usleep(20_000)
        }
    }

    /// The store's id of the channel named `name`.
    func channelID(_ db: String, _ name: String) throws -> Int {
        try int(db, "SELECT id FROM channels WHERE name = '\(name)'")
    }

    /// Raw bytes of the database and its WAL (what a leaked secret would be found in).
    func databaseBytes(_ db: String) -> Data {
        var all = Data()
        for suffix in ["", "-wal", "-shm", "-journal"] {
            if let d = FileManager.default.contents(atPath: db + suffix) { all.append(d) }
        }
        return all
    }

    /// Waits (bounded) while the wall clock is in the last `margin` seconds of a UTC minute,
    /// so a per-minute counter does not reset in the middle of a test.
    func avoidMinuteBoundary(margin: Double = 6) {
        let deadline = Date().addingTimeInterval(margin + 1)
        while Date() < deadline {
            let s = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
            if s < 60 - margin { return }
            usleep(100_000)
        }
    }
}
