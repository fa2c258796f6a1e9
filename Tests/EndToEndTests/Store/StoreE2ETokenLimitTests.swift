import Foundation
import Glibc
import XCTest

/// Client token limits kept in the store, enforced on the relay path: each limit refuses
/// in the protocol's error shape (naming the limit, with retry-after where it resets) and
/// lets through what it should. The limits are set in the database between two runs (the
/// admin API comes later): run 1 seeds the tokens from CCLOAD_AUTH, then SQL sets them.
final class StoreE2ETokenLimitTests: StoreE2ECase {
    static let limited = "ccl-limit-user-Qw52Ee8Rt1Yu"
    static let other = "ccl-limit-other-Zx90Cv7Bn6Mm"
    static let admin = "ccl-limit-admin-Ab34Cd56Ef78"
    /// 1 µUSD per input and per output token: the mock's default answer (12 in, 34 out) costs 46 µUSD.
    static let pricedModel = "e2e-priced-1"

    private var db = ""
    private var channelsFile = ""
    private var pricesFile = ""

    /// Seeds the three tokens, applies `limitedSQL` (a SET clause) to the limited token and
    /// `otherSQL` to the other, and starts ccload on the result.
    private func start(limited limitedSQL: String, other otherSQL: String? = nil) throws -> (CcloadProcess, MockUpstream) {
        let mock = try startMock()
        db = tempDatabase()
        channelsFile = try writeChannelsFile([channel("anth", url: mock.url, priority: 5),
                                              channel("oai", "openai", url: mock.url, priority: 5)])
        pricesFile = NSTemporaryDirectory() + "ccload-store-e2e-prices-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        let prices = "{\"\(Self.pricedModel)\": {\"input\": 1, \"output\": 1}}"
        try Data(prices.utf8).write(to: URL(fileURLWithPath: pricesFile))
        let pf = pricesFile
        onTearDown { try? FileManager.default.removeItem(atPath: pf) }

        let seed = try startCcloadHere()
        stopGracefully(seed)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM auth_tokens"), 3)
        var statements = ["UPDATE auth_tokens SET \(limitedSQL) WHERE hash = sha256('\(Self.limited)')", "SELECT changes()"]
        if let otherSQL {
            statements += ["UPDATE auth_tokens SET \(otherSQL) WHERE hash = sha256('\(Self.other)')", "SELECT changes()"]
        }
        let r = try sql(db, statements)
        XCTAssertEqual(r[1].first?.first as? Int, 1, "the limited token was not updated")
        if otherSQL != nil { XCTAssertEqual(r[3].first?.first as? Int, 1, "the other token was not updated") }
        return (try startCcloadHere(), mock)
    }

    /// ccload on this test's database, channels and prices.
    private func startCcloadHere() throws -> CcloadProcess {
        try startOn(db: db, channelsFile: channelsFile, auth: [Self.limited, Self.other, Self.admin],
                    ["CCLOAD_PRICES_FILE": pricesFile])
    }

    private func anthropic(_ c: CcloadProcess, _ token: String = StoreE2ETokenLimitTests.limited,
                           model: String = RelayCase.model, stream: Bool = false) throws -> HTTPResponse {
        try c.post("/v1/messages", anthropicBody(model: model, stream: stream), headers: ["x-api-key: \(token)"])
    }

    private func message(_ r: HTTPResponse) -> String {
        ((r.json?["error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    private func assertRetryAfter(_ r: HTTPResponse, in range: ClosedRange<Int>, file: StaticString = #filePath, line: UInt = #line) {
        guard let v = r.header("retry-after"), let n = Int(v) else {
            return XCTFail("no numeric retry-after: \(r.headers)", file: file, line: line)
        }
        XCTAssertTrue(range.contains(n), "retry-after \(n) not in \(range)", file: file, line: line)
    }

    private func assertNoSecrets(_ c: CcloadProcess, file: StaticString = #filePath, line: UInt = #line) {
        let log = c.process.stderrText
        for s in [Self.limited, Self.other, Self.admin] {
            XCTAssertFalse(log.contains(s), "a client secret in ccload's log", file: file, line: line)
        }
    }

    /// The refused request's record: its status, the limited token's id, and no channel reached.
    private func assertRefusalRecorded(_ c: CcloadProcess, status: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let recs = try c.waitForRecords(1)
        let tokenID = try int(db, "SELECT id FROM auth_tokens WHERE hash = sha256('\(Self.limited)')")
        let refused = recs.filter { $0["status"] as? Int == status && $0["token_id"] as? Int == tokenID }
        XCTAssertFalse(refused.isEmpty, "no \(status) record for the limited token: \(recs)", file: file, line: line)
    }

    func testRequestsPerMinute() throws {
        avoidMinuteBoundary()
        let (ccload, mock) = try start(limited: "rpm_limit = 2")
        for i in 0..<2 { XCTAssertEqual(try anthropic(ccload).status, 200, "request \(i + 1) of 2") }
        let third = try anthropic(ccload)
        assertErrorShape(third, status: 429, type: "rate_limit_error")
        XCTAssertTrue(message(third).contains("2 requests per minute"), message(third))
        assertRetryAfter(third, in: 1...60)
        // The same limit in OpenAI's shape on the OpenAI endpoint.
        let oai = try ccload.post("/v1/chat/completions", chatBody(stream: false), headers: ["Authorization: Bearer \(Self.limited)"])
        XCTAssertEqual(oai.status, 429, oai.bodyText)
        let e = try XCTUnwrap(oai.json?["error"] as? [String: Any], "not OpenAI's error shape: \(oai.bodyText)")
        XCTAssertEqual(e["code"] as? String, "rate_limit_exceeded")
        XCTAssertEqual(e["type"] as? String, "rate_limit_error")
        assertRetryAfter(oai, in: 1...60)
        // Another token is not limited by it.
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200)
        XCTAssertEqual(try mock.requests(), 3, "a refused request reached the upstream")
        try assertRefusalRecorded(ccload, status: 429)
        assertNoSecrets(ccload)
    }

    func testConcurrency() throws {
        let (ccload, mock) = try start(limited: "concurrency_limit = 1")
        let gate = gateName()
        let first = try ccload.connect()
        let body = anthropicBody(stream: true)
        try first.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: \(Self.limited)\r\nx-mock-gate: \(gate)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(first.readUntil(contains: "token0 ", timeout: 5), "the first stream did not start: \(first.buffer.count) bytes")
        let second = try anthropic(ccload)
        assertErrorShape(second, status: 429, type: "rate_limit_error")
        XCTAssertTrue(message(second).contains("1 concurrent"), message(second))
        assertRetryAfter(second, in: 1...60)
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200, "another token is not limited")
        XCTAssertEqual(try mock.requests(), 2)
        try mock.release(gate: gate)
        let r = try first.readResponse(timeout: 10)
        assertCompleteAnthropicStream(r)
        // Once the first request's record is in (it is written after its end), the slot is free.
        _ = try ccload.waitForRecords(3)
        XCTAssertEqual(try anthropic(ccload).status, 200, "the slot was not given back")
        try assertRefusalRecorded(ccload, status: 429)
        assertNoSecrets(ccload)
    }

    func testAllowedModels() throws {
        let (ccload, mock) = try start(limited: "allowed_models = '[\"\(RelayCase.model)\"]'")
        XCTAssertEqual(try anthropic(ccload).status, 200)
        let refused = try anthropic(ccload, model: "claude-haiku-4-5")
        assertErrorShape(refused, status: 403, type: "permission_error")
        XCTAssertTrue(message(refused).contains("claude-haiku-4-5"), message(refused))
        XCTAssertEqual(try anthropic(ccload, Self.other, model: "claude-haiku-4-5").status, 200, "another token may use it")
        XCTAssertEqual(try mock.requests(), 2)
        try assertRefusalRecorded(ccload, status: 403)
        assertNoSecrets(ccload)
    }

    /// A model-limited token's models list shows only its models that a channel serves;
    /// a disabled one gets no list at all.
    func testModelsListFollowsTheTokensLimits() throws {
        let (ccload, _) = try start(limited: "allowed_models = '[\"\(RelayCase.model)\",\"not-served-anywhere\"]'", other: "enabled = 0")
        // The channels serve any model, so every allowed model is listed.
        let list = try ccload.get("/v1/models", headers: ["x-api-key: \(Self.limited)"])
        XCTAssertEqual(list.status, 200, list.bodyText)
        let ids = ((list.json?["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ["claude-sonnet-4-5", "not-served-anywhere"].sorted(), list.bodyText)
        let refused = try ccload.get("/v1/models", headers: ["x-api-key: \(Self.other)"])
        assertErrorShape(refused, status: 401, type: "authentication_error")
        XCTAssertTrue(message(refused).contains("disabled"), message(refused))
    }

    /// A Haiku-only token sent `model` twice: ccload read the first, the upstream the last.
    func testRepeatedModelKeyIsRefused() throws {
        let (ccload, mock) = try start(limited: "allowed_models = '[\"claude-haiku-4-5\"]'")
        for body in [#"{"model":"claude-haiku-4-5","max_tokens":5,"model":"claude-opus-4-5"}"#,
                     #"{"model":"claude-haiku-4-5","max_tokens":5,"\u006dodel":"claude-opus-4-5"}"#] {
            let r = try ccload.post("/v1/messages", body, headers: ["x-api-key: \(Self.limited)"])
            assertErrorShape(r, status: 400, type: "invalid_request_error")
            XCTAssertTrue(message(r).contains("\"model\""), message(r))
        }
        let oai = try ccload.post("/v1/chat/completions", #"{"model":"gpt-5","stream":false,"stream":true}"#,
                                  headers: ["Authorization: Bearer \(Self.other)"])
        XCTAssertEqual(oai.status, 400, oai.bodyText)
        let e = try XCTUnwrap(oai.json?["error"] as? [String: Any], "not OpenAI's error shape: \(oai.bodyText)")
        XCTAssertTrue((e["message"] as? String ?? "").contains("\"stream\""), oai.bodyText)
        XCTAssertEqual(try mock.requests(), 0)
    }

    func testDisabledToken() throws {
        let (ccload, mock) = try start(limited: "enabled = 0")
        let refused = try anthropic(ccload)
        assertErrorShape(refused, status: 401, type: "authentication_error")
        XCTAssertTrue(message(refused).contains("disabled"), message(refused))
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200)
        XCTAssertEqual(try mock.requests(), 1)
        assertNoSecrets(ccload)
    }

    func testExpiredToken() throws {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let (ccload, mock) = try start(limited: "expires_ms = \(now - 60_000)", other: "expires_ms = \(now + 3_600_000)")
        let refused = try anthropic(ccload)
        assertErrorShape(refused, status: 401, type: "authentication_error")
        XCTAssertTrue(message(refused).contains("expired"), message(refused))
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200, "a token expiring in an hour still works")
        XCTAssertEqual(try mock.requests(), 1)
        assertNoSecrets(ccload)
    }

    func testDailyCostCapHoldsAcrossARestart() throws {
        let (ccload, mock) = try start(limited: "daily_cost_cap_micro = 40")
        XCTAssertEqual(try anthropic(ccload, model: Self.pricedModel).status, 200, "under the cap before any spend")
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertEqual(rec["cost_micro_usd"] as? Int, 46, "the priced request's cost: \(rec)")
        let refused = try anthropic(ccload, model: Self.pricedModel)
        assertErrorShape(refused, status: 429, type: "rate_limit_error")
        XCTAssertTrue(message(refused).contains("daily cost cap"), message(refused))
        assertRetryAfter(refused, in: 1...86_400)
        XCTAssertEqual(try anthropic(ccload, Self.other, model: Self.pricedModel).status, 200)
        XCTAssertEqual(try mock.requests(), 2)
        try assertRefusalRecorded(ccload, status: 429)
        stopGracefully(ccload)
        assertNoSecrets(ccload)

        // Today's spend comes back from the database: still refused after a restart.
        let again = try startCcloadHere()
        let stillRefused = try anthropic(again, model: Self.pricedModel)
        assertErrorShape(stillRefused, status: 429, type: "rate_limit_error")
        assertRetryAfter(stillRefused, in: 1...86_400)
        XCTAssertEqual(try mock.requests(), 2)
    }

    func testTotalCostCapHoldsAcrossARestart() throws {
        let (ccload, mock) = try start(limited: "total_cost_cap_micro = 40")
        XCTAssertEqual(try anthropic(ccload, model: Self.pricedModel).status, 200, "under the cap before any spend")
        let refused = try anthropic(ccload, model: Self.pricedModel)
        assertErrorShape(refused, status: 403, type: "permission_error")
        XCTAssertTrue(message(refused).contains("total cost cap"), message(refused))
        XCTAssertEqual(try anthropic(ccload, Self.other, model: Self.pricedModel).status, 200)
        XCTAssertEqual(try mock.requests(), 2)
        _ = try ccload.waitForRecords(3)
        stopGracefully(ccload)
        assertNoSecrets(ccload)
        let totals = try rows(db, "SELECT total_cost_micro, total_requests FROM auth_tokens WHERE hash = sha256('\(Self.limited)')")
        XCTAssertEqual(totals.first?.first as? Int, 46, "the writer keeps the token's total spend: \(totals)")

        // The total comes back from the database: still refused after a restart.
        let again = try startCcloadHere()
        assertErrorShape(try anthropic(again, model: Self.pricedModel), status: 403, type: "permission_error")
        XCTAssertEqual(try mock.requests(), 2)
    }
}

extension StoreE2ETokenLimitTests {
    /// A client that leaves in the middle of its stream gives its concurrency slot back.
    func testConcurrencySlotComesBackWhenTheClientLeaves() throws {
        let (ccload, mock) = try start(limited: "concurrency_limit = 1")
        let gate = gateName()
        let body = anthropicBody(stream: true)
        var first: RawConnection? = try ccload.connect()
        try first!.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: \(Self.limited)\r\nx-mock-gate: \(gate)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(first!.readUntil(contains: "token0 ", timeout: 5), "the first stream did not start")
        XCTAssertEqual(try ccload.post("/v1/messages", body, headers: ["x-api-key: \(Self.limited)"]).status, 429)
        first = nil  // closes the socket: the client is gone mid-stream
        // The abandoned request's record (written when it ends) is there within a bounded wait.
        _ = try ccload.waitForRecords(2)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: \(Self.limited)"]).status, 200,
                       "the slot of the client that left was not given back")
        try mock.release(gate: gate)
    }
}
