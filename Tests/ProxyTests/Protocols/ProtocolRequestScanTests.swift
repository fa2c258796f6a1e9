import XCTest
@testable import Proxy
@testable import Reactor

final class ProtocolRequestScanTests: XCTestCase {
    func scan(_ body: String, _ kind: ProtocolKind, target: String = "/v1/messages") throws(RequestScanError) -> RequestInfo {
        try RequestScan.scan(body: Array(body.utf8), kind: kind, target: Array(target.utf8)[...])
    }

    func scanError(_ body: String, _ kind: ProtocolKind, target: String = "/v1/messages") -> RequestScanError? {
        do throws(RequestScanError) {
            _ = try scan(body, kind, target: target)
            return nil
        } catch {
            return error
        }
    }

    func testAnthropic() throws {
        let body = #"""
        {"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,
         "metadata":{"user_id":"user_abc_account__session_1234"},
         "system":[{"type":"text","text":"You are Claude Code, \"model\":\"x\""}],
         "messages":[{"role":"user","content":[{"type":"text","text":"hi","model":"nested"}]}]}
        """#
        let info = try scan(body, .anthropic)
        XCTAssertEqual(info.model, "claude-sonnet-4-5-20250929")
        XCTAssertTrue(info.stream)
        XCTAssertEqual(info.bodySession, "user_abc_account__session_1234")
        let bytes = Array(body.utf8)
        XCTAssertEqual(String(decoding: bytes[info.modelRange!], as: UTF8.self), #""claude-sonnet-4-5-20250929""#)

        let count = try scan(#"{"model":"claude-haiku-4-5","messages":[]}"#, .anthropic, target: "/v1/messages/count_tokens")
        XCTAssertEqual(count.model, "claude-haiku-4-5")
        XCTAssertFalse(count.stream)
        XCTAssertNil(count.bodySession)
    }

    func testOpenAIModelAfterMessagesAndStreamFlag() throws {
        let info = try scan(#"{"messages":[{"role":"user","content":"model"}],"model":"gpt-4.1","stream":false,"stream_options":{"include_usage":true}}"#, .openai, target: "/v1/chat/completions")
        XCTAssertEqual(info.model, "gpt-4.1")
        XCTAssertFalse(info.stream)
        XCTAssertEqual(try scan(#"{"model":"gpt-4o","stream":true}"#, .openai).stream, true)
        XCTAssertEqual(try scan(#"{"model":"gpt-4o","stream":"true"}"#, .openai).stream, false)
    }

    func testCodex() throws {
        let info = try scan(#"{"model":"gpt-5-codex","instructions":"…","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],"tools":[],"stream":true,"store":false,"prompt_cache_key":"abc"}"#, .codex, target: "/backend-api/codex/responses")
        XCTAssertEqual(info.model, "gpt-5-codex")
        XCTAssertTrue(info.stream)
        XCTAssertNil(info.bodySession)
    }

    func testGeminiModelAndStreamFromPath() throws {
        let body = #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"model":"ignored"}"#
        let s = try scan(body, .gemini, target: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=K")
        XCTAssertEqual(s.model, "gemini-2.5-pro")
        XCTAssertTrue(s.stream)
        XCTAssertNil(s.modelRange)
        let n = try scan(body, .gemini, target: "/v1beta/models/gemini-2.5-flash:generateContent")
        XCTAssertEqual(n.model, "gemini-2.5-flash")
        XCTAssertFalse(n.stream)
        XCTAssertEqual(try scan(body, .gemini, target: "/v1beta/models/gemini-2.5-flash:generateContent?alt=sse").stream, true)
        XCTAssertEqual(try scan(body, .gemini, target: "/v1/models/tuned%2Dmodel:generateContent").model, "tuned-model")
        XCTAssertEqual(scanError(body, .gemini, target: "/v1beta/models/:generateContent"), .noModel)
        XCTAssertEqual(scanError("not json", .gemini, target: "/v1beta/models/g:generateContent"), .notJSON)
    }

    func testErrors() {
        XCTAssertEqual(scanError("", .anthropic), .notJSON)
        XCTAssertEqual(scanError("   ", .openai), .notJSON)
        XCTAssertEqual(scanError("model=claude", .anthropic), .notJSON)
        XCTAssertEqual(scanError(#"["model","x"]"#, .anthropic), .notJSON)
        XCTAssertEqual(scanError(#"{"model":"x","messages":[}"#, .anthropic), .notJSON)
        XCTAssertEqual(scanError(#"{"model":"x"} {"#, .anthropic), .notJSON)
        XCTAssertEqual(scanError(#"{"messages":[]}"#, .anthropic), .noModel)
        XCTAssertEqual(scanError(#"{"model":42}"#, .openai), .noModel)
        XCTAssertEqual(scanError(#"{"model":""}"#, .codex), .noModel)
        XCTAssertEqual(scanError(#"{"a":{"model":"nested"}}"#, .anthropic), .noModel)
        XCTAssertTrue(RequestScanError.noModel.message.contains("model"))
        XCTAssertTrue(RequestScanError.notJSON.message.contains("JSON"))
    }

    /// Upstream JSON parsers keep the last of a repeated key; ccload read the first, so a
    /// Haiku-only token got Opus. Every top-level key ccload reads may appear only once,
    /// compared after unescaping.
    func testRepeatedTopLevelKeysAreRefusedNamingTheKey() {
        XCTAssertEqual(scanError(#"{"model":"claude-haiku-4-5","max_tokens":5,"model":"claude-opus-4-5"}"#, .anthropic), .duplicateKey("model"))
        XCTAssertEqual(scanError(#"{"model":"a","mod\u0065l":"b"}"#, .anthropic), .duplicateKey("model"))
        XCTAssertEqual(scanError(#"{"\u006d\u006f\u0064\u0065\u006c":"a","model":"b"}"#, .openai), .duplicateKey("model"))
        XCTAssertEqual(scanError(#"{"model":"a","stream":false,"stream":true}"#, .openai), .duplicateKey("stream"))
        XCTAssertEqual(scanError(#"{"model":"a","str\u0065am":true,"stream":false}"#, .codex), .duplicateKey("stream"))
        XCTAssertEqual(scanError(#"{"model":"a","metadata":{"user_id":"x"},"metadata":{"user_id":"y"}}"#, .anthropic), .duplicateKey("metadata"))
        XCTAssertEqual(scanError(#"{"model":"a","max_tokens":5,"max_tokens":99999}"#, .anthropic), .duplicateKey("max_tokens"))
        XCTAssertEqual(scanError(#"{"contents":[],"generationConfig":{},"generationConfig":{"maxOutputTokens":9}}"#, .gemini,
                                 target: "/v1beta/models/g:generateContent"), .duplicateKey("generationConfig"))
        // Gemini's model is in the path, but a repeated body model is still ambiguous.
        XCTAssertEqual(scanError(#"{"model":"a","model":"b"}"#, .gemini, target: "/v1beta/models/g:generateContent"), .duplicateKey("model"))
        XCTAssertTrue(RequestScanError.duplicateKey("model").message.contains("\"model\""))
        // Repeats that are not top-level, or of keys ccload does not read, are the upstream's business.
        XCTAssertEqual(scanError(#"{"model":"a","messages":[{"model":"b"},{"model":"c"}],"temperature":1,"temperature":0}"#, .anthropic), nil)
        XCTAssertEqual(scanError(#"{"model":"a","metadata":{"user_id":"x","user_id":"y"}}"#, .anthropic), nil)
        // Keys that only look alike are different keys.
        XCTAssertEqual(scanError(#"{"model":"a","Model":"b","model ":"c","models":"d","stream":true,"streams":1}"#, .anthropic), nil)
        // A repeat is found wherever it sits, even after a malformed tail would have been.
        XCTAssertEqual(scanError(#"{"stream":true,"model":"a","stream":true"#, .anthropic), .duplicateKey("stream"))
    }

    func testOutputLimitIsReadForEstimates() throws {
        XCTAssertEqual(try scan(#"{"model":"a","max_tokens":32000}"#, .anthropic).maxOutputTokens, 32000)
        XCTAssertEqual(try scan(#"{"model":"a","max_completion_tokens":10,"max_tokens":20}"#, .openai).maxOutputTokens, 20, "the largest of several")
        XCTAssertEqual(try scan(#"{"model":"a","max_output_tokens":7}"#, .codex).maxOutputTokens, 7)
        XCTAssertEqual(try scan(#"{"contents":[],"generationConfig":{"temperature":1,"maxOutputTokens":8192}}"#, .gemini,
                                target: "/v1beta/models/g:generateContent").maxOutputTokens, 8192)
        XCTAssertNil(try scan(#"{"model":"a"}"#, .anthropic).maxOutputTokens)
        XCTAssertNil(try scan(#"{"model":"a","max_tokens":"many"}"#, .anthropic).maxOutputTokens)
        XCTAssertNil(try scan(#"{"model":"a","max_tokens":1e300}"#, .anthropic).maxOutputTokens)
        XCTAssertNil(try scan(#"{"model":"a","max_tokens":99999999999999999999999}"#, .anthropic).maxOutputTokens)
        XCTAssertEqual(try scan(#"{"model":"a","max_tokens":-5}"#, .anthropic).maxOutputTokens, 0)
    }

    func testRewriteModelKeepsEveryOtherByte() throws {
        let body = "{ \"messages\" : [ {\"role\":\"user\",\"content\":\"model \\\"x\\\"\"} ] ,\n \"model\"\t:\t\"claude-opus-4-1\" , \"stream\":true }"
        let bytes = Array(body.utf8)
        let info = try scan(body, .anthropic)
        let out = RequestScan.rewriteModel(body: bytes, range: info.modelRange!, to: "claude-opus-4-5-\"q\"")
        let r = info.modelRange!
        XCTAssertEqual(Array(out[..<r.lowerBound]), Array(bytes[..<r.lowerBound]))
        let newValue = Array(#""claude-opus-4-5-\"q\"""#.utf8)
        XCTAssertEqual(Array(out[r.lowerBound..<(r.lowerBound + newValue.count)]), newValue)
        XCTAssertEqual(Array(out[(r.lowerBound + newValue.count)...]), Array(bytes[r.upperBound...]))
        // And the result scans back to the new name.
        let again = try RequestScan.scan(body: out, kind: .anthropic, target: [])
        XCTAssertEqual(again.model, "claude-opus-4-5-\"q\"")
        XCTAssertTrue(again.stream)
    }

    func testRewriteGeminiPath() {
        let t = Array("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=K".utf8)[...]
        XCTAssertEqual(RequestScan.rewriteGeminiPath(target: t, to: "gemini-2.5-flash").map { String(decoding: $0, as: UTF8.self) },
                       "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=K")
        XCTAssertEqual(RequestScan.rewriteGeminiPath(target: t, to: "my model/x").map { String(decoding: $0, as: UTF8.self) },
                       "/v1beta/models/my%20model%2Fx:streamGenerateContent?alt=sse&key=K")
        XCTAssertNil(RequestScan.rewriteGeminiPath(target: Array("/v1/messages".utf8)[...], to: "x"))
    }

    func head(_ fields: [(String, String)], target: String = "/v1/responses") throws -> HTTPRequestHead {
        var s = "POST \(target) HTTP/1.1\r\nHost: h\r\n"
        for (n, v) in fields { s += "\(n): \(v)\r\n" }
        s += "Content-Length: 0\r\n\r\n"
        return try HTTPRequestHead(parsing: Array(s.utf8))
    }

    func testSessionPrecedence() throws {
        let h1 = try head([("session_id", "sess-1"), ("conversation_id", "conv-1")])
        XCTAssertEqual(RequestScan.session(head: h1, kind: .codex, bodySession: nil), "sess-1")
        XCTAssertEqual(RequestScan.session(head: try head([("conversation_id", "conv-1")]), kind: .codex, bodySession: nil), "conv-1")
        // Codex headers mean nothing to other protocols.
        XCTAssertEqual(RequestScan.session(head: h1, kind: .anthropic, bodySession: "user_x"), "user_x")
        XCTAssertNil(RequestScan.session(head: h1, kind: .openai, bodySession: nil))
        let explicit = try head([("X-CCLoad-Session", "pinned"), ("session_id", "sess-1")])
        XCTAssertEqual(RequestScan.session(head: explicit, kind: .codex, bodySession: "body"), "pinned")
        XCTAssertEqual(RequestScan.session(head: explicit, kind: .anthropic, bodySession: "body"), "pinned")
    }
}
