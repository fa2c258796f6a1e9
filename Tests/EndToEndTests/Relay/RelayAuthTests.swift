import Foundation
import XCTest

/// Client tokens (CCLOAD_AUTH) in every place a client may put them, refusals in each
/// protocol's error shape, and the swap to the channel's key upstream.
final class RelayAuthTests: RelayCase {
    static let tokens = ["ccl-token-alpha-5151", "ccl-token-beta-6262"]
    static let keys = ["anthropic": "sk-ant-chan-key-1111", "openai": "sk-oai-chan-key-2222",
                       "codex": "sk-codex-chan-key-3333", "gemini": "AIza-gem-chan-key-4444"]

    private func start() throws -> (CcloadProcess, MockUpstream) {
        let mock = try startMock()
        let ccload = try startRelay(RelayAuthTests.keys.sorted { $0.key < $1.key }.map { proto, key in
            channel(proto, proto, url: mock.url, key: key)
        }, auth: RelayAuthTests.tokens).ccload
        return (ccload, mock)
    }

    func testTokensAreAcceptedInEveryPlaceAndTheChannelKeyGoesUpstream() throws {
        let (ccload, mock) = try start()
        let (alpha, beta) = (RelayAuthTests.tokens[0], RelayAuthTests.tokens[1])
        let gemini = #"{"contents":[{"parts":[{"text":"hi"}]}]}"#
        struct Case { let target: String; let body: String; let header: String?; let proto: String }
        let cases = [
            Case(target: "/v1/messages", body: anthropicBody(stream: false), header: "x-api-key: \(alpha)", proto: "anthropic"),
            Case(target: "/v1/messages", body: anthropicBody(stream: true), header: "Authorization: Bearer \(beta)", proto: "anthropic"),
            Case(target: "/v1/chat/completions", body: chatBody(stream: false), header: "Authorization: Bearer \(alpha)", proto: "openai"),
            Case(target: "/v1/responses", body: #"{"model":"gpt-5","input":"hi"}"#, header: "Authorization: Bearer \(beta)", proto: "codex"),
            Case(target: "/v1beta/models/gemini-2.5-flash:generateContent", body: gemini, header: "x-goog-api-key: \(alpha)", proto: "gemini"),
            Case(target: "/v1beta/models/gemini-2.5-flash:generateContent?key=\(beta)", body: gemini, header: nil, proto: "gemini"),
        ]
        for (i, c) in cases.enumerated() {
            let r = try ccload.post(c.target, c.body, headers: c.header.map { [$0] } ?? [])
            XCTAssertEqual(r.status, 200, "\(c.target) with \(c.header ?? "?key="): \(r.bodyText)")
            let stats = try mock.stats()
            XCTAssertEqual(stats["requests"] as? Int, i + 1)
            let key = RelayAuthTests.keys[c.proto]!
            switch c.proto {
            case "anthropic":
                XCTAssertEqual(stats["last_x_api_key"] as? String, key)
                XCTAssertEqual(stats["last_authorization"] as? String, "")
            case "openai", "codex":
                XCTAssertEqual(stats["last_authorization"] as? String, "Bearer " + key)
                XCTAssertEqual(stats["last_x_api_key"] as? String, "")
            default:
                XCTAssertEqual(stats["last_x_goog_api_key"] as? String, key)
                XCTAssertEqual(stats["last_authorization"] as? String, "")
                XCTAssertEqual(stats["last_x_api_key"] as? String, "")
            }
            // The client's token never goes upstream, in any header or the query.
            let head = try mock.lastRequest().head
            for t in RelayAuthTests.tokens { XCTAssertFalse(head.contains(t), "client token sent upstream:\n\(head)") }
            if c.header == nil { XCTAssertFalse((stats["last_path"] as? String ?? "").contains("key="), "\(stats)") }
        }
        let recs = try ccload.waitForRecords(cases.count)
        XCTAssertEqual(recs.prefix(cases.count).reversed().compactMap { $0["token_id"] as? Int }, [1, 2, 1, 2, 1, 2])
        assertNoSecrets(ccload)
    }

    func testMissingOrWrongTokenIs401InTheProtocolsShape() throws {
        let (ccload, mock) = try start()
        let gemini = #"{"contents":[]}"#
        for header in [[], ["x-api-key: wrong-token"], ["Authorization: Bearer \(RelayAuthTests.tokens[0])x"]] {
            let a = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: header)
            assertErrorShape(a, status: 401)

            let o = try ccload.post("/v1/chat/completions", chatBody(stream: false), headers: header)
            XCTAssertEqual(o.status, 401)
            let oe = try XCTUnwrap(o.json?["error"] as? [String: Any], "not OpenAI's error shape: \(o.bodyText)")
            XCTAssertNotNil(oe["message"] as? String)
            XCTAssertEqual(oe["code"] as? String, "invalid_api_key", o.bodyText)

            let x = try ccload.post("/v1/responses", #"{"model":"gpt-5","input":"x"}"#, headers: header)
            XCTAssertEqual(x.status, 401)
            XCTAssertNotNil((x.json?["error"] as? [String: Any])?["message"] as? String, x.bodyText)

            let g = try ccload.post("/v1beta/models/gemini-2.5-flash:generateContent", gemini, headers: header)
            XCTAssertEqual(g.status, 401)
            let ge = try XCTUnwrap(g.json?["error"] as? [String: Any], "not Gemini's error shape: \(g.bodyText)")
            XCTAssertEqual(ge["code"] as? Int, 401)
            XCTAssertEqual(ge["status"] as? String, "UNAUTHENTICATED")
        }
        XCTAssertEqual(try ccload.get("/v1/models").status, 401)
        XCTAssertEqual(try ccload.get("/admin/requests").status, 401)
        XCTAssertEqual(try mock.requests(), 0, "a refused request reached the upstream")
        assertNoSecrets(ccload)
    }

    func testRecordsAndAdminAnswersCarryNoSecrets() throws {
        let failing = try startMock(["--status", "401"])
        let ccload = try startRelay([channel("f", url: failing.url, key: ["sk-ant-leak-check-9999", "sk-ant-leak-check-8888"])],
                                    auth: RelayAuthTests.tokens).ccload
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: ["x-api-key: \(RelayAuthTests.tokens[0])"])
        XCTAssertEqual(r.status, 401, "the last upstream answer passes through")
        for text in [r.bodyText,
                     try ccload.get("/admin/requests", headers: ["Authorization: Bearer \(try ccload.adminToken())"]).bodyText,
                     try ccload.get("/admin/cooldowns", headers: ["Authorization: Bearer \(try ccload.adminToken())"]).bodyText] {
            XCTAssertFalse(text.contains("sk-ant-leak-check") || text.contains("ccl-token-"), "a secret in an answer: \(text)")
        }
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.compactMap { $0["key_index"] as? Int }, [0, 1])
        let log = ccload.process.stderrText
        XCTAssertFalse(log.contains("sk-ant-leak-check") || log.contains("ccl-token-"), "a secret in the log:\n\(log)")
    }

    private func assertNoSecrets(_ ccload: CcloadProcess, file: StaticString = #filePath, line: UInt = #line) {
        let log = ccload.process.stderrText
        for s in RelayAuthTests.tokens + Array(RelayAuthTests.keys.values) {
            XCTAssertFalse(log.contains(s), "secret \(s) in ccload's log:\n\(log)", file: file, line: line)
        }
        if let body = try? ccload.get("/admin/requests?limit=1000", headers: ["Authorization: Bearer \((try? ccload.adminToken()) ?? "")"]).bodyText {
            for s in RelayAuthTests.tokens + Array(RelayAuthTests.keys.values) {
                XCTAssertFalse(body.contains(s), "secret \(s) in /admin/requests", file: file, line: line)
            }
        }
    }
}
