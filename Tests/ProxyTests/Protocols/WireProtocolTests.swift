import Foundation
import Reactor
import XCTest
@testable import Proxy

/// Each `ProtocolKind` maps to the one `WireProtocol` type of its format, and the rules that
/// used to be keyed by kind come from that type.
final class WireProtocolTests: XCTestCase {
    func testEachKindMapsToItsOwnFormat() {
        for kind in ProtocolKind.allCases {
            XCTAssertEqual(kind.wire.kind, kind, "\(kind)")
        }
        XCTAssertTrue(ProtocolKind.anthropic.wire == AnthropicProtocol.self)
        XCTAssertTrue(ProtocolKind.openai.wire == OpenAIProtocol.self)
        XCTAssertTrue(ProtocolKind.codex.wire == CodexProtocol.self)
        XCTAssertTrue(ProtocolKind.gemini.wire == GeminiProtocol.self)
        XCTAssertEqual(ProtocolRules.formats.map { $0.kind }, ProtocolKind.allCases)
    }

    func testEachPostPathBelongsToExactlyOneFormat() {
        let paths = ["/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions", "/v1/responses",
                     "/backend-api/codex/responses", "/v1beta/models/gemini-2.5-pro:generateContent",
                     "/v1beta/models/gemini-2.5-pro:countTokens"]
        for p in paths {
            let bytes = ArraySlice(p.utf8)
            let owners = ProtocolKind.allCases.filter { $0.wire.postEndpoint(path: bytes, target: bytes) != nil }
            XCTAssertEqual(owners.count, 1, "\(p): \(owners)")
            // The route table (its own list of the formats) finds the same owner.
            XCTAssertEqual(ProtocolRules.route(method: ArraySlice("POST".utf8), target: bytes, anthropicClient: false)?.kind,
                           owners.first, p)
        }
        XCTAssertNil(AnthropicProtocol.postEndpoint(path: ArraySlice("/v1/other".utf8), target: ArraySlice("/v1/other".utf8)))
    }

    func testOnlyGeminiCarriesTheModelInTheTarget() throws {
        let t = ArraySlice("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse".utf8)
        let g = try GeminiProtocol.modelInTarget(t)
        XCTAssertEqual(g?.model, "gemini-2.5-pro")
        XCTAssertEqual(g?.stream, true)
        XCTAssertThrowsError(try GeminiProtocol.modelInTarget(ArraySlice("/v1beta/models/:generateContent".utf8)))
        for kind in [ProtocolKind.anthropic, .openai, .codex] {
            XCTAssertNil(try kind.wire.modelInTarget(t), "\(kind)")
        }
    }

    func testModelRewriteGoesWhereTheFormatCarriesTheModel() {
        let body = Array(#"{"model":"a","x":1}"#.utf8)
        let info = RequestInfo(model: "a", modelRange: 9..<12, stream: false)
        var target = Array("/v1/messages".utf8)
        var b = body
        AnthropicProtocol.rewriteModel(target: &target, body: &b, info: info, to: "b")
        XCTAssertEqual(String(decoding: b, as: UTF8.self), #"{"model":"b","x":1}"#)
        XCTAssertEqual(String(decoding: target, as: UTF8.self), "/v1/messages")

        var gTarget = Array("/v1beta/models/a:generateContent?x=1".utf8)
        var gBody = body
        GeminiProtocol.rewriteModel(target: &gTarget, body: &gBody, info: RequestInfo(model: "a", modelRange: nil, stream: false), to: "b/c")
        XCTAssertEqual(String(decoding: gTarget, as: UTF8.self), "/v1beta/models/b%2Fc:generateContent?x=1")
        XCTAssertEqual(gBody, body)
    }

    func testCredentialAndStreamErrorPerFormat() {
        XCTAssertEqual(CodexProtocol.credentialHeader.name.description, "Authorization")
        XCTAssertEqual(GeminiProtocol.credentialHeader.name.description, "x-goog-api-key")
        XCTAssertNil(GeminiProtocol.streamErrorEvent(status: 502, message: "x"))
        XCTAssertNotNil(CodexProtocol.streamErrorEvent(status: 502, message: "x"))
    }

    /// The channel test's bodies are the JSON the admin's probe always sent (sorted keys),
    /// byte for byte, and a model with JSON's special characters stays one string.
    func testProbeRequestsAreTheCheapestCallAsJSON() throws {
        func sorted(_ o: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
        let hi: [[String: Any]] = [["role": "user", "content": "hi"]]
        let want: [(ProtocolKind, String, Any, String)] = [
            (.anthropic, "", ["model": "m-1", "max_tokens": 1, "messages": hi], "/v1/messages"),
            (.openai, "/v1", ["model": "m-1", "max_tokens": 1, "messages": hi], "/v1/chat/completions"),
            (.codex, "", ["model": "m-1", "input": "hi", "max_output_tokens": 16], "/v1/responses"),
            (.codex, "/backend-api/codex", ["model": "m-1", "instructions": "Reply with one word.", "input": hi, "store": false, "stream": true],
             "/v1/responses"),
            (.gemini, "", ["contents": [["role": "user", "parts": [["text": "hi"]]]], "generationConfig": ["maxOutputTokens": 1]],
             "/v1beta/models/m-1:generateContent"),
        ]
        for (kind, base, body, path) in want {
            let p = kind.wire.probeRequest(model: "m-1", basePath: ArraySlice(base.utf8))
            XCTAssertEqual(String(decoding: p.body, as: UTF8.self), try sorted(body), "\(kind) \(base)")
            XCTAssertEqual(String(decoding: p.clientPath, as: UTF8.self), path, "\(kind)")
        }
        XCTAssertEqual(AnthropicProtocol.probeRequest(model: "m", basePath: []).headers.map { "\($0.name): \($0.value)" },
                       ["anthropic-version: 2023-06-01"])
        let odd = #"a"b\c"#
        for kind in [ProtocolKind.anthropic, .openai, .codex] {
            let p = kind.wire.probeRequest(model: odd, basePath: [])
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(p.body)) as? [String: Any], "\(kind)")
            XCTAssertEqual(o["model"] as? String, odd, "\(kind)")
        }
        let g = GeminiProtocol.probeRequest(model: "a/b c", basePath: [])
        XCTAssertEqual(GeminiProtocol.parsePath(g.clientPath[...])?.model, "a/b c")
    }
}
