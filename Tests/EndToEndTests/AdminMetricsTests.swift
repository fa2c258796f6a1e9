import Foundation
import XCTest

/// `/admin/metrics` reports the request log writer and the upstream pools.
final class AdminMetricsTests: RelayCase {
    func testMetricsCountRecordsAndPooledConnections() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        for _ in 0..<3 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        }
        let r = try ccload.get("/admin/metrics", headers: ["Authorization: Bearer \(try ccload.adminToken())"])
        XCTAssertEqual(r.status, 200, r.bodyText)
        guard let j = r.json, let writer = j["request_log_writer"] as? [String: Any] else {
            return XCTFail("no request_log_writer in \(r.bodyText)")
        }
        XCTAssertEqual(writer["accepted"] as? Int, 3)
        XCTAssertEqual(writer["dropped"] as? Int, 0)
        XCTAssertEqual(j["upstream_connections_opened"] as? Int, 1)
        XCTAssertEqual(j["upstream_pooled_reuses"] as? Int, 2)
        XCTAssertEqual(j["cooling_scopes"] as? Int, 0)
        XCTAssertFalse(r.bodyText.contains("sk-secret-"), "a channel key is in the metrics")
    }

    func testMetricsNeedAnAdminSessionNotAClientToken() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], auth: ["metrics-token"])
        XCTAssertEqual(try ccload.get("/admin/metrics").status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["x-api-key: metrics-token"]).status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["Authorization: Bearer metrics-token"]).status, 401)
        XCTAssertEqual(try ccload.get("/admin/metrics", headers: ["Authorization: Bearer \(try ccload.adminToken())"]).status, 200)
    }
}
