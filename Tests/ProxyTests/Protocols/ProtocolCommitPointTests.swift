import XCTest
@testable import Proxy

/// Commit-point classification tables, with event payloads shaped like the providers'
/// documented streams.
final class ProtocolCommitPointTests: XCTestCase {
    func ev(_ name: String, _ data: String) -> SSEEvent {
        SSEEvent(name: Array(name.utf8)[...], data: Array(data.utf8)[...])
    }

    func check(_ kind: ProtocolKind, _ table: [(String, String, StreamEventClass)], file: StaticString = #filePath, line: UInt = #line) {
        for (name, data, want) in table {
            XCTAssertEqual(ProtocolRules.classify(kind, ev(name, data)), want, "\(kind) \(name) \(data)", file: file, line: line)
        }
        // Also through the scanner, as bytes on the wire.
        var wire = ""
        for (name, data, _) in table {
            if !name.isEmpty { wire += "event: \(name)\n" }
            wire += "data: \(data)\n\n"
        }
        var s = SSEScanner()
        var got: [StreamEventClass] = []
        s.feed(Array(wire.utf8)) { got.append(ProtocolRules.classify(kind, $0)) }
        XCTAssertEqual(got, table.map(\.2), file: file, line: line)
    }

    func testAnthropic() {
        check(.anthropic, [
            ("message_start", #"{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","content":[],"model":"claude-opus-4-6","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#, .metadata),
            ("ping", #"{"type": "ping"}"#, .metadata),
            ("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#, .content),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#, .content),
            ("content_block_stop", #"{"type":"content_block_stop","index":0}"#, .content),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#, .content),
            ("message_stop", #"{"type":"message_stop"}"#, .content),
            ("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, .error(type: "overloaded_error", message: "Overloaded")),
            ("some_future_event", #"{"type":"some_future_event"}"#, .metadata),
        ])
        // Without event: lines (some relays), the data's type decides.
        check(.anthropic, [
            ("", #"{"type":"message_start","message":{"content":[{"type":"text","text":"content_block_delta"}]}}"#, .metadata),
            ("", #"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#, .error(type: "api_error", message: "Internal server error")),
            ("", #"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#, .content),
        ])
        XCTAssertEqual(ProtocolRules.classify(.anthropic, SSEEvent(name: Array("content_block_delta".utf8)[...], data: [], isTooLarge: true)), .content)
    }

    func testOpenAIChat() {
        check(.openai, [
            ("", #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#, .metadata),
            ("", #"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#, .content),
            ("", #"{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#, .content),
            ("", #"{"id":"chatcmpl-123","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#, .metadata),
            ("", "[DONE]", .done),
        ])
        check(.openai, [
            ("", #"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#, .content),
            ("", #"{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[]},"finish_reason":null}]}"#, .metadata),
            ("", #"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think"},"finish_reason":null}]}"#, .content),
            ("", #"{"choices":[{"index":0,"delta":{"refusal":"I can't"},"finish_reason":null}]}"#, .content),
            ("", #"{"choices":[{"index":0,"delta":{"content":"","role":"assistant"},"finish_reason":null},{"index":1,"delta":{"content":"B"},"finish_reason":null}]}"#, .content),
            ("", #"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#, .error(type: "server_error", message: "The server had an error")),
            ("", #"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#, .error(type: "rate_limit_exceeded", message: "Rate limit reached")),
            ("", "not json at all", .metadata),
        ])
    }

    func testResponses() {
        check(.codex, [
            ("response.created", #"{"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9","object":"response","created_at":1741290958,"status":"in_progress","error":null,"model":"gpt-5-codex","output":[],"usage":null}}"#, .metadata),
            ("response.in_progress", #"{"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_67c9","object":"response","status":"in_progress","output":[]}}"#, .metadata),
            ("response.output_item.added", #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#, .content),
            ("response.output_text.delta", #"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi"}"#, .content),
            ("response.completed", #"{"type":"response.completed","sequence_number":9,"response":{"id":"resp_67c9","object":"response","status":"completed","error":null,"usage":{"input_tokens":37,"output_tokens":11,"total_tokens":48}}}"#, .content),
        ])
        check(.codex, [
            ("codex.rate_limits", #"{"type":"codex.rate_limits","plan_type":"plus"}"#, .metadata),
            ("response.failed", #"{"type":"response.failed","sequence_number":3,"response":{"id":"resp_1","object":"response","status":"failed","error":{"code":"rate_limit_exceeded","message":"Rate limit reached for gpt-5"}}}"#, .error(type: "rate_limit_exceeded", message: "Rate limit reached for gpt-5")),
            ("error", #"{"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}"#, .error(type: "ERR_SOMETHING", message: "Something went wrong")),
            ("", #"{"type":"error","error":{"type":"server_error","code":"server_is_overloaded","message":"busy"}}"#, .error(type: "server_is_overloaded", message: "busy")),
            ("", #"{"type":"response.queued","response":{"status":"queued"}}"#, .metadata),
            ("", #"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"{\"a\""}"#, .content),
            ("", "[DONE]", .done),
        ])
    }

    func testGemini() {
        check(.gemini, [
            ("", #"{"candidates":[{"content":{"parts":[{"text":"The"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"modelVersion":"gemini-2.5-flash","responseId":"abc"}"#, .content),
            ("", #"{"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":20,"totalTokenCount":28},"modelVersion":"gemini-2.5-flash"}"#, .metadata),
            ("", #"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8}}"#, .metadata),
            ("", #"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#, .error(type: "UNAVAILABLE", message: "The model is overloaded. Please try again later.")),
            ("", #"{"error":{"code":429,"message":"Resource exhausted"}}"#, .error(type: "429", message: "Resource exhausted")),
        ])
    }
}
