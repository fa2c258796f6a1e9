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

/// The vector search for `"1h"` finds what a byte-by-byte search finds, at every offset of
/// its 16-byte steps and across the step's end, in bodies with near misses (`"1x"`, `1h"`,
/// `"1h` at the end).
final class ProtocolOneHourSearchTests: XCTestCase {
    private func reference(_ b: [UInt8], from: Int) -> Int? {
        var i = max(0, from)
        while i + 4 <= b.count {
            if b[i] == 0x22 && b[i + 1] == 0x31 && b[i + 2] == 0x68 && b[i + 3] == 0x22 { return i }
            i += 1
        }
        return nil
    }

    func testTheSearchMatchesAByteByByteOne() {
        var rng = SystemRandomNumberGenerator()
        let pieces: [[UInt8]] = [Array("\"1h\"".utf8), Array("\"1x\"".utf8), Array("1h\"".utf8), Array("\"1h".utf8),
                                 Array("hh11".utf8), Array("abc".utf8), Array("\"".utf8), Array("1".utf8), Array("h".utf8)]
        var found = 0, checked = 0
        for len in 0..<90 {
            for _ in 0..<12 {
                var b: [UInt8] = []
                while b.count < len {
                    b += Int.random(in: 0..<4, using: &rng) == 0 ? pieces[Int.random(in: 0..<pieces.count, using: &rng)] : [UInt8.random(in: 0x20...0x7E, using: &rng)]
                }
                for from in [0, 1, 5, 16, 17, len / 2, len] {
                    let want = reference(b, from: from)
                    let got = b.withUnsafeBytes { RequestScan.findQuotedOneHour($0, from: from) }
                    XCTAssertEqual(got, want, "from \(from) in \(String(decoding: b, as: UTF8.self))")
                    checked += 1
                    if want != nil { found += 1 }
                }
            }
            // The needle alone at every offset, the body ending right after it.
            if len >= 4 {
                var b = [UInt8](repeating: 0x61, count: len)
                b.replaceSubrange((len - 4)..<len, with: Array("\"1h\"".utf8))
                XCTAssertEqual(b.withUnsafeBytes { RequestScan.findQuotedOneHour($0, from: 0) }, len - 4)
            }
        }
        XCTAssertGreaterThan(found, 500, "the cases include bodies that hold it")
        XCTAssertGreaterThan(checked - found, 500, "and bodies that do not")
    }
}

/// The scan reads the cache lifetime from its one walk (the first `"1h"` string value, then
/// the look back for `"ttl"`): the same answer as searching the whole body, for bodies where
/// the first `"1h"` is another member's, where it is only in text, nested deep, or a key.
final class ProtocolOneHourWalkTests: XCTestCase {
    func testTheWalkAgreesWithTheWholeBodySearch() throws {
        let long = String(repeating: "lorem ipsum 1h ", count: 40)
        let bodies: [(String, Bool)] = [
            (#"{"model":"m","system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}"#, true),
            (#"{"model":"m","window":"1h","system":[{"text":"\#(long)","cache_control":{"ttl":"1h"}}]}"#, true),
            (#"{"model":"m","a":{"b":["1h",{"c":"1h"}]},"messages":[{"role":"user","content":[{"type":"text","text":"\#(long)","cache_control":{"type":"ephemeral","ttl" : "1h"}}]}]}"#, true),
            (#"{"model":"m","messages":[{"role":"user","content":"say \"ttl\":\"1h\" \#(long)"}]}"#, false),
            (#"{"model":"m","x":{"1h":"5m","ttl":"5m"},"y":"1h"}"#, false),
            (#"{"ttl":"1h","model":"m"}"#, true),
            (#"{"model":"m","ttl":["1h"]}"#, false),
            (#"{"model":"m"}"#, false),
        ]
        for (json, want) in bodies {
            let b = Array(json.utf8)
            let info = try RequestScan.scan(body: b, kind: .anthropic, target: ArraySlice("/v1/messages".utf8))
            XCTAssertEqual(info.cacheOneHour, want, json)
            XCTAssertEqual(b.withUnsafeBytes { RequestScan.asksOneHourCache($0) }, want, "the whole-body search: \(json)")
        }
    }
}
