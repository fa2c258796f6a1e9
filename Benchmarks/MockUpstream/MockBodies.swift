/// The bytes the mock answers with, in each protocol's shape. The text of an answer is
/// `token0 token1 … token{events-1} ` (streamed one token per content event); Anthropic's
/// non-streaming body is padded with `a` to `size` bytes instead (benchmarks size it).
enum MockBodies {
    static let created = 1_700_000_000

    // MARK: Anthropic

    /// A JSON message body of exactly `size` bytes (padded inside a text field).
    static func json(size: Int, inputTokens: Int, outputTokens: Int, usageExtra: String = "") -> [UInt8] {
        let prefix = #"{"id":"msg_mock","type":"message","role":"assistant","model":"mock-1","content":[{"type":"text","text":""#
        let suffix = #""}],"stop_reason":"end_turn","usage":{"input_tokens":\#(inputTokens),"output_tokens":\#(outputTokens)\#(usageExtra)}}"#
        let pad = max(0, size - prefix.utf8.count - suffix.utf8.count)
        return Array(prefix.utf8) + [UInt8](repeating: 0x61, count: pad) + Array(suffix.utf8)
    }

    /// `,"cache_read_input_tokens":…,"cache_creation_input_tokens":…,"cache_creation":{…}`
    /// when any cache figure is asked for, else nothing.
    static func anthropicCacheUsage(_ o: MockOptions) -> String {
        guard o.cacheRead > 0 || o.cacheWrite5m > 0 || o.cacheWrite1h > 0 else { return "" }
        return #","cache_read_input_tokens":\#(o.cacheRead),"cache_creation_input_tokens":\#(o.cacheWrite5m + o.cacheWrite1h),"cache_creation":{"ephemeral_5m_input_tokens":\#(o.cacheWrite5m),"ephemeral_1h_input_tokens":\#(o.cacheWrite1h)}"#
    }

    static func messageStart(inputTokens: Int, usageExtra: String = "") -> [UInt8] {
        Array("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"mock-1\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":\(inputTokens),\"output_tokens\":1\(usageExtra)}}}\n\n".utf8)
    }

    static let ping = Array("event: ping\ndata: {\"type\":\"ping\"}\n\n".utf8)

    static let contentBlockStart = Array("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".utf8)

    static func delta(_ i: Int) -> [UInt8] {
        Array("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"token\(i) \"}}\n\n".utf8)
    }

    static func messageStop(outputTokens: Int) -> [UInt8] {
        Array("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(outputTokens)}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".utf8)
    }

    static func anthropicErrorType(_ status: Int) -> String {
        switch status {
        case 400: return "invalid_request_error"
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 529: return "overloaded_error"
        default: return "api_error"
        }
    }

    // MARK: Any protocol

    static func text(events: Int) -> String {
        (0..<max(0, events)).map { "token\($0) " }.joined()
    }

    static func defaultSSEErrorType(_ p: MockProtocol) -> String {
        switch p {
        case .anthropic, .countTokens: return "overloaded_error"
        case .openai, .responses: return "server_error"
        case .gemini: return "UNAVAILABLE"
        }
    }

    /// An error body of the protocol's shape for `status`.
    static func error(status: Int, proto: MockProtocol = .anthropic, message: String? = nil) -> [UInt8] {
        let m = message ?? "mock failure \(status)"
        switch proto {
        case .anthropic, .countTokens:
            return Array(#"{"type":"error","error":{"type":"\#(anthropicErrorType(status))","message":"\#(m)"}}"#.utf8)
        case .openai, .responses:
            let (type, code): (String, String) = {
                switch status {
                case 400: return ("invalid_request_error", "invalid_request")
                case 401: return ("invalid_request_error", "invalid_api_key")
                case 403: return ("invalid_request_error", "permission_denied")
                case 404: return ("invalid_request_error", "not_found")
                case 429: return ("rate_limit_error", "rate_limit_exceeded")
                default: return ("server_error", "server_error")
                }
            }()
            return Array(#"{"error":{"message":"\#(m)","type":"\#(type)","param":null,"code":"\#(code)"}}"#.utf8)
        case .gemini:
            let s: String = {
                switch status {
                case 400: return "INVALID_ARGUMENT"
                case 401: return "UNAUTHENTICATED"
                case 403: return "PERMISSION_DENIED"
                case 404: return "NOT_FOUND"
                case 429: return "RESOURCE_EXHAUSTED"
                case 503: return "UNAVAILABLE"
                default: return "INTERNAL"
                }
            }()
            return Array(#"{"error":{"code":\#(status),"message":"\#(m)","status":"\#(s)"}}"#.utf8)
        }
    }

    /// The SSE error event a stream sends before content when asked to.
    static func sseError(_ o: MockOptions, type: String) -> [UInt8] {
        switch o.proto {
        case .anthropic, .countTokens:
            return Array("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"\(type)\",\"message\":\"mock stream error\"}}\n\n".utf8)
        case .openai:
            return Array("data: {\"error\":{\"message\":\"mock stream error\",\"type\":\"\(type)\",\"param\":null,\"code\":\"\(type)\"}}\n\n".utf8)
        case .responses:
            return Array("event: error\ndata: {\"type\":\"error\",\"code\":\"\(type)\",\"message\":\"mock stream error\",\"param\":null,\"sequence_number\":1}\n\n".utf8)
        case .gemini:
            return Array("data: {\"error\":{\"code\":503,\"message\":\"mock stream error\",\"status\":\"\(type)\"}}\n\n".utf8)
        }
    }

    /// The complete non-streaming body.
    static func body(_ o: MockOptions) -> [UInt8] {
        let text = Self.text(events: o.events)
        switch o.proto {
        case .anthropic:
            return json(size: o.size, inputTokens: o.inputTokens, outputTokens: o.outputTokens, usageExtra: anthropicCacheUsage(o))
        case .countTokens:
            return Array(#"{"input_tokens":\#(o.inputTokens)}"#.utf8)
        case .openai:
            return Array(#"{"id":"chatcmpl-mock","object":"chat.completion","created":\#(created),"model":"\#(o.model)","choices":[{"index":0,"message":{"role":"assistant","content":"\#(text)","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":\#(openAIUsage(o))}"#.utf8)
        case .responses:
            return Array(responseObject(o, status: "completed", text: text, usage: true).utf8)
        case .gemini:
            if o.jsonArrayStream {
                let chunks = (0..<o.events).map { geminiChunk(o, text: "token\($0) ", outputSoFar: $0 + 1, final: false) }
                    + [geminiChunk(o, text: "", outputSoFar: o.outputTokens, final: true)]
                return Array(("[" + chunks.joined(separator: ",\r\n") + "]").utf8)
            }
            return Array(geminiChunk(o, text: text, outputSoFar: o.outputTokens, final: true).utf8)
        }
    }

    // MARK: OpenAI chat

    static func openAIUsage(_ o: MockOptions) -> String {
        #"{"prompt_tokens":\#(o.inputTokens),"completion_tokens":\#(o.outputTokens),"total_tokens":\#(o.inputTokens + o.outputTokens),"prompt_tokens_details":{"cached_tokens":\#(o.cacheRead)},"completion_tokens_details":{"reasoning_tokens":0}}"#
    }

    static func chatChunk(_ o: MockOptions, choices: String, usage: String? = nil) -> [UInt8] {
        Array("data: {\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":\(created),\"model\":\"\(o.model)\",\"choices\":\(choices)\(usage.map { ",\"usage\":" + $0 } ?? "")}\n\n".utf8)
    }

    // MARK: Responses

    static func messageItem(status: String, text: String?) -> String {
        let content = text.map { #"[{"type":"output_text","text":"\#($0)","annotations":[]}]"# } ?? "[]"
        return #"{"id":"msg_mock","type":"message","status":"\#(status)","role":"assistant","content":\#(content)}"#
    }

    static func responseObject(_ o: MockOptions, status: String, text: String?, usage: Bool) -> String {
        let output = text.map { "[" + messageItem(status: "completed", text: $0) + "]" } ?? "[]"
        let u = usage
            ? #"{"input_tokens":\#(o.inputTokens),"input_tokens_details":{"cached_tokens":\#(o.cacheRead)},"output_tokens":\#(o.outputTokens),"output_tokens_details":{"reasoning_tokens":0},"total_tokens":\#(o.inputTokens + o.outputTokens)}"#
            : "null"
        return #"{"id":"resp_mock","object":"response","created_at":\#(created),"status":"\#(status)","error":null,"incomplete_details":null,"model":"\#(o.model)","output":\#(output),"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":\#(u)}"#
    }

    static func responsesEvent(_ type: String, _ json: String) -> [UInt8] {
        Array("event: \(type)\ndata: {\"type\":\"\(type)\",\(json)}\n\n".utf8)
    }

    // MARK: Gemini

    static func geminiChunk(_ o: MockOptions, text: String, outputSoFar: Int, final: Bool) -> String {
        let finish = final ? #","finishReason":"STOP""# : ""
        let cached = o.cacheRead > 0 ? #","cachedContentTokenCount":\#(o.cacheRead)"# : ""
        return #"{"candidates":[{"content":{"role":"model","parts":[{"text":"\#(text)"}]}\#(finish),"index":0}],"usageMetadata":{"promptTokenCount":\#(o.inputTokens),"candidatesTokenCount":\#(outputSoFar),"totalTokenCount":\#(o.inputTokens + outputSoFar)\#(cached)},"modelVersion":"\#(o.model)"}"#
    }

    // MARK: Streams, by protocol

    /// What a stream sends before any content (metadata only).
    static func streamPreamble(_ o: MockOptions) -> [UInt8] {
        switch o.proto {
        case .anthropic, .countTokens:
            return messageStart(inputTokens: o.inputTokens, usageExtra: anthropicCacheUsage(o)) + ping
        case .openai:
            return chatChunk(o, choices: #"[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]"#)
        case .responses:
            return responsesEvent("response.created", #""sequence_number":0,"response":\#(responseObject(o, status: "in_progress", text: nil, usage: false))"#)
                + responsesEvent("response.in_progress", #""sequence_number":1,"response":\#(responseObject(o, status: "in_progress", text: nil, usage: false))"#)
        case .gemini:
            return []
        }
    }

    /// The first content-bearing bytes that open the answer (before the deltas).
    static func streamOpen(_ o: MockOptions) -> [UInt8] {
        switch o.proto {
        case .anthropic, .countTokens:
            return contentBlockStart
        case .openai, .gemini:
            return []
        case .responses:
            return responsesEvent("response.output_item.added", #""sequence_number":2,"output_index":0,"item":\#(messageItem(status: "in_progress", text: nil))"#)
                + responsesEvent("response.content_part.added", #""sequence_number":3,"item_id":"msg_mock","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}"#)
        }
    }

    static func streamDelta(_ o: MockOptions, _ i: Int) -> [UInt8] {
        switch o.proto {
        case .anthropic, .countTokens:
            return delta(i)
        case .openai:
            return chatChunk(o, choices: #"[{"index":0,"delta":{"content":"token\#(i) "},"logprobs":null,"finish_reason":null}]"#)
        case .responses:
            return responsesEvent("response.output_text.delta", #""sequence_number":\#(4 + i),"item_id":"msg_mock","output_index":0,"content_index":0,"delta":"token\#(i) ","logprobs":[]"#)
        case .gemini:
            return Array("data: \(geminiChunk(o, text: "token\(i) ", outputSoFar: i + 1, final: false))\r\n\r\n".utf8)
        }
    }

    static func streamEnd(_ o: MockOptions) -> [UInt8] {
        switch o.proto {
        case .anthropic, .countTokens:
            return messageStop(outputTokens: o.outputTokens)
        case .openai:
            var out = chatChunk(o, choices: #"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#)
            if o.includeUsage { out += chatChunk(o, choices: "[]", usage: openAIUsage(o)) }
            return out + Array("data: [DONE]\n\n".utf8)
        case .responses:
            let text = Self.text(events: o.events)
            let n = 4 + o.events
            return responsesEvent("response.output_text.done", #""sequence_number":\#(n),"item_id":"msg_mock","output_index":0,"content_index":0,"text":"\#(text)","logprobs":[]"#)
                + responsesEvent("response.content_part.done", #""sequence_number":\#(n + 1),"item_id":"msg_mock","output_index":0,"content_index":0,"part":{"type":"output_text","text":"\#(text)","annotations":[]}"#)
                + responsesEvent("response.output_item.done", #""sequence_number":\#(n + 2),"output_index":0,"item":\#(messageItem(status: "completed", text: text))"#)
                + responsesEvent("response.completed", #""sequence_number":\#(n + 3),"response":\#(responseObject(o, status: "completed", text: text, usage: true))"#)
        case .gemini:
            return Array("data: \(geminiChunk(o, text: "", outputSoFar: o.outputTokens, final: true))\r\n\r\n".utf8)
        }
    }
}
