/// OpenAI chat-completions specifics: error shapes (shared with the Responses API), the
/// models list, and the commit-point rules for `chat.completion.chunk` streams.
public enum OpenAIProtocol: WireProtocol {
    public static var kind: ProtocolKind { .openai }
    public static var probeModel: String { "gpt-4o-mini" }

    /// One output token from `POST /v1/chat/completions`.
    public static func probeRequest(model: String, basePath: ArraySlice<UInt8>) -> ProbeRequest {
        ProbeRequest(endpoint: .chatCompletions, clientPath: Array("/v1/chat/completions".utf8), body: ProbeRequest.oneTokenChat(model: model))
    }

    /// `POST /v1/chat/completions`.
    public static func postEndpoint(path: ArraySlice<UInt8>, target: ArraySlice<UInt8>) -> Endpoint? {
        ASCII.equals(path, "/v1/chat/completions") ? .chatCompletions : nil
    }

    /// `Authorization: Bearer KEY` (also the Responses API's).
    public static var credentialHeader: (name: StaticString, prefix: StaticString) { ("Authorization", "Bearer ") }

    /// The `type` and `code` ccload writes for a status.
    static func errorTypeAndCode(_ status: Int) -> (type: String, code: String?) {
        switch status {
        case 401: return ("invalid_request_error", "invalid_api_key")
        case 403: return ("invalid_request_error", "permission_denied")
        case 404: return ("invalid_request_error", "not_found")
        case 429: return ("rate_limit_error", "rate_limit_exceeded")
        case 500...599: return ("server_error", status == 503 ? "service_unavailable" : "server_error")
        default: return ("invalid_request_error", nil)
        }
    }

    /// `{"error":{"message":"…","type":"…","param":null,"code":…}}`.
    public static func errorBody(status: Int, message: String) -> [UInt8] {
        let tc = errorTypeAndCode(status)
        var out: [UInt8] = Array(#"{"error":{"message":""#.utf8)
        JSONString.appendEscaped(&out, message)
        out.append(contentsOf: #"","type":""#.utf8)
        out.append(contentsOf: tc.type.utf8)
        out.append(contentsOf: #"","param":null,"code":"#.utf8)
        if let c = tc.code {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: c.utf8)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    /// A `data: {"error":{…}}` event: the OpenAI SDKs raise an APIError for a data chunk
    /// that carries `error`. No `[DONE]` follows (the client stops at the error).
    public static func streamErrorEvent(status: Int, message: String) -> [UInt8]? {
        var out: [UInt8] = Array("data: ".utf8)
        out.append(contentsOf: errorBody(status: status, message: message))
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    /// `{"object":"list","data":[{"id":"…","object":"model","created":0,"owned_by":"ccload"}]}`.
    public static func modelsList(_ models: [String]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"object":"list","data":["#.utf8)
        for (i, m) in models.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":""#.utf8)
            JSONString.appendEscaped(&out, m)
            out.append(contentsOf: #"","object":"model","created":0,"owned_by":"ccload"}"#.utf8)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// Commit-point rules for chat-completion chunks:
    /// - `[DONE]` → done.
    /// - a chunk with a non-null top-level `error` → error (type: `error.code`, else `error.type`).
    /// - content when any `choices[]` element has, in its `delta`, a non-empty `content`,
    ///   `reasoning_content` or `reasoning` string (reasoning relays), a non-empty
    ///   `tool_calls` array, a `function_call` object, a non-empty `refusal`; or a non-null
    ///   `finish_reason` (a finished answer, even an empty one, is not a failure).
    /// - anything else → metadata: the first role-only chunk (`{"role":"assistant","content":""}`)
    ///   carries no output, nor does a usage-only chunk (`"choices":[]`), nor unparseable data.
    /// - a chunk too large to buffer → content.
    public static func classify(_ event: SSEEvent) -> StreamEventClass {
        if event.isTooLarge { return .content }
        if event.isDone { return .done }
        return event.data.withUnsafeBytes { data -> StreamEventClass in
            if let e = JSONScan.value(forKey: "error", in: data),
               let d = ProtocolRules.describeError(data, e, typeKeys: ["code", "type"]) {
                return .error(type: d.type, message: d.message)
            }
            guard let choices = JSONScan.value(forKey: "choices", in: data), choices.kind == .array else { return .metadata }
            var content = false
            JSONScan.forEachElement(in: data, array: choices.range) { choice in
                guard choice.kind == .object else { return true }
                if let f = JSONScan.value(forKey: "finish_reason", in: data, object: choice.range), f.kind != .null {
                    content = true
                    return false
                }
                guard let delta = JSONScan.value(forKey: "delta", in: data, object: choice.range), delta.kind == .object else { return true }
                JSONScan.forEachMember(in: data, object: delta.range) { key, v in
                    if JSONScan.keyEquals(data, key, "content") || JSONScan.keyEquals(data, key, "reasoning_content")
                        || JSONScan.keyEquals(data, key, "reasoning") || JSONScan.keyEquals(data, key, "refusal") {
                        if v.kind == .string && v.range.count > 2 { content = true }
                    } else if JSONScan.keyEquals(data, key, "tool_calls") {
                        if v.kind == .array && !isEmptyContainer(data, v) { content = true }
                    } else if JSONScan.keyEquals(data, key, "function_call") {
                        if v.kind == .object { content = true }
                    }
                    return !content
                }
                return !content
            }
            return content ? .content : .metadata
        }
    }

    static func isEmptyContainer(_ buf: UnsafeRawBufferPointer, _ v: JSONScan.Value) -> Bool {
        JSONScan.skipWhitespace(buf, v.range.lowerBound + 1, v.range.upperBound) == v.range.upperBound - 1
    }

    /// The error a complete body carries: a non-null top-level `error` (object or string).
    /// A Responses object's `"error": null` is not one; a failed Responses object
    /// (`"status":"failed","error":{…}`) is.
    public static func bodyError(_ body: UnsafeRawBufferPointer) -> (type: String, message: String)? {
        guard let e = JSONScan.value(forKey: "error", in: body) else { return nil }
        return ProtocolRules.describeError(body, e, typeKeys: ["code", "type"])
    }

    /// Status per OpenAI error code or type. `insufficient_quota` (sent with 429) maps to
    /// 402: it is the key's account that is empty, so the key should cool, not the model.
    public static func status(forErrorType type: String) -> Int {
        switch type {
        case "invalid_request_error", "context_length_exceeded", "invalid_prompt", "invalid_value",
             "string_above_max_length", "unsupported_parameter", "bad_request":
            return 400
        case "invalid_api_key", "authentication_error", "unauthorized":
            return 401
        case "insufficient_quota", "billing_hard_limit_reached", "usage_not_included", "billing_error":
            return 402
        case "permission_denied", "permission_error", "unsupported_country_region_territory", "account_deactivated":
            return 403
        case "model_not_found", "not_found", "not_found_error":
            return 404
        case "rate_limit_exceeded", "rate_limit_error", "requests", "tokens", "usage_limit_reached":
            return 429
        case "service_unavailable", "server_is_overloaded", "overloaded_error", "engine_overloaded":
            return 503
        case "timeout", "timeout_error":
            return 504
        default:
            return 500
        }
    }

    // MARK: Usage

    /// Any chunk's `usage` (`prompt_tokens`, `completion_tokens`,
    /// `prompt_tokens_details.cached_tokens`; the last wins) and the first `model`.
    public static func readUsage(event: SSEEvent, data: UnsafeRawBufferPointer, into c: inout UsageCounts) {
        readChunk(data, object: nil, into: &c)
    }

    /// A whole chat completion object.
    @discardableResult
    public static func readUsage(body data: UnsafeRawBufferPointer, doc: JSONScan.Value, into c: inout UsageCounts) -> Bool {
        doc.kind == .object && JSONScan.forEachMember(covering: doc.range, in: data) { key, v in chunkMember(data, key, v, &c) }
    }

    static func readChunk(_ data: UnsafeRawBufferPointer, object: Range<Int>?, into c: inout UsageCounts) {
        JSONScan.forEachMember(in: data, object: object) { key, v in
            chunkMember(data, key, v, &c)
            return true
        }
    }

    /// One member of a chat completion (chunk): its `usage` and `model`.
    static func chunkMember(_ data: UnsafeRawBufferPointer, _ key: Range<Int>, _ v: JSONScan.Value, _ c: inout UsageCounts) {
        if v.kind == .object, JSONScan.keyEquals(data, key, "usage") {
            c.readPromptUsage(data, v.range, input: "prompt_tokens", output: "completion_tokens", details: "prompt_tokens_details")
        } else if JSONScan.keyEquals(data, key, "model") {
            c.noteModel(data, v)
        }
    }

}
