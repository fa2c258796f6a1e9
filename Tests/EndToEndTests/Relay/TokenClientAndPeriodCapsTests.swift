import Foundation
import XCTest

/// A token's weekly and monthly cost caps and its client restriction, set through the admin
/// API and enforced on the relay path: each refuses in the protocol's own error shape,
/// naming the rule, and lets through what it should; the week's and month's spend holds
/// across a restart.
final class TokenClientAndPeriodCapsTests: AdminDataCase {
    /// 1 µUSD per input and per output token: the mock's default answer (12 in, 34 out) costs 46 µUSD.
    static let pricedModel = "e2e-priced-1"

    private func pricesFile() throws -> String {
        let path = NSTemporaryDirectory() + "ccload-caps-prices-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data("{\"\(Self.pricedModel)\": {\"input\": 1, \"output\": 1}}".utf8).write(to: URL(fileURLWithPath: path))
        onTearDown { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func message(_ r: HTTPResponse) -> String {
        ((r.json?["error"] as? [String: Any])?["message"] as? String) ?? ""
    }

    private func priced(_ c: CcloadProcess, _ secret: String) throws -> HTTPResponse {
        try proxy(c, token: secret, model: Self.pricedModel)
    }

    func testWeeklyAndMonthlyCapsRefuseAtTheCapAndHoldAcrossARestart() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("anth", url: mock.url)])
        let env = ["CCLOAD_PRICES_FILE": try pricesFile()]
        var ccload = try startOn(db: db, channelsFile: channels, env)
        // 50 µUSD: the first request (nothing spent) and the second (46 spent) pass, the third (92) not.
        let (_, weekly) = try createToken(ccload, #"{"name":"weekly","weekly_cost_cap_usd":0.00005}"#)
        let (_, monthly) = try createToken(ccload, #"{"name":"monthly","monthly_cost_cap_usd":0.00005}"#)
        let (_, roomy) = try createToken(ccload, #"{"name":"roomy","weekly_cost_cap_usd":1,"monthly_cost_cap_usd":1}"#)
        let listed = try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(listed.first { $0["name"] as? String == "weekly" }?["weekly_cost_cap_usd"] as? Double, 0.00005)
        XCTAssertTrue(listed.first { $0["name"] as? String == "weekly" }?["monthly_cost_cap_usd"] is NSNull)
        for secret in [weekly, monthly, roomy] {
            XCTAssertEqual(try priced(ccload, secret).status, 200)
            XCTAssertEqual(try priced(ccload, secret).status, 200, "46 of 50 µUSD spent: under the cap")
        }
        let w = try priced(ccload, weekly)
        XCTAssertEqual(w.status, 429, w.bodyText)
        XCTAssertTrue(message(w).contains("weekly cost cap"), w.bodyText)
        XCTAssertEqual((w.json?["type"] as? String), "error", "Anthropic's error shape")
        let wait = Int(w.header("retry-after") ?? "") ?? 0
        XCTAssertTrue((1...7 * 86_400).contains(wait), "retry-after until Monday: \(wait)")
        let m = try priced(ccload, monthly)
        XCTAssertEqual(m.status, 429, m.bodyText)
        XCTAssertTrue(message(m).contains("monthly cost cap"), m.bodyText)
        XCTAssertTrue((1...31 * 86_400).contains(Int(m.header("retry-after") ?? "") ?? 0))
        XCTAssertEqual(try priced(ccload, roomy).status, 200, "a cap far off does not refuse")
        // The week's and month's spend shows, and is read back from the store after a restart.
        _ = try waitForLogs(ccload, 8)
        stopGracefully(ccload)
        ccload = try startOn(db: db, channelsFile: channels, env)
        let after = try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]] ?? []
        let weeklyView = try XCTUnwrap(after.first { $0["name"] as? String == "weekly" })
        XCTAssertEqual(weeklyView["week_cost_usd"] as? Double, 0.000092)
        XCTAssertEqual(weeklyView["month_cost_usd"] as? Double, 0.000092)
        XCTAssertEqual(try priced(ccload, weekly).status, 429, "the week's spend survives a restart")
        XCTAssertEqual(try priced(ccload, monthly).status, 429, "the month's spend survives a restart")
        XCTAssertEqual(try priced(ccload, roomy).status, 200)
        // Raised: served again.
        let weeklyID = try XCTUnwrap(weeklyView["id"] as? Int)
        try adminOK(ccload, "PUT", "/admin/tokens/\(weeklyID)", #"{"weekly_cost_cap_usd":null}"#)
        XCTAssertEqual(try priced(ccload, weekly).status, 200)
        try assertBadField(ccload, "PUT", "/admin/tokens/\(weeklyID)", #"{"monthly_cost_cap_usd":-1}"#, field: "monthly_cost_cap_usd")
    }

    func testAClientRestrictedTokenServesOnlyThoseClients() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("anth", url: mock.url), channel("oai", "openai", url: mock.url)])
        let (claudeID, claude) = try createToken(ccload, #"{"name":"cc","allowed_clients":["claude_code"]}"#)
        let (_, codex) = try createToken(ccload, #"{"name":"cx","allowed_clients":["codex_cli"]}"#)
        let (_, any) = try createToken(ccload, #"{"name":"any"}"#)
        func messages(_ secret: String, _ ua: String?) throws -> HTTPResponse {
            try ccload.post("/v1/messages", anthropicBody(stream: false),
                            headers: ["x-api-key: \(secret)"] + (ua.map { ["User-Agent: \($0)"] } ?? []))
        }
        func chat(_ secret: String, _ ua: String?) throws -> HTTPResponse {
            try ccload.post("/v1/chat/completions", chatBody(stream: false),
                            headers: ["Authorization: Bearer \(secret)"] + (ua.map { ["User-Agent: \($0)"] } ?? []))
        }
        let before = try mock.requests()
        XCTAssertEqual(try messages(claude, "claude-cli/1.0.83 (external, cli)").status, 200)
        XCTAssertEqual(try messages(claude, "claude-cli/2.0.1").status, 200)
        for ua in [nil, "curl/8.5.0", "Claude-CLI/1.0", "claude-cli", "codex_cli_rs/0.36.0"] {
            let r = try messages(claude, ua)
            XCTAssertEqual(r.status, 403, "\(ua ?? "no User-Agent"): \(r.bodyText)")
            XCTAssertEqual(r.json?["type"] as? String, "error", "Anthropic's shape")
            XCTAssertEqual((r.json?["error"] as? [String: Any])?["type"] as? String, "permission_error", r.bodyText)
            XCTAssertTrue(message(r).contains("Claude Code (User-Agent claude-cli/"), r.bodyText)
        }
        XCTAssertEqual(try chat(codex, "codex_cli_rs/0.36.0 (Ubuntu 24.04; x86_64)").status, 200)
        XCTAssertEqual(try chat(codex, "codex_exec/0.36.0").status, 200)
        let refused = try chat(codex, "claude-cli/1.0")
        XCTAssertEqual(refused.status, 403, refused.bodyText)
        XCTAssertNil(refused.json?["type"], "OpenAI's shape has no top-level type")
        XCTAssertTrue(message(refused).contains("Codex CLI"), refused.bodyText)
        XCTAssertEqual(try mock.requests() - before, 4, "a refused request never reaches an upstream")
        XCTAssertEqual(try messages(any, "curl/8.5.0").status, 200, "no restriction: any client")
        XCTAssertEqual(try messages(any, nil).status, 200)
        // Cleared: any client again.
        let cleared = try adminOK(ccload, "PUT", "/admin/tokens/\(claudeID)", #"{"allowed_clients":null}"#)
        XCTAssertTrue(cleared["allowed_clients"] is NSNull, "\(cleared)")
        XCTAssertEqual(try messages(claude, "curl/8.5.0").status, 200)
        try assertBadField(ccload, "PUT", "/admin/tokens/\(claudeID)", #"{"allowed_clients":["vscode"]}"#, field: "allowed_clients")
        try assertBadField(ccload, "PUT", "/admin/tokens/\(claudeID)", #"{"allowed_clients":[]}"#, field: "allowed_clients")
        assertNoSecrets(ccload, [claude, codex, any])
    }

    /// Without channels (pass-through) the same rules apply, through the same admission.
    func testPassThroughHoldsTheClientRuleAndTheWeeklyCap() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["SQLITE_PATH": tempDatabase(), "CCLOAD_PRICES_FILE": try pricesFile()])
        let (_, claude) = try createToken(ccload, #"{"name":"cc","allowed_clients":["claude_code"],"weekly_cost_cap_usd":0.00005}"#)
        func send(_ ua: String) throws -> HTTPResponse {
            try ccload.post("/v1/messages", anthropicBody(model: Self.pricedModel, stream: false),
                            headers: ["x-api-key: \(claude)", "User-Agent: \(ua)"])
        }
        let before = try mock.requests()
        let other = try send("python-requests/2.31")
        XCTAssertEqual(other.status, 403, other.bodyText)
        XCTAssertTrue(message(other).contains("Claude Code"), other.bodyText)
        XCTAssertEqual(try mock.requests(), before, "refused before the upstream")
        XCTAssertEqual(try send("claude-cli/1.0").status, 200)
        XCTAssertEqual(try send("claude-cli/1.0").status, 200, "46 of 50 µUSD spent")
        let capped = try send("claude-cli/1.0")
        XCTAssertEqual(capped.status, 429, capped.bodyText)
        XCTAssertTrue(message(capped).contains("weekly cost cap"), capped.bodyText)
    }
}
