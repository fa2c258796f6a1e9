import Foundation
import XCTest

/// Issue 16 with the real binary: a session stays where its prompt cache is warm (checked at
/// the upstreams), and the cache hit rate the API reports is the mock's cache reads.
final class RelayCacheAffinityTests: RelayCase {
    /// Whether the scripted channel answers 500.
    final class Health: @unchecked Sendable {
        private let lock = NSLock()
        private var down = false
        var failing: Bool {
            get { lock.lock(); defer { lock.unlock() }; return down }
            set { lock.lock(); down = newValue; lock.unlock() }
        }
    }

    /// An Anthropic upstream that notes each request's `"turn"` and answers 200, or 500 while
    /// `health` is failing.
    func startSwitchable(_ health: Health) throws -> ScriptedUpstream {
        try startScripted { conn, _, up in
            while let req = conn.readRequest(timeout: 30) {
                let body = String(decoding: req.body, as: UTF8.self)
                let turn = body.range(of: #""turn":\d+"#, options: .regularExpression).map { String(body[$0].dropFirst(7)) } ?? "?"
                up.note(turn)
                let ok = #"{"id":"msg_a","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":2}}"#
                let bad = #"{"type":"error","error":{"type":"api_error","message":"down"}}"#
                let (status, text) = health.failing ? ("500 Internal Server Error", bad) : ("200 OK", ok)
                guard (try? conn.send("HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")) != nil else { return }
            }
        }
    }

    func turnBody(_ n: Int, session: String = "user_e2e_account__session_abc", extra: String = "") -> String {
        #"{"model":"\#(RelayCase.model)","max_tokens":16,"turn":\#(n),"metadata":{"user_id":"\#(session)"},"messages":[{"role":"user","content":"hi"}]\#(extra)}"#
    }

    /// Waits (bounded) until nothing about channel `id` cools.
    func waitUntilNotCooling(_ ccload: CcloadProcess, channel id: Int, timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try ccload.cooldowns().contains(where: { ($0["scope"] as? String)?.hasPrefix("channel \(id)") == true }) {
            if Date() > deadline { throw TestFailure("channel \(id) still cooling after \(timeout) s: \(try ccload.cooldowns())") }
            usleep(50_000)
        }
    }

    /// A relay with channel A (priority 10, id 1) and B (priority 5, id 2), a server error
    /// cooling for `cooldownSeconds`, a turn keeping the cache warm for `cacheSeconds`.
    private func startAB(_ a: ScriptedUpstream, _ b: MockUpstream, cooldownSeconds: Int, cacheSeconds: Int) throws -> CcloadProcess {
        try startRelay([
            channel("A", url: "http://127.0.0.1:\(a.port)", priority: 10, ["id": 1]),
            channel("B", url: b.url, priority: 5, ["id": 2]),
        ], ["CCLOAD_COOLDOWN_SERVER": "\(cooldownSeconds)", "CCLOAD_COOLDOWN_MIN": "0.01", "CCLOAD_AFFINITY_CACHE": "\(cacheSeconds)"]).ccload
    }

    /// The issue's scenario: A priority 10, B priority 5.
    func testWarmSessionStaysOnBAfterACoolsDownAndReturnsToAOnceIdle() throws {
        let health = Health()
        let a = try startSwitchable(health)
        let b = try startMock()
        // A 500 cools A for 3 s; a turn keeps the cache warm for 8 s.
        let ccload = try startAB(a, b, cooldownSeconds: 3, cacheSeconds: 8)

        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(1)).status, 200)
        XCTAssertEqual(a.observations, ["1"])
        XCTAssertEqual(try b.requests(), 0)
        health.failing = true
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(2)).status, 200)
        XCTAssertEqual(a.observations, ["1", "2"], "turn 2 tries A first")
        XCTAssertEqual(try b.requests(), 1, "turn 2 fails over to B")
        health.failing = false
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(3)).status, 200)
        XCTAssertEqual(try b.requests(), 2, "turn 3 → B")
        try waitUntilNotCooling(ccload, channel: 1)
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(4)).status, 200)
        XCTAssertEqual(try b.requests(), 3, "turn 4: A's cooldown is over, but B's cache is warm")
        XCTAssertEqual(a.observations, ["1", "2"], "A took turns 3 or 4")
        // A new session goes by priority meanwhile.
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(40, session: "user_e2e_account__session_other")).status, 200)
        XCTAssertEqual(a.observations, ["1", "2", "40"])
        // Idle past the 8 s lifetime: priority decides again.
        usleep(8_500_000)
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(5)).status, 200)
        XCTAssertEqual(a.observations, ["1", "2", "40", "5"], "after idling past its lifetime the session returns to A")
        XCTAssertEqual(try b.requests(), 3)
        let recs = try ccload.waitForRecords(6)
        XCTAssertEqual(recs.prefix(6).compactMap { $0["channel_name"] as? String }, ["A", "A", "B", "B", "B", "A"])
    }

    /// A one-hour `cache_control` keeps the session past the default lifetime.
    func testOneHourCacheControlOutlastsTheDefaultLifetime() throws {
        let health = Health()
        let a = try startSwitchable(health)
        let b = try startMock()
        let ccload = try startAB(a, b, cooldownSeconds: 1, cacheSeconds: 1)
        let hour = #","system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral","ttl":"1h"}}]"#
        health.failing = true
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(1, session: "s-hour", extra: hour)).status, 200)
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(1, session: "s-short")).status, 200)
        XCTAssertEqual(try b.requests(), 2)
        health.failing = false
        try waitUntilNotCooling(ccload, channel: 1)
        usleep(1_500_000)  // past the 1 s default lifetime
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(2, session: "s-hour", extra: hour)).status, 200)
        XCTAssertEqual(try b.requests(), 3, "the 1 h session left B")
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(2, session: "s-short")).status, 200)
        XCTAssertEqual(try b.requests(), 3, "the 5 min (here 1 s) session stayed on B past its lifetime")
        XCTAssertEqual(a.observations.suffix(1), ["2"])
    }

    /// Keys: a session keeps its key; a failed key moves it, and that key's cooldown ending
    /// does not bring it back.
    func testSessionKeepsItsKeyAndAFailedKeyDoesNotWinItBack() throws {
        let rr = try startMock()
        let c1 = try startRelay([channel("rr", url: rr.url, key: ["sk-aff-key-a", "sk-aff-key-b", "sk-aff-key-c"],
                                         ["key_strategy": "round_robin"])]).ccload
        var keys: [String] = []
        for n in 0..<6 {
            XCTAssertEqual(try c1.post("/v1/messages", turnBody(n, session: "s-keys")).status, 200)
            keys.append(try rr.stats()["last_auth"] as? String ?? "")
        }
        XCTAssertEqual(Set(keys).count, 1, "the session changed keys: \(keys)")
        var free: [String] = []
        for _ in 0..<3 {
            XCTAssertEqual(try c1.post("/v1/messages", anthropicBody(stream: false)).status, 200)
            free.append(try rr.stats()["last_auth"] as? String ?? "")
        }
        XCTAssertEqual(Set(free).count, 3, "without a session the keys rotate: \(free)")

        // Key a always answers 401 here: a try on it shows as an extra request at the mock.
        let mock = try startMock(["--require-key", "sk-aff-key-b"])
        let ccload = try startRelay([channel("k", url: mock.url, key: ["sk-aff-key-a", "sk-aff-key-b"])],
                                    ["CCLOAD_COOLDOWN_AUTH": "1", "CCLOAD_COOLDOWN_MIN": "0.01"]).ccload
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(1, session: "s-fail")).status, 200)
        XCTAssertEqual(try mock.requests(), 2, "key a failed, key b served")
        try waitUntilNotCooling(ccload, channel: 1)
        for n in 2...4 {
            XCTAssertEqual(try ccload.post("/v1/messages", turnBody(n, session: "s-fail")).status, 200)
            XCTAssertEqual(try mock.requests(), n + 1, "turn \(n) went back to the failed key")
            XCTAssertTrue((try mock.stats()["last_auth"] as? String ?? "").contains("sk-aff-key-b"))
        }
        // A request without the session starts on key a again (its cooldown is over).
        let before = try mock.requests()
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try mock.requests(), before + 2)
    }

    /// The hit rate the API reports: cache reads ÷ (input + cache reads + cache writes), as
    /// the mock reported them.
    func testCacheHitRateMatchesTheUpstreamsCacheReads() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("c", url: mock.url, ["id": 1])], ["CCLOAD_METRICS": "1"])
        func usage(_ input: Int, _ read: Int, _ w5: Int, _ w1: Int) -> [String] {
            ["x-mock-input-tokens: \(input)", "x-mock-cache-read: \(read)", "x-mock-cache-write-5m: \(w5)", "x-mock-cache-write-1h: \(w1)"]
        }
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: usage(100, 300, 60, 40)).status, 200)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: true), headers: usage(50, 0, 450, 0)).status, 200)
        // Sums: input 150, read 300, writes 550 → 300 / 1000.
        let deadline = Date().addingTimeInterval(15)
        var stats: [String: Any] = [:]
        while true {
            stats = try ccload.adminJSON("/admin/stats?by=channel")
            if ((stats["totals"] as? [String: Any])?["requests"] as? Int) == 2 { break }
            if Date() > deadline { throw TestFailure("stats never reached 2 requests: \(stats)") }
            usleep(50_000)
        }
        let totals = try XCTUnwrap(stats["totals"] as? [String: Any])
        XCTAssertEqual(totals["cache_read_tokens"] as? Int, 300)
        XCTAssertEqual(try XCTUnwrap(totals["cache_hit_rate"] as? Double), 0.3, accuracy: 1e-9)
        let row = try XCTUnwrap((stats["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(row["name"] as? String, "c")
        XCTAssertEqual(try XCTUnwrap(row["cache_hit_rate"] as? Double), 0.3, accuracy: 1e-9)
        let byModel = try XCTUnwrap((try ccload.adminJSON("/admin/stats?by=model")["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(try XCTUnwrap(byModel["cache_hit_rate"] as? Double), 0.3, accuracy: 1e-9)
        let trend = try XCTUnwrap(try ccload.adminJSON("/admin/trends?range=24h")["data"] as? [[String: Any]])
        let hour = try XCTUnwrap(trend.last { ($0["requests"] as? Int ?? 0) > 0 })
        XCTAssertEqual(try XCTUnwrap(hour["cache_hit_rate"] as? Double), 0.3, accuracy: 1e-9)
        // Per request, in the log (newest first): 0 / 500, then 300 / 500.
        let logs = try XCTUnwrap(try ccload.adminJSON("/admin/logs")["data"] as? [[String: Any]])
        XCTAssertEqual(logs.count, 2)
        XCTAssertEqual(try XCTUnwrap(logs[0]["cache_hit_rate"] as? Double), 0.0, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(logs[1]["cache_hit_rate"] as? Double), 0.6, accuracy: 1e-9)
        // /metrics: the same figure, and the affinity table's size.
        let m = try ccload.get("/metrics")
        XCTAssertEqual(m.status, 200)
        XCTAssertTrue(m.bodyText.contains(#"ccload_cache_hit_ratio{by="channel",key="1",name="c"} 0.3"#), m.bodyText)
        XCTAssertTrue(m.bodyText.contains(#"ccload_cache_hit_ratio{by="all",key="",name=""} 0.3"#), m.bodyText)
        XCTAssertTrue(m.bodyText.contains(#"ccload_cache_hit_ratio{by="model",key="\#(RelayCase.model)",name="\#(RelayCase.model)"} 0.3"#), m.bodyText)
        XCTAssertTrue(m.bodyText.contains("ccload_affinity_sessions 0\n"), m.bodyText)
        // A session shows in the table's size.
        XCTAssertEqual(try ccload.post("/v1/messages", turnBody(1, session: "s-metric")).status, 200)
        XCTAssertEqual(try ccload.adminJSON("/admin/metrics")["affinity_sessions"] as? Int, 1)
        XCTAssertTrue(try ccload.get("/metrics").bodyText.contains("ccload_affinity_sessions 1\n"))
    }

    /// With `affinity_prompt_digest` on, requests without a session id stick by their prompt.
    func testPromptDigestGivesSessionlessClientsAffinity() throws {
        let a = try startMock(), b = try startMock()
        let chans = [channel("a", url: a.url, priority: 5), channel("b", url: b.url, priority: 5)]
        let conv = { (n: Int) in
            #"{"model":"\#(RelayCase.model)","max_tokens":16,"system":"You are terse.","messages":[{"role":"user","content":"open the repo"}\#(String(repeating: #",{"role":"assistant","content":"ok"},{"role":"user","content":"next"}"#, count: n))]}"#
        }
        let on = try startRelay(chans, ["CCLOAD_AFFINITY_PROMPT_DIGEST": "1"]).ccload
        for n in 0..<6 { XCTAssertEqual(try on.post("/v1/messages", conv(n)).status, 200) }
        XCTAssertEqual([try a.requests(), try b.requests()].sorted(), [0, 6], "one conversation changed channels")
        // Off (the default): the same requests are spread.
        let a2 = try startMock(), b2 = try startMock()
        let off = try startRelay([channel("a", url: a2.url, priority: 5), channel("b", url: b2.url, priority: 5)]).ccload
        for n in 0..<6 { XCTAssertEqual(try off.post("/v1/messages", conv(n)).status, 200) }
        XCTAssertEqual([try a2.requests(), try b2.requests()], [3, 3])
    }
}
