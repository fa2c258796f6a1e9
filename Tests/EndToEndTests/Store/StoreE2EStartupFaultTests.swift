import Foundation
import Glibc
import XCTest

/// A database ccload cannot use stops start-up with a clear message and a non-zero exit:
/// never a half-started server, never a crash.
final class StoreE2EStartupFaultTests: StoreE2ECase {
    /// Starts ccload on `path` and expects it to refuse (`assertRefusesToStart(_:expect:hidden:)`).
    @discardableResult
    private func assertRefusesToStart(sqlitePath path: String, expect: [String],
                                      file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        return try assertRefusesToStart(["SQLITE_PATH": path, "CCLOAD_CHANNELS_FILE": channels, "CCLOAD_AUTH": "ccl-fault-token-Kx93"],
                                        expect: expect, hidden: ["ccl-fault-token-Kx93"], file: file, line: line)
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
