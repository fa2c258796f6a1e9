import Foundation
import XCTest

/// `/admin/tokens`: every change is enforced by the proxy at once, the secret is shown
/// once, bad input is refused naming the field.
final class AdminTokensTests: AdminDataCase {
    func testTokenChangesApplyToTheProxyAtOnce() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url, ["models": [RelayCase.model, "other-model"]])])
        // A token that stays, so the proxy keeps requiring tokens when the other is deleted.
        let (_, keeper) = try createToken(ccload, #"{"name":"keeper"}"#)
        let (id, secret) = try createToken(ccload, #"{"name":"ci","daily_cost_cap_usd":2.5}"#)
        XCTAssertTrue(secret.hasPrefix("ccl-"), secret)

        XCTAssertEqual(try proxy(ccload, token: secret).status, 200)
        XCTAssertEqual(try proxy(ccload, token: keeper).status, 200)
        XCTAssertEqual(try proxy(ccload, token: nil).status, 401, "a request without a token must be refused once tokens exist")

        let listed = try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]] ?? []
        let mine = try XCTUnwrap(listed.first { $0["id"] as? Int == id })
        XCTAssertEqual(mine["prefix"] as? String, String(secret.prefix(8)))
        XCTAssertEqual(mine["daily_cost_cap_usd"] as? Double, 2.5)
        XCTAssertTrue(mine["requests_per_minute"] is NSNull, "an unset limit is null: \(mine)")
        for key in ["name", "created_ms", "last_used_ms", "enabled", "expires_at_ms", "allowed_models", "total_cost_cap_usd",
                    "max_concurrency", "total_cost_usd", "total_requests", "today_cost_usd"] {
            XCTAssertNotNil(mine[key], "TokenView lacks \(key): \(mine)")
        }

        // Disabled → 401.
        XCTAssertEqual(try adminOK(ccload, "PUT", "/admin/tokens/\(id)", #"{"enabled":false}"#)["enabled"] as? Bool, false)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 401)
        // Enabled, limited to one model → 403 for another.
        try adminOK(ccload, "PUT", "/admin/tokens/\(id)", #"{"enabled":true,"allowed_models":["other-model"]}"#)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 403)
        XCTAssertEqual(try proxy(ccload, token: secret, model: "other-model").status, 200)
        // Any model again: null clears the list, a field left out keeps its value.
        let cleared = try adminOK(ccload, "PUT", "/admin/tokens/\(id)", #"{"allowed_models":null}"#)
        XCTAssertTrue(cleared["allowed_models"] is NSNull, "null clears the model list: \(cleared)")
        XCTAssertEqual(cleared["daily_cost_cap_usd"] as? Double, 2.5, "a field left out keeps its value")
        XCTAssertEqual(try proxy(ccload, token: secret).status, 200)
        // One request a minute (on a token that made none yet) → the second is 429.
        let (rpmID, rpmSecret) = try createToken(ccload, #"{"name":"rpm"}"#)
        avoidMinuteBoundary()
        XCTAssertEqual(try adminOK(ccload, "PUT", "/admin/tokens/\(rpmID)", #"{"requests_per_minute":1}"#)["requests_per_minute"] as? Int, 1)
        XCTAssertEqual(try proxy(ccload, token: rpmSecret).status, 200)
        let second = try proxy(ccload, token: rpmSecret)
        XCTAssertEqual(second.status, 429, second.bodyText)
        XCTAssertNotNil(second.header("retry-after"))
        // Cleared → served again.
        try adminOK(ccload, "PUT", "/admin/tokens/\(rpmID)", #"{"requests_per_minute":null}"#)
        XCTAssertEqual(try proxy(ccload, token: rpmSecret).status, 200)
        // Deleted → 401; the other token still works.
        XCTAssertEqual(try adminOK(ccload, "DELETE", "/admin/tokens/\(id)")["deleted"] as? Bool, true)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 401)
        XCTAssertEqual(try proxy(ccload, token: keeper).status, 200)
        XCTAssertEqual(try admin(ccload, "GET", "/admin/tokens/\(id)").status, 404)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/tokens/\(id)").status, 404)
        assertNoSecrets(ccload, [secret, keeper, rpmSecret])
    }

    /// The token is checked (hashed) once, at the head, and that outcome is carried to the
    /// request; a token deleted between the head and the body is still refused, as the
    /// carried outcome counts only under the token set that produced it.
    func testATokenDeletedBetweenHeadAndBodyIsRefused() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let (_, keeper) = try createToken(ccload, #"{"name":"keeper"}"#)
        let (id, secret) = try createToken(ccload, #"{"name":"going"}"#)
        let body = anthropicBody(stream: false)
        let request = messagesRequest(headers: ["x-api-key: \(secret)"], body: body)
        let split = request.utf8.count - body.utf8.count
        // Served when nothing changes in between.
        let c = try ccload.connect()
        try c.send(Array(request.utf8.prefix(split)))
        usleep(200_000)
        try c.send(Array(request.utf8.dropFirst(split)))
        XCTAssertEqual(try c.readResponse(timeout: 10).status, 200)
        // The head passes; the token goes; then the body arrives.
        let d = try ccload.connect()
        try d.send(Array(request.utf8.prefix(split)))
        usleep(200_000)
        XCTAssertEqual(try adminOK(ccload, "DELETE", "/admin/tokens/\(id)")["deleted"] as? Bool, true)
        usleep(200_000)
        try d.send(Array(request.utf8.dropFirst(split)))
        let r = try d.readResponse(timeout: 10)
        XCTAssertEqual(r.status, 401, r.bodyText)
        XCTAssertEqual(try proxy(ccload, token: keeper).status, 200)
        assertNoSecrets(ccload, [secret, keeper])
    }

    func testUsageCountsTheTokensRequests() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let (id, secret) = try createToken(ccload, #"{"name":"usage"}"#)
        for _ in 0..<2 { XCTAssertEqual(try proxy(ccload, token: secret).status, 200) }
        let logs = try waitForLogs(ccload, 2, query: "token_id=\(id)")
        XCTAssertEqual(logs.first?["token_id"] as? Int, id)
        XCTAssertEqual(logs.first?["token_name"] as? String, "usage")

        let usage = try adminOK(ccload, "GET", "/admin/tokens/\(id)/usage?range=24h")
        let totals = try XCTUnwrap(usage["totals"] as? [String: Any])
        XCTAssertEqual(totals["requests"] as? Int, 2, "\(totals)")
        XCTAssertEqual(totals["successes"] as? Int, 2)
        XCTAssertEqual(totals["input_tokens"] as? Int, 24)
        XCTAssertGreaterThan(totals["cost_usd"] as? Double ?? 0, 0)
        let trend = try XCTUnwrap(usage["trend"] as? [[String: Any]])
        XCTAssertEqual(trend.count, 24)
        XCTAssertEqual(trend.compactMap { $0["requests"] as? Int }.reduce(0, +), 2)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/tokens/\(id)/usage?range=7d")["trend"] as? [Any])?.count, 168)
        try assertBadField(ccload, "GET", "/admin/tokens/\(id)/usage?range=2d", field: "range")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/tokens/999/usage").status, 404)

        let view = try adminOK(ccload, "GET", "/admin/tokens/\(id)")
        XCTAssertEqual(view["total_requests"] as? Int, 2, "\(view)")
        XCTAssertGreaterThan(view["today_cost_usd"] as? Double ?? 0, 0, "\(view)")
        XCTAssertNotNil(view["last_used_ms"] as? Int, "\(view)")
        assertNoSecrets(ccload, [secret])
    }

    func testBadInputNamesTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"requests_per_minute":5}"#, field: "name")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"  "}"#, field: "name")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","requests_per_minute":0}"#, field: "requests_per_minute")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","requests_per_minute":"5"}"#, field: "requests_per_minute")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","daily_cost_cap_usd":-1}"#, field: "daily_cost_cap_usd")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","allowed_models":[]}"#, field: "allowed_models")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","max_concurrency":0}"#, field: "max_concurrency")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","secret":"mine"}"#, field: "secret")
        XCTAssertEqual(try admin(ccload, "POST", "/admin/tokens", "not json").status, 400)
        let (id, secret) = try createToken(ccload, #"{"name":"ok"}"#)
        try assertBadField(ccload, "PUT", "/admin/tokens/\(id)", #"{"enabled":null}"#, field: "enabled")
        try assertBadField(ccload, "PUT", "/admin/tokens/\(id)", #"{"name":null}"#, field: "name")
        try assertBadField(ccload, "PUT", "/admin/tokens/abc", #"{"enabled":true}"#, field: "id")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/tokens/999", #"{"enabled":true}"#).status, 404)
        // Nothing was created by the refused calls.
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [Any])?.count, 1)
        assertNoSecrets(ccload, [secret])
    }

    func testSessionAndSameOriginAreRequired() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        try assertGuarded(ccload, "GET", "/admin/tokens")
        try assertGuarded(ccload, "POST", "/admin/tokens", #"{"name":"x"}"#)
        try assertGuarded(ccload, "GET", "/admin/tokens/1")
        try assertGuarded(ccload, "PUT", "/admin/tokens/1", #"{"enabled":false}"#)
        try assertGuarded(ccload, "DELETE", "/admin/tokens/1")
        try assertGuarded(ccload, "GET", "/admin/tokens/1/usage")
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [Any])?.count, 0, "a refused call created a token")
        // The cookie with a same-site Origin may change things.
        let r = try admin(ccload, "POST", "/admin/tokens", #"{"name":"by-cookie"}"#, auth: .cookie(sameOrigin: true))
        XCTAssertEqual(r.status, 201, r.bodyText)
        forgetLastAnswer()
        let secret = r.json?["secret"] as? String ?? "none"
        assertNoSecrets(ccload, [secret])
    }
}
