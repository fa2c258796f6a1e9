import Foundation
import XCTest

/// `GET /admin/jobs` and `CCLOAD_TZ` against the real binary: the daily reset runs at the
/// configured zone's midnight, retention shows its last pass, a bad zone stops the start.
final class AdminJobsTests: AdminDataCase {
    func job(_ j: [String: Any], _ name: String) throws -> [String: Any] {
        let list = j["data"] as? [[String: Any]] ?? []
        return try XCTUnwrap(list.first { $0["name"] as? String == name }, "no \(name) in \(list)")
    }

    func testJobsListTheDailyResetAtTheZonesMidnightAndRetention() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], ["CCLOAD_TZ": "Asia/Shanghai"])
        try assertGuarded(ccload, "GET", "/admin/jobs")
        let j = try adminOK(ccload, "GET", "/admin/jobs")
        XCTAssertEqual(j["time_zone"] as? String, "Asia/Shanghai")
        let reset = try job(j, "daily_reset")
        XCTAssertTrue(reset["last_run_ms"] is NSNull, "no local midnight has passed since the start: \(reset)")
        XCTAssertTrue(reset["outcome"] is NSNull)
        XCTAssertEqual(reset["runs"] as? Int, 0)
        // The next run is the next 16:00 UTC (Shanghai is UTC+8 all year).
        let next = try XCTUnwrap(reset["next_run_ms"] as? Int)
        let now = Int(Date().timeIntervalSince1970 * 1000)
        XCTAssertEqual(next % 86_400_000, 16 * 3_600_000, "\(next)")
        XCTAssertGreaterThan(next, now)
        XCTAssertLessThanOrEqual(next - now, 86_400_000)
        XCTAssertTrue((reset["summary"] as? String)?.contains("00:00 Asia/Shanghai") == true, "\(reset)")
        let retention = try job(j, "retention")
        XCTAssertNotNil(retention["next_run_ms"] as? Int)
        XCTAssertTrue((retention["summary"] as? String)?.contains("30 days") == true, "\(retention)")
        // A changed retention shows at once.
        try adminOK(ccload, "PUT", "/admin/settings", #"{"log_retention_days":7}"#)
        XCTAssertTrue((try job(try adminOK(ccload, "GET", "/admin/jobs"), "retention")["summary"] as? String)?.contains("7 days") == true)
    }

    func testTheSystemZoneIsTheDefault() throws {
        let mock = try startMock()
        // No CCLOAD_TZ: the system's zone (here set with TZ), Tokyo, UTC+9 all year.
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], ["TZ": "Asia/Tokyo"])
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/jobs")["time_zone"] as? String, "Asia/Tokyo")
        let next = try XCTUnwrap(try job(try adminOK(ccload, "GET", "/admin/jobs"), "daily_reset")["next_run_ms"] as? Int)
        XCTAssertEqual(next % 86_400_000, 15 * 3_600_000, "Tokyo midnight is 15:00 UTC")
    }

    func testAnUnknownZoneStopsTheStartWithAClearError() throws {
        for zone in ["Mars/Olympus_Mons", "../../etc/passwd"] {
            let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                         environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_PASS": CcloadProcess.adminPassword,
                                                       "SQLITE_PATH": tempDatabase(), "CCLOAD_TZ": zone])
            track(p)
            let status = p.waitForExit(timeout: 20)
            XCTAssertNotNil(status, "ccload did not exit")
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(p.waitForOutput("CCLOAD_TZ") && p.waitForOutput(zone), p.stderrText)
        }
    }
}
