/// Gemini specifics: the model lives in the path
/// (`/v1beta/models/{model}:generateContent`), errors are Google RPC shaped, and a stream
/// (`:streamGenerateContent?alt=sse`) is a sequence of `GenerateContentResponse` chunks with
/// no in-band end or error event.
public enum GeminiProtocol: WireProtocol {
    public static var kind: ProtocolKind { .gemini }
    public static var probeModel: String { "gemini-2.5-flash" }

    /// One output token from `POST /v1beta/models/{model}:generateContent` (the model
    /// percent-encoded into the path).
    public static func probeRequest(model: String, basePath: ArraySlice<UInt8>) -> ProbeRequest {
        var path: [UInt8] = Array("/v1beta/models/".utf8)
        percentEncode(&path, model)
        path.append(contentsOf: ":generateContent".utf8)
        let body = Array(#"{"contents":[{"parts":[{"text":"hi"}],"role":"user"}],"generationConfig":{"maxOutputTokens":1}}"#.utf8)
        return ProbeRequest(endpoint: .geminiGenerate, clientPath: path, body: body)
    }

    /// `POST /v1beta/models/{m}:generateContent` / `:streamGenerateContent` / `:countTokens`.
    public static func postEndpoint(path: ArraySlice<UInt8>, target: ArraySlice<UInt8>) -> Endpoint? {
        guard let g = parsePath(target) else { return nil }
        return g.action == .countTokens ? .geminiCountTokens : .geminiGenerate
    }

    /// The model and stream flag are the path's (the body must still be JSON).
    public static func modelInTarget(_ target: ArraySlice<UInt8>) throws(RequestScanError) -> (model: String, stream: Bool)? {
        guard let g = parsePath(target), !g.model.isEmpty else { throw .noModel }
        return (g.model, g.stream)
    }

    /// The model segment of the upstream target is replaced; the body is kept.
    public static func rewriteModel(target: inout [UInt8], body: inout [UInt8], info: RequestInfo, to model: String) {
        if let p = rewritePath(target[...], model: model) { target = p }
    }

    /// `x-goog-api-key: KEY`.
    public static var credentialHeader: (name: StaticString, prefix: StaticString) { ("x-goog-api-key", "") }

    /// No in-band error: a broken stream just ends.
    public static func streamErrorEvent(status: Int, message: String) -> [UInt8]? { nil }

    public enum Action: Sendable, Equatable {
        case generateContent, streamGenerateContent, countTokens
    }

    /// A parsed Gemini model action path.
    public struct Path: Sendable, Equatable {
        /// The model name, percent-decoded, without the `models/` prefix.
        public var model: String
        /// Where the (raw) model segment is in the target.
        public var modelRange: Range<Int>
        public var action: Action
        /// `:streamGenerateContent`, or `alt=sse` in the query.
        public var stream: Bool
        /// `alt=sse`: the stream is SSE. Without it `:streamGenerateContent` answers one JSON
        /// array whose elements arrive over time.
        public var sse: Bool
    }

    /// Parses `/v1beta/models/{m}:{action}[?query]` (also `/v1/` and `/v1alpha/`); nil for any
    /// other target.
    public static func parsePath(_ target: ArraySlice<UInt8>) -> Path? {
        let path = ProtocolRules.pathOf(target)
        var rest: ArraySlice<UInt8>
        if path.starts(with: "/v1beta/models/".utf8) {
            rest = path.dropFirst(15)
        } else if path.starts(with: "/v1/models/".utf8) {
            rest = path.dropFirst(11)
        } else if path.starts(with: "/v1alpha/models/".utf8) {
            rest = path.dropFirst(16)
        } else {
            return nil
        }
        guard let colon = rest.lastIndex(of: UInt8(ascii: ":")) else { return nil }
        let segment = rest[..<colon]
        let actionBytes = rest[(colon + 1)...]
        let action: Action
        if ASCII.equals(actionBytes, "generateContent") {
            action = .generateContent
        } else if ASCII.equals(actionBytes, "streamGenerateContent") {
            action = .streamGenerateContent
        } else if ASCII.equals(actionBytes, "countTokens") {
            action = .countTokens
        } else {
            return nil
        }
        guard !segment.isEmpty, !segment.contains(UInt8(ascii: "/")), let model = percentDecode(segment) else { return nil }
        let sse = hasQueryParameter(target, "alt", "sse")
        return Path(model: model, modelRange: segment.startIndex..<segment.endIndex, action: action,
                    stream: action == .streamGenerateContent || sse, sse: sse)
    }

    /// The target with the model segment replaced; everything else kept byte for byte.
    public static func rewritePath(_ target: ArraySlice<UInt8>, model: String) -> [UInt8]? {
        guard let p = parsePath(target) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(target.count + model.utf8.count)
        out.append(contentsOf: target[..<p.modelRange.lowerBound])
        percentEncode(&out, model)
        out.append(contentsOf: target[p.modelRange.upperBound...])
        return out
    }

    static func hasQueryParameter(_ target: ArraySlice<UInt8>, _ name: StaticString, _ value: StaticString) -> Bool {
        guard let q = target.firstIndex(of: UInt8(ascii: "?")) else { return false }
        for param in target[(q + 1)...].split(separator: UInt8(ascii: "&")) {
            guard let eq = param.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let matches = name.withUTF8Buffer { n in param[..<eq].elementsEqual(n) }
                && value.withUTF8Buffer { v in param[(eq + 1)...].elementsEqual(v) }
            if matches { return true }
        }
        return false
    }

    static func percentDecode(_ s: ArraySlice<UInt8>) -> String? {
        guard s.contains(UInt8(ascii: "%")) else { return String(validating: s, as: UTF8.self) }
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == UInt8(ascii: "%") {
                guard i + 2 < s.endIndex, let h = JSONScan.hexValue(s[i + 1]), let l = JSONScan.hexValue(s[i + 2]) else { return nil }
                out.append(UInt8(h << 4 | l))
                i += 3
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func percentEncode(_ out: inout [UInt8], _ s: String) {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
    }

    /// The google.rpc status name for an HTTP status.
    public static func rpcStatus(for status: Int) -> String {
        switch status {
        case 400, 411, 413, 415, 431: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 408, 504: return "DEADLINE_EXCEEDED"
        case 409: return "ABORTED"
        case 429: return "RESOURCE_EXHAUSTED"
        case 499: return "CANCELLED"
        case 501: return "UNIMPLEMENTED"
        case 502, 503: return "UNAVAILABLE"
        default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"
        }
    }

    /// `{"error":{"code":…,"message":"…","status":"…"}}`.
    public static func errorBody(status: Int, message: String) -> [UInt8] {
        var out: [UInt8] = Array(#"{"error":{"code":"#.utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(contentsOf: #","message":""#.utf8)
        JSONString.appendEscaped(&out, message)
        out.append(contentsOf: #"","status":""#.utf8)
        out.append(contentsOf: rpcStatus(for: status).utf8)
        out.append(contentsOf: #""}}"#.utf8)
        return out
    }

    /// `{"models":[{"name":"models/…","displayName":"…","supportedGenerationMethods":[…]}]}`.
    public static func modelsList(_ models: [String]) -> [UInt8] {
        var out: [UInt8] = Array(#"{"models":["#.utf8)
        for (i, m) in models.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"name":"models/"#.utf8)
            JSONString.appendEscaped(&out, m)
            out.append(contentsOf: #"","displayName":""#.utf8)
            JSONString.appendEscaped(&out, m)
            out.append(contentsOf: #"","supportedGenerationMethods":["generateContent","streamGenerateContent","countTokens"]}"#.utf8)
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// Commit-point rules for `alt=sse` chunks: a chunk with `candidates` → content; with a
    /// top-level `error` → error (type: its `status`, else its numeric `code`); anything else
    /// (a usage-only or prompt-feedback-only chunk, unparseable data) → metadata. A chunk too
    /// large to buffer → content. Gemini has no end sentinel.
    public static func classify(_ event: SSEEvent) -> StreamEventClass {
        if event.isTooLarge { return .content }
        return event.data.withUnsafeBytes { data -> StreamEventClass in
            var result = StreamEventClass.metadata
            JSONScan.forEachMember(in: data) { key, v in
                if JSONScan.keyEquals(data, key, "candidates") {
                    result = .content
                    return false
                }
                if JSONScan.keyEquals(data, key, "error"), let d = ProtocolRules.describeError(data, v, typeKeys: ["status", "code"]) {
                    result = .error(type: d.type, message: d.message)
                    return false
                }
                return true
            }
            return result
        }
    }

    /// The error a complete body carries: `{"error":{…}}`, or the first element of a
    /// streamed JSON array (`[{"error":{…}}]`, `:streamGenerateContent` without `alt=sse`).
    public static func bodyError(_ body: UnsafeRawBufferPointer) -> (type: String, message: String)? {
        let start = JSONScan.skipWhitespace(body, 0, body.count)
        guard start < body.count else { return nil }
        var object: Range<Int>? = nil
        if body[start] == UInt8(ascii: "[") {
            var first: JSONScan.Value?
            JSONScan.forEachElement(in: body, array: start..<body.count) { v in first = v; return false }
            guard let f = first, f.kind == .object else { return nil }
            object = f.range
        }
        guard let e = JSONScan.value(forKey: "error", in: body, object: object) else { return nil }
        return ProtocolRules.describeError(body, e, typeKeys: ["status", "code"])
    }

    /// Status per google.rpc status name (or an HTTP status given as digits).
    public static func status(forErrorType type: String) -> Int {
        if let n = Int(type), n >= 100 && n <= 599 { return n }
        switch type {
        case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE": return 400
        case "UNAUTHENTICATED": return 401
        case "PERMISSION_DENIED": return 403
        case "NOT_FOUND": return 404
        case "ABORTED", "ALREADY_EXISTS": return 409
        case "RESOURCE_EXHAUSTED": return 429
        case "CANCELLED": return 499
        case "UNIMPLEMENTED": return 501
        case "UNAVAILABLE": return 503
        case "DEADLINE_EXCEEDED": return 504
        default: return 500
        }
    }

    // MARK: Usage

    /// Each chunk's `usageMetadata` (cumulative; the last wins: `promptTokenCount`,
    /// `candidatesTokenCount`, `cachedContentTokenCount`, `thoughtsTokenCount` and
    /// `toolUsePromptTokenCount`) and `modelVersion`.
    public static func readUsage(event: SSEEvent, data: UnsafeRawBufferPointer, into c: inout UsageCounts) {
        readChunk(data, object: nil, into: &c)
    }

    /// One response object, or a JSON array of chunks (`:streamGenerateContent` without `alt=sse`).
    @discardableResult
    public static func readUsage(body data: UnsafeRawBufferPointer, doc: JSONScan.Value, into c: inout UsageCounts) -> Bool {
        switch doc.kind {
        case .object:
            return JSONScan.forEachMember(covering: doc.range, in: data) { key, v in chunkMember(data, key, v, &c) }
        case .array:
            // Each element was checked by the array's walk: its members are read in place.
            return JSONScan.forEachElement(covering: doc.range, in: data) { element in
                if element.kind == .object { readChunk(data, object: element.range, into: &c) }
            }
        default:
            return false
        }
    }

    static func readChunk(_ data: UnsafeRawBufferPointer, object: Range<Int>?, into c: inout UsageCounts) {
        JSONScan.forEachMember(in: data, object: object) { key, v in
            chunkMember(data, key, v, &c)
            return true
        }
    }

    /// One member of a response chunk: its `usageMetadata` and `modelVersion`.
    static func chunkMember(_ data: UnsafeRawBufferPointer, _ key: Range<Int>, _ v: JSONScan.Value, _ c: inout UsageCounts) {
        if v.kind == .object, JSONScan.keyEquals(data, key, "usageMetadata") {
            c.reported = true
            c.input = 0; c.output = 0; c.cached = 0; c.extraInput = 0; c.extraOutput = 0
            JSONScan.forEachMember(in: data, object: v.range) { k, u in
                guard let n = UsageCounts.tokens(data, u) else { return true }
                if JSONScan.keyEquals(data, k, "promptTokenCount") { c.input = n }
                else if JSONScan.keyEquals(data, k, "candidatesTokenCount") { c.output = n }
                else if JSONScan.keyEquals(data, k, "cachedContentTokenCount") { c.cached = n }
                else if JSONScan.keyEquals(data, k, "thoughtsTokenCount") { c.extraOutput = n }
                else if JSONScan.keyEquals(data, k, "toolUsePromptTokenCount") { c.extraInput = n }
                return true
            }
        } else if JSONScan.keyEquals(data, key, "modelVersion") {
            c.noteModel(data, v)
        }
    }
}
