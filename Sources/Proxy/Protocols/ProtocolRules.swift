import Reactor

/// Which client endpoint a request is.
public enum Endpoint: Sendable, Equatable {
    /// Anthropic `POST /v1/messages`.
    case messages
    /// Anthropic `POST /v1/messages/count_tokens`.
    case countTokens
    /// OpenAI `POST /v1/chat/completions`.
    case chatCompletions
    /// Responses API, `POST /v1/responses` (api.openai.com and most relays).
    case responses
    /// Codex CLI on a ChatGPT login, `POST /backend-api/codex/responses`.
    case codexResponses
    /// Gemini `POST /v1beta/models/{m}:generateContent` / `:streamGenerateContent`.
    case geminiGenerate
    /// Gemini `POST /v1beta/models/{m}:countTokens`.
    case geminiCountTokens
    /// `GET /v1/models` (answered by ccload from the channel table, in the route's protocol
    /// shape) or Gemini `GET /v1beta/models`.
    case models
}

/// A matched client route: the protocol family and the endpoint.
public struct APIRoute: Sendable, Equatable {
    public var kind: ProtocolKind
    public var endpoint: Endpoint

    public init(kind: ProtocolKind, endpoint: Endpoint) {
        self.kind = kind
        self.endpoint = endpoint
    }
}

/// What one streamed event means for the commit point (see DESIGN.md "one request, end to
/// end"): the response is held until the first `.content` event.
public enum StreamEventClass: Sendable, Equatable {
    /// Content-bearing: commit (send the held bytes and stream the rest).
    case content
    /// Holds no content (ping, message start, role-only chunk, usage-only chunk): keep holding.
    case metadata
    /// An error event. Before the commit point it fails over like `status(forErrorType:)`.
    case error(type: String, message: String)
    /// The end-of-stream sentinel (`data: [DONE]`).
    case done
}

/// What every wire format shares (routing a client request to its format, the upstream
/// target, the client credentials never forwarded, error reading), and, keyed by
/// `ProtocolKind`, entry points into each format's own rules (`WireProtocol`: one type per
/// format). Code that has a request's `WireProtocol` type calls it directly.
public enum ProtocolRules {
    // MARK: Routes

    /// The route of a client request, or nil when ccload does not serve that method and path.
    /// `GET /v1/models` is answered in Anthropic's shape when the client looks like an
    /// Anthropic client (`anthropic-version` or `x-api-key` header), else in OpenAI's.
    public static func route(_ head: HTTPRequestHead) -> APIRoute? {
        // The headers are looked at only for `GET /v1/models` (two header searches per
        // request were 1.3 % of a pass-through profile).
        route(method: head.bytes[head.method], target: head.targetBytes,
              anthropicClient: head.value("anthropic-version") != nil || head.value("x-api-key") != nil)
    }

    public static func route(method: ArraySlice<UInt8>, target: ArraySlice<UInt8>, anthropicClient: @autoclosure () -> Bool) -> APIRoute? {
        let path = pathOf(target)
        let isPOST = ASCII.equals(method, "POST")
        let isGET = ASCII.equals(method, "GET")
        if isPOST {
            // Each format in `ProtocolKind` order, called directly: a loop over `formats`
            // retained and released the array on every request (0.5 % of a pass-through
            // profile). `WireProtocolTests` checks this list against `formats`.
            return post(AnthropicProtocol.self, path, target) ?? post(OpenAIProtocol.self, path, target)
                ?? post(CodexProtocol.self, path, target) ?? post(GeminiProtocol.self, path, target)
        }
        if isGET {
            if ASCII.equals(path, "/v1/models") { return APIRoute(kind: anthropicClient() ? .anthropic : .openai, endpoint: .models) }
            if ASCII.equals(path, "/v1beta/models") { return APIRoute(kind: .gemini, endpoint: .models) }
        }
        return nil
    }

    /// Every wire format, in `ProtocolKind` order (the order routes are matched in).
    static let formats: [any WireProtocol.Type] = ProtocolKind.allCases.map(\.wire)

    @inline(__always)
    private static func post<W: WireProtocol>(_ w: W.Type, _ path: ArraySlice<UInt8>, _ target: ArraySlice<UInt8>) -> APIRoute? {
        w.postEndpoint(path: path, target: target).map { APIRoute(kind: W.kind, endpoint: $0) }
    }

    /// The target up to (not including) `?`.
    static func pathOf(_ target: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        if let q = target.firstIndex(of: UInt8(ascii: "?")) { return target[..<q] }
        return target
    }

    // MARK: Upstream target

    /// The request target to send upstream for a client target, given the path part of the
    /// channel's base URL (`""` for `https://api.anthropic.com`, `"/v1"` or `"/openai/v1"` for a
    /// relay, `"/backend-api/codex"` for ChatGPT's Codex backend). The client's credential
    /// query parameter (`key=`, any case or percent-encoding) is removed; the rest of the
    /// query is kept.
    ///
    /// - A base path that already ends in the client path's first segment (`/v1`, `/v1beta`)
    ///   does not repeat it: base `/openai/v1` + `/v1/chat/completions` → `/openai/v1/chat/completions`.
    /// - The format may map the path first (`WireProtocol.upstreamPath`; Codex: both client
    ///   routes go to the one upstream resource the channel's base path calls for).
    public static func upstreamTarget(route: APIRoute, clientTarget: ArraySlice<UInt8>, basePath: ArraySlice<UInt8>) -> [UInt8] {
        var base = basePath
        while base.last == UInt8(ascii: "/") { base = base.dropLast() }
        // Without a query there is no parameter to remove: the client's bytes serve as they are.
        let cleaned = clientTarget.contains(UInt8(ascii: "?")) ? removingCredentialParameters(clientTarget)[...] : clientTarget
        var path = pathOf(cleaned)
        let query = cleaned[path.endIndex...]
        path = route.kind.wire.upstreamPath(endpoint: route.endpoint, path: path, base: base)
        // Drop a leading segment of `path` that the base already ends with.
        if path.count > 1, let slash = path.dropFirst().firstIndex(of: UInt8(ascii: "/")) {
            let first = path[path.startIndex..<slash]
            if base.count >= first.count && base.suffix(first.count).elementsEqual(first) {
                path = path[slash...]
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(base.count + path.count + query.count)
        out.append(contentsOf: base)
        out.append(contentsOf: path)
        out.append(contentsOf: query)
        return out
    }

    /// Whether a raw (percent-encoded) query parameter name decodes to `name`, ASCII case-insensitively.
    static func parameterName(_ raw: ArraySlice<UInt8>, equals name: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = raw.startIndex
        var j = 0
        while i < raw.endIndex {
            var c = raw[i]
            if c == UInt8(ascii: "%"), i + 2 < raw.endIndex, let h = JSONScan.hexValue(raw[i + 1]), let l = JSONScan.hexValue(raw[i + 2]) {
                c = UInt8(h << 4 | l)
                i += 3
            } else {
                i += 1
            }
            guard j < name.count, ASCII.lower(c) == ASCII.lower(name[j]) else { return false }
            j += 1
        }
        return j == name.count
    }

    static func endsWith(_ a: ArraySlice<UInt8>, _ s: StaticString) -> Bool {
        guard a.count >= s.utf8CodeUnitCount else { return false }
        return s.withUTF8Buffer { p in a.suffix(p.count).elementsEqual(p) }
    }

    /// The target without the query parameters that carry a client credential: `key`
    /// (where `ClientAuth` reads a token; its name compared case-insensitively, as
    /// `ClientAuth` does, and after percent-decoding, as an upstream would).
    public static func removingCredentialParameters(_ target: ArraySlice<UInt8>) -> [UInt8] {
        removingQueryParameter(target, "key")
    }

    /// The target with every `name=…` query parameter removed (and `?` dropped when nothing
    /// is left). Names compare ASCII case-insensitively after percent-decoding (`KEY`, `k%65y`).
    public static func removingQueryParameter(_ target: ArraySlice<UInt8>, _ name: StaticString) -> [UInt8] {
        guard let q = target.firstIndex(of: UInt8(ascii: "?")) else { return Array(target) }
        var out = Array(target[..<q])
        var kept = 0
        var i = q + 1
        while i <= target.endIndex {
            let end = target[i...].firstIndex(of: UInt8(ascii: "&")) ?? target.endIndex
            let param = target[i..<end]
            let nameEnd = param.firstIndex(of: UInt8(ascii: "=")) ?? param.endIndex
            let isNamed = name.withUTF8Buffer { parameterName(param[..<nameEnd], equals: $0) }
            if !isNamed && !param.isEmpty {
                out.append(kept == 0 ? UInt8(ascii: "?") : UInt8(ascii: "&"))
                out.append(contentsOf: param)
                kept += 1
            }
            i = end + 1
        }
        return out
    }

    // MARK: Credentials

    /// The header that carries a channel key upstream, and the text before the key
    /// (`WireProtocol.credentialHeader`).
    public static func credentialHeader(_ kind: ProtocolKind) -> (name: StaticString, prefix: StaticString) {
        kind.wire.credentialHeader
    }

    /// Appends the channel's credential header line (with CRLF) for `kind`.
    public static func appendCredential(_ out: inout [UInt8], kind: ProtocolKind, key: [UInt8]) {
        appendCredential(&out, wire: kind.wire, key: key)
    }

    /// Appends the channel's credential header line (with CRLF) the way `wire` carries it.
    public static func appendCredential(_ out: inout [UInt8], wire: any WireProtocol.Type, key: [UInt8]) {
        let h = wire.credentialHeader
        h.name.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: ":"))
        out.append(0x20)
        h.prefix.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: key)
        out.append(0x0D)
        out.append(0x0A)
    }

    /// Client header fields that carry a credential (or an account identity bound to one)
    /// and are never forwarded upstream, in any mode: `authorization` (a ccload token or the
    /// admin's bearer token), `x-api-key`, `x-goog-api-key`, `api-key` (Azure-style
    /// clients), `chatgpt-account-id`, and `cookie` (the admin session among others).
    /// (`proxy-authorization` is hop-by-hop.) The `key=` query parameter is removed by
    /// `removingCredentialParameters`.
    public static let clientCredentialHeaders: [StaticString] = [
        "authorization", "x-api-key", "x-goog-api-key", "api-key", "chatgpt-account-id", "cookie",
    ]

    public static func isClientCredentialHeader(_ name: ArraySlice<UInt8>) -> Bool {
        FieldName.of(name).isCredential
    }

    // MARK: Bodies ccload writes

    /// An error body in the protocol's shape, for errors ccload answers itself.
    public static func errorBody(_ kind: ProtocolKind, status: Int, message: String) -> [UInt8] {
        kind.wire.errorBody(status: status, message: message)
    }

    /// The bytes ccload writes to end a stream that broke after the commit point, or nil
    /// when the protocol has no in-band error (Gemini: the stream just ends).
    public static func streamErrorEvent(_ kind: ProtocolKind, status: Int, message: String) -> [UInt8]? {
        kind.wire.streamErrorEvent(status: status, message: message)
    }

    /// The `GET /v1/models` (Gemini: `GET /v1beta/models`) body for a list of model names.
    public static func modelsList(_ kind: ProtocolKind, models: [String]) -> [UInt8] {
        kind.wire.modelsList(models)
    }

    // MARK: Classification

    /// What a streamed event means for the commit point (rules in each protocol's type).
    public static func classify(_ kind: ProtocolKind, _ event: SSEEvent) -> StreamEventClass {
        kind.wire.classify(event)
    }

    /// For a complete non-streaming body (typically a 200): the error it actually carries,
    /// or nil when it is not an error object.
    public static func bodyError(_ kind: ProtocolKind, _ body: UnsafeRawBufferPointer) -> (type: String, message: String)? {
        kind.wire.bodyError(body)
    }

    public static func bodyError(_ kind: ProtocolKind, _ body: [UInt8]) -> (type: String, message: String)? {
        body.withUnsafeBytes { bodyError(kind, $0) }
    }

    /// The HTTP status an in-band error type stands for, so an error event before the commit
    /// point fails over like that status would. Unknown types → 500 (a server-side failure).
    public static func status(forErrorType type: String, kind: ProtocolKind) -> Int {
        kind.wire.status(forErrorType: type)
    }

    // MARK: Shared error reading

    /// Reads an error value (`"error": {...}` or `"error": "text"`): the type is the first
    /// string among `keys` inside it (or a numeric `code` as digits), the message its
    /// `message`. nil for `null` or anything else.
    static func describeError(_ buf: UnsafeRawBufferPointer, _ error: JSONScan.Value, typeKeys: [StaticString]) -> (type: String, message: String)? {
        switch error.kind {
        case .string:
            return ("error", JSONScan.string(buf, error) ?? "")
        case .object:
            var type: String?
            for k in typeKeys {
                guard let v = JSONScan.value(forKey: k, in: buf, object: error.range) else { continue }
                if v.kind == .string, let s = JSONScan.string(buf, v), !s.isEmpty { type = s; break }
                if v.kind == .number, let n = JSONScan.int(buf, v) { type = String(n); break }
            }
            var message = ""
            if let m = JSONScan.value(forKey: "message", in: buf, object: error.range), let s = JSONScan.string(buf, m) {
                message = s
            }
            return (type ?? "error", message)
        default:
            return nil
        }
    }

    /// Runs `body` on the event's data as a raw buffer.
    @inline(__always)
    static func withData<R>(_ event: SSEEvent, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        event.data.withUnsafeBytes(body)
    }

    /// The event's type: its `event:` name, else the raw bytes of the data's top-level
    /// `"type"` string (a slice of `event.data`); empty when neither is there.
    static func eventType(_ event: SSEEvent, _ data: UnsafeRawBufferPointer) -> ArraySlice<UInt8> {
        if !event.name.isEmpty { return event.name }
        guard let t = JSONScan.value(forKey: "type", in: data), t.kind == .string else { return [] }
        let base = event.data.startIndex
        return event.data[(base + t.range.lowerBound + 1)..<(base + t.range.upperBound - 1)]
    }
}
