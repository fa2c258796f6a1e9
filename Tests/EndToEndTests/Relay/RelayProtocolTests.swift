import Foundation
import XCTest

/// The four protocols end to end, streaming and not: the client gets the upstream's answer,
/// and the request record holds the usage the mock reported and its cost.
final class RelayProtocolTests: RelayCase {
    /// Token figures the mock reports (its x-mock-* options; ccload forwards those headers).
    private func usageHeaders(input: Int, output: Int, cacheRead: Int = 0, write5m: Int = 0, write1h: Int = 0, events: Int = 4) -> [String] {
        ["x-mock-input-tokens: \(input)", "x-mock-output-tokens: \(output)", "x-mock-cache-read: \(cacheRead)",
         "x-mock-cache-write-5m: \(write5m)", "x-mock-cache-write-1h: \(write1h)", "x-mock-events: \(events)"]
    }

    /// The JSON of every `data:` line of an event stream (not `[DONE]`).
    private func sseData(_ text: String) -> [[String: Any]] {
        // "\r\n" is one Character in Swift: normalise before splitting lines.
        text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n").filter { $0.hasPrefix("data: ") && $0 != "data: [DONE]" }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8))) as? [String: Any]
        }
    }

    private func assertUsage(_ rec: [String: Any], input: Int, output: Int, cacheRead: Int = 0, write5m: Int = 0, write1h: Int = 0,
                             cost: Int?, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(rec["usage_known"] as? Bool, true, "\(rec)", file: file, line: line)
        XCTAssertEqual(rec["input_tokens"] as? Int, input, "input_tokens in \(rec)", file: file, line: line)
        XCTAssertEqual(rec["output_tokens"] as? Int, output, "output_tokens in \(rec)", file: file, line: line)
        XCTAssertEqual(rec["cache_read_tokens"] as? Int, cacheRead, "cache_read_tokens in \(rec)", file: file, line: line)
        XCTAssertEqual(rec["cache_write5m_tokens"] as? Int, write5m, "cache_write5m_tokens in \(rec)", file: file, line: line)
        XCTAssertEqual(rec["cache_write1h_tokens"] as? Int, write1h, "cache_write1h_tokens in \(rec)", file: file, line: line)
        if let cost {
            XCTAssertEqual(rec["priced"] as? Bool, true, "\(rec)", file: file, line: line)
            XCTAssertEqual(rec["cost_micro_usd"] as? Int, cost, "cost in \(rec)", file: file, line: line)
        } else {
            XCTAssertEqual(rec["priced"] as? Bool, false, "\(rec)", file: file, line: line)
            XCTAssertEqual(rec["cost_micro_usd"] as? Int, 0, "\(rec)", file: file, line: line)
        }
    }

    func testAnthropicMessagesWithCacheUsageAndCost() throws {
        let mock = try startMock()
        let ccload = try startRelay([
            channel("a", url: mock.url, ["models": [RelayCase.model, "mystery-model-7"]]),
            channel("x", url: mock.url, ["models": ["claude-haiku-4-5"], "cost_multiplier": 2.5]),
        ]).ccload
        let usage = usageHeaders(input: 100, output: 50, cacheRead: 1000, write5m: 200, write1h: 300)
        // claude-sonnet-4-5 at $3 in, $15 out, $0.30 cache read, $3.75 5 min write, $6 1 h write per Mtok:
        // 100×3 + 50×15 + 1000×0.3 + 200×3.75 + 300×6 = 3900 micro-USD.
        let json = try ccload.post("/v1/messages", anthropicBody(stream: false), headers: usage)
        XCTAssertEqual(json.status, 200, json.bodyText)
        XCTAssertEqual(json.json?["type"] as? String, "message")
        XCTAssertEqual(((json.json?["usage"] as? [String: Any])?["cache_read_input_tokens"]) as? Int, 1000, "the body must pass unchanged")
        var rec = try assertRecord(ccload, channel: 1, status: 200, failures: [])
        assertUsage(rec, input: 100, output: 50, cacheRead: 1000, write5m: 200, write1h: 300, cost: 3900)
        XCTAssertEqual(rec["stream"] as? Bool, false)

        let sse = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: usage)
        assertCompleteAnthropicStream(sse, events: 4)
        rec = try XCTUnwrap(try ccload.waitForRecords(2).first)
        assertUsage(rec, input: 100, output: 50, cacheRead: 1000, write5m: 200, write1h: 300, cost: 3900)
        XCTAssertEqual(rec["stream"] as? Bool, true)
        XCTAssertNotNil(rec["ttfb_micros"] as? Int)

        // claude-haiku-4-5 ($1 in, $5 out) on a channel with cost multiplier 2.5: (10×1 + 20×5) × 2.5 = 275.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "claude-haiku-4-5", stream: true),
                                       headers: usageHeaders(input: 10, output: 20)).status, 200)
        rec = try XCTUnwrap(try ccload.waitForRecords(3).first)
        XCTAssertEqual(rec["channel_name"] as? String, "x")
        assertUsage(rec, input: 10, output: 20, cost: 275)

        // An unknown model: tokens kept, cost 0, flagged.
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: "mystery-model-7", stream: true),
                                       headers: usageHeaders(input: 7, output: 8)).status, 200)
        rec = try XCTUnwrap(try ccload.waitForRecords(4).first)
        assertUsage(rec, input: 7, output: 8, cost: nil)

        // count_tokens goes to a channel serving the model.
        let ct = try ccload.post("/v1/messages/count_tokens", #"{"model":"\#(RelayCase.model)","messages":[]}"#,
                                 headers: ["x-mock-input-tokens: 77"])
        XCTAssertEqual(ct.status, 200, ct.bodyText)
        XCTAssertEqual(ct.json?["input_tokens"] as? Int, 77)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/v1/messages/count_tokens")
    }

    func testOpenAIChatCompletions() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("o", "openai", url: mock.url)]).ccload
        // gpt-5 at $1.25 in, $10 out, $0.125 cached per Mtok; 1000 prompt tokens of which 400 cached:
        // 600×1.25 + 100×10 + 400×0.125 = 1800 micro-USD.
        let usage = usageHeaders(input: 1000, output: 100, cacheRead: 400, events: 3)
        let json = try ccload.post("/v1/chat/completions", chatBody(stream: false), headers: usage)
        XCTAssertEqual(json.status, 200, json.bodyText)
        let message = ((json.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
        XCTAssertEqual(message?["content"] as? String, "token0 token1 token2 ")
        var rec = try assertRecord(ccload, channel: 1, status: 200, failures: [])
        assertUsage(rec, input: 600, output: 100, cacheRead: 400, cost: 1800)
        XCTAssertEqual(rec["protocol_name"] as? String, "openai")

        let sse = try ccload.post("/v1/chat/completions", chatBody(stream: true), headers: usage)
        XCTAssertEqual(sse.status, 200)
        XCTAssertTrue(sse.complete)
        XCTAssertTrue(sse.bodyText.hasSuffix("data: [DONE]\n\n"), sse.bodyText)
        let chunks = sseData(sse.bodyText)
        let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
        XCTAssertEqual(text, "token0 token1 token2 ")
        XCTAssertEqual((chunks.last?["usage"] as? [String: Any])?["prompt_tokens"] as? Int, 1000)
        rec = try XCTUnwrap(try ccload.waitForRecords(2).first)
        assertUsage(rec, input: 600, output: 100, cacheRead: 400, cost: 1800)
    }

    func testResponsesAPIAndCodexBackendRoute() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("c", "codex", url: mock.url)]).ccload
        let usage = usageHeaders(input: 1000, output: 100, cacheRead: 400, events: 2)
        let json = try ccload.post("/v1/responses", #"{"model":"gpt-5","input":"hi"}"#, headers: usage)
        XCTAssertEqual(json.status, 200, json.bodyText)
        XCTAssertEqual(json.json?["object"] as? String, "response")
        var rec = try assertRecord(ccload, channel: 1, status: 200, failures: [])
        assertUsage(rec, input: 600, output: 100, cacheRead: 400, cost: 1800)

        // Codex CLI's ChatGPT route goes to the same upstream resource for an API-key channel.
        let sse = try ccload.post("/backend-api/codex/responses", #"{"model":"gpt-5","stream":true,"input":"hi"}"#,
                                  headers: usage + ["session_id: codex-session-1"])
        XCTAssertEqual(sse.status, 200)
        XCTAssertTrue(sse.complete)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/v1/responses")
        let events = sseData(sse.bodyText)
        XCTAssertEqual(events.filter { $0["type"] as? String == "response.output_text.delta" }.compactMap { $0["delta"] as? String }.joined(),
                       "token0 token1 ")
        XCTAssertEqual(events.last?["type"] as? String, "response.completed")
        rec = try XCTUnwrap(try ccload.waitForRecords(2).first)
        assertUsage(rec, input: 600, output: 100, cacheRead: 400, cost: 1800)
        XCTAssertEqual(rec["path"] as? String, "/backend-api/codex/responses")
    }

    func testGeminiGenerateAndStream() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("g", "gemini", url: mock.url)]).ccload
        // gemini-2.5-pro at $1.25 in, $10 out, $0.125 cached: 800×1.25 + 100×10 + 200×0.125 = 2025.
        let usage = usageHeaders(input: 1000, output: 100, cacheRead: 200, events: 3)
        let body = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#
        let json = try ccload.post("/v1beta/models/gemini-2.5-pro:generateContent", body, headers: usage)
        XCTAssertEqual(json.status, 200, json.bodyText)
        let parts = ((json.json?["candidates"] as? [[String: Any]])?.first?["content"] as? [String: Any])?["parts"] as? [[String: Any]]
        XCTAssertEqual(parts?.first?["text"] as? String, "token0 token1 token2 ")
        var rec = try assertRecord(ccload, channel: 1, status: 200, failures: [])
        assertUsage(rec, input: 800, output: 100, cacheRead: 200, cost: 2025)
        XCTAssertEqual(rec["requested_model"] as? String, "gemini-2.5-pro")

        let sse = try ccload.post("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", body, headers: usage)
        XCTAssertEqual(sse.status, 200)
        XCTAssertTrue(sse.complete)
        XCTAssertEqual(sse.header("content-type"), "text/event-stream")
        let text = sseData(sse.bodyText).compactMap {
            ((($0["candidates"] as? [[String: Any]])?.first?["content"] as? [String: Any])?["parts"] as? [[String: Any]])?.first?["text"] as? String
        }.joined()
        XCTAssertEqual(text, "token0 token1 token2 ")
        rec = try XCTUnwrap(try ccload.waitForRecords(2).first)
        assertUsage(rec, input: 800, output: 100, cacheRead: 200, cost: 2025)
        XCTAssertEqual(rec["stream"] as? Bool, true)

        // Without alt=sse the stream is one JSON array.
        let array = try ccload.post("/v1beta/models/gemini-2.5-pro:streamGenerateContent", body, headers: usage)
        XCTAssertEqual(array.status, 200)
        XCTAssertEqual((try? JSONSerialization.jsonObject(with: Data(array.body)) as? [Any])?.count, 4, array.bodyText)
        rec = try XCTUnwrap(try ccload.waitForRecords(3).first)
        assertUsage(rec, input: 800, output: 100, cacheRead: 200, cost: 2025)
    }

    func testBodyErrorsAre400NamingTheProblem() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("a", url: mock.url), channel("o", "openai", url: mock.url)]).ccload
        let notJSON = try ccload.post("/v1/messages", "this is not json")
        assertErrorShape(notJSON, status: 400)
        let noModel = try ccload.post("/v1/chat/completions", #"{"messages":[]}"#)
        XCTAssertEqual(noModel.status, 400)
        let message = (noModel.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.lowercased().contains("model"), noModel.bodyText)
        XCTAssertEqual(try mock.requests(), 0)
    }

    func testCurlAsAClient() throws {
        let mock = try startMock()
        let ccload = try startRelay([channel("a", url: mock.url), channel("g", "gemini", url: mock.url)], auth: ["ccl-curl-token-1"]).ccload
        let r = try curl(["-N", "-H", "x-api-key: ccl-curl-token-1", "-H", "content-type: application/json",
                          "--data-binary", anthropicBody(stream: true), ccload.url + "/v1/messages"])
        XCTAssertEqual(r.exitCode, 0, r.stderr)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), r.bodyText)
        let g = try curl(["--data-binary", "{}", ccload.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=ccl-curl-token-1"])
        XCTAssertEqual(g.status, 200, g.bodyText)
        XCTAssertTrue(g.bodyText.contains("token4 "), g.bodyText)
        XCTAssertEqual(try mock.stats()["last_path"] as? String, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        let bad = try curl(["--data-binary", "{}", ccload.url + "/v1beta/models/gemini-2.5-flash:generateContent?key=nope"])
        XCTAssertEqual(bad.status, 401)
        XCTAssertEqual((bad.json?["error"] as? [String: Any])?["status"] as? String, "UNAUTHENTICATED", bad.bodyText)
    }
}
