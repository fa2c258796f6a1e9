import XCTest

@testable import Proxy

/// Issue 16: the cache lifetime and the prompt digest read by `RequestScan`.
final class ProtocolCacheScanTests: XCTestCase {
    func info(_ json: String, _ kind: ProtocolKind = .anthropic) throws -> RequestInfo {
        try RequestScan.scan(body: Array(json.utf8), kind: kind, target: ArraySlice("/v1/messages".utf8))
    }

    func testOneHourCacheControl() throws {
        XCTAssertTrue(try info(#"{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}"#).cacheOneHour)
        XCTAssertTrue(try info(#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral", "ttl" : "1h" }}]}]}"#).cacheOneHour)
        XCTAssertFalse(try info(#"{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"5m"}}]}"#).cacheOneHour)
        XCTAssertFalse(try info(#"{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}"#).cacheOneHour)
        // Quoted in a prompt's text (escaped quotes): not a cache_control member.
        XCTAssertFalse(try info(#"{"model":"m","messages":[{"role":"user","content":"set \"ttl\":\"1h\" please"}]}"#).cacheOneHour)
        // Another key's "1h" value, or "1h" as a key.
        XCTAssertFalse(try info(#"{"model":"m","metadata":{"window":"1h","xttl":"1h"},"x":{"1h":1}}"#).cacheOneHour)
        XCTAssertTrue(try info(#"{"ttl":"1h","model":"m"}"#).cacheOneHour)
        XCTAssertFalse(try info(#"{"model":"m"}"#).cacheOneHour)
    }

    func digest(_ json: String, _ kind: ProtocolKind = .anthropic) throws -> SessionKey? {
        let body = Array(json.utf8)
        let i = try RequestScan.scan(body: body, kind: kind, target: ArraySlice("/v1/messages".utf8))
        return RequestScan.promptDigest(body: body, info: i)
    }

    func testPromptDigestIsStableAcrossTurns() throws {
        let turn1 = #"{"model":"m","system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"fix the bug","cache_control":{"type":"ephemeral"}}]}]}"#
        let turn2 = #"{"model":"m","system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"fix the bug"}]},{"role":"assistant","content":"done"},{"role":"user","content":[{"type":"text","text":"thanks","cache_control":{"type":"ephemeral"}}]}]}"#
        let other = #"{"model":"m","system":[{"type":"text","text":"You are Claude Code."}],"messages":[{"role":"user","content":"write a test"}]}"#
        let otherSystem = #"{"model":"m","system":"Be brief.","messages":[{"role":"user","content":[{"type":"text","text":"fix the bug"}]}]}"#
        let d1 = try XCTUnwrap(try digest(turn1))
        XCTAssertEqual(try digest(turn2), d1)
        XCTAssertNotEqual(try digest(other), d1)
        XCTAssertNotEqual(try digest(otherSystem), d1)
        XCTAssertNil(try digest(#"{"model":"m"}"#))
        XCTAssertNil(try digest(#"{"model":"m","messages":[]}"#))
    }

    func testPromptDigestOpenAIAndCodex() throws {
        // Chat: the system message and the first user message, not what follows.
        let a = try digest(#"{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"U"}]}"#, .openai)
        let b = try digest(#"{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"U"},{"role":"assistant","content":"A"},{"role":"user","content":"V"}]}"#, .openai)
        XCTAssertNotNil(a)
        XCTAssertEqual(a, b)
        // Responses: instructions and a string input.
        let c = try digest(#"{"model":"m","instructions":"I","input":"hello"}"#, .codex)
        XCTAssertNotNil(c)
        XCTAssertNotEqual(c, try digest(#"{"model":"m","instructions":"I","input":"bye"}"#, .codex))
    }
}
