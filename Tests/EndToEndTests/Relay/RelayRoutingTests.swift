import Foundation
import XCTest

/// Which channel a request goes to: priority, round-robin, disabled channels, model lists,
/// redirects, session affinity, pass-through of the client's own errors, and what the
/// client gets when every channel fails.
final class RelayRoutingTests: RelayCase {
    func testHigherPriorityChannelTakesEveryRequest() throws {
        let low = try startMock(), high = try startMock()
        let ccload = try startRelay([
            channel("low", url: low.url, priority: 1),
            channel("high", url: high.url, priority: 9),
        ]).ccload
        for _ in 0..<6 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual(try high.requests(), 6)
        XCTAssertEqual(try low.requests(), 0)
        let recs = try ccload.waitForRecords(6)
        XCTAssertEqual(Set(recs.prefix(6).compactMap { $0["channel_name"] as? String }), ["high"])
    }

    func testRoundRobinSpreadsRequestsWithinAPriority() throws {
        let a = try startMock(), b = try startMock(), c = try startMock()
        let ccload = try startRelay([
            channel("a", url: a.url, priority: 5),
            channel("b", url: b.url, priority: 5),
            channel("c", url: c.url, priority: 5),
        ]).ccload
        for _ in 0..<9 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual([try a.requests(), try b.requests(), try c.requests()], [3, 3, 3])
    }

    func testWeightsShapeTheSpread() throws {
        let heavy = try startMock(), light = try startMock()
        let ccload = try startRelay([
            channel("heavy", url: heavy.url, priority: 5, ["weight": 3]),
            channel("light", url: light.url, priority: 5, ["weight": 1]),
        ]).ccload
        for _ in 0..<8 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual(try heavy.requests(), 6)
        XCTAssertEqual(try light.requests(), 2)
    }

    func testDisabledChannelIsNeverUsed() throws {
        let off = try startMock(), on = try startMock()
        let ccload = try startRelay([
            channel("off", url: off.url, priority: 9, ["enabled": false]),
            channel("on", url: on.url, priority: 1),
        ]).ccload
        for _ in 0..<4 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual(try off.requests(), 0)
        XCTAssertEqual(try on.requests(), 4)
    }

    func testModelListsRouteAndAnUnservedModelIs503NamingIt() throws {
        let a = try startMock(), b = try startMock()
        let ccload = try startRelay([
            channel("a", url: a.url, ["models": ["claude-a-1"]]),
            channel("b", url: b.url, ["models": ["claude-b-1"]]),
            channel("oa", "openai", url: a.url, ["models": ["gpt-a"]]),
        ]).ccload
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-b-1", stream: false)).status, 200)
        XCTAssertEqual(try b.requests(), 1)
        XCTAssertEqual(try a.requests(), 0)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-a-1", stream: false)).status, 200)
        XCTAssertEqual(try a.requests(), 1)

        let r = try ccload.post("/v1/messages", anthropicBody(model: "claude-nobody-9", stream: true))
        assertErrorShape(r, status: 503)
        XCTAssertTrue(r.bodyText.contains("claude-nobody-9"), r.bodyText)
        // An Anthropic model is not served by the OpenAI channel either (protocol families).
        let o = try ccload.post("/v1/chat/completions", chatBody(model: "claude-a-1", stream: false))
        XCTAssertEqual(o.status, 503, o.bodyText)
        let e = try XCTUnwrap(o.json?["error"] as? [String: Any], o.bodyText)
        XCTAssertTrue((e["message"] as? String ?? "").contains("claude-a-1"), o.bodyText)
        XCTAssertEqual(try a.requests() + b.requests(), 2, "a refused request reached a mock")
        let rec = try XCTUnwrap(try ccload.waitForRecords(4).first)
        XCTAssertEqual(rec["status"] as? Int, 503)

        // The models list comes from the table, in the client's protocol shape.
        let m = try ccload.get("/v1/models", headers: ["anthropic-version: 2023-06-01"])
        XCTAssertEqual(m.status, 200)
        let ids = (m.json?["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids), ["claude-a-1", "claude-b-1"], m.bodyText)
        let om = try ccload.get("/v1/models")
        XCTAssertEqual(om.json?["object"] as? String, "list", om.bodyText)
        XCTAssertEqual((om.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["gpt-a"], om.bodyText)
    }

    func testModelRedirectSendsTheUpstreamModel() throws {
        let mock = try startMock()
        let ccload = try startRelay([
            channel("r", url: mock.url, ["models": ["sonnet"], "model_redirects": ["sonnet": "claude-sonnet-4-5-20250929"]]),
            channel("g", "gemini", url: mock.url, ["models": ["flash"], "model_redirects": ["flash": "gemini-2.5-flash"]]),
        ]).ccload
        let body = anthropicBody(model: "sonnet", stream: false, extra: #","metadata":{"note":"keep me"}"#)
        XCTAssertEqual(try ccload.post("/v1/messages", body).status, 200)
        var stats = try mock.stats()
        XCTAssertEqual(stats["last_model"] as? String, "claude-sonnet-4-5-20250929")
        // The rest of the body goes byte for byte: only the model value changed.
        let expectedLength = body.utf8.count - "sonnet".utf8.count + "claude-sonnet-4-5-20250929".utf8.count
        XCTAssertEqual(try mock.lastRequest().bodyLength, expectedLength)
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertEqual(rec["requested_model"] as? String, "sonnet")
        XCTAssertEqual(rec["upstream_model"] as? String, "claude-sonnet-4-5-20250929")
        // Gemini carries the model in the path.
        let g = try ccload.post("/v1beta/models/flash:generateContent", #"{"contents":[{"parts":[{"text":"hi"}]}]}"#)
        XCTAssertEqual(g.status, 200, g.bodyText)
        stats = try mock.stats()
        XCTAssertEqual(stats["last_path"] as? String, "/v1beta/models/gemini-2.5-flash:generateContent")
        // A model the channel neither lists nor redirects is not served.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-sonnet-4-5-20250929", stream: false)).status, 503)
    }

    func testSessionAffinityKeepsASessionOnOneChannel() throws {
        let a = try startMock(), b = try startMock()
        let ccload = try startRelay([
            channel("a", url: a.url, priority: 5),
            channel("b", url: b.url, priority: 5),
        ]).ccload
        let session = #","metadata":{"user_id":"user_abc_account__session_1234"}"#
        for _ in 0..<6 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false, extra: session)).status, 200)
        }
        let counts = [try a.requests(), try b.requests()]
        XCTAssertEqual(counts.sorted(), [0, 6], "one session was spread over both channels: \(counts)")
        let names = Set(try ccload.waitForRecords(6).prefix(6).compactMap { $0["channel_name"] as? String })
        XCTAssertEqual(names.count, 1, "\(names)")
        // Without a session the same tier is shared again.
        for _ in 0..<4 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertGreaterThan(min(try a.requests(), try b.requests()), 0, "requests without a session never reached the other channel")
        // An explicit x-ccload-session header works for OpenAI clients too.
        let oa = try startMock(), ob = try startMock()
        let c2 = try startRelay([
            channel("oa", "openai", url: oa.url, priority: 5),
            channel("ob", "openai", url: ob.url, priority: 5),
        ]).ccload
        for _ in 0..<5 {
            XCTAssertEqual(try c2.post("/v1/chat/completions", chatBody(stream: false), headers: ["x-ccload-session: s-42"]).status, 200)
        }
        XCTAssertEqual([try oa.requests(), try ob.requests()].sorted(), [0, 5])
    }

    func testBadRequestPassesThroughAndIsNotRetried() throws {
        let bad = try startMock(["--status", "400"])
        let other = try startMock()
        let ccload = try startRelay([
            channel("bad", url: bad.url, priority: 9, ["id": 1]),
            channel("other", url: other.url, priority: 1, ["id": 2]),
        ]).ccload
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true))
        assertErrorShape(r, status: 400, type: "invalid_request_error")
        XCTAssertEqual(r.bodyText, #"{"type":"error","error":{"type":"invalid_request_error","message":"mock failure 400"}}"#)
        XCTAssertEqual(try bad.requests(), 1)
        XCTAssertEqual(try other.requests(), 0, "a 400 was retried on another channel")
        XCTAssertEqual(try ccload.cooldowns().count, 0, "a 400 must not cool anything")
        try assertRecord(ccload, channel: 1, status: 400, failures: [])
    }

    func testEveryChannelFailingPassesTheLastAnswerThrough() throws {
        let first = try startMock(["--status", "503"])
        let last = try startMock(["--status", "502"])
        let ccload = try startRelay([
            channel("first", "openai", url: first.url, priority: 9, ["id": 1]),
            channel("last", "openai", url: last.url, priority: 1, ["id": 2]),
        ]).ccload
        let r = try ccload.post("/v1/chat/completions", chatBody(stream: true))
        XCTAssertEqual(r.status, 502, r.bodyText)
        XCTAssertEqual(r.bodyText, #"{"error":{"message":"mock failure 502","type":"server_error","param":null,"code":"server_error"}}"#)
        XCTAssertEqual(r.header("content-length"), String(r.body.count))
        try assertRecord(ccload, channel: 2, status: 502, failures: [(1, 503, "server"), (2, 502, "server")])
    }

    func testEveryChannelUnreachableIs502AndEveryTimeoutIs504() throws {
        var ccload = try startRelay([
            channel("x", url: "http://127.0.0.1:\(closedPort())", priority: 2),
            channel("y", url: "http://127.0.0.1:\(closedPort())", priority: 1),
        ]).ccload
        var r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        assertErrorShape(r, status: 502)
        let hanging = try startMock(["--head-delay-ms", "8000"])
        ccload = try startRelay([channel("h", "gemini", url: hanging.url, ["first_byte_timeout": 0.3])]).ccload
        r = try ccload.post("/v1beta/models/gemini-2.5-pro:generateContent", "{}", timeout: 6)
        XCTAssertEqual(r.status, 504, r.bodyText)
        let e = try XCTUnwrap(r.json?["error"] as? [String: Any], "not Gemini's error shape: \(r.bodyText)")
        XCTAssertEqual(e["code"] as? Int, 504)
        XCTAssertEqual(e["status"] as? String, "DEADLINE_EXCEEDED")
    }
}
