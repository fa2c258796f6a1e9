import Foundation
import XCTest

@testable import Proxy

/// Local days in a configured zone: the boundary sits at local midnight, DST days are 23
/// or 25 hours long, and a bad zone name is refused.
final class LocalCalendarTests: XCTestCase {
    /// UTC milliseconds of an ISO 8601 time.
    func ms(_ iso: String) -> UInt64 {
        UInt64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
    }

    func testShanghaiDaysTurnAt1600UTC() throws {
        let c = try LocalCalendar.named("Asia/Shanghai")
        let boundary = ms("2026-12-01T16:00:00Z")
        XCTAssertEqual(c.day(boundary) - c.day(boundary - 1), 1, "local midnight is 16:00 UTC")
        XCTAssertEqual(c.day(boundary - 1), c.day(ms("2026-12-01T00:00:00Z")), "00:00 UTC is still the same local day")
        XCTAssertEqual(c.nextDayStart(after: boundary - 1), boundary)
        XCTAssertEqual(c.nextDayStart(after: boundary), boundary + 86_400_000)
        XCTAssertEqual(c.startOfDay(boundary + 5), boundary)
        XCTAssertEqual(c.startOfDay(boundary - 1), boundary - 86_400_000)
        XCTAssertEqual(c.dateText(boundary), "2026-12-02")
        XCTAssertEqual(c.dateText(boundary - 1), "2026-12-01")
        XCTAssertEqual(c.offsetMillis(at: boundary), 8 * 3_600_000)
    }

    func testHalfHourZoneAndUTC() throws {
        let india = try LocalCalendar.named("Asia/Kolkata")
        let b = ms("2026-06-10T18:30:00Z")
        XCTAssertEqual(india.day(b) - india.day(b - 1), 1)
        XCTAssertEqual(india.nextDayStart(after: b - 1), b)
        let utc = try LocalCalendar.named("UTC")
        XCTAssertEqual(utc.day(ms("2026-06-10T00:00:00Z")) - utc.day(ms("2026-06-10T00:00:00Z") - 1), 1)
        XCTAssertEqual(utc.day(ms("2026-06-10T12:00:00Z")), ms("2026-06-10T12:00:00Z") / 86_400_000, "UTC days are today's days")
    }

    func testDaylightSavingDaysAreShorterAndLonger() throws {
        let ny = try LocalCalendar.named("America/New_York")
        // 2024-03-10: clocks go 02:00 → 03:00, a 23-hour day; 2024-11-03: 02:00 → 01:00, 25 hours.
        let march10 = ms("2024-03-10T05:00:00Z"), march11 = ms("2024-03-11T04:00:00Z")
        XCTAssertEqual(ny.startOfDay(march10 + 3_600_000), march10)
        XCTAssertEqual(ny.nextDayStart(after: march10), march11)
        XCTAssertEqual(march11 - march10, 23 * 3_600_000)
        let nov3 = ms("2024-11-03T04:00:00Z"), nov4 = ms("2024-11-04T05:00:00Z")
        XCTAssertEqual(ny.nextDayStart(after: nov3 + 1), nov4)
        XCTAssertEqual(nov4 - nov3, 25 * 3_600_000)
        XCTAssertEqual(ny.day(nov4) - ny.day(nov4 - 1), 1)
        XCTAssertEqual(ny.day(nov4 - 1), ny.day(nov3))
        // Far beyond the tz file's explicit transitions (the zone's rule still applies).
        let july2150 = ms("2150-07-01T12:00:00Z")
        XCTAssertEqual(ny.offsetMillis(at: july2150), -4 * 3_600_000)
    }

    func testBadZoneNamesAreRefusedWithAClearMessage() {
        for bad in ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Asia/Shanghai ", String(repeating: "A", count: 101), "Europe/Berl in"] {
            XCTAssertThrowsError(try LocalCalendar.named(bad), bad) {
                XCTAssertTrue("\($0)".contains("CCLOAD_TZ"), "\($0)")
                XCTAssertTrue("\($0)".contains("tz database"), "\($0)")
            }
        }
        XCTAssertNoThrow(try LocalCalendar.named(nil), "the system's zone")
        XCTAssertNoThrow(try LocalCalendar.named(""))
        XCTAssertNoThrow(try LocalCalendar.named("Etc/GMT+5"))
    }
}
