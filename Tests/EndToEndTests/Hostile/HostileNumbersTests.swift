import Foundation
import Glibc
import XCTest

/// Numbers nobody controls, end to end: far-future reset times from upstreams and absurd
/// durations from a channel or the admin API. ccload stays up, fails over, and clamps.
final class HostileNumbersTests: AdminDataCase {
    /// A 429 whose reset is `header: value`, then the connection closes.
    private func rateLimited(_ header: String, _ value: String) throws -> ScriptedUpstream {
        try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            let body = #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
            try? conn.send("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\(header): \(value)\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            _ = conn.readUntilClose(timeout: 2)
        }
    }

    func testFarFutureResetTimesFailOverAndCoolAtMostSixHours() throws {
        let year2700 = try startMock(["--status", "429", "--retry-after", "Fri, 01 Jan 2700 00:00:00 GMT"])
        let unified = try rateLimited("anthropic-ratelimit-unified-reset", "99999999999999999")
        let healthy = try startMock()
        let (ccload, _) = try startRelay([
            channel("year2700", url: year2700.url, priority: 30, ["id": 1]),
            channel("unified", url: "http://127.0.0.1:\(unified.port)", priority: 20, ["id": 2]),
            channel("healthy", url: healthy.url, priority: 10, ["id": 3]),
        ])
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        try assertRecord(ccload, channel: 3, status: 200, failures: [(1, 429, "rate_limit"), (2, 429, "rate_limit")])
        let cools = try ccload.cooldowns()
        for ch in [1, 2] {
            let c = try XCTUnwrap(cooldown(cools, "channel \(ch) model \(RelayCase.model)"), "\(cools)")
            let remaining = try XCTUnwrap(c["remaining_ms"] as? Int, "\(c)")
            // Clamped to the explicit maximum (6 h), not wrapped round to the 1 s minimum.
            XCTAssertTrue((6 * 3_600_000 - 60_000...6 * 3_600_000).contains(remaining), "channel \(ch): remaining \(remaining) ms")
        }
        // Still up, and the next request skips the cooling channels.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try year2700.requests(), 1)
        XCTAssertEqual(unified.acceptedCount, 1)
        XCTAssertEqual(try healthy.requests(), 2)
        XCTAssertNil(ccload.process.waitForExit(timeout: 0.1), "ccload exited:\n\(ccload.process.stderrText)")
    }

    /// A channel's own first-byte timeout of 1e300 s (`UInt64(1e300 * 1e9)` trapped on the
    /// first request) is clamped to the setting's maximum where it is used. (Channel input
    /// may refuse such a value outright; then the refusal must name the field.)
    func testAbsurdChannelFirstByteTimeoutIsClamped() throws {
        let mock = try startMock()
        let ccload: CcloadProcess
        do {
            ccload = try startRelay([channel("slow", url: mock.url, ["first_byte_timeout": 1e300])]).ccload
        } catch {
            return XCTAssertTrue("\(error)".contains("first_byte_timeout"), "refused without naming the field: \(error)")
        }
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: true)).status, 200)
        XCTAssertNil(ccload.process.waitForExit(timeout: 0.1), "ccload exited:\n\(ccload.process.stderrText)")
    }

    func testAbsurdFirstByteTimeoutSettingsAreRefusedNamingTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let key = "first_byte_timeout_seconds"
        for bad in ["1e300", "-1", "0", "1.7976931348623157e308", "\"NaN\"", "\"nan\"", "\"inf\"", "\"-inf\"", "\"1e300\"", "3600.5"] {
            try assertBadField(ccload, "PUT", "/admin/settings", #"{"\#(key)":\#(bad)}"#, field: key)
        }
        try adminOK(ccload, "PUT", "/admin/settings", #"{"\#(key)":3600}"#)
        try adminOK(ccload, "PUT", "/admin/settings", #"{"\#(key)":0.01}"#)
        try adminOK(ccload, "PUT", "/admin/settings", #"{"\#(key)":300}"#)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
    }
}
