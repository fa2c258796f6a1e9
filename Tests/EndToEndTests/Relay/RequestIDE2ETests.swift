import Foundation
import XCTest

/// `x-request-id` on every answer (proxy, refusals at the head, admin): the client's own
/// when sane, else a fresh one; the same id in the stored request record, searchable
/// through `/admin/logs?request_id=`.
final class RequestIDE2ETests: AdminDataCase {
    /// ccload's own ids: 12 hex digits, a dash, 16 hex digits.
    func isFresh(_ v: String?) -> Bool {
        guard let v, v.count == 29 else { return false }
        let parts = v.split(separator: "-")
        return parts.count == 2 && parts[0].count == 12 && parts[1].count == 16
            && v.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase }
    }

    func testEveryAnswerCarriesARequestIDAndTheRecordKeepsIt() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let ccload = try startOn(db: db, channelsFile: try writeChannelsFile([channel("a", url: mock.url)]))
        let body = anthropicBody(stream: false)

        // No id sent: a fresh one, different per request.
        let first = try ccload.post("/v1/messages", body)
        let second = try ccload.post("/v1/messages", body)
        XCTAssertEqual(first.status, 200, first.bodyText)
        XCTAssertTrue(isFresh(first.header("x-request-id")), "\(first.header("x-request-id") ?? "none")")
        XCTAssertNotEqual(first.header("x-request-id"), second.header("x-request-id"))
        XCTAssertEqual(first.headers(named: "x-request-id").count, 1, "one id per answer")

        // A sane id is echoed, at the limit too; one over the limit or with a bad byte is replaced.
        let mine = "client-6f1e2a40-7b3c-4d5e"
        XCTAssertEqual(try ccload.post("/v1/messages", body, headers: ["X-Request-Id: \(mine)"]).header("x-request-id"), mine)
        let longest = String(repeating: "L", count: 64)
        XCTAssertEqual(try ccload.post("/v1/messages", body, headers: ["x-request-id: \(longest)"]).header("x-request-id"), longest)
        for bad in [longest + "L", "has space", "semi;colon", "quote\"d"] {
            let r = try ccload.post("/v1/messages", body, headers: ["x-request-id: \(bad)"])
            XCTAssertEqual(r.status, 200)
            XCTAssertTrue(isFresh(r.header("x-request-id")), "\(bad) → \(r.header("x-request-id") ?? "none")")
        }
        // Streamed answers, refusals at the head, unknown paths, health and admin answers too.
        let streamed = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: ["x-request-id: streamed-1"])
        XCTAssertEqual(streamed.header("x-request-id"), "streamed-1")
        XCTAssertEqual(try ccload.get("/v1/nowhere", headers: ["x-request-id: lost-1"]).header("x-request-id"), "lost-1")
        XCTAssertTrue(isFresh(try ccload.get("/health").header("x-request-id")))
        let session = try admin(ccload, "GET", "/admin/session")
        XCTAssertEqual(session.status, 200)
        XCTAssertTrue(isFresh(session.header("x-request-id")), session.header("x-request-id") ?? "none")
        XCTAssertTrue(isFresh(try admin(ccload, "GET", "/admin/session", auth: .none).header("x-request-id")), "a 401 too")

        // The record keeps the id and is found by it.
        let logs = try waitForLogs(ccload, 9)
        XCTAssertTrue(logs.contains { $0["request_id"] as? String == first.header("x-request-id") }, "\(logs.map { $0["request_id"] ?? "" })")
        let found = try adminOK(ccload, "GET", "/admin/logs?request_id=\(mine)")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertEqual(found.first?["request_id"] as? String, mine)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?request_id=streamed-1")["data"] as? [Any])?.count, 1)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/logs?request_id=nobody")["data"] as? [Any])?.count, 0)
        try assertBadField(ccload, "GET", "/admin/logs?request_id=\(longest)L", field: "request_id")
        try assertBadField(ccload, "GET", "/admin/logs?request_id=a%20b", field: "request_id")
        // The in-memory ring's id is stored too (it was always 0).
        let ids = try rows(db, "SELECT request_id FROM request_logs ORDER BY id").compactMap { $0.first as? Int }
        XCTAssertEqual(ids.count, 9)
        XCTAssertFalse(ids.contains(0), "request_logs.request_id: \(ids)")
        XCTAssertEqual(Set(ids).count, ids.count, "one ring id per record: \(ids)")
        let recent = try ccload.records()
        XCTAssertEqual(Set(recent.compactMap { $0["id"] as? Int }).intersection(ids).count, 9, "the ring ids are the stored ones")
    }

    func testARefusalAtTheHeadCarriesTheClientsID() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)], auth: ["sk-client-token-123456"])
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-request-id: refused-7"])
        XCTAssertEqual(r.status, 401, r.bodyText)
        XCTAssertEqual(r.header("x-request-id"), "refused-7")
        let fresh = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(fresh.status, 401)
        XCTAssertTrue(isFresh(fresh.header("x-request-id")), fresh.header("x-request-id") ?? "none")
    }
}
