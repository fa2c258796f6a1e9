import Foundation
import XCTest

/// `/admin/logs`: filters, keyset pages, the fields of a log, bad parameters.
final class AdminLogsTests: AdminDataCase {
    func testLogsFilterAndPage() throws {
        let ok = try startMock()
        let failing = try startMock(["--status", "500"])
        let (ccload, _) = try startRelay([
            channel("good", url: ok.url, ["models": [RelayCase.model]]),
            channel("bad", url: failing.url, ["models": ["broken-model"]]),
        ])
        for i in 0..<3 { XCTAssertEqual(try proxy(ccload, token: nil, stream: i == 0).status, 200) }
        XCTAssertEqual(try proxy(ccload, token: nil, model: "broken-model").status, 500)
        XCTAssertEqual(try proxy(ccload, token: nil, model: "nobody-serves-this").status, 503)
        let all = try waitForLogs(ccload, 5)
        XCTAssertEqual(all.count, 5)
        let ids = all.compactMap { $0["id"] as? Int }
        XCTAssertEqual(ids, ids.sorted(by: >), "newest first")

        // The fields of one successful log.
        let streamed = try XCTUnwrap(all.last)
        XCTAssertEqual(streamed["channel_name"] as? String, "good")
        XCTAssertEqual(streamed["model"] as? String, RelayCase.model)
        XCTAssertEqual(streamed["upstream_model"] as? String, RelayCase.model)
        XCTAssertEqual(streamed["status"] as? Int, 200)
        XCTAssertEqual(streamed["stream"] as? Bool, true)
        XCTAssertEqual(streamed["input_tokens"] as? Int, 12)
        XCTAssertEqual(streamed["output_tokens"] as? Int, 34)
        XCTAssertGreaterThan(streamed["cost_usd"] as? Double ?? 0, 0)
        XCTAssertNotNil(streamed["ttfb_ms"] as? Double, "\(streamed)")
        XCTAssertNotNil(streamed["duration_ms"] as? Double)
        XCTAssertNotNil(streamed["time_ms"] as? Int)
        for key in ["cache_read_tokens", "cache_write_tokens", "error", "attempts", "token_id", "channel_id"] {
            XCTAssertNotNil(streamed[key], "a log lacks \(key): \(streamed)")
        }

        // Filters.
        let fiveXX = try adminOK(ccload, "GET", "/admin/logs?status_class=5xx")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(fiveXX.map { $0["status"] as? Int }, [503, 500])
        let failed = try XCTUnwrap(fiveXX.last)
        XCTAssertEqual(failed["channel_name"] as? String, "bad")
        XCTAssertEqual((failed["attempts"] as? [[String: Any]])?.first?["status"] as? Int, 500, "\(failed)")
        XCTAssertNotNil(failed["error"] as? String)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?status_class=2xx")["data"] as? [Any])?.count, 3)
        let goodID = try XCTUnwrap(streamed["channel_id"] as? Int)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?channel_id=\(goodID)")["data"] as? [Any])?.count, 3)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?model=broken-model")["data"] as? [Any])?.count, 1)
        let first = try XCTUnwrap(streamed["time_ms"] as? Int)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?from_ms=\(first + 3_600_000)")["data"] as? [Any])?.count, 0)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?to_ms=\(first)")["data"] as? [Any])?.count, 0)

        // Keyset pages of two.
        var seen: [Int] = []
        var before: Int?
        for _ in 0..<4 {
            let page = try adminOK(ccload, "GET", "/admin/logs?limit=2" + (before.map { "&before_id=\($0)" } ?? ""))
            seen += (page["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            XCTAssertNotNil(page["next_before_id"], "next_before_id is always present")
            guard let next = page["next_before_id"] as? Int else { break }
            before = next
        }
        XCTAssertEqual(seen, ids, "the pages hold every log once, newest first")
        assertNoSecrets(ccload, [])
    }

    func testBadParametersNameTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        try assertBadField(ccload, "GET", "/admin/logs?status_class=7xx", field: "status_class")
        try assertBadField(ccload, "GET", "/admin/logs?limit=0", field: "limit")
        try assertBadField(ccload, "GET", "/admin/logs?limit=501", field: "limit")
        try assertBadField(ccload, "GET", "/admin/logs?from_ms=2000&to_ms=1000", field: "from_ms")
        try assertBadField(ccload, "GET", "/admin/logs?from_ms=yesterday", field: "from_ms")
        try assertBadField(ccload, "GET", "/admin/logs?channel_id=-1", field: "channel_id")
        try assertBadField(ccload, "GET", "/admin/logs?before_id=x", field: "before_id")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/logs?limit=500").status, 200)
        try assertGuarded(ccload, "GET", "/admin/logs")
    }
}
