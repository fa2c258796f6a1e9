import Foundation
import Glibc
import XCTest

/// Per-channel options end to end: several URLs, key strategy, concurrency and daily cost
/// limits, base paths, the CSV file format, and cooldown arithmetic seen from outside.
final class RelayChannelOptionsTests: RelayCase {
    func testAChannelWithADeadFirstURLIsServedByItsSecondURL() throws {
        let alive = try startMock()
        let ccload = try startRelay([
            channel("multi", url: "unused", ["url": ["http://127.0.0.1:\(closedPort())", alive.url], "id": 1]),
        ]).ccload
        var results: [Int] = []
        for _ in 0..<3 { results.append(try ccload.post("/v1/messages", anthropicBody(stream: false)).status) }
        let records = (try? ccload.records()) ?? []
        XCTAssertEqual(results, [200, 200, 200], "a channel's second base URL is never used when the first is down; records: \(records)")
        XCTAssertEqual(try alive.requests(), 3)
    }

    func testRoundRobinKeysTakeTurns() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("rr", url: mock.url, key: ["sk-rr-key-a", "sk-rr-key-b"], ["key_strategy": "round_robin"])]).ccload
        var seen: [String] = []
        for _ in 0..<4 {
            XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
            seen.append(try mock.stats()["last_x_api_key"] as? String ?? "")
        }
        XCTAssertEqual(Set(seen), ["sk-rr-key-a", "sk-rr-key-b"], "\(seen)")
        XCTAssertNotEqual(seen[0], seen[1], "\(seen)")
        XCTAssertNotEqual(seen[2], seen[3], "\(seen)")
        // Sequential (the default) always uses the first key.
        let seqMock = try startMock()
        let seq = try startRelay([channel("seq", url: seqMock.url, key: ["sk-seq-key-a", "sk-seq-key-b"])]).ccload
        for _ in 0..<3 {
            XCTAssertEqual(try seq.post("/v1/messages", anthropicBody(stream: false)).status, 200)
            XCTAssertEqual(try seqMock.stats()["last_x_api_key"] as? String, "sk-seq-key-a")
        }
    }

    func testMaxConcurrencyMovesTheNextRequestElsewhere() throws {
        let limited = try startMock(), spare = try startMock()
        let ccload = try startRelay([
            channel("limited", url: limited.url, priority: 9, ["max_concurrency": 1]),
            channel("spare", url: spare.url, priority: 1),
        ]).ccload
        let gate = gateName()
        let c = try ccload.connect()
        let body = anthropicBody(stream: true)
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-mock-gate: \(gate)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5), c.buffer.text)
        // The limited channel has one request in flight: the next one goes to the spare.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try spare.requests(), 1)
        XCTAssertEqual(try limited.requests(), 1)
        try limited.release(gate: gate)
        let r = try c.readResponse(timeout: 5)
        XCTAssertTrue(r.complete)
        // Once it finished, the limited channel takes requests again.
        _ = try ccload.waitForRecords(2)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try limited.requests(), 2)
    }

    func testDailyCostLimitStopsRoutingToTheChannel() throws {
        let capped = try startMock(), spare = try startMock()
        let ccload = try startRelay([
            channel("capped", url: capped.url, priority: 9, ["daily_cost_limit": 0.001]),
            channel("spare", url: spare.url, priority: 1),
        ]).ccload
        // 100 in + 50 out + 1000 cache read + 200/300 writes of claude-sonnet-4-5 = 3900 micro-USD > $0.001.
        let usage = ["x-mock-input-tokens: 100", "x-mock-output-tokens: 50", "x-mock-cache-read: 1000",
                     "x-mock-cache-write-5m: 200", "x-mock-cache-write-1h: 300"]
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false), headers: usage).status, 200)
        XCTAssertEqual(try ccload.waitForRecords(1).first?["cost_micro_usd"] as? Int, 3900)
        for _ in 0..<2 { XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200) }
        XCTAssertEqual(try capped.requests(), 1)
        XCTAssertEqual(try spare.requests(), 2)
    }

    func testBasePathsOfChannelURLs() throws {
        let mock = try startMock()
        let ccload = try startRelay([
            channel("oa", "openai", url: mock.url + "/v1"),
            channel("cx", "codex", url: mock.url + "/backend-api/codex"),
            channel("an", url: mock.url + "/api"),
        ]).ccload
        XCTAssertEqual(try ccload.post("/v1/chat/completions", chatBody(stream: false)).status, 200)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/v1/chat/completions")
        XCTAssertEqual(try ccload.post("/v1/responses", #"{"model":"gpt-5","input":"x"}"#).status, 200)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/backend-api/codex/responses")
        XCTAssertEqual(try ccload.post("/v1/messages?beta=true", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/api/v1/messages?beta=true")
    }

    func testCSVChannelsFile() throws {
        let a = try startMock(), b = try startMock()
        let path = NSTemporaryDirectory() + "ccload-channels-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).csv"
        onTearDown { try? FileManager.default.removeItem(atPath: path) }
        let csv = """
            name,api_key,url,priority,models,enabled
            first,sk-csv-key-1,\(a.url),10,"claude-x,claude-y",true
            off,sk-csv-key-2,\(b.url),20,claude-x,false
            second,sk-csv-key-3,\(b.url),5,claude-z,1

            """
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        let ccload = try startCcload(upstream: nil, ["CCLOAD_CHANNELS_FILE": path])
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-y", stream: false)).status, 200)
        XCTAssertEqual(try a.requests(), 1)
        XCTAssertEqual(try a.stats()["last_x_api_key"] as? String, "sk-csv-key-1")
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-z", stream: false)).status, 200)
        XCTAssertEqual(try b.stats()["last_x_api_key"] as? String, "sk-csv-key-3")
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-x", stream: false)).status, 200)
        XCTAssertEqual(try b.requests(), 1, "the disabled CSV channel was used")
    }

    func testABadChannelsFileAtStartUpIsRefusedNamingTheLine() throws {
        let path = try writeChannelsFile([channel("ok", url: "http://127.0.0.1:9"), channel("bad", "smtp", url: "http://127.0.0.1:9")])
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_CHANNELS_FILE": path])
        track(p)
        let code = p.waitForExit(timeout: 10)
        XCTAssertNotNil(code, "ccload kept running with a bad channels file")
        XCTAssertNotEqual(code, 0)
        XCTAssertTrue(p.waitForOutput("[1]") && p.waitForOutput("protocol"), p.stderrText)
    }

    func testAllCoolingFallsBackToTheSoonestAndASuccessClearsTheCooldown() throws {
        let flaky = try startMock(["--fail-first", "1", "--status", "503"])
        let ccload = try startRelay([channel("only", url: flaky.url, ["id": 1])]).ccload
        let first = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(first.status, 503, "the only channel's answer passes through")
        XCTAssertEqual(cooldown(try ccload.cooldowns(), "channel 1 model \(RelayCase.model)")?["failure_class"] as? String, "server")
        // Every candidate is cooling: the one whose cooldown ends first is tried anyway.
        let second = try ccload.post("/v1/messages", anthropicBody(stream: true))
        assertCompleteAnthropicStream(second)
        XCTAssertEqual(try flaky.requests(), 2)
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cools.count, 0, "a success must clear the cooldown: \(cools)")
    }

    /// Doubling needs the first cooldown to run out (at least 10 s), which the cooldown unit
    /// tests cover with an injected clock. From outside: a fallback try that fails while the
    /// scope still cools neither doubles nor restarts it (CooldownBook's documented rule).
    func testAFailedFallbackTryDoesNotDoubleARunningCooldown() throws {
        let failing = try startMock(["--status", "500"])
        let ccload = try startRelay([channel("only", url: failing.url, ["id": 1])]).ccload
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 500)
        var c = try XCTUnwrap(cooldown(try ccload.cooldowns(), "channel 1 model \(RelayCase.model)"))
        XCTAssertEqual(c["failures"] as? Int, 1)
        let firstRemaining = try XCTUnwrap(c["remaining_ms"] as? Int)
        XCTAssertTrue((100_000...120_000).contains(firstRemaining), "first server-error cooldown \(firstRemaining) ms")
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 500)
        XCTAssertEqual(try failing.requests(), 2, "the cooling channel was not offered as the fallback")
        c = try XCTUnwrap(cooldown(try ccload.cooldowns(), "channel 1 model \(RelayCase.model)"))
        XCTAssertEqual(c["failures"] as? Int, 1)
        XCTAssertLessThanOrEqual(try XCTUnwrap(c["remaining_ms"] as? Int), firstRemaining)
    }
}
