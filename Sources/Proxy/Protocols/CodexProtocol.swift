import Reactor

/// Responses API specifics (Codex CLI, `POST /v1/responses` and
/// `POST /backend-api/codex/responses`): the in-band error that ends a broken stream and
/// the commit-point rules for `response.*` events, the upstream path and the session
/// headers. Error bodies, the models list and the credential are OpenAI's (`OpenAIProtocol`).
public enum CodexProtocol: WireProtocol {
    public static var kind: ProtocolKind { .codex }
    public static var probeModel: String { "gpt-5-codex" }

    /// `POST /v1/responses` with the fewest output tokens the API takes (16); ChatGPT's Codex
    /// backend (a base path ending in `/backend-api/codex`) takes streamed, unstored requests
    /// only, with instructions.
    public static func probeRequest(model: String, basePath: ArraySlice<UInt8>) -> ProbeRequest {
        var body: [UInt8]
        if ProtocolRules.endsWith(basePath, "/backend-api/codex") {
            body = Array(#"{"input":[{"content":"hi","role":"user"}],"instructions":"Reply with one word.","model":""#.utf8)
            JSONString.appendEscaped(&body, model)
            body.append(contentsOf: #"","store":false,"stream":true}"#.utf8)
        } else {
            body = Array(#"{"input":"hi","max_output_tokens":16,"model":""#.utf8)
            JSONString.appendEscaped(&body, model)
            body.append(contentsOf: #""}"#.utf8)
        }
        return ProbeRequest(endpoint: .responses, clientPath: Array("/v1/responses".utf8), body: body)
    }

    /// `POST /v1/responses` (api.openai.com and most relays) and
    /// `POST /backend-api/codex/responses` (Codex CLI on a ChatGPT login).
    public static func postEndpoint(path: ArraySlice<UInt8>, target: ArraySlice<UInt8>) -> Endpoint? {
        if ASCII.equals(path, "/v1/responses") { return .responses }
        if ASCII.equals(path, "/backend-api/codex/responses") { return .codexResponses }
        return nil
    }

    /// Both client routes go to the same upstream resource, chosen by the channel: a base
    /// path ending in `/backend-api/codex` (ChatGPT's backend) gets `/responses`; any other
    /// base (api.openai.com, relays) gets `/v1/responses`. The channel decides because the
    /// credential decides: a ChatGPT token only works on the backend, an API key only on
    /// `/v1/responses`.
    public static func upstreamPath(endpoint: Endpoint, path: ArraySlice<UInt8>, base: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard endpoint == .responses || endpoint == .codexResponses else { return path }
        return ProtocolRules.endsWith(base, "/backend-api/codex") ? ArraySlice("/responses".utf8) : ArraySlice("/v1/responses".utf8)
    }

    /// Codex CLI's `session_id`, then `conversation_id` header.
    public static func sessionHeader<H: HTTPHeadFields>(_ head: H) -> String? {
        if let v = head.value("session_id"), !v.isEmpty { return String(decoding: v, as: UTF8.self) }
        if let v = head.value("conversation_id"), !v.isEmpty { return String(decoding: v, as: UTF8.self) }
        return nil
    }

    public static var credentialHeader: (name: StaticString, prefix: StaticString) { OpenAIProtocol.credentialHeader }

    /// OpenAI's shape (`OpenAIProtocol.errorBody`).
    public static func errorBody(status: Int, message: String) -> [UInt8] {
        OpenAIProtocol.errorBody(status: status, message: message)
    }

    /// OpenAI's shape (`OpenAIProtocol.modelsList`).
    public static func modelsList(_ models: [String]) -> [UInt8] { OpenAIProtocol.modelsList(models) }

    /// OpenAI's rules: a non-null top-level `error`, including a failed Responses object's.
    public static func bodyError(_ body: UnsafeRawBufferPointer) -> (type: String, message: String)? {
        OpenAIProtocol.bodyError(body)
    }

    /// OpenAI's codes and types.
    public static func status(forErrorType type: String) -> Int { OpenAIProtocol.status(forErrorType: type) }

    /// A `response.failed` event: both the OpenAI SDKs and Codex CLI read
    /// `response.error.{code,message}` from it and stop the turn.
    public static func streamErrorEvent(status: Int, message: String) -> [UInt8]? {
        let code = OpenAIProtocol.errorTypeAndCode(status).code ?? "server_error"
        var out: [UInt8] = Array("event: response.failed\ndata: ".utf8)
        out.append(contentsOf: #"{"type":"response.failed","response":{"object":"response","status":"failed","error":{"code":""#.utf8)
        out.append(contentsOf: code.utf8)
        out.append(contentsOf: #"","message":""#.utf8)
        JSONString.appendEscaped(&out, message)
        out.append(contentsOf: #""}}}"#.utf8)
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    /// Commit-point rules. The type is the `event:` name, else the data's `type`.
    /// - `response.created`, `response.in_progress`, `response.queued` → metadata (they
    ///   echo the request; no output yet).
    /// - `response.failed` → error from `response.error` (type: its `code`).
    /// - `error` → error (type: `code`, else a nested `error.code`/`error.type`).
    /// - every other `response.*` event → content: `response.output_item.added` (a
    ///   reasoning, message or function-call item begins), `response.output_text.delta`,
    ///   `response.reasoning_*`, `response.function_call_arguments.delta`,
    ///   `response.content_part.added`, and the terminal `response.completed` /
    ///   `response.incomplete` (an answer without output items is still an answer).
    /// - `[DONE]` (some relays add it) → done; anything else (e.g. `codex.rate_limits`,
    ///   keep-alives) → metadata; an event too large to buffer → content.
    public static func classify(_ event: SSEEvent) -> StreamEventClass {
        if event.isTooLarge { return .content }
        if event.isDone { return .done }
        return event.data.withUnsafeBytes { data -> StreamEventClass in
            let type = ProtocolRules.eventType(event, data)
            if ASCII.equals(type, "response.failed") {
                if let e = JSONScan.value(atPath: ["response", "error"], in: data),
                   let d = ProtocolRules.describeError(data, e, typeKeys: ["code", "type"]) {
                    return .error(type: d.type, message: d.message)
                }
                return .error(type: "server_error", message: "")
            }
            if ASCII.equals(type, "error") {
                return errorEvent(data)
            }
            if ASCII.equals(type, "response.created") || ASCII.equals(type, "response.in_progress")
                || ASCII.equals(type, "response.queued") {
                return .metadata
            }
            if type.starts(with: "response.".utf8) { return .content }
            return .metadata
        }
    }

    /// `{"type":"error","code":"…","message":"…"}` (API) or `{"type":"error","error":{…}}` (relays).
    static func errorEvent(_ data: UnsafeRawBufferPointer) -> StreamEventClass {
        if let e = JSONScan.value(forKey: "error", in: data),
           let d = ProtocolRules.describeError(data, e, typeKeys: ["code", "type"]) {
            return .error(type: d.type, message: d.message)
        }
        var type = "server_error", message = ""
        if let c = JSONScan.value(forKey: "code", in: data), let s = JSONScan.string(data, c), !s.isEmpty { type = s }
        if let m = JSONScan.value(forKey: "message", in: data), let s = JSONScan.string(data, m) { message = s }
        return .error(type: type, message: message)
    }

    // MARK: Usage

    /// `response.completed` / `response.incomplete` / `response.failed` (and a relay's
    /// `response.done`) → `response.usage` (`input_tokens`, `output_tokens`,
    /// `input_tokens_details.cached_tokens`); `response.created` → `response.model`.
    public static func readUsage(event: SSEEvent, data: UnsafeRawBufferPointer, into c: inout UsageCounts) {
        let type = ProtocolRules.eventType(event, data)
        let final = ASCII.equals(type, "response.completed") || ASCII.equals(type, "response.incomplete")
            || ASCII.equals(type, "response.failed") || ASCII.equals(type, "response.done")
        let created = ASCII.equals(type, "response.created")
        guard final || created, let r = JSONScan.value(forKey: "response", in: data), r.kind == .object else { return }
        readResponse(data, r.range, into: &c)
    }

    /// A whole Responses object.
    @discardableResult
    public static func readUsage(body data: UnsafeRawBufferPointer, doc: JSONScan.Value, into c: inout UsageCounts) -> Bool {
        doc.kind == .object && JSONScan.forEachMember(covering: doc.range, in: data) { key, v in responseMember(data, key, v, &c) }
    }

    /// A Responses object (an event's `response`, or a whole non-streaming body).
    static func readResponse(_ data: UnsafeRawBufferPointer, _ range: Range<Int>?, into c: inout UsageCounts) {
        JSONScan.forEachMember(in: data, object: range) { key, v in
            responseMember(data, key, v, &c)
            return true
        }
    }

    /// One member of a Responses object: its `usage` and `model`.
    static func responseMember(_ data: UnsafeRawBufferPointer, _ key: Range<Int>, _ v: JSONScan.Value, _ c: inout UsageCounts) {
        if v.kind == .object, JSONScan.keyEquals(data, key, "usage") {
            c.readPromptUsage(data, v.range, input: "input_tokens", output: "output_tokens", details: "input_tokens_details")
        } else if JSONScan.keyEquals(data, key, "model") {
            c.noteModel(data, v)
        }
    }
}
