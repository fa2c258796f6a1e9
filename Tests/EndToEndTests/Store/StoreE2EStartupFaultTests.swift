import Foundation
import Glibc
import XCTest

/// A database ccload cannot use stops start-up with a clear message and a non-zero exit:
/// never a half-started server, never a crash.
final class StoreE2EStartupFaultTests: StoreE2ECase {
    /// Starts ccload on `path` and expects it to refuse: exits (not a signal) non-zero within
    /// 10 s, never says it listens, says `expect`, shows no trap or backtrace. Returns the log.
    @discardableResult
    private func assertRefusesToStart(sqlitePath path: String, expect: [String],
                                      file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"), environment: [
            "PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": "1", "SQLITE_PATH": path,
            "CCLOAD_CHANNELS_FILE": channels, "CCLOAD_AUTH": "ccl-fault-token-Kx93",
        ])
        track(p)
        let status = p.waitForExit(timeout: 10)
        let log = p.stderrText + p.stdoutText
        XCTAssertNotNil(status, "ccload still runs on \(path):\n\(log)", file: file, line: line)
        XCTAssertFalse(p.endedBySignal, "ccload died of signal \(status ?? -1):\n\(log)", file: file, line: line)
        XCTAssertNotEqual(status, 0, "exit status 0 on an unusable database:\n\(log)", file: file, line: line)
        XCTAssertFalse(log.contains("listening on"), "half-started: it listened:\n\(log)", file: file, line: line)
        for bad in ["Fatal error", "Backtrace", "Crash", "Segmentation"] {
            XCTAssertFalse(log.contains(bad), "a crash, not a message:\n\(log)", file: file, line: line)
        }
        XCTAssertFalse(log.contains("ccl-fault-token-Kx93"), "the client token in the log", file: file, line: line)
        for e in expect {
            XCTAssertTrue(log.contains(e), "the log does not say \"\(e)\":\n\(log)", file: file, line: line)
        }
        return log
    }

    func testUnwritablePathRefusesToStart() throws {
        try assertRefusesToStart(sqlitePath: "/proc/ccload-e2e.db", expect: ["cannot open the database /proc/ccload-e2e.db"])
    }

    func testPathUnderAFileRefusesToStart() throws {
        let plain = tempDatabase()  // removed at tear-down
        try Data("just a file\n".utf8).write(to: URL(fileURLWithPath: plain))
        try assertRefusesToStart(sqlitePath: plain + "/sub/ccload.db", expect: ["cannot open the database", "is not a folder"])
    }

    func testTextFileIsNotADatabase() throws {
        let path = tempDatabase()
        let text = String(repeating: "this is a text file, not an SQLite database\n", count: 200)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try assertRefusesToStart(sqlitePath: path, expect: ["cannot open the database", "is not an SQLite database"])
        // The file is left as it was (not truncated, not converted).
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data(text.utf8))
    }

    func testNewerSchemaVersionRefusesToStart() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let c = try startOn(db: db, channelsFile: channels)
        stopGracefully(c)
        let latest = try int(db, "SELECT max(version) FROM schema_migrations")
        XCTAssertGreaterThanOrEqual(latest, 1)
        _ = try sql(db, ["INSERT INTO schema_migrations(version, applied_ms, summary) VALUES(\(latest + 40), 0, 'from the future')"])
        try assertRefusesToStart(sqlitePath: db, expect: ["schema version \(latest + 40)", "newer than this ccload knows"])
        // Refusing changed nothing: the future version is still there and nothing was rolled back.
        XCTAssertEqual(try int(db, "SELECT max(version) FROM schema_migrations"), latest + 40)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM channels"), 1)
    }

    func testDamagedSchemaPageRefusesToStart() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let c = try startOn(db: db, channelsFile: channels)
        stopGracefully(c)
        // Fold the WAL into the file, then overwrite page 1 after the 100-byte header (the
        // schema's b-tree page) with garbage.
        _ = try sql(db, ["PRAGMA wal_checkpoint(TRUNCATE)"])
        let fd = open(db, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        var garbage = [UInt8](repeating: 0xA5, count: 3000)
        let wrote = pwrite(fd, &garbage, garbage.count, 100)
        close(fd)
        XCTAssertEqual(wrote, garbage.count)
        try assertRefusesToStart(sqlitePath: db, expect: ["cannot open the database", "is damaged"])
    }
}
