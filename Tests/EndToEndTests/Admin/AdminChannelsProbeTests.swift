import Foundation
import XCTest

/// `POST /admin/channels/{id}/test` against good, failing, echoing, silent and absent
/// upstreams, and clearing cooldowns a real failure left.
final class AdminChannelsProbeTests: AdminChannelsCase {
    func probe(_ c: CcloadProcess, _ id: Any, _ body: Any? = nil, status: Int = 200,
               file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try adminJSON(c, "POST", "/admin/channels/\(id)/test", body, status: status, file: file, line: line)
    }

    func testProbeEveryProtocolAgainstTheMock() throws {
        let mock = try startMock()
        let ccload = try startEmpty()
        let cases: [(String, String, [String: Any], String, String)] = [
            ("anthropic", mock.url, ["models": ["claude-x"]], "claude-x", "/v1/messages"),
            ("openai", mock.url + "/v1", [:], "gpt-4o-mini", "/v1/chat/completions"),
            ("codex", mock.url, ["models": ["gpt-5"], "redirects": ["gpt-5": "gpt-5-upstream"]], "gpt-5", "/v1/responses"),
            ("gemini", mock.url, ["models": ["gemini-2.5-pro"]], "gemini-2.5-pro", "/v1beta/models/gemini-2.5-pro:generateContent"),
        ]
        for (proto, url, extra, model, path) in cases {
            let id = try XCTUnwrap(try create(ccload, input(proto, url: url, proto: proto, keys: [keyA], extra))["id"] as? Int)
            let r = try probe(ccload, id)
            XCTAssertEqual(r["ok"] as? Bool, true, "\(proto): \(r)")
            XCTAssertEqual(r["status"] as? Int, 200, proto)
            XCTAssertEqual(r["model"] as? String, model, proto)
            XCTAssertNotNil(r["ttfb_ms"] as? Int, proto)
            XCTAssertNotNil(r["duration_ms"] as? Int, proto)
            XCTAssertNil(r["error"], proto)
            let stats = try mock.stats()
            XCTAssertEqual(stats["last_path"] as? String, path, proto)
            XCTAssertEqual(stats["last_auth"] as? String == keyA || (stats["last_auth"] as? String) == "Bearer \(keyA)", true, "\(proto): \(stats)")
            if proto == "codex" { XCTAssertEqual(stats["last_model"] as? String, "gpt-5-upstream") }
        }
        // The body may name the model and the key.
        let two = try XCTUnwrap(try create(ccload, input("two-keys", url: mock.url, keys: [keyA, keyB]))["id"] as? Int)
        let r = try probe(ccload, two, ["model": "claude-y", "key_index": 1])
        XCTAssertEqual(r["ok"] as? Bool, true, "\(r)")
        XCTAssertEqual(r["model"] as? String, "claude-y")
        XCTAssertEqual(try mock.stats()["last_x_api_key"] as? String, keyB)
        // A test is not traffic: no request records, no cooldowns.
        XCTAssertEqual(try ccload.records().count, 0)
        XCTAssertEqual(try ccload.cooldowns().count, 0)
        assertSecretsNeverShown(ccload)
    }

    func testProbeReportsFailuresWithoutKeysOrCooldowns() throws {
        let refusing = try startMock(["--status", "401"])
        // An upstream that repeats the key it got in its error: the answer must not.
        let echo = try startScripted { conn, _, _ in
            guard let req = conn.readRequest(timeout: 5) else { return }
            let key = req.head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("x-api-key:") }?
                .dropFirst("x-api-key:".count).trimmingCharacters(in: .whitespaces) ?? "?"
            let body = #"{"type":"error","error":{"type":"invalid_request_error","message":"key \#(key) is not allowed"}}"#
            try? conn.send("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        }
        // An upstream that takes the request and never answers.
        let silent = try startScripted { conn, _, _ in
            _ = conn.readRequest(timeout: 5)
            _ = conn.staysQuiet(for: 4)
        }
        let ccload = try startEmpty()
        let a = try XCTUnwrap(try create(ccload, input("refusing", url: refusing.url))["id"] as? Int)
        let b = try XCTUnwrap(try create(ccload, input("echo", url: "http://127.0.0.1:\(echo.port)", keys: [keyB]))["id"] as? Int)
        let c = try XCTUnwrap(try create(ccload, input("gone", url: "http://127.0.0.1:1"))["id"] as? Int)
        let d = try XCTUnwrap(try create(ccload, input("silent", url: "http://127.0.0.1:\(silent.port)",
                                                      ["first_byte_timeout_seconds": 1]))["id"] as? Int)

        let r401 = try probe(ccload, a)
        XCTAssertEqual(r401["ok"] as? Bool, false)
        XCTAssertEqual(r401["status"] as? Int, 401)
        XCTAssertTrue((r401["error"] as? String)?.contains("401") ?? false, "\(r401)")

        let r400 = try probe(ccload, b)
        XCTAssertEqual(r400["ok"] as? Bool, false)
        XCTAssertEqual(r400["status"] as? Int, 400)
        let echoed = try XCTUnwrap(r400["error"] as? String)
        XCTAssertTrue(echoed.contains(masked(keyB)), echoed)
        XCTAssertFalse(echoed.contains(keyB), echoed)

        let gone = try probe(ccload, c)
        XCTAssertEqual(gone["ok"] as? Bool, false)
        XCTAssertTrue(gone["status"] is NSNull, "\(gone)")
        XCTAssertTrue(gone["ttfb_ms"] is NSNull)
        XCTAssertTrue((gone["error"] as? String)?.contains("refused") ?? false, "\(gone)")

        let started = Date()
        let slow = try probe(ccload, d)
        XCTAssertEqual(slow["ok"] as? Bool, false)
        XCTAssertTrue((slow["error"] as? String)?.contains("no response headers") ?? false, "\(slow)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3.5, "the first-byte timeout (1 s) was not applied")

        XCTAssertEqual(try ccload.cooldowns().count, 0, "a test recorded cooldowns")
        // Bad input.
        XCTAssertEqual(try admin(ccload, "POST", "/admin/channels/999/test").status, 404)
        let badKey = try admin(ccload, "POST", "/admin/channels/\(a)/test", #"{"key_index":3}"#)
        XCTAssertEqual(badKey.status, 400)
        XCTAssertEqual(field(badKey), "key_index")
        XCTAssertEqual(field(try admin(ccload, "POST", "/admin/channels/\(a)/test", #"{"model":5}"#)), "model")
        // The model goes into the probe's body (and a Gemini path): the channel input's model rule applies.
        for bad in [#"{"model":"claude\u0001x"}"#, #"{"model":"claude\"x"}"#, #"{"model":"a b"}"#] {
            let r = try admin(ccload, "POST", "/admin/channels/\(a)/test", bad)
            XCTAssertEqual(r.status, 400, "\(bad): \(r.bodyText)")
            XCTAssertEqual(field(r), "model", bad)
        }
        assertSecretsNeverShown(ccload)
    }

    func testClearCooldownsClearsWhatAFailureCooled() throws {
        let failing = try startMock(["--status", "500"])
        let refusing = try startMock(["--status", "401"])
        let db = tempDatabase()
        let ccload = try startEmpty(db: db)
        let a = try XCTUnwrap(try create(ccload, input("failing", url: failing.url, ["models": [RelayCase.model]]))["id"] as? Int)
        let b = try XCTUnwrap(try create(ccload, input("refusing", url: refusing.url, ["models": ["other-model"]]))["id"] as? Int)
        XCTAssertEqual(try proxied(ccload).status, 500)
        XCTAssertEqual(try proxied(ccload, model: "other-model").status, 401)

        // A 500 cools the (channel, model) pair; a 401 the key.
        let cooled = try view(ccload, a)
        let cooling = try XCTUnwrap((cooled["model_cooldowns"] as? [[String: Any]])?.first, "no cooldown after a 500: \(cooled)")
        XCTAssertEqual(cooling["model"] as? String, RelayCase.model)
        XCTAssertGreaterThan(cooling["remaining_ms"] as? Int ?? 0, 0)
        XCTAssertEqual(cooling["failures"] as? Int, 1)
        let key = try XCTUnwrap((try view(ccload, b)["keys"] as? [[String: Any]])?.first)
        XCTAssertGreaterThan(key["cooldown_remaining_ms"] as? Int ?? 0, 0, "no key cooldown after a 401: \(key)")
        XCTAssertEqual(key["failures"] as? Int, 1)
        // Also in the list.
        let listed = try list(ccload)
        XCTAssertEqual(listed.filter { ($0["model_cooldowns"] as? [Any])?.isEmpty == false }.count, 1, "\(listed)")
        XCTAssertEqual(listed.filter { ($0["keys"] as? [[String: Any]])?.first?["cooldown_remaining_ms"] is Int }.count, 1)

        let cleared = try adminJSON(ccload, "POST", "/admin/channels/\(a)/clear-cooldowns")
        XCTAssertEqual((cleared["model_cooldowns"] as? [Any])?.count, 0, "\(cleared)")
        XCTAssertTrue(cleared["cooldown"] is NSNull)
        XCTAssertFalse(try ccload.cooldowns().contains { ($0["scope"] as? String)?.hasPrefix("channel \(a)") ?? false })
        XCTAssertGreaterThan((try view(ccload, b)["keys"] as? [[String: Any]])?.first?["cooldown_remaining_ms"] as? Int ?? 0, 0,
                            "clearing one channel cleared another")
        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": [b], "action": "clear_cooldowns"])["updated"] as? Int, 1)
        let key2 = try XCTUnwrap((try view(ccload, b)["keys"] as? [[String: Any]])?.first)
        XCTAssertTrue(key2["cooldown_remaining_ms"] is NSNull, "\(key2)")
        XCTAssertEqual(key2["failures"] as? Int, 0)
        XCTAssertEqual(try ccload.cooldowns().count, 0)
        XCTAssertEqual(try admin(ccload, "POST", "/admin/channels/999/clear-cooldowns").status, 404)
        // Cleared means routable again at once (the upstream still fails, but it is tried).
        XCTAssertEqual(try proxied(ccload).status, 500)
        XCTAssertEqual(try failing.requests(), 2)
        assertSecretsNeverShown(ccload)
    }
}
