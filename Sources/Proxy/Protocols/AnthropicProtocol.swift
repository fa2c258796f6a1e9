/// Anthropic Messages specifics: error shapes, the models list, and the commit-point rules
/// for its stream (`message_start`, `content_block_*`, `message_delta`, `message_stop`,
/// `ping`, `error`).
public enum AnthropicProtocol: WireProtocol {
    public static var kind: ProtocolKind { .anthropic }
    public static var probeModel: String { "claude-haiku-4-5" }

    /// One output token from `POST /v1/messages`, with the `anthropic-version` the API requires.
    public static func probeRequest(model: String, basePath: ArraySlice<UInt8>) -> ProbeRequest {
        ProbeRequest(endpoint: .messages, clientPath: Array("/v1/messages".utf8), body: ProbeRequest.oneTokenChat(model: model),
                     headers: [("anthropic-version", "2023-06-01")])
    }

    /// `POST /v1/messages`, `POST /v1/messages/count_tokens`.
    public static func postEndpoint(path: ArraySlice<UInt8>, target: ArraySlice<UInt8>) -> Endpoint? {
        if ASCII.equals(path, "/v1/messages") { return .messages }
        if ASCII.equals(path, "/v1/messages/count_tokens") { return .countTokens }
        return nil
    }

    /// `x-api-key: KEY`.
    public static var credentialHeader: (name: StaticString, prefix: StaticString) { ("x-api-key", "") }

    /// `{"type":"error","error":{"type":"…","message":"…"}}`.
    public static func errorBody(status: Int, message: String) -> [UInt8] {
        ErrorBody.anthropic(status: status, message: message)
    }

    /// `event: error` with the error body, ending the stream after the commit point (the
    /// SDKs raise it as an APIError).
    public static func streamErrorEvent(status: Int, message: String) -> [UInt8]? {
        var out: [UInt8] = Array("event: error\ndata: ".utf8)
        out.append(contentsOf: errorBody(status: status, message: message))
        out.append(contentsOf: "\n\n".utf8)
        return out
    }

    /// `{"data":[{"type":"model","id":"…","display_name":"…","created_at":"1970-01-01T00:00:00Z"}],
    /// "has_more":false,"first_id":…,"last_id":…}`. ccload knows no creation date, so it
    /// writes the epoch (the SDK's `created_at` is a required datetime).
    public static func modelsList(_ models: [String]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"data":["#.utf8)
        for (i, m) in models.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"type":"model","id":""#.utf8)
            JSONString.appendEscaped(&out, m)
            out.append(contentsOf: #"","display_name":""#.utf8)
            JSONString.appendEscaped(&out, m)
            out.append(contentsOf: #"","created_at":"1970-01-01T00:00:00Z"}"#.utf8)
        }
        out.append(contentsOf: #"],"has_more":false,"first_id":"#.utf8)
        appendStringOrNull(&out, models.first)
        out.append(contentsOf: #","last_id":"#.utf8)
        appendStringOrNull(&out, models.last)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func appendStringOrNull(_ out: inout [UInt8], _ s: String?) {
        guard let s else { out.append(contentsOf: "null".utf8); return }
        out.append(UInt8(ascii: "\""))
        JSONString.appendEscaped(&out, s)
        out.append(UInt8(ascii: "\""))
    }

    /// Commit-point rules. The type is the `event:` name, else the data's `type`.
    /// - `ping`, `message_start` → metadata (no output yet; `message_start` only echoes the
    ///   request's usage and model).
    /// - `content_block_start`, `content_block_delta`, `content_block_stop`,
    ///   `message_delta`, `message_stop` → content. `content_block_start` is the first sign
    ///   of output (a text, thinking or tool_use block); committing there rather than at the
    ///   first delta costs no failover that happens in practice (upstream errors such as
    ///   `overloaded_error` arrive before it) and sends the block header without delay.
    ///   `message_delta`/`message_stop` are content because a message that ends without a
    ///   block is a complete answer, not a failure.
    /// - `error` → `.error(error.type, error.message)`.
    /// - An event too large to buffer → content (only output gets that big).
    /// - Anything else (future event types) → metadata.
    public static func classify(_ event: SSEEvent) -> StreamEventClass {
        if event.isTooLarge { return .content }
        return event.data.withUnsafeBytes { data -> StreamEventClass in
            let type = ProtocolRules.eventType(event, data)
            if ASCII.equals(type, "error") {
                if let e = JSONScan.value(forKey: "error", in: data),
                   let d = ProtocolRules.describeError(data, e, typeKeys: ["type"]) {
                    return .error(type: d.type, message: d.message)
                }
                return .error(type: "api_error", message: "")
            }
            if ASCII.equals(type, "content_block_start") || ASCII.equals(type, "content_block_delta")
                || ASCII.equals(type, "content_block_stop") || ASCII.equals(type, "message_delta")
                || ASCII.equals(type, "message_stop") {
                return .content
            }
            return .metadata
        }
    }

    /// The error a complete body carries: `{"type":"error","error":{…}}`, or a relay's
    /// OpenAI-style `{"error":{…}}` (a Messages response never has an `error` member).
    public static func bodyError(_ body: UnsafeRawBufferPointer) -> (type: String, message: String)? {
        guard let e = JSONScan.value(forKey: "error", in: body) else { return nil }
        return ProtocolRules.describeError(body, e, typeKeys: ["type", "code"])
    }

    /// Status per Anthropic error type (docs: "Errors").
    public static func status(forErrorType type: String) -> Int {
        switch type {
        case "invalid_request_error": return 400
        case "authentication_error": return 401
        case "billing_error": return 402
        case "permission_error": return 403
        case "not_found_error": return 404
        case "request_too_large": return 413
        case "rate_limit_error": return 429
        case "api_error": return 500
        case "timeout_error": return 504
        case "overloaded_error": return 529
        default: return 500
        }
    }

    // MARK: Usage

    /// `message_start` → `message.usage` (`input_tokens`, `cache_read_input_tokens`,
    /// `cache_creation_input_tokens` and its `cache_creation.ephemeral_5m_input_tokens` /
    /// `ephemeral_1h_input_tokens` split) and `message.model`; `message_delta` → `usage`
    /// (`output_tokens`, cumulative; any input/cache count it repeats replaces the earlier one).
    public static func readUsage(event: SSEEvent, data: UnsafeRawBufferPointer, into c: inout UsageCounts) {
        let type = ProtocolRules.eventType(event, data)
        if ASCII.equals(type, "message_start") {
            guard let message = JSONScan.value(forKey: "message", in: data), message.kind == .object else { return }
            readMessage(data, message.range, into: &c)
        } else if ASCII.equals(type, "message_delta") {
            if let u = JSONScan.value(forKey: "usage", in: data), u.kind == .object { readUsageObject(data, u.range, isDelta: true, into: &c) }
        }
    }

    /// A whole Messages object.
    @discardableResult
    public static func readUsage(body data: UnsafeRawBufferPointer, doc: JSONScan.Value, into c: inout UsageCounts) -> Bool {
        doc.kind == .object && JSONScan.forEachMember(covering: doc.range, in: data) { key, v in messageMember(data, key, v, &c) }
    }

    /// A Messages object (the `message_start` payload or a whole non-streaming body).
    static func readMessage(_ data: UnsafeRawBufferPointer, _ range: Range<Int>?, into c: inout UsageCounts) {
        JSONScan.forEachMember(in: data, object: range) { key, v in
            messageMember(data, key, v, &c)
            return true
        }
    }

    /// One member of a Messages object: its `usage` and `model`.
    static func messageMember(_ data: UnsafeRawBufferPointer, _ key: Range<Int>, _ v: JSONScan.Value, _ c: inout UsageCounts) {
        if JSONScan.keyEquals(data, key, "usage"), v.kind == .object {
            readUsageObject(data, v.range, into: &c)
        } else if JSONScan.keyEquals(data, key, "model") {
            c.noteModel(data, v)
        }
    }

    /// `isDelta`: a `message_delta` usage, whose `output_tokens` is cumulative and replaces;
    /// its input and cache counts (newer API versions and some relays repeat or only then
    /// report them) replace the `message_start` ones only when non-zero, so a relay's
    /// zeros never erase real counts.
    static func readUsageObject(_ data: UnsafeRawBufferPointer, _ range: Range<Int>, isDelta: Bool = false, into c: inout UsageCounts) {
        c.reported = true
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if let n = UsageCounts.tokens(data, v) {
                if JSONScan.keyEquals(data, key, "output_tokens") { c.output = n; return true }
                if isDelta && n == 0 { return true }
                if JSONScan.keyEquals(data, key, "input_tokens") { c.input = n }
                else if JSONScan.keyEquals(data, key, "cache_read_input_tokens") { c.cached = n }
                else if JSONScan.keyEquals(data, key, "cache_creation_input_tokens") { c.cacheCreation = n }
            } else if v.kind == .object, JSONScan.keyEquals(data, key, "cache_creation") {
                if let e = JSONScan.value(forKey: "ephemeral_5m_input_tokens", in: data, object: v.range),
                   let n = UsageCounts.tokens(data, e), !(isDelta && n == 0) { c.cache5m = n }
                if let e = JSONScan.value(forKey: "ephemeral_1h_input_tokens", in: data, object: v.range),
                   let n = UsageCounts.tokens(data, e), !(isDelta && n == 0) { c.cache1h = n }
            }
            return true
        }
    }

    /// Input is already uncached; cache writes split by lifetime, a total larger than its
    /// split counting the rest as the default 5 min kind.
    public static func usage(_ c: UsageCounts) -> Usage {
        var w5 = c.cache5m ?? 0, w1 = c.cache1h ?? 0
        if c.cache5m == nil && c.cache1h == nil {
            w5 = c.cacheCreation
        } else {
            let split = Saturating.add(w5, w1)
            if c.cacheCreation > split { w5 = Saturating.add(w5, c.cacheCreation - split) }
        }
        return Usage(input: c.input, output: c.output, cacheRead: c.cached, cacheWrite5m: w5, cacheWrite1h: w1)
    }
}
