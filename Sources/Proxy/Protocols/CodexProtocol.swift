/// Responses API specifics (Codex CLI, `POST /v1/responses` and
/// `POST /backend-api/codex/responses`): the in-band error that ends a broken stream and
/// the commit-point rules for `response.*` events. Error bodies and the models list are
/// OpenAI's (`OpenAIProtocol`); the upstream path is chosen by
/// `ProtocolRules.upstreamTarget`.
public enum CodexProtocol {
    /// A `response.failed` event: both the OpenAI SDKs and Codex CLI read
    /// `response.error.{code,message}` from it and stop the turn.
    public static func streamErrorEvent(status: Int, message: String) -> [UInt8] {
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
            if type.elementsEqual("response.failed".utf8) {
                if let e = JSONScan.value(atPath: ["response", "error"], in: data),
                   let d = ProtocolRules.describeError(data, e, typeKeys: ["code", "type"]) {
                    return .error(type: d.type, message: d.message)
                }
                return .error(type: "server_error", message: "")
            }
            if type.elementsEqual("error".utf8) {
                return errorEvent(data)
            }
            if type.elementsEqual("response.created".utf8) || type.elementsEqual("response.in_progress".utf8)
                || type.elementsEqual("response.queued".utf8) {
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
}
