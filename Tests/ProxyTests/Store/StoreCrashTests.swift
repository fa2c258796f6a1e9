import Foundation
import Glibc
import Reactor
import XCTest

@testable import Proxy

/// `kill -9` under load: a child process (this test binary, running `testCrashChild`)
/// writes records as fast as it can; the parent kills it with SIGKILL once rows are
/// committed, then reopens the database and checks it.
final class StoreCrashTests: XCTestCase {
    static let childEnv = "CCLOAD_STORE_CRASH_CHILD"

    /// The child's body; does nothing in a normal run.
    func testCrashChild() throws {
        guard let path = ProcessInfo.processInfo.environment[Self.childEnv] else { return }
        var o = StoreOptions()
        o.readerThreads = 1
        let store = try Store.open(path: path, options: o)
        let end = monotonicNanos() + 60 * 1_000_000_000  // the parent kills it long before
        var i = 0
        while monotonicNanos() < end {
            var r = StoreTest.record(i, time: 1_700_000_000_000 + UInt64(i), status: i % 10 == 0 ? 500 : 200,
                                     channel: i % 4 + 1, token: i % 3)
            r.userAgent = "crash-test \(i)"
            if store.writer.enqueue(r) { i += 1 } else { usleep(1_000) }
        }
        store.close()
    }

    func testKill9UnderLoadLosesOnlyTheUnflushedBatchAndNeverCorrupts() throws {
        let dir = StoreTest.tempDir()
        defer { StoreTest.remove(dir) }
        let path = dir + "/ccload.db"
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

        let child = Process()
        child.executableURL = URL(fileURLWithPath: exe)
        child.arguments = ["ProxyTests.StoreCrashTests/testCrashChild"]
        var env = ProcessInfo.processInfo.environment
        env[Self.childEnv] = path
        child.environment = env
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()

        // Wait until a good number of rows are committed, reading as another process would.
        var committed: Int64 = 0
        let deadline = monotonicNanos() + 60 * 1_000_000_000
        while monotonicNanos() < deadline {
            usleep(20_000)
            guard let db = try? Database(path: path, create: false) else { continue }
            db.setBusyTimeout(millis: 1_000)
            // The rows and the pending segments' rows: the child writes full batches, so the
            // writer packs nearly all of them (`LogPacking.whenBusy`).
            if let n = try? db.scalarInt("SELECT (SELECT count(*) FROM request_logs) + (SELECT COALESCE(SUM(rows), 0) FROM request_log_pending)"),
               n >= 20_000 {
                committed = n
                break
            }
        }
        XCTAssertGreaterThanOrEqual(committed, 20_000, "the child did not write")
        // Let it keep going a little so the kill lands mid-batch.
        usleep(30_000)
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationReason, .uncaughtSignal)
        XCTAssertEqual(child.terminationStatus, SIGKILL)

        // Reopen (WAL recovery) and check.
        let store = try Store.open(path: path, options: StoreTest.options { $0.quickCheckAtOpen = true })
        defer { store.close() }
        XCTAssertEqual(try store.withConfig { try $0.scalarText("PRAGMA integrity_check") }, "ok")
        let pending = try StoreTest.count(store, "SELECT COALESCE(SUM(rows), 0) FROM request_log_pending")
        XCTAssertGreaterThan(pending, 0, "the child's busy writer packed its batches")
        let seen = try store.read { try $0.logCount() }
        XCTAssertGreaterThanOrEqual(seen, committed, "a committed batch was lost")
        XCTAssertEqual(try StoreTest.count(store, "SELECT SUM(requests) FROM stats_hourly"), seen, "pending rows count as logged")
        // The flush moves the segments left from the child into request_logs.
        store.writer.flush()
        XCTAssertEqual(try StoreTest.count(store, "SELECT COALESCE(SUM(rows), 0) FROM request_log_pending"), 0)
        let rows = try StoreTest.count(store, "SELECT count(*) FROM request_logs")
        XCTAssertEqual(rows, seen)
        // Logs and aggregates were committed together: they agree exactly.
        XCTAssertEqual(try StoreTest.count(store, "SELECT SUM(requests) FROM stats_hourly"), rows)
        XCTAssertEqual(try StoreTest.count(store, "SELECT SUM(errors_5xx) FROM stats_hourly"),
                       try StoreTest.count(store, "SELECT count(*) FROM request_logs WHERE status = 500"))
        // Rows are whole batches in order: ids 0..<rows with no gap.
        XCTAssertEqual(try StoreTest.count(store, "SELECT MAX(request_id) FROM request_logs"), rows - 1)
        // And the store takes writes again.
        store.writer.enqueue(StoreTest.record(1))
        store.writer.flush()
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM request_logs"), rows + 1)
        print("kill -9: \(committed) rows seen committed before the kill, \(rows) after recovery")
    }
}
