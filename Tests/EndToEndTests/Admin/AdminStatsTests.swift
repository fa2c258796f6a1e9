import Foundation
import XCTest

/// `/admin/stats` and `/admin/trends`: groups with names, totals, TTFB percentiles,
/// every hour of a trend present.
final class AdminStatsTests: AdminDataCase {
    func testStatsGroupAndTrendsFillEveryHour() throws {
        let ok = try startMock()
        let failing = try startMock(["--status", "500"])
        let (ccload, _) = try startRelay([
            channel("good", url: ok.url, ["models": [RelayCase.model]]),
            channel("bad", url: failing.url, ["models": ["broken-model"]]),
        ])
        let tokenReply = try adminOK(ccload, "POST", "/admin/tokens", #"{"name":"stats-token"}"#, status: 201)
        forgetLastAnswer()
        let secret = try XCTUnwrap(tokenReply["secret"] as? String)
        for _ in 0..<3 { XCTAssertEqual(try proxy(ccload, token: secret).status, 200) }
        XCTAssertEqual(try proxy(ccload, token: secret, model: "broken-model").status, 500)
        try waitForLogs(ccload, 4)
        // The hourly statistics are written with the logs, in the same batch.

        let byChannel = try adminOK(ccload, "GET", "/admin/stats?by=channel")
        let rows = byChannel["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(rows.compactMap { $0["name"] as? String }, ["good", "bad"], "\(rows)")
        let good = try XCTUnwrap(rows.first)
        XCTAssertEqual(good["requests"] as? Int, 3)
        XCTAssertEqual(good["successes"] as? Int, 3)
        XCTAssertEqual(good["success_rate"] as? Double, 1)
        XCTAssertEqual(good["input_tokens"] as? Int, 36)
        XCTAssertNotNil(good["ttfb_p50_ms"] as? Double, "\(good)")
        XCTAssertNotNil(good["ttfb_p95_ms"] as? Double, "\(good)")
        XCTAssertGreaterThanOrEqual(good["ttfb_p95_ms"] as? Double ?? 0, good["ttfb_p50_ms"] as? Double ?? 1)
        let bad = try XCTUnwrap(rows.last)
        XCTAssertEqual(bad["errors_5xx"] as? Int, 1)
        XCTAssertEqual(bad["success_rate"] as? Double, 0)
        let totals = try XCTUnwrap(byChannel["totals"] as? [String: Any])
        XCTAssertEqual(totals["requests"] as? Int, 4)
        XCTAssertEqual(totals["successes"] as? Int, 3)
        XCTAssertEqual(totals["errors_5xx"] as? Int, 1)
        for key in ["errors_4xx", "errors_other", "rate_limited", "failovers", "output_tokens", "cache_read_tokens",
                    "cache_write_tokens", "cost_usd", "ttfb_mean_ms"] {
            XCTAssertNotNil(totals[key], "Stats lacks \(key): \(totals)")
        }

        let byModel = try adminOK(ccload, "GET", "/admin/stats?by=model")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(byModel.compactMap { $0["key"] as? String }), [RelayCase.model, "broken-model"])
        let byToken = try adminOK(ccload, "GET", "/admin/stats?by=token")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(byToken.first?["name"] as? String, "stats-token")
        XCTAssertEqual(byToken.first?["requests"] as? Int, 4)
        // A window that ended before the requests is empty.
        let empty = try adminOK(ccload, "GET", "/admin/stats?from_ms=1000&to_ms=2000")
        XCTAssertEqual((empty["data"] as? [Any])?.count, 0)
        XCTAssertEqual((empty["totals"] as? [String: Any])?["requests"] as? Int, 0)

        // Trends: every hour, zeros included, the requests in the last hour.
        let day = try adminOK(ccload, "GET", "/admin/trends")
        XCTAssertEqual(day["range"] as? String, "24h")
        XCTAssertEqual(day["bucket_ms"] as? Int, 3_600_000)
        let points = day["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(points.count, 24)
        let hours = points.compactMap { $0["hour_ms"] as? Int }
        XCTAssertEqual(hours.count, 24)
        XCTAssertTrue(zip(hours, hours.dropFirst()).allSatisfy { $1 - $0 == 3_600_000 }, "hours not contiguous: \(hours)")
        XCTAssertEqual(points.compactMap { $0["requests"] as? Int }.reduce(0, +), 4)
        XCTAssertEqual(points.first?["requests"] as? Int, 0, "an empty hour is a zero")
        XCTAssertTrue(points.first?["ttfb_p50_ms"] is NSNull, "an empty hour has no percentile")
        let busy = try XCTUnwrap(points.last { ($0["requests"] as? Int ?? 0) > 0 })
        XCTAssertNotNil(busy["ttfb_p50_ms"] as? Double, "an hour with requests has its TTFB p50: \(busy)")
        XCTAssertNotNil(busy["ttfb_p95_ms"] as? Double, "\(busy)")
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/trends?range=7d")["data"] as? [Any])?.count, 168)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/trends?range=30d")["data"] as? [Any])?.count, 720)
        let filtered = try adminOK(ccload, "GET", "/admin/trends?model=broken-model")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(filtered.compactMap { $0["requests"] as? Int }.reduce(0, +), 1)
        let goodID = try XCTUnwrap(Int(good["key"] as? String ?? ""))
        let byGood = try adminOK(ccload, "GET", "/admin/trends?channel_id=\(goodID)")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(byGood.compactMap { $0["successes"] as? Int }.reduce(0, +), 3)
        assertNoSecrets(ccload, [secret])
    }

    func testBadParametersNameTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        try assertBadField(ccload, "GET", "/admin/stats?by=day", field: "by")
        try assertBadField(ccload, "GET", "/admin/stats?from_ms=5&to_ms=4", field: "from_ms")
        try assertBadField(ccload, "GET", "/admin/stats?to_ms=soon", field: "to_ms")
        try assertBadField(ccload, "GET", "/admin/trends?range=2d", field: "range")
        try assertBadField(ccload, "GET", "/admin/trends?token_id=abc", field: "token_id")
        try assertGuarded(ccload, "GET", "/admin/stats")
        try assertGuarded(ccload, "GET", "/admin/trends")
    }
}
