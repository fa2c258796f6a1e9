import Foundation
import XCTest

/// Health probes against local upstreams: a probe bringing a cooling channel back before
/// its cooldown would have ended, a failing probe keeping one out (its cooldown extended),
/// a channel without probes never probed, results in the channel list, no request records.
final class HealthProbeTests: AdminChannelsCase {
    func send(_ c: CcloadProcess, model: String) throws -> Int {
        try c.request(messagesRequest(body: #"{"model":"\#(model)","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#),
                      timeout: 20).status
    }

    func cooldownRemainingMs(_ c: CcloadProcess, channel id: Int) throws -> Int? {
        try c.cooldowns().filter { ($0["scope"] as? String).map { $0 == "channel \(id)" || $0.hasPrefix("channel \(id) ") } ?? false }.compactMap { $0["remaining_ms"] as? Int }.filter { $0 > 0 }.max()
    }

    func testProbesBringARecoveredChannelBackEarlyAndKeepAFailingOneOut() throws {
        let failing = Flag(false)
        let recovering = try RecordingEndpoint(self) { _, _ in
            failing.value ? .status(500, #"{"type":"error","error":{"type":"api_error","message":"down"}}"#) : .status(200, WebhookTests.okBody)
        }
        let broken = try RecordingEndpoint(self) { _, _ in .status(503, #"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#) }
        let quiet = try RecordingEndpoint(self) { _, _ in .status(200, WebhookTests.okBody) }
        let hooks = try RecordingEndpoint(self) { _, _ in .status(200, "ok") }
        let ccload = try startEmpty()
        try adminJSON(ccload, "PUT", "/admin/settings", ["cooldown_min_seconds": 1, "cooldown_server_seconds": 16,
                                                          "webhooks": "\(hooks.url)/h"])
        // Bounds on both sides; 0 turns probes off.
        XCTAssertEqual(field(try admin(ccload, "POST", "/admin/channels", #"{"name":"x","protocol":"anthropic","url":"http://127.0.0.1:1","api_keys":["k"],"probe_interval_s":4}"#)), "probe_interval_s")
        XCTAssertEqual(field(try admin(ccload, "POST", "/admin/channels", #"{"name":"x","protocol":"anthropic","url":"http://127.0.0.1:1","api_keys":["k"],"probe_interval_s":86401}"#)), "probe_interval_s")
        XCTAssertEqual(field(try admin(ccload, "POST", "/admin/channels", #"{"name":"x","protocol":"anthropic","url":"http://127.0.0.1:1","api_keys":["k"],"probe_interval_s":5.5}"#)), "probe_interval_s")
        let off = try create(ccload, input("off", url: quiet.url, keys: [keyC], ["models": ["claude-q"], "probe_interval_s": 0]))
        XCTAssertTrue(off["probe_interval_s"] is NSNull, "\(off)")

        let a = try XCTUnwrap(try create(ccload, input("recovering", url: recovering.url, keys: [keyA],
                                                       ["models": ["claude-a"], "probe_interval_s": 5]))["id"] as? Int)
        let b = try XCTUnwrap(try create(ccload, input("broken", url: broken.url, keys: [keyB],
                                                       ["models": ["claude-b"], "probe_interval_s": 5, "probe_model": "claude-b"]))["id"] as? Int)
        XCTAssertEqual(try view(ccload, a)["probe_interval_s"] as? Int, 5)
        XCTAssertEqual(try view(ccload, b)["probe_model"] as? String, "claude-b")
        // The first probes (the channels are not cooling) show in the list.
        XCTAssertTrue(recovering.wait(timeout: 10) { !$0.isEmpty })
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try view(ccload, a)["probe"] is NSNull { usleep(100_000) }
        let firstProbe = try XCTUnwrap(try view(ccload, a)["probe"] as? [String: Any])
        XCTAssertEqual(firstProbe["ok"] as? Bool, true, "\(firstProbe)")
        XCTAssertEqual(firstProbe["status"] as? Int, 200)
        XCTAssertEqual(firstProbe["model"] as? String, "claude-a")
        XCTAssertNotNil(firstProbe["at_ms"] as? Int)
        XCTAssertTrue(recovering.requests.first?.head.contains("x-api-key: \(keyA)") ?? false)

        // The recovering channel fails a request and cools for 16 s; the upstream is fine again at once.
        failing.value = true
        XCTAssertNotEqual(try send(ccload, model: "claude-a"), 200)
        let cooledAt = Date()
        failing.value = false
        XCTAssertNotNil(try cooldownRemainingMs(ccload, channel: a))
        // Its probe comes shortly before the end (at most the interval before it): the cooldown is cleared.
        var back: Date?
        while Date().timeIntervalSince(cooledAt) < 15.5 {
            if try cooldownRemainingMs(ccload, channel: a) == nil { back = Date(); break }
            usleep(200_000)
        }
        let cleared = try XCTUnwrap(back, "the probe did not clear the cooldown before it would have ended")
        XCTAssertLessThan(cleared.timeIntervalSince(cooledAt), 16)
        XCTAssertEqual(try send(ccload, model: "claude-a"), 200, "the channel is routed again")
        XCTAssertLessThan(Date().timeIntervalSince(cooledAt), 16, "routed again before the cooldown would have ended")
        XCTAssertTrue(hooks.wait(timeout: 10) { $0.contains { $0.body.contains(#""event":"recovered""#) && $0.body.contains("recovering") } },
                      "\(hooks.requests.map(\.body))")

        // The broken channel: its probes fail, so it cools and its cooldown grows past the first 16 s.
        let bView = try view(ccload, b)
        let bProbe = try XCTUnwrap(bView["probe"] as? [String: Any], "\(bView)")
        XCTAssertEqual(bProbe["ok"] as? Bool, false)
        XCTAssertEqual(bProbe["status"] as? Int, 503)
        XCTAssertTrue((bProbe["error"] as? String)?.contains("503") ?? false, "\(bProbe)")
        XCTAssertNotEqual(try send(ccload, model: "claude-b"), 200)
        let remaining = try XCTUnwrap(try cooldownRemainingMs(ccload, channel: b))
        XCTAssertGreaterThan(remaining, 16_000, "a failing cooling probe extends the cooldown (the next failure doubles it)")
        XCTAssertGreaterThanOrEqual(broken.requests.count, 2, "the first probe and the cooling probe")

        // The channel without probes was never asked anything; probes write no request records.
        XCTAssertEqual(quiet.requests.count, 0)
        XCTAssertEqual(try ccload.records().count, 3, "only the three client requests are recorded")
        XCTAssertTrue(try view(ccload, off["id"] as! Int)["probe"] is NSNull)
        assertSecretsNeverShown(ccload)
    }
}
