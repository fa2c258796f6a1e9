import Foundation
import Glibc
import XCTest

/// Client token limits in pass-through mode (`CCLOAD_UPSTREAM`, no channels): the same
/// admission as the relay, so every limit a token carries refuses there too, in the
/// route's error shape, before anything reaches the upstream. The limits are set in the
/// database between two runs (as `StoreE2ETokenLimitTests` does for the relay).
final class PassThroughTokenLimitTests: StoreE2ECase {
    static let limited = "ccl-pass-user-Hn47Ws2Kd9Lp"
    static let other = "ccl-pass-other-Ty61Gb8Vc3Qz"
    /// 1 µUSD per input and per output token: the mock's default answer (12 in, 34 out) costs 46 µUSD.
    static let pricedModel = "e2e-priced-1"

    private var db = ""
    private var pricesFile = ""
    private var mock: MockUpstream!

    /// Seeds both tokens, applies `limitedSQL` (a SET clause) to the limited one, and starts
    /// ccload in pass-through mode on the result.
    private func start(limited limitedSQL: String?, other otherSQL: String? = nil) throws -> CcloadProcess {
        mock = try startMock()
        db = tempDatabase()
        pricesFile = NSTemporaryDirectory() + "ccload-pass-prices-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data("{\"\(Self.pricedModel)\": {\"input\": 1, \"output\": 1}}".utf8).write(to: URL(fileURLWithPath: pricesFile))
        let pf = pricesFile
        onTearDown { try? FileManager.default.removeItem(atPath: pf) }
        stopGracefully(try startHere())
        var statements: [String] = []
        if let limitedSQL { statements += ["UPDATE auth_tokens SET \(limitedSQL) WHERE hash = sha256('\(Self.limited)')"] }
        if let otherSQL { statements += ["UPDATE auth_tokens SET \(otherSQL) WHERE hash = sha256('\(Self.other)')"] }
        if !statements.isEmpty { _ = try sql(db, statements) }
        return try startHere()
    }

    private func startHere() throws -> CcloadProcess {
        try startCcload(upstream: mock.url, ["SQLITE_PATH": db, "CCLOAD_AUTH": "\(Self.limited),\(Self.other)",
                                             "CCLOAD_PRICES_FILE": pricesFile])
    }

    private func anthropic(_ c: CcloadProcess, _ token: String = PassThroughTokenLimitTests.limited,
                           model: String = RelayCase.model, stream: Bool = false, headers: [String] = []) throws -> HTTPResponse {
        try c.post("/v1/messages", #"{"model":"\#(model)","max_tokens":16,"stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#,
                   headers: ["x-api-key: \(token)"] + headers)
    }

    private func message(_ r: HTTPResponse) -> String {
        ((r.json?["error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    private func assertAnthropicError(_ r: HTTPResponse, _ status: Int, _ type: String, mentions: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.bodyText, file: file, line: line)
        XCTAssertEqual(r.json?["type"] as? String, "error", r.bodyText, file: file, line: line)
        XCTAssertEqual((r.json?["error"] as? [String: Any])?["type"] as? String, type, r.bodyText, file: file, line: line)
        XCTAssertTrue(message(r).contains(mentions), "\(message(r)) does not mention \(mentions)", file: file, line: line)
    }

    func testDisabledToken() throws {
        let ccload = try start(limited: "enabled = 0")
        assertAnthropicError(try anthropic(ccload), 401, "authentication_error", mentions: "disabled")
        assertAnthropicError(try ccload.get("/v1/models", headers: ["x-api-key: \(Self.limited)"]), 401, "authentication_error", mentions: "disabled")
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200)
        XCTAssertEqual(try mock.requests(), 1, "a disabled token's request reached the upstream")
    }

    func testExpiredToken() throws {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let ccload = try start(limited: "expires_ms = \(now - 60_000)", other: "expires_ms = \(now + 3_600_000)")
        assertAnthropicError(try anthropic(ccload), 401, "authentication_error", mentions: "expired")
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200, "a token expiring in an hour still works")
        XCTAssertEqual(try mock.requests(), 1)
    }

    func testAllowedModelsAndTheModelsList() throws {
        let ccload = try start(limited: "allowed_models = '[\"claude-haiku-4-5\",\"claude-3-5-haiku\"]'")
        XCTAssertEqual(try anthropic(ccload, model: "claude-haiku-4-5").status, 200)
        assertAnthropicError(try anthropic(ccload, model: "claude-sonnet-4-5"), 403, "permission_error", mentions: "claude-sonnet-4-5")
        // The same refusal in OpenAI's shape on the OpenAI route.
        let oai = try ccload.post("/v1/chat/completions", #"{"model":"gpt-5","messages":[]}"#, headers: ["Authorization: Bearer \(Self.limited)"])
        XCTAssertEqual(oai.status, 403, oai.bodyText)
        XCTAssertNotNil((oai.json?["error"] as? [String: Any])?["message"] as? String, "not OpenAI's error shape: \(oai.bodyText)")
        XCTAssertNil(oai.json?["type"], oai.bodyText)
        // A body ccload cannot read, or an endpoint whose model it cannot check, is refused for a model-limited token.
        XCTAssertEqual(try ccload.post("/v1/messages", "{not json", headers: ["x-api-key: \(Self.limited)"]).status, 400)
        XCTAssertEqual(try ccload.post("/v1/messages/batches", #"{"requests":[]}"#, headers: ["x-api-key: \(Self.limited)"]).status, 403)
        // Its models list shows only its models, answered by ccload in the client's shape.
        let anthropicList = try ccload.get("/v1/models", headers: ["x-api-key: \(Self.limited)", "anthropic-version: 2023-06-01"])
        XCTAssertEqual(anthropicList.status, 200, anthropicList.bodyText)
        let ids = ((anthropicList.json?["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, ["claude-3-5-haiku", "claude-haiku-4-5"], anthropicList.bodyText)
        let openAIList = try ccload.get("/v1/models", headers: ["Authorization: Bearer \(Self.limited)"])
        XCTAssertEqual(openAIList.json?["object"] as? String, "list", openAIList.bodyText)
        XCTAssertEqual(((openAIList.json?["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }, ["claude-3-5-haiku", "claude-haiku-4-5"])
        // Another token is not limited: its requests (even unreadable ones) and its models list go upstream.
        XCTAssertEqual(try anthropic(ccload, Self.other, model: "claude-sonnet-4-5").status, 200)
        let before = try mock.requests()
        XCTAssertEqual(try ccload.get("/v1/models", headers: ["x-api-key: \(Self.other)"]).status, 200)
        XCTAssertEqual(try mock.requests(), before + 1, "an unlimited token's models list is the upstream's")
        XCTAssertEqual(try mock.requests(), 3, "a refused request reached the upstream")
    }

    /// A Haiku-only token sent `model` twice: ccload read the first, the upstream the last.
    func testRepeatedModelKeyIsRefused() throws {
        let ccload = try start(limited: "allowed_models = '[\"claude-haiku-4-5\"]'")
        for body in [#"{"model":"claude-haiku-4-5","max_tokens":5,"model":"claude-opus-4-5"}"#,
                     #"{"model":"claude-haiku-4-5","max_tokens":5,"mod\u0065l":"claude-opus-4-5"}"#] {
            let r = try ccload.post("/v1/messages", body, headers: ["x-api-key: \(Self.limited)"])
            assertAnthropicError(r, 400, "invalid_request_error", mentions: "\"model\"")
        }
        // Unlimited tokens too: a repeated stream flag is ambiguous for everyone.
        let r = try ccload.post("/v1/messages", #"{"model":"m","stream":false,"stream":true}"#, headers: ["x-api-key: \(Self.other)"])
        assertAnthropicError(r, 400, "invalid_request_error", mentions: "\"stream\"")
        XCTAssertEqual(try mock.requests(), 0)
    }

    func testRequestsPerMinute() throws {
        avoidMinuteBoundary()
        let ccload = try start(limited: "rpm_limit = 2")
        for i in 0..<2 { XCTAssertEqual(try anthropic(ccload).status, 200, "request \(i + 1) of 2") }
        let third = try anthropic(ccload)
        assertAnthropicError(third, 429, "rate_limit_error", mentions: "2 requests per minute")
        XCTAssertNotNil(third.header("retry-after").flatMap { Int($0) }, third.headBytes.text)
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200)
        XCTAssertEqual(try mock.requests(), 3)
    }

    func testConcurrencyAndItsSlotComesBack() throws {
        let ccload = try start(limited: "concurrency_limit = 1")
        let gate = gateName()
        let first = try ccload.connect()
        let body = #"{"model":"m","max_tokens":16,"stream":true}"#
        try first.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: \(Self.limited)\r\nx-mock-gate: \(gate)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(first.readUntil(contains: "token0 ", timeout: 5), "the first stream did not start")
        assertAnthropicError(try anthropic(ccload), 429, "rate_limit_error", mentions: "1 concurrent")
        XCTAssertEqual(try anthropic(ccload, Self.other).status, 200, "another token is not limited")
        try mock.release(gate: gate)
        XCTAssertEqual(try first.readResponse(timeout: 10).status, 200)
        // The slot is given back when the exchange ends (bounded wait: the end is seen on ccload's loop).
        XCTAssertEqual(try statusOnceAdmitted(ccload), 200, "the slot was not given back")
        // A client that leaves mid-stream gives it back too.
        let gate2 = gateName()
        var leaving: RawConnection? = try ccload.connect()
        try leaving!.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: \(Self.limited)\r\nx-mock-gate: \(gate2)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(leaving!.readUntil(contains: "token0 ", timeout: 5))
        leaving = nil
        XCTAssertEqual(try statusOnceAdmitted(ccload), 200, "the slot of the client that left was not given back")
        try mock.release(gate: gate2)
    }

    /// The limited token's request status, retried (bounded) while it is refused with 429.
    private func statusOnceAdmitted(_ ccload: CcloadProcess) throws -> Int {
        let deadline = Date().addingTimeInterval(5)
        while true {
            let status = try anthropic(ccload).status
            if status != 429 || Date() > deadline { return status }
            usleep(20_000)
        }
    }

    func testDailyCostCap() throws {
        let ccload = try start(limited: "daily_cost_cap_micro = 40")
        XCTAssertEqual(try anthropic(ccload, model: Self.pricedModel).status, 200, "under the cap before any spend")
        let refused = try anthropic(ccload, model: Self.pricedModel)
        assertAnthropicError(refused, 429, "rate_limit_error", mentions: "daily cost cap")
        XCTAssertNotNil(refused.header("retry-after"))
        XCTAssertEqual(try anthropic(ccload, Self.other, model: Self.pricedModel).status, 200)
        XCTAssertEqual(try mock.requests(), 2)
    }

    func testTotalCostCapCountsStreamsToo() throws {
        let ccload = try start(limited: "total_cost_cap_micro = 40")
        let stream = try anthropic(ccload, model: Self.pricedModel, stream: true)
        XCTAssertEqual(stream.status, 200, stream.bodyText)
        assertAnthropicError(try anthropic(ccload, model: Self.pricedModel), 403, "permission_error", mentions: "total cost cap")
        XCTAssertEqual(try mock.requests(), 1)
    }
}
