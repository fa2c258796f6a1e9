import XCTest
@testable import Proxy

final class ProtocolUsageTapTests: XCTestCase {
    func sse(_ events: [(String, String)], ending: String = "\n") -> [UInt8] {
        var s = ""
        for (name, data) in events {
            if !name.isEmpty { s += "event: \(name)\(ending)" }
            s += "data: \(data)\(ending)\(ending)"
        }
        return Array(s.utf8)
    }

    /// Feeds the bytes whole, byte by byte, and in 100 seeded random splits; every way must
    /// give `want` (and `model`).
    func assertUsage(_ kind: ProtocolKind, streaming: Bool, _ bytes: [UInt8], _ want: Usage, model: String?,
                     file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededRandom(seed: UInt64(bytes.count))
        var splits: [[[UInt8]]] = [[bytes], bytes.map { [$0] }]
        for _ in 0..<100 { splits.append(randomSplits(bytes, &rng, maxPiece: 40)) }
        // A body is also fed with its declared length: whole, it is read in place (never
        // copied); in pieces, gathered as without one. Both must read the same.
        for pieces in splits {
            for length in streaming ? [nil] : [nil, bytes.count] {
                var tap = UsageTap(kind: kind, streaming: streaming, bodyLength: length, readsModel: true)
                for p in pieces { tap.feed(p) }
                if length != nil && pieces.count == 1 {
                    XCTAssertEqual(tap.bufferedBytes, 0, "a whole body with its length is not copied", file: file, line: line)
                }
                let got = tap.finish()
                XCTAssertEqual(got, want, "\(kind) in \(pieces.count) pieces, length \(length.map(String.init) ?? "none")",
                               file: file, line: line)
                XCTAssertEqual(tap.responseModel, model, file: file, line: line)
                // The request path's tap does not decode the model; its usage is the same.
                var plain = UsageTap(kind: kind, streaming: streaming, bodyLength: length)
                for p in pieces { plain.feed(p) }
                XCTAssertEqual(plain.finish(), want, "without the model", file: file, line: line)
                XCTAssertNil(plain.responseModel, file: file, line: line)
                if got != want { return }
            }
        }
    }

    // MARK: Anthropic

    static let anthropicStart = #"{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":3000,"cache_read_input_tokens":12000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":2,"service_tier":"standard"}}}"#

    func anthropicStream(start: String = anthropicStart, delta: String = #"{"output_tokens":503}"#) -> [UInt8] {
        sse([
            ("message_start", start),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", #"{"type": "ping"}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage: {\"output_tokens\": 999999}"}}"#),
            ("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":"# + delta + "}"),
            ("message_stop", #"{"type":"message_stop"}"#),
        ])
    }

    func testAnthropicStreamWithCacheSplit() {
        assertUsage(.anthropic, streaming: true, anthropicStream(),
                    Usage(input: 472, output: 503, cacheRead: 12000, cacheWrite5m: 1000, cacheWrite1h: 2000),
                    model: "claude-sonnet-4-5-20250929")
    }

    func testAnthropicStreamVariants() {
        // No split object: every cache write is the default 5 min kind.
        let noSplit = #"{"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":10,"cache_creation_input_tokens":300,"cache_read_input_tokens":0,"output_tokens":1}}}"#
        assertUsage(.anthropic, streaming: true, anthropicStream(start: noSplit, delta: #"{"output_tokens":7}"#),
                    Usage(input: 10, output: 7, cacheRead: 0, cacheWrite5m: 300, cacheWrite1h: 0), model: "claude-haiku-4-5")
        // Newer API: message_delta repeats the cumulative input counts.
        assertUsage(.anthropic, streaming: true,
                    anthropicStream(delta: #"{"input_tokens":472,"cache_creation_input_tokens":3000,"cache_read_input_tokens":12000,"output_tokens":503}"#),
                    Usage(input: 472, output: 503, cacheRead: 12000, cacheWrite5m: 1000, cacheWrite1h: 2000),
                    model: "claude-sonnet-4-5-20250929")
        // A relay that reports zeros at the start and the real counts at the end.
        let zeros = #"{"type":"message_start","message":{"model":"m","usage":{"input_tokens":0,"output_tokens":0}}}"#
        assertUsage(.anthropic, streaming: true,
                    anthropicStream(start: zeros, delta: #"{"input_tokens":100,"cache_read_input_tokens":40,"output_tokens":50}"#),
                    Usage(input: 100, output: 50, cacheRead: 40), model: "m")
        // Without event lines, and with CRLF.
        var s = ""
        for (_, d) in [("", Self.anthropicStart), ("", #"{"type":"message_delta","delta":{},"usage":{"output_tokens":9}}"#)] {
            s += "data: \(d)\r\n\r\n"
        }
        assertUsage(.anthropic, streaming: true, Array(s.utf8),
                    Usage(input: 472, output: 9, cacheRead: 12000, cacheWrite5m: 1000, cacheWrite1h: 2000),
                    model: "claude-sonnet-4-5-20250929")
    }

    func testAnthropicNonStreaming() {
        let body = #"{"id":"msg_01","type":"message","role":"assistant","model":"claude-opus-4-6","content":[{"type":"text","text":"\"usage\":{\"input_tokens\":999}"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":15},"output_tokens":40}}"#
        assertUsage(.anthropic, streaming: false, Array(body.utf8),
                    Usage(input: 10, output: 40, cacheRead: 30, cacheWrite5m: 5, cacheWrite1h: 15), model: "claude-opus-4-6")
    }

    // MARK: OpenAI chat

    func testOpenAIStreamUsageInLastChunk() {
        let bytes = sse([
            ("", #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#),
            ("", #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"\"usage\":{\"prompt_tokens\":5}"},"finish_reason":null}],"usage":null}"#),
            ("", #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#),
            ("", #"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,"prompt_tokens_details":{"cached_tokens":1000,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":64,"audio_tokens":0}}}"#),
            ("", "[DONE]"),
        ])
        assertUsage(.openai, streaming: true, bytes, Usage(input: 200, output: 300, cacheRead: 1000), model: "gpt-4o-2024-08-06")
    }

    func testOpenAINonStreaming() {
        let body = #"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0}}}"#
        assertUsage(.openai, streaming: false, Array(body.utf8), Usage(input: 19, output: 10), model: "gpt-4.1-2025-04-14")
    }

    // MARK: Responses

    static let responsesCompleted = #"{"type":"response.completed","sequence_number":20,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-5-codex","output":[{"type":"message","content":[{"type":"output_text","text":"\"usage\""}]}],"usage":{"input_tokens":5000,"input_tokens_details":{"cached_tokens":4096},"output_tokens":700,"output_tokens_details":{"reasoning_tokens":512},"total_tokens":5700}}}"#

    func testResponsesStream() {
        let events: [(String, String)] = [
            ("response.created", #"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-5-codex-2025-09-15","usage":null}}"#),
            ("response.output_text.delta", #"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"{\"usage\":{\"input_tokens\":1}}"}"#),
            ("response.completed", Self.responsesCompleted),
        ]
        let want = Usage(input: 904, output: 700, cacheRead: 4096)
        assertUsage(.codex, streaming: true, sse(events), want, model: "gpt-5-codex-2025-09-15")
        // Without event lines.
        assertUsage(.codex, streaming: true, sse(events.map { ("", $0.1) }), want, model: "gpt-5-codex-2025-09-15")
    }

    func testResponsesNonStreaming() {
        let body = #"{"id":"resp_1","object":"response","created_at":1,"status":"completed","error":null,"model":"o4-mini-2025-04-16","output":[],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":6},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":123}}"#
        assertUsage(.codex, streaming: false, Array(body.utf8), Usage(input: 30, output: 87, cacheRead: 6), model: "o4-mini-2025-04-16")
    }

    // MARK: Gemini

    func testGeminiStreamCumulativeLastWins() {
        let bytes = sse([
            ("", #"{"candidates":[{"content":{"parts":[{"text":"The"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":1000,"totalTokenCount":1000},"modelVersion":"gemini-2.5-pro","responseId":"r1"}"#),
            ("", #"{"candidates":[{"content":{"parts":[{"text":" sky"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":100,"totalTokenCount":1100},"modelVersion":"gemini-2.5-pro"}"#),
            ("", #"{"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":200,"cachedContentTokenCount":600,"thoughtsTokenCount":50,"totalTokenCount":1250,"promptTokensDetails":[{"modality":"TEXT","tokenCount":1000}]},"modelVersion":"gemini-2.5-pro"}"#),
        ], ending: "\r\n")
        assertUsage(.gemini, streaming: true, bytes, Usage(input: 400, output: 250, cacheRead: 600), model: "gemini-2.5-pro")
    }

    func testGeminiNonStreamingObjectAndArray() {
        let one = #"{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"thoughtsTokenCount":30,"toolUsePromptTokenCount":4,"totalTokenCount":44},"modelVersion":"gemini-2.5-flash"}"#
        assertUsage(.gemini, streaming: false, Array(one.utf8), Usage(input: 12, output: 32), model: "gemini-2.5-flash")
        let array = "[" + #"{"candidates":[],"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash"}"# + ",\r\n"
            + #"{"candidates":[],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5,"totalTokenCount":13}}"# + "]"
        assertUsage(.gemini, streaming: false, Array(array.utf8), Usage(input: 8, output: 5), model: "gemini-2.5-flash")
    }

    // MARK: One walk over a body

    /// What the two-pass reading (check the whole document with `JSONScan.document`, then
    /// read its usage) gave: the tap's one walk must give the same for every body.
    static func twoPassUsage(_ kind: ProtocolKind, _ body: [UInt8]) -> Usage {
        body.withUnsafeBytes { data -> Usage in
            guard let doc = JSONScan.document(data) else { return .unknown }
            var c = UsageCounts()
            kind.wire.readUsage(body: data, doc: doc, into: &c)
            return c.reported ? kind.wire.usage(c) : .unknown
        }
    }

    /// Every prefix of each format's body, each with one byte changed to a byte that breaks
    /// or bends the grammar, and with whitespace, a second value or junk around it: the one
    /// walk keeps the usage exactly when the whole body is one well-formed value.
    func testOneWalkReadsWhatTheTwoPassReadingRead() {
        let bodies: [(ProtocolKind, String)] = [
            (.anthropic, #"{"id":"m","type":"message","content":[{"type":"text","text":"a \"b\" c"}],"usage":{"input_tokens":10,"cache_read_input_tokens":3,"output_tokens":4},"model":"claude-x"}"#),
            (.openai, #"{"id":"c","model":"gpt-x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":19,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":2}}}"#),
            (.codex, #"{"id":"r","model":"o4","output":[],"usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":6},"output_tokens":87}}"#),
            (.gemini, #"{"candidates":[],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2},"modelVersion":"g"}"#),
            (.gemini, #"[{"usageMetadata":{"promptTokenCount":8}},{"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":5}}]"#),
        ]
        let swaps: [UInt8] = [0x22, 0x5C, 0x7D, 0x5D, 0x2C, 0x3A, 0x20, 0x00, 0x31, 0x7B]
        var checked = 0, known = 0
        for (kind, text) in bodies {
            let body = Array(text.utf8)
            var cases: [[UInt8]] = [body, Array(" \r\n\t".utf8) + body + Array("\n ".utf8), body + body, body + Array("x".utf8),
                                    body + Array(",".utf8), Array("[".utf8) + body, Array("".utf8), Array("  ".utf8), Array("42".utf8)]
            for n in 0..<body.count { cases.append(Array(body[..<n])) }
            for at in stride(from: 0, to: body.count, by: 3) {
                for b in swaps where body[at] != b {
                    var m = body
                    m[at] = b
                    cases.append(m)
                }
            }
            for c in cases {
                let want = Self.twoPassUsage(kind, c)
                var tap = UsageTap(kind: kind, streaming: false, bodyLength: c.count)
                c.withUnsafeBytes { tap.feed($0) }
                XCTAssertEqual(tap.finish(), want, "\(kind): \(String(decoding: c, as: UTF8.self))")
                checked += 1
                if want != .unknown { known += 1 }
            }
        }
        XCTAssertGreaterThan(checked, 1000)
        XCTAssertGreaterThan(known, 20, "the cases must include bodies whose usage is read")
    }

    // MARK: Unknown and bounds

    /// Hostile counts (found by the usage_* fuzz harnesses): near-`Int.max` values trapped in
    /// the sums (`w5 + w1`, `input + extraInput`, `prompt - cached`); negative ones came out
    /// as negative usage. Each count is clamped to `0...Usage.maxTokens` as it is read.
    func testHugeAndNegativeCountsAreClamped() {
        let big = "9223372036854775807", m = 1 << 40  // Usage.maxTokens
        assertUsage(.anthropic, streaming: false, Array(#"{"usage":{"input_tokens":\#(big),"output_tokens":-5,"cache_read_input_tokens":\#(big),"cache_creation_input_tokens":\#(big),"cache_creation":{"ephemeral_5m_input_tokens":\#(big),"ephemeral_1h_input_tokens":\#(big)}}}"#.utf8),
                    Usage(input: m, output: 0, cacheRead: m, cacheWrite5m: m, cacheWrite1h: m), model: nil)
        assertUsage(.anthropic, streaming: true, anthropicStream(delta: #"{"output_tokens":\#(big),"input_tokens":-3}"#),
                    Usage(input: 472, output: m, cacheRead: 12000, cacheWrite5m: 1000, cacheWrite1h: 2000), model: "claude-sonnet-4-5-20250929")
        assertUsage(.openai, streaming: false, Array(#"{"model":"m","usage":{"prompt_tokens":-\#(big),"completion_tokens":\#(big),"prompt_tokens_details":{"cached_tokens":\#(big)}}}"#.utf8),
                    Usage(input: 0, output: m, cacheRead: m), model: "m")
        assertUsage(.codex, streaming: false, Array(#"{"usage":{"input_tokens":-1,"output_tokens":\#(big),"input_tokens_details":{"cached_tokens":\#(big)}}}"#.utf8),
                    Usage(input: 0, output: m, cacheRead: m), model: nil)
        assertUsage(.gemini, streaming: true, sse([("", #"{"usageMetadata":{"promptTokenCount":\#(big),"toolUsePromptTokenCount":\#(big),"candidatesTokenCount":\#(big),"thoughtsTokenCount":\#(big),"cachedContentTokenCount":-\#(big)}}"#)]),
                    Usage(input: 2 * m, output: 2 * m, cacheRead: 0), model: nil)
        // The sums callers take stay in range.
        let u = Usage(input: m, output: m, cacheRead: m, cacheWrite5m: m, cacheWrite1h: m)
        XCTAssertEqual(u.totalInput, 4 * m)
    }

    func testNoUsageIsUnknown() {
        assertUsage(.openai, streaming: true, sse([("", #"{"choices":[{"delta":{"content":"x"}}]}"#), ("", "[DONE]")]), .unknown, model: nil)
        assertUsage(.anthropic, streaming: false, Array(#"{"type":"message","usage":{"input_tokens":1"#.utf8), .unknown, model: nil)
        assertUsage(.gemini, streaming: false, [], .unknown, model: nil)
    }

    func testBodyOverCapIsUnknownAndNotBuffered() {
        let body = Array((#"{"usage":{"input_tokens":1,"output_tokens":2},"pad":""# + String(repeating: "x", count: 10_000) + #""}"#).utf8)
        var tap = UsageTap(kind: .anthropic, streaming: false, maxBodyBytes: 4096)
        for i in stride(from: 0, to: body.count, by: 1000) {
            tap.feed(Array(body[i..<min(body.count, i + 1000)]))
            XCTAssertLessThanOrEqual(tap.bufferedBytes, 4096)
        }
        XCTAssertEqual(tap.finish(), .unknown)
        var fits = UsageTap(kind: .anthropic, streaming: false, maxBodyBytes: body.count)
        fits.feed(body)
        XCTAssertEqual(fits.finish(), Usage(input: 1, output: 2))
        // The same with the declared length, in one piece (read in place): the cap still
        // holds on either side of it.
        var over = UsageTap(kind: .anthropic, streaming: false, bodyLength: body.count, maxBodyBytes: body.count - 1)
        over.feed(body)
        XCTAssertEqual(over.finish(), .unknown)
        var atCap = UsageTap(kind: .anthropic, streaming: false, bodyLength: body.count, maxBodyBytes: body.count)
        atCap.feed(body)
        XCTAssertEqual(atCap.bufferedBytes, 0)
        XCTAssertEqual(atCap.finish(), Usage(input: 1, output: 2))
        // A declared length the bytes do not match is gathered and read as without one.
        var short = UsageTap(kind: .anthropic, streaming: false, bodyLength: body.count + 1)
        short.feed(body)
        XCTAssertEqual(short.bufferedBytes, body.count)
        XCTAssertEqual(short.finish(), Usage(input: 1, output: 2))
    }

    func testStreamMemoryStaysBoundedAcrossAHugeEvent() {
        var bytes = Array(("event: message_start\ndata: " + Self.anthropicStart + "\n\n").utf8)
        bytes += Array(("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"" + String(repeating: "y", count: 3 << 20) + "\"}}\n\n").utf8)
        bytes += Array("event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":77}}\n\n".utf8)
        var tap = UsageTap(kind: .anthropic, streaming: true, maxEventBytes: 1 << 20)
        var peak = 0
        for i in stride(from: 0, to: bytes.count, by: 16 * 1024) {
            tap.feed(Array(bytes[i..<min(bytes.count, i + 16 * 1024)]))
            peak = max(peak, tap.bufferedBytes)
        }
        XCTAssertLessThanOrEqual(peak, 1 << 20)
        XCTAssertEqual(tap.finish(), Usage(input: 472, output: 77, cacheRead: 12000, cacheWrite5m: 1000, cacheWrite1h: 2000))
    }

    func testFeedsAfterFinishAreIgnored() {
        var tap = UsageTap(kind: .openai, streaming: false)
        tap.feed(Array(#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#.utf8))
        XCTAssertEqual(tap.finish(), Usage(input: 3, output: 4))
        tap.feed(Array("garbage".utf8))
        XCTAssertEqual(tap.finish(), Usage(input: 3, output: 4))
    }
}
