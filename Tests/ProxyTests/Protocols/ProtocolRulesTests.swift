import Foundation
import XCTest
@testable import Proxy
@testable import Reactor

final class ProtocolRulesTests: XCTestCase {
    func route(_ method: String, _ target: String, anthropic: Bool = false) -> APIRoute? {
        ProtocolRules.route(method: Array(method.utf8)[...], target: Array(target.utf8)[...], anthropicClient: anthropic)
    }

    func testRoutes() throws {
        XCTAssertEqual(route("POST", "/v1/messages"), APIRoute(kind: .anthropic, endpoint: .messages))
        XCTAssertEqual(route("POST", "/v1/messages?beta=true"), APIRoute(kind: .anthropic, endpoint: .messages))
        XCTAssertEqual(route("POST", "/v1/messages/count_tokens"), APIRoute(kind: .anthropic, endpoint: .countTokens))
        XCTAssertEqual(route("POST", "/v1/chat/completions"), APIRoute(kind: .openai, endpoint: .chatCompletions))
        XCTAssertEqual(route("POST", "/v1/responses"), APIRoute(kind: .codex, endpoint: .responses))
        XCTAssertEqual(route("POST", "/backend-api/codex/responses"), APIRoute(kind: .codex, endpoint: .codexResponses))
        XCTAssertEqual(route("POST", "/v1beta/models/gemini-2.5-pro:generateContent"), APIRoute(kind: .gemini, endpoint: .geminiGenerate))
        XCTAssertEqual(route("POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"), APIRoute(kind: .gemini, endpoint: .geminiGenerate))
        XCTAssertEqual(route("POST", "/v1beta/models/gemini-2.5-pro:countTokens"), APIRoute(kind: .gemini, endpoint: .geminiCountTokens))
        XCTAssertEqual(route("GET", "/v1/models"), APIRoute(kind: .openai, endpoint: .models))
        XCTAssertEqual(route("GET", "/v1/models", anthropic: true), APIRoute(kind: .anthropic, endpoint: .models))
        XCTAssertEqual(route("GET", "/v1beta/models?key=k"), APIRoute(kind: .gemini, endpoint: .models))
        XCTAssertNil(route("GET", "/v1/messages"))
        XCTAssertNil(route("POST", "/v1/messages/"))
        XCTAssertNil(route("POST", "/v1/completions"))
        XCTAssertNil(route("POST", "/v1beta/models/gemini-2.5-pro:embedContent"))
        XCTAssertNil(route("PUT", "/v1/chat/completions"))

        let h = try HTTPRequestHead(parsing: Array("GET /v1/models HTTP/1.1\r\nHost: x\r\nanthropic-version: 2023-06-01\r\n\r\n".utf8))
        XCTAssertEqual(ProtocolRules.route(h), APIRoute(kind: .anthropic, endpoint: .models))
        let o = try HTTPRequestHead(parsing: Array("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n".utf8))
        XCTAssertEqual(ProtocolRules.route(o), APIRoute(kind: .openai, endpoint: .models))
    }

    func upstream(_ r: APIRoute, _ target: String, base: String) -> String {
        String(decoding: ProtocolRules.upstreamTarget(route: r, clientTarget: Array(target.utf8)[...], basePath: Array(base.utf8)[...]), as: UTF8.self)
    }

    func testUpstreamTargets() {
        let codexA = APIRoute(kind: .codex, endpoint: .responses), codexB = APIRoute(kind: .codex, endpoint: .codexResponses)
        XCTAssertEqual(upstream(codexA, "/v1/responses", base: ""), "/v1/responses")
        XCTAssertEqual(upstream(codexB, "/backend-api/codex/responses", base: ""), "/v1/responses")
        XCTAssertEqual(upstream(codexA, "/v1/responses", base: "/backend-api/codex"), "/backend-api/codex/responses")
        XCTAssertEqual(upstream(codexB, "/backend-api/codex/responses", base: "/backend-api/codex/"), "/backend-api/codex/responses")
        XCTAssertEqual(upstream(codexA, "/v1/responses", base: "/openai/v1"), "/openai/v1/responses")
        let chat = APIRoute(kind: .openai, endpoint: .chatCompletions)
        XCTAssertEqual(upstream(chat, "/v1/chat/completions", base: ""), "/v1/chat/completions")
        XCTAssertEqual(upstream(chat, "/v1/chat/completions", base: "/api/v1"), "/api/v1/chat/completions")
        XCTAssertEqual(upstream(chat, "/v1/chat/completions", base: "/relay"), "/relay/v1/chat/completions")
        let msg = APIRoute(kind: .anthropic, endpoint: .messages)
        XCTAssertEqual(upstream(msg, "/v1/messages?beta=true", base: ""), "/v1/messages?beta=true")
        let gem = APIRoute(kind: .gemini, endpoint: .geminiGenerate)
        XCTAssertEqual(upstream(gem, "/v1beta/models/g:streamGenerateContent?key=SECRET&alt=sse", base: ""),
                       "/v1beta/models/g:streamGenerateContent?alt=sse")
        XCTAssertEqual(upstream(gem, "/v1beta/models/g:generateContent?alt=sse&key=SECRET", base: "/v1beta"),
                       "/v1beta/models/g:generateContent?alt=sse")
        XCTAssertEqual(upstream(gem, "/v1beta/models/g:generateContent?key=SECRET", base: ""), "/v1beta/models/g:generateContent")
        XCTAssertEqual(upstream(gem, "/v1beta/models/g:generateContent?keyx=1&key", base: ""), "/v1beta/models/g:generateContent?keyx=1")
    }

    /// `ClientAuth` reads `?KEY=` / `?Key=` as a token, and an upstream decodes `k%65y`: every
    /// spelling is removed, and only that parameter.
    func testCredentialParameterIsRemovedInEverySpelling() {
        let gem = APIRoute(kind: .gemini, endpoint: .geminiGenerate)
        for spelling in ["key", "KEY", "Key", "kEy", "k%65y", "%4B%45%59", "%6b%65%79"] {
            XCTAssertEqual(upstream(gem, "/v1beta/models/g:generateContent?\(spelling)=TOKEN&alt=sse", base: ""),
                           "/v1beta/models/g:generateContent?alt=sse", spelling)
            XCTAssertEqual(String(decoding: ProtocolRules.removingCredentialParameters(Array("/v1/x?a=1&\(spelling)=TOKEN".utf8)[...]), as: UTF8.self),
                           "/v1/x?a=1", spelling)
        }
        for kept in ["keys=1", "akey=1", "ke=1", "k%6=1", "key%=1", "%=1", "ke%79x=1"] {
            XCTAssertEqual(String(decoding: ProtocolRules.removingCredentialParameters(Array("/v1/x?\(kept)".utf8)[...]), as: UTF8.self),
                           "/v1/x?\(kept)", kept)
        }
    }

    func testCredentials() {
        for (kind, line) in [(ProtocolKind.anthropic, "x-api-key: sk-1\r\n"), (.openai, "Authorization: Bearer sk-1\r\n"),
                             (.codex, "Authorization: Bearer sk-1\r\n"), (.gemini, "x-goog-api-key: sk-1\r\n")] {
            var out: [UInt8] = []
            ProtocolRules.appendCredential(&out, kind: kind, key: Array("sk-1".utf8))
            XCTAssertEqual(String(decoding: out, as: UTF8.self), line)
        }
        for name in ["Authorization", "x-api-key", "X-Goog-Api-Key", "ChatGPT-Account-Id", "Cookie", "api-key", "API-Key"] {
            XCTAssertTrue(ProtocolRules.isClientCredentialHeader(Array(name.utf8)[...]), name)
        }
        for name in ["anthropic-version", "anthropic-beta", "user-agent", "x-api-keys", "session_id"] {
            XCTAssertFalse(ProtocolRules.isClientCredentialHeader(Array(name.utf8)[...]), name)
        }
    }

    func json(_ b: [UInt8]) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(b)) as? [String: Any])
    }

    func testErrorBodies() throws {
        let a = try json(ProtocolRules.errorBody(.anthropic, status: 429, message: "slow \"down\""))
        XCTAssertEqual(a["type"] as? String, "error")
        let ae = try XCTUnwrap(a["error"] as? [String: Any])
        XCTAssertEqual(ae["type"] as? String, "rate_limit_error")
        XCTAssertEqual(ae["message"] as? String, "slow \"down\"")

        for kind in [ProtocolKind.openai, .codex] {
            let o = try json(ProtocolRules.errorBody(kind, status: 401, message: "bad key"))
            let oe = try XCTUnwrap(o["error"] as? [String: Any])
            XCTAssertEqual(oe["message"] as? String, "bad key")
            XCTAssertEqual(oe["type"] as? String, "invalid_request_error")
            XCTAssertEqual(oe["code"] as? String, "invalid_api_key")
            XCTAssertTrue(oe["param"] is NSNull)
            XCTAssertEqual(oe.count, 4)
        }
        let o400 = try json(ProtocolRules.errorBody(.openai, status: 400, message: "m"))
        XCTAssertTrue((o400["error"] as? [String: Any])?["code"] is NSNull)

        let g = try json(ProtocolRules.errorBody(.gemini, status: 503, message: "no channel"))
        let ge = try XCTUnwrap(g["error"] as? [String: Any])
        XCTAssertEqual(ge["code"] as? Int, 503)
        XCTAssertEqual(ge["message"] as? String, "no channel")
        XCTAssertEqual(ge["status"] as? String, "UNAVAILABLE")
    }

    /// The stream-ending error each protocol writes, parsed back by our own SSE scanner and
    /// classifier: it must read as an error of the right kind.
    func testStreamErrorEvents() throws {
        for kind in [ProtocolKind.anthropic, .openai, .codex] {
            let bytes = try XCTUnwrap(ProtocolRules.streamErrorEvent(kind, status: 502, message: "upstream cut"))
            var s = SSEScanner()
            var got: [StreamEventClass] = []
            s.feed(bytes) { got.append(ProtocolRules.classify(kind, $0)) }
            XCTAssertEqual(got.count, 1, "\(kind)")
            guard case .error(_, let message)? = got.first else { return XCTFail("\(kind): \(got)") }
            XCTAssertEqual(message, "upstream cut")
        }
        let a = String(decoding: ProtocolRules.streamErrorEvent(.anthropic, status: 500, message: "x")!, as: UTF8.self)
        XCTAssertTrue(a.hasPrefix("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\""), a)
        let c = String(decoding: ProtocolRules.streamErrorEvent(.codex, status: 500, message: "x")!, as: UTF8.self)
        XCTAssertTrue(c.hasPrefix("event: response.failed\ndata: {\"type\":\"response.failed\""), c)
        let o = String(decoding: ProtocolRules.streamErrorEvent(.openai, status: 500, message: "x")!, as: UTF8.self)
        XCTAssertTrue(o.hasPrefix("data: {\"error\":{"), o)
        XCTAssertTrue(o.hasSuffix("\n\n"))
        XCTAssertNil(ProtocolRules.streamErrorEvent(.gemini, status: 500, message: "x"))
    }

    func testModelsLists() throws {
        let models = ["claude-sonnet-4-5", "odd \"name\""]
        let a = try json(ProtocolRules.modelsList(.anthropic, models: models))
        let ad = try XCTUnwrap(a["data"] as? [[String: Any]])
        XCTAssertEqual(ad.map { $0["id"] as? String }, models)
        XCTAssertEqual(ad.first?["type"] as? String, "model")
        XCTAssertNotNil(ad.first?["created_at"] as? String)
        XCTAssertEqual(a["has_more"] as? Bool, false)
        XCTAssertEqual(a["first_id"] as? String, "claude-sonnet-4-5")
        XCTAssertEqual(a["last_id"] as? String, "odd \"name\"")
        let empty = try json(ProtocolRules.modelsList(.anthropic, models: []))
        XCTAssertTrue(empty["first_id"] is NSNull)

        let o = try json(ProtocolRules.modelsList(.openai, models: models))
        XCTAssertEqual(o["object"] as? String, "list")
        let od = try XCTUnwrap(o["data"] as? [[String: Any]])
        XCTAssertEqual(od.map { $0["id"] as? String }, models)
        XCTAssertEqual(od.first?["object"] as? String, "model")
        XCTAssertNotNil(od.first?["owned_by"] as? String)

        let g = try json(ProtocolRules.modelsList(.gemini, models: ["gemini-2.5-pro"]))
        let gm = try XCTUnwrap(g["models"] as? [[String: Any]])
        XCTAssertEqual(gm.first?["name"] as? String, "models/gemini-2.5-pro")
    }

    func testBodyErrorOnNonStreamingBodies() {
        func e(_ kind: ProtocolKind, _ s: String) -> String? {
            ProtocolRules.bodyError(kind, Array(s.utf8)).map { "\($0.type): \($0.message)" }
        }
        XCTAssertEqual(e(.anthropic, #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#), "overloaded_error: Overloaded")
        XCTAssertNil(e(.anthropic, #"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"\"error\""}],"usage":{"input_tokens":1,"output_tokens":1}}"#))
        XCTAssertEqual(e(.openai, #"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#), "insufficient_quota: You exceeded your current quota")
        XCTAssertEqual(e(.openai, #"{"error":{"message":"Rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#), "rate_limit_exceeded: Rate limit")
        XCTAssertEqual(e(.openai, #"{"error":"plain text failure"}"#), "error: plain text failure")
        XCTAssertNil(e(.openai, #"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"message":{"content":"{\"error\":1}"}}]}"#))
        XCTAssertNil(e(.codex, #"{"id":"resp_1","object":"response","status":"completed","error":null,"output":[]}"#))
        XCTAssertEqual(e(.codex, #"{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"boom"}}"#), "server_error: boom")
        XCTAssertEqual(e(.gemini, #"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#), "RESOURCE_EXHAUSTED: Quota exceeded")
        XCTAssertEqual(e(.gemini, #"[{"error":{"code":503,"message":"The model is overloaded."}}]"#), "503: The model is overloaded.")
        XCTAssertNil(e(.gemini, #"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#))
        XCTAssertNil(e(.anthropic, "not json"))
    }

    func testErrorTypeStatuses() {
        XCTAssertEqual(ProtocolRules.status(forErrorType: "overloaded_error", kind: .anthropic), 529)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "rate_limit_error", kind: .anthropic), 429)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "authentication_error", kind: .anthropic), 401)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "invalid_request_error", kind: .anthropic), 400)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "something_new", kind: .anthropic), 500)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "rate_limit_exceeded", kind: .openai), 429)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "insufficient_quota", kind: .codex), 402)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "context_length_exceeded", kind: .codex), 400)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "server_error", kind: .codex), 500)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "RESOURCE_EXHAUSTED", kind: .gemini), 429)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "UNAVAILABLE", kind: .gemini), 503)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "503", kind: .gemini), 503)
        XCTAssertEqual(ProtocolRules.status(forErrorType: "PERMISSION_DENIED", kind: .gemini), 403)
    }
}
