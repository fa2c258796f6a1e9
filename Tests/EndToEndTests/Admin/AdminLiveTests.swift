import Foundation
import Glibc
import XCTest

/// `/admin/active-requests`: a request shows while it streams (from whichever loop holds
/// it) and is gone once it ends.
final class AdminLiveTests: AdminDataCase {
    func activeRequests(_ ccload: CcloadProcess) throws -> [[String: Any]] {
        try adminOK(ccload, "GET", "/admin/active-requests")["data"] as? [[String: Any]] ?? []
    }

    /// Polls (bounded) until `predicate` holds for the list.
    func waitForActive(_ ccload: CcloadProcess, timeout: Double = 5, _ predicate: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let list = try activeRequests(ccload)
            if predicate(list) { return list }
            if Date() > deadline { throw TestFailure("active requests never matched within \(timeout) s: \(list)") }
            usleep(20_000)
        }
    }

    func testAStreamingRequestShowsWhileInFlightAndNotAfter() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("live", url: mock.url)], ["CCLOAD_THREADS": "2"])
        XCTAssertEqual(try activeRequests(ccload).count, 0)
        let gate = gateName()
        let client = try ccload.connect()
        try client.send(messagesRequest(query: "events=4&gate=\(gate)",
                                        body: anthropicBody(stream: true)))
        let list = try waitForActive(ccload) { $0.count == 1 && ($0.first?["bytes_streamed"] as? Int ?? 0) > 0 }
        let a = try XCTUnwrap(list.first)
        XCTAssertEqual(a["channel_name"] as? String, "live")
        XCTAssertNotNil(a["channel_id"] as? Int)
        XCTAssertEqual(a["model"] as? String, RelayCase.model)
        XCTAssertEqual(a["protocol"] as? String, "anthropic")
        XCTAssertEqual(a["stream"] as? Bool, true)
        XCTAssertEqual(a["client"] as? String, "127.0.0.1")
        XCTAssertNotNil(a["id"] as? Int)
        XCTAssertGreaterThanOrEqual(a["elapsed_ms"] as? Int ?? -1, 0)
        // The fleet view: this instance alone, holding the request.
        let fleet = try adminOK(ccload, "GET", "/admin/instances")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(fleet.count, 1, "\(fleet)")
        XCTAssertEqual(fleet.first?["local"] as? Bool, true)
        XCTAssertEqual(fleet.first?["active_requests"] as? Int, 1)
        XCTAssertEqual(fleet.first?["active_streams"] as? Int, 1)
        XCTAssertGreaterThan(fleet.first?["started_ms"] as? Int ?? 0, 0)
        let name = try XCTUnwrap(fleet.first?["name"] as? String)
        XCTAssertFalse(name.isEmpty)
        XCTAssertEqual(a["instance"] as? String, name)
        // The metrics count it too.
        let metrics = try adminOK(ccload, "GET", "/admin/metrics")
        XCTAssertEqual(metrics["active_requests"] as? Int, 1, "\(metrics)")
        XCTAssertEqual(metrics["active_streams"] as? Int, 1)
        // Later, it has been in flight longer.
        usleep(150_000)
        let later = try XCTUnwrap(try activeRequests(ccload).first)
        XCTAssertGreaterThanOrEqual(later["elapsed_ms"] as? Int ?? 0, 150)

        try mock.release(gate: gate)
        let r = try client.readResponse(timeout: 10)
        XCTAssertEqual(r.status, 200)
        assertCompleteAnthropicStream(r, events: 4)
        _ = try waitForActive(ccload) { $0.isEmpty }
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/metrics")["active_streams"] as? Int, 0)
        try assertGuarded(ccload, "GET", "/admin/active-requests")
        try assertGuarded(ccload, "GET", "/admin/instances")
        assertNoSecrets(ccload, [])
    }

    func testAClientThatLeavesIsNoLongerActive() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("live", url: mock.url)])
        let gate = gateName()
        var client: RawConnection? = try ccload.connect()
        try client!.send(messagesRequest(query: "events=4&gate=\(gate)", body: anthropicBody(stream: true)))
        _ = try waitForActive(ccload) { $0.count == 1 }
        client = nil  // closes the connection
        _ = try waitForActive(ccload) { $0.isEmpty }
        try mock.release(gate: gate)
    }
}
