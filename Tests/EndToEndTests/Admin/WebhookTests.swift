import Foundation
import XCTest

/// Webhooks against a local receiver: the setting masked in answers, the payload shapes,
/// a cooling and a recovery arriving once per transition, retries with backoff, a hanging
/// receiver (bounded queue, drops counted, the proxy keeps serving), the test button, and
/// no secret in any payload, answer or log.
final class WebhookTests: AdminChannelsCase {
    let hookTokenA = "hook-token-AAAA-5566-secret"
    let hookTokenB = "T000/B000/slack-secret-QQ11"
    let hookTokenC = "ding-access-token-ZZ99"
    override var secrets: [String] { super.secrets + [hookTokenA, hookTokenB, hookTokenC] }

    static let okBody = #"{"type":"message","id":"m1","role":"assistant","content":[{"type":"text","text":"hi"}],"model":"claude-a","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#

    func send(_ c: CcloadProcess, model: String) throws -> Int {
        try c.request(messagesRequest(body: #"{"model":"\#(model)","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#),
                      timeout: 20).status
    }

    func json(_ s: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any]
    }

    func testCoolingAndRecoveryOncePerTransitionInEveryShapeWithoutSecrets() throws {
        let failing = Flag(true)
        let upstream = try RecordingEndpoint(self) { _, _ in
            failing.value ? .status(500, #"{"type":"error","error":{"type":"api_error","message":"down"}}"#) : .status(200, Self.okBody)
        }
        let hooks = try RecordingEndpoint(self) { _, _ in .status(200, "ok") }
        let ccload = try startEmpty()
        let list = "generic=\(hooks.url)/g/\(hookTokenA),slack=\(hooks.url)/services/\(hookTokenB),feishu=\(hooks.url)/f/x,"
            + "dingtalk=\(hooks.url)/robot/send?access_token=\(hookTokenC),wecom=\(hooks.url)/w?key=k"
        try adminJSON(ccload, "PUT", "/admin/settings", ["webhooks": list, "cooldown_min_seconds": 0.5, "cooldown_server_seconds": 1.5])
        // Masked in every answer; sent back masked, the stored URLs stay.
        let shown = try adminJSON(ccload, "GET", "/admin/settings")["data"] as? [[String: Any]] ?? []
        let masked = try XCTUnwrap(shown.first { $0["key"] as? String == "webhooks" }?["value"] as? String)
        XCTAssertTrue(masked.hasPrefix("generic=http://127.0.0.1:\(hooks.server.port)/****,slack="), masked)
        try adminJSON(ccload, "PUT", "/admin/settings", ["webhooks": masked])
        let bad = try admin(ccload, "PUT", "/admin/settings", #"{"webhooks":"slack=http://127.0.0.1:9/****"}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(field(bad), "webhooks")
        XCTAssertEqual(field(try admin(ccload, "PUT", "/admin/settings", #"{"webhooks":"teams=https://x.example/a"}"#)), "webhooks")
        let listed = try adminJSON(ccload, "GET", "/admin/webhooks")
        XCTAssertEqual((listed["data"] as? [[String: Any]])?.count, 5)

        try create(ccload, input("flaky", url: upstream.url, keys: [keyA], ["models": ["claude-a"]]))
        for _ in 0..<3 { XCTAssertNotEqual(try send(ccload, model: "claude-a"), 200) }
        XCTAssertTrue(hooks.wait(timeout: 20) { $0.count >= 5 }, "\(hooks.requests.map(\.path))")
        failing.value = false
        // Past the cooldown the channel answers again: one recovery, however many successes.
        Thread.sleep(forTimeInterval: 2)
        for _ in 0..<3 { XCTAssertEqual(try send(ccload, model: "claude-a"), 200) }
        XCTAssertTrue(hooks.wait(timeout: 20) { $0.count >= 10 }, "\(hooks.requests.map(\.path))")
        Thread.sleep(forTimeInterval: 1)
        let got = hooks.requests
        XCTAssertEqual(got.count, 10, "one cooling and one recovery per webhook: \(got.map { $0.body })")

        let generic = hooks.requests("/g/").compactMap { json($0.body) }
        XCTAssertEqual(generic.map { $0["event"] as? String }, ["cooling", "recovered"])
        XCTAssertEqual(generic.first?["channel"] as? String, "flaky")
        XCTAssertEqual(generic.first?["reason"] as? String, "server")
        XCTAssertEqual(generic.first?["scope"] as? String, "model claude-a")
        XCTAssertNotNil(generic.first?["until_ms"] as? Int)
        for r in hooks.requests("/services/") {
            let j = try XCTUnwrap(json(r.body))
            XCTAssertEqual(Array(j.keys), ["text"])
            XCTAssertTrue((j["text"] as? String)?.hasPrefix("ccload: channel flaky") ?? false, r.body)
        }
        for r in hooks.requests("/f/") {
            let j = try XCTUnwrap(json(r.body))
            XCTAssertEqual(j["msg_type"] as? String, "text")
            XCTAssertNotNil((j["content"] as? [String: Any])?["text"] as? String, r.body)
        }
        for prefix in ["/robot/send", "/w?"] {
            let rs = hooks.requests(prefix)
            XCTAssertEqual(rs.count, 2, prefix)
            for r in rs {
                let j = try XCTUnwrap(json(r.body))
                XCTAssertEqual(j["msgtype"] as? String, "text")
                XCTAssertNotNil((j["text"] as? [String: Any])?["content"] as? String, r.body)
            }
        }
        XCTAssertEqual(hooks.requests("/robot/send").first?.path, "/robot/send?access_token=\(hookTokenC)")

        // The test button: a sample to one webhook, the receiver's answer reported.
        let t = try adminJSON(ccload, "POST", "/admin/webhooks/test", ["index": 1])
        XCTAssertEqual(t["ok"] as? Bool, true, "\(t)")
        XCTAssertEqual(t["status"] as? Int, 200)
        XCTAssertTrue((hooks.requests("/services/").last?.body ?? "").contains("ccload-webhook-test"))
        XCTAssertEqual(field(try admin(ccload, "POST", "/admin/webhooks/test", #"{"index":5}"#)), "index")

        for r in hooks.requests {
            for s in secrets + [hookTokenA, hookTokenB] { XCTAssertFalse(r.body.contains(s), "a secret in a payload: \(r.body)") }
        }
        assertSecretsNeverShown(ccload)
    }

    func testRetriesWithBackoffAndABoundedQueueWhenTheReceiverHangs() throws {
        let hooks = try RecordingEndpoint(self) { path, n in
            if path.hasPrefix("/hang") { return .hang(12) }
            return n == 1 ? .status(500, "no") : .status(200, "ok")
        }
        let ok = try RecordingEndpoint(self) { _, _ in .status(200, Self.okBody) }
        let ccload = try startEmpty(["CCLOAD_METRICS": "1"])
        // Cooldowns that end at once: every failure starts one (and posts one notice).
        try adminJSON(ccload, "PUT", "/admin/settings", ["webhooks": "\(hooks.url)/flaky/\(hookTokenA)", "cooldown_min_seconds": 0.01,
                                                          "cooldown_server_seconds": 0.01, "cooldown_max_seconds": 0.02])
        // The test button reports what the receiver said: 500 first.
        let first = try adminJSON(ccload, "POST", "/admin/webhooks/test", [:])
        XCTAssertEqual(first["ok"] as? Bool, false)
        XCTAssertEqual(first["status"] as? Int, 500)
        XCTAssertEqual(first["error"] as? String, "HTTP 500")
        XCTAssertFalse((first["webhook"] as? String ?? "").contains(hookTokenA))

        // A real notice: refused once more (hit 2), then taken (hit 3).
        hooks.setAnswer { path, n in
            if path.hasPrefix("/hang") { return .hang(12) }
            return n <= 2 ? .status(500, "no") : .status(200, "ok")
        }
        try create(ccload, input("gone", url: "http://127.0.0.1:1", keys: [keyA], ["models": ["claude-g"]]))
        XCTAssertNotEqual(try send(ccload, model: "claude-g"), 200)
        let started = Date()
        XCTAssertTrue(hooks.wait(timeout: 20) { $0.filter { $0.path.hasPrefix("/flaky") }.count >= 3 })
        // Hit 2 (500) then hit 3 (200) after a backoff of about a second.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.9)
        let bodies = hooks.requests("/flaky").dropFirst().map(\.body)
        XCTAssertEqual(bodies.count, 2)
        XCTAssertEqual(bodies.first, bodies.last, "the retry sends the same notice")
        Thread.sleep(forTimeInterval: 0.5)
        let counts = try XCTUnwrap(try adminJSON(ccload, "GET", "/admin/webhooks")["counts"] as? [String: Any])
        XCTAssertEqual(counts["sent"] as? Int, 1, "\(counts)")
        XCTAssertEqual(counts["retried"] as? Int, 1, "\(counts)")

        // A receiver that never answers: notices queue up to the bound, the rest are dropped
        // and counted, and the proxy keeps serving.
        try adminJSON(ccload, "PUT", "/admin/settings", ["webhooks": "\(hooks.url)/hang/\(hookTokenA)"])
        let okID = try XCTUnwrap(try create(ccload, input("ok", url: ok.url, keys: [keyB], ["models": ["claude-ok"]]))["id"] as? Int)
        for i in 0..<80 {
            // Each failure starts a new cooldown (they end at once): one notice each.
            XCTAssertNotEqual(try send(ccload, model: "claude-g"), 200)
            if i % 20 == 0 { XCTAssertEqual(try send(ccload, model: "claude-ok"), 200) }
            usleep(30_000)
        }
        XCTAssertEqual(try send(ccload, model: "claude-ok"), 200)
        let after = try XCTUnwrap(try adminJSON(ccload, "GET", "/admin/webhooks")["counts"] as? [String: Any])
        XCTAssertLessThanOrEqual(after["queued"] as? Int ?? 999, 64, "\(after)")
        XCTAssertGreaterThan(after["dropped"] as? Int ?? 0, 0, "\(after)")
        let metrics = try ccload.request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").bodyText
        let dropped = metrics.split(separator: "\n").first { $0.hasPrefix(#"ccload_webhook_deliveries_total{outcome="dropped"}"#) }
        XCTAssertGreaterThanOrEqual(Int(dropped?.split(separator: " ").last ?? "") ?? 0, after["dropped"] as? Int ?? 1, metrics)
        XCTAssertEqual(try list(ccload).first { $0["id"] as? Int == okID }?["name"] as? String, "ok")
        assertSecretsNeverShown(ccload)
    }
}

/// A Bool shared with a server thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Bool
    init(_ v: Bool) { self.v = v }
    var value: Bool {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
