import Foundation
import Glibc
import XCTest

/// Shared pieces of the relay tests: request bodies and the checks on what a client got.
class RelayCase: EndToEndCase {
    static let model = "claude-sonnet-4-5"

    func anthropicBody(model: String = RelayCase.model, stream: Bool, extra: String = "") -> String {
        #"{"model":"\#(model)","max_tokens":16,"stream":\#(stream),"messages":[{"role":"user","content":"hi"}]\#(extra)}"#
    }

    func chatBody(model: String = "gpt-5", stream: Bool) -> String {
        #"{"model":"\#(model)","stream":\#(stream),"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#
    }

    /// A complete, clean Anthropic event stream with `events` deltas and no error event.
    func assertCompleteAnthropicStream(_ r: HTTPResponse, events: Int = 5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 200, r.bodyText, file: file, line: line)
        XCTAssertEqual(r.header("content-type"), "text/event-stream", file: file, line: line)
        XCTAssertTrue(r.complete, "the stream did not end with its last chunk: \(r.bodyText)", file: file, line: line)
        let text = r.bodyText
        for i in 0..<events {
            XCTAssertTrue(text.contains("\"text\":\"token\(i) \""), "token\(i) missing:\n\(text)", file: file, line: line)
        }
        XCTAssertEqual(text.components(separatedBy: "event: message_start").count - 1, 1, "exactly one message_start:\n\(text)", file: file, line: line)
        XCTAssertTrue(text.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), text, file: file, line: line)
        XCTAssertFalse(text.contains("event: error"), "an error event leaked to the client:\n\(text)", file: file, line: line)
    }

    /// The cooldown entry with exactly this scope.
    func cooldown(_ list: [[String: Any]], _ scope: String) -> [String: Any]? {
        list.first { $0["scope"] as? String == scope }
    }

    /// Checks the newest record: served by `channel` with status `status`, and the failed
    /// attempts before it (channel id, status, failure class) in order.
    @discardableResult
    func assertRecord(_ ccload: CcloadProcess, channel: Int?, status: Int, failures: [(Int, Int, String)],
                      token: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first, file: file, line: line)
        XCTAssertEqual(rec["status"] as? Int, status, "\(rec)", file: file, line: line)
        if let channel { XCTAssertEqual(rec["channel_id"] as? Int, channel, "\(rec)", file: file, line: line) }
        let attempts = rec["attempts"] as? [[String: Any]] ?? []
        let seen = attempts.map { "\($0["channel_id"] as? Int ?? -1)/\($0["status"] as? Int ?? -1)/\($0["failure"] as? String ?? "nil")" }
        XCTAssertEqual(seen, failures.map { "\($0.0)/\($0.1)/\($0.2)" }, "attempts of \(rec)", file: file, line: line)
        return rec
    }
}

/// Failover before the commit point, cooldowns, and failures after it, each with real
/// ccload and ccload-mock processes as channels.
final class RelayFailoverTests: RelayCase {
    /// Channel 1 (priority 10) is `first`, channel 2 (priority 5) a healthy mock.
    private func twoChannels(first url: String, healthy: MockUpstream, _ firstExtra: [String: Any] = [:],
                             proto: String = "anthropic", env: [String: String] = [:]) throws -> CcloadProcess {
        try startRelay([
            channel("first", proto, url: url, priority: 10, firstExtra.merging(["id": 1]) { a, _ in a }),
            channel("healthy", proto, url: healthy.url, priority: 5, ["id": 2]),
        ], env).ccload
    }

    func testRefusedChannelFailsOverAndTheChannelCools() throws {
        let healthy = try startMock()
        let ccload = try twoChannels(first: "http://127.0.0.1:\(closedPort())", healthy: healthy)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true))
        assertCompleteAnthropicStream(r)
        XCTAssertEqual(try healthy.requests(), 1)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "connection")])
        let cools = try ccload.cooldowns()
        let c = try XCTUnwrap(cooldown(cools, "channel 1"), "no channel cooldown: \(cools)")
        XCTAssertEqual(c["failure_class"] as? String, "connection")
        // The cooling channel is skipped: the next request goes straight to channel 2.
        assertCompleteAnthropicStream(try ccload.post("/v1/messages", anthropicBody(stream: true)))
        try assertRecord(ccload, channel: 2, status: 200, failures: [])
    }

    func testResetConnectionFailsOver() throws {
        let healthy = try startMock()
        let resetter = try startScripted { conn, _, upstream in
            guard conn.readRequest(timeout: 5) != nil else { return }
            upstream.note("request")
            var l = linger(l_onoff: 1, l_linger: 0)
            setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            // Closing with a zero linger sends RST (the RawConnection's deinit closes the fd).
        }
        let ccload = try twoChannels(first: "http://127.0.0.1:\(resetter.port)", healthy: healthy)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.json?["type"] as? String, "message", r.bodyText)
        XCTAssertTrue(resetter.waitForNote("request", timeout: 2), "the resetting upstream never got the request")
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "connection")])
        XCTAssertEqual(cooldown(try ccload.cooldowns(), "channel 1")?["failure_class"] as? String, "connection")
    }

    func testServerErrorFailsOverAndTheModelCools() throws {
        let failing = try startMock(["--status", "500"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: failing.url, healthy: healthy)
        assertCompleteAnthropicStream(try ccload.post("/v1/messages", anthropicBody(stream: true)))
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 500, "server")])
        let cools = try ccload.cooldowns()
        let c = try XCTUnwrap(cooldown(cools, "channel 1 model \(RelayCase.model)"), "\(cools)")
        XCTAssertEqual(c["failure_class"] as? String, "server")
        XCTAssertNil(cooldown(cools, "channel 1"), "a 500 cools the (channel, model) pair, not the channel: \(cools)")
        // Another model on the same channel is not cooling: it is tried (and fails) again.
        let other = try ccload.post("/v1/messages", anthropicBody(model: "claude-haiku-4-5", stream: false))
        XCTAssertEqual(other.status, 200)
        XCTAssertEqual(try failing.requests(), 2, "channel 1 should still be tried for another model")
        // The cooling pair is skipped.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        XCTAssertEqual(try failing.requests(), 2, "the cooling (channel, model) pair was tried again")
        XCTAssertEqual(try healthy.requests(), 3)
    }

    func testRateLimitCoolsTheModelForRetryAfter() throws {
        let limited = try startMock(["--status", "429", "--retry-after", "40"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: limited.url, healthy: healthy)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertNil(r.header("retry-after"), "the failed try's head leaked to the client")
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 429, "rate_limit")])
        let cools = try ccload.cooldowns()
        let c = try XCTUnwrap(cooldown(cools, "channel 1 model \(RelayCase.model)"), "\(cools)")
        XCTAssertEqual(c["failure_class"] as? String, "rate_limit")
        let remaining = try XCTUnwrap(c["remaining_ms"] as? Int)
        // retry-after: 40 wins over the 60 s default for a first rate limit.
        XCTAssertTrue((30_000...40_000).contains(remaining), "remaining \(remaining) ms does not honour retry-after: 40")
    }

    func testUnauthorizedKeyCoolsAndTheChannelsNextKeyAnswers() throws {
        let mock = try startMock(["--require-key", "sk-good-key-777"])
        let other = try startMock()
        let ccload = try twoChannels(first: mock.url, healthy: other, ["api_keys": ["sk-bad-key-666", "sk-good-key-777"]])
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true))
        assertCompleteAnthropicStream(r)
        let rec = try assertRecord(ccload, channel: 1, status: 200, failures: [(1, 401, "auth")])
        XCTAssertEqual(rec["key_index"] as? Int, 1)
        XCTAssertEqual(try mock.stats()["last_x_api_key"] as? String, "sk-good-key-777")
        XCTAssertEqual(try other.requests(), 0, "a key failure moved to the next channel instead of the next key")
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cooldown(cools, "channel 1 key 0")?["failure_class"] as? String, "auth", "\(cools)")
        XCTAssertNil(cooldown(cools, "channel 1"), "one bad key of two must not cool the channel: \(cools)")
        XCTAssertNil(cooldown(cools, "channel 1 key 1"))
        // The cooling key is not tried again.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(stream: false)).status, 200)
        try assertRecord(ccload, channel: 1, status: 200, failures: [])
        XCTAssertEqual(try mock.requests(), 3)
        let log = ccload.process.stderrText
        XCTAssertFalse(log.contains("sk-bad-key-666") || log.contains("sk-good-key-777"), "a channel key is in the log:\n\(log)")
    }

    func testUnauthorizedOnlyKeyFailsOverToTheNextChannel() throws {
        let failing = try startMock(["--status", "401"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: failing.url, healthy: healthy, proto: "openai")
        let r = try ccload.post("/v1/chat/completions", chatBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.json?["object"] as? String, "chat.completion")
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 401, "auth")])
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cooldown(cools, "channel 1 key 0")?["failure_class"] as? String, "auth", "\(cools)")
    }

    func testFirstByteTimeoutFailsOverAndTheModelCools() throws {
        let hanging = try startMock(["--head-delay-ms", "8000"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: hanging.url, healthy: healthy, ["first_byte_timeout": 0.4])
        let started = Date()
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 6)
        assertCompleteAnthropicStream(r)
        XCTAssertLessThan(Date().timeIntervalSince(started), 6, "the channel's first_byte_timeout was not applied")
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "timeout")])
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cooldown(cools, "channel 1 model \(RelayCase.model)")?["failure_class"] as? String, "timeout", "\(cools)")
    }

    func testSSEErrorBeforeContentFailsOver() throws {
        let overloaded = try startMock(["--sse-error-first", "overloaded_error"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: overloaded.url, healthy: healthy)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true))
        assertCompleteAnthropicStream(r)
        XCTAssertFalse(r.bodyText.contains("mock stream error"))
        XCTAssertEqual(try overloaded.requests(), 1)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 529, "server")])
        XCTAssertEqual(cooldown(try ccload.cooldowns(), "channel 1 model \(RelayCase.model)")?["failure_class"] as? String, "server")
    }

    func testOpenAIStreamErrorChunkBeforeContentFailsOver() throws {
        let limited = try startMock(["--sse-error-first", "rate_limit_exceeded"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: limited.url, healthy: healthy, proto: "openai")
        let r = try ccload.post("/v1/chat/completions", chatBody(stream: true))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertTrue(r.complete)
        XCTAssertFalse(r.bodyText.contains("\"error\""), r.bodyText)
        XCTAssertEqual(r.bodyText.components(separatedBy: "\"role\":\"assistant\"").count - 1, 1,
                       "the failed try's held role chunk reached the client:\n\(r.bodyText)")
        XCTAssertTrue(r.bodyText.hasSuffix("data: [DONE]\n\n"), r.bodyText)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 429, "rate_limit")])
    }

    func testStreamCutBeforeContentFailsOver() throws {
        // The first mock sends the role chunk (metadata) and closes: nothing was committed.
        let cutting = try startMock(["--cut-after-events", "0"])
        let healthy = try startMock()
        let ccload = try twoChannels(first: cutting.url, healthy: healthy, proto: "openai")
        let r = try ccload.post("/v1/chat/completions", chatBody(stream: true))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete)
        for i in 0..<5 { XCTAssertTrue(r.bodyText.contains("\"content\":\"token\(i) \""), r.bodyText) }
        XCTAssertEqual(try cutting.requests(), 1)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "connection")])
    }

    func testCutAfterCommitEndsTheAnthropicStreamWithAnErrorEvent() throws {
        let cutting = try startMock(["--cut-after-events", "2"])
        let other = try startMock()
        let ccload = try twoChannels(first: cutting.url, healthy: other)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, "the broken stream must still end cleanly (last chunk): \(r.bodyText)")
        let text = r.bodyText
        XCTAssertTrue(text.contains("token0 ") && text.contains("token1 "), text)
        XCTAssertFalse(text.contains("token2 "), text)
        XCTAssertFalse(text.contains("message_stop"), text)
        // The last event is Anthropic's error event with a JSON error body.
        let events = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        let last = try XCTUnwrap(events.last)
        XCTAssertTrue(last.hasPrefix("event: error\ndata: "), "last event: \(last)")
        let data = try XCTUnwrap(last.components(separatedBy: "data: ").last)
        let j = try XCTUnwrap((try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any], data)
        XCTAssertEqual(j["type"] as? String, "error")
        XCTAssertNotNil((j["error"] as? [String: Any])?["type"] as? String)
        XCTAssertEqual(try other.requests(), 0, "after the commit point nothing may fail over")
        let rec = try assertRecord(ccload, channel: 1, status: 200, failures: [])
        XCTAssertNotNil(rec["error"] as? String, "the record must carry the mid-stream failure: \(rec)")
    }

    func testCutAfterCommitEndsTheResponsesStreamWithResponseFailed() throws {
        let cutting = try startMock(["--cut-after-events", "1"])
        let ccload = try startRelay([channel("codex", "codex", url: cutting.url)]).ccload
        let r = try ccload.post("/v1/responses", #"{"model":"gpt-5","stream":true,"input":"hi"}"#)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, r.bodyText)
        XCTAssertTrue(r.bodyText.contains("\"delta\":\"token0 \""), r.bodyText)
        let last = try XCTUnwrap(r.bodyText.components(separatedBy: "\n\n").filter { !$0.isEmpty }.last)
        XCTAssertTrue(last.hasPrefix("event: response.failed\n"), last)
        XCTAssertFalse(r.bodyText.contains("response.completed"))
        XCTAssertNotNil(try ccload.waitForRecords(1).first?["error"] as? String)
    }

    func testErrorEventsBeforeContentFailOverInResponsesAndGemini() throws {
        // (server_error stands for 500, UNAVAILABLE for 503.)
        for (proto, target, body, marker, status) in [
            ("codex", "/v1/responses", #"{"model":"gpt-5","stream":true,"input":"hi"}"#, "\"delta\":\"token4 \"", 500),
            ("gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "{}", "\"text\":\"token4 \"", 503),
        ] {
            let failing = try startMock(["--sse-error-first", proto == "codex" ? "server_error" : "UNAVAILABLE"])
            let healthy = try startMock()
            let ccload = try twoChannels(first: failing.url, healthy: healthy, proto: proto)
            let r = try ccload.post(target, body)
            XCTAssertEqual(r.status, 200, "\(proto): \(r.bodyText)")
            XCTAssertTrue(r.complete)
            XCTAssertTrue(r.bodyText.contains(marker), "\(proto): \(r.bodyText)")
            XCTAssertFalse(r.bodyText.contains("mock stream error"), "\(proto): the failed try leaked: \(r.bodyText)")
            XCTAssertFalse(r.bodyText.contains("\"error\":{"), "\(proto): \(r.bodyText)")
            XCTAssertEqual(try failing.requests(), 1)
            try assertRecord(ccload, channel: 2, status: 200, failures: [(1, status, "server")])
        }
    }

    func testGeminiStreamCutAfterCommitIsLeftIncomplete() throws {
        // Gemini has no in-band error event: the client must see the body end without its
        // last chunk, never a stream that looks complete.
        let cutting = try startMock(["--cut-after-events", "2"])
        let ccload = try startRelay([channel("g", "gemini", url: cutting.url)]).ccload
        let r = try ccload.post("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "{}")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.contains("token1 "), r.bodyText)
        XCTAssertFalse(r.complete, "a broken Gemini stream was ended as if complete")
        XCTAssertNotNil(try ccload.waitForRecords(1).first?["error"] as? String)
    }

    func testClientLeavingMidStreamIsRecordedAndTheUpstreamClosed() throws {
        let mock = try startMock(["--delay-ms", "100", "--events", "50"])
        let ccload = try startRelay([channel("a", url: mock.url)]).ccload
        let c = try ccload.connect()
        let body = anthropicBody(stream: true)
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5), c.buffer.text)
        shutdown(c.fd, Int32(SHUT_RDWR))
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertEqual(rec["channel_name"] as? String, "a")
        XCTAssertNotNil(rec["error"] as? String, "\(rec)")
        XCTAssertEqual(try ccload.cooldowns().count, 0, "a client leaving must not cool the channel")
    }
}
