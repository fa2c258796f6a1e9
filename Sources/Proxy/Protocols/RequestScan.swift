import Glibc
import Reactor

/// What routing needs from a request: read by a byte scan of the body's top-level members
/// (and, for Gemini, the path), never a full decode.
public struct RequestInfo: Sendable, Equatable {
    /// The requested model.
    public var model: String
    /// The model value's bytes in the body (with quotes), for `RequestScan.rewriteModel`;
    /// nil for Gemini, whose model is in the path.
    public var modelRange: Range<Int>?
    /// Whether the client asked for a streamed (SSE) answer.
    public var stream: Bool
    /// Anthropic `metadata.user_id` (Claude Code puts its session there); nil otherwise.
    public var bodySession: String?
    /// The most output tokens the request allows (`max_tokens`, `max_completion_tokens`,
    /// `max_output_tokens`, Gemini `generationConfig.maxOutputTokens`), for cost estimates;
    /// nil when it sets none.
    public var maxOutputTokens: Int?

    public init(model: String, modelRange: Range<Int>?, stream: Bool, bodySession: String? = nil, maxOutputTokens: Int? = nil) {
        self.model = model
        self.modelRange = modelRange
        self.stream = stream
        self.bodySession = bodySession
        self.maxOutputTokens = maxOutputTokens
    }
}

/// Why a request body cannot be routed; `message` is the text for the 400.
public enum RequestScanError: Error, Sendable, Equatable {
    /// The body is empty or not one well-formed JSON object.
    case notJSON
    /// No usable `model` (absent, not a string, or empty); for Gemini, no model in the path.
    case noModel
    /// A top-level key ccload reads (`model`, `stream`, …) appears twice: upstream JSON
    /// parsers keep the last, ccload would read the first, so the request is refused.
    case duplicateKey(String)

    public var message: String {
        switch self {
        case .notJSON: return "request body is not a JSON object"
        case .noModel: return "request has no model: set a non-empty string \"model\" field"
        case .duplicateKey(let k): return "request body repeats the top-level key \"\(k)\"; send it once"
        }
    }
}

/// Reads `model`, `stream` and the session identity from a request, and rewrites the model.
public enum RequestScan {
    /// Scans a request body (de-chunked, complete). The whole body is validated as one JSON
    /// object in the same pass that finds the keys (so "not JSON" is exact); nested values
    /// are skipped, not decoded. For Gemini the model and stream flag come from `target`
    /// (`/v1beta/models/{m}:streamGenerateContent?alt=sse`), and the body must still be JSON.
    public static func scan(body: UnsafeRawBufferPointer, kind: ProtocolKind, target: ArraySlice<UInt8>) throws(RequestScanError) -> RequestInfo {
        try scan(body: body, kind: kind, target: target, table: nil)
    }

    /// As `scan(body:kind:target:)`; a model name `table` knows, written without escapes,
    /// is taken as the table's own `String` (`ChannelTable.knownModel`), not made anew.
    static func scan(body: UnsafeRawBufferPointer, kind: ProtocolKind, target: ArraySlice<UInt8>,
                     table: ChannelTable?) throws(RequestScanError) -> RequestInfo {
        let start = JSONScan.skipWhitespace(body, 0, body.count)
        guard start < body.count, body[start] == UInt8(ascii: "{") else { throw .notJSON }
        // Every key read here is read once: a repeat is refused (keys compare unescaped, so
        // `"mod\u0065l"` is `model`), since the upstream would act on the last one.
        var model: JSONScan.Value?
        var stream: JSONScan.Value?
        var metadata: JSONScan.Value?
        var maxOutput: Int?
        var limitsSeen = 0  // bit i: limitKeys[i]
        var duplicate: StaticString?
        func once(_ slot: inout JSONScan.Value?, _ value: JSONScan.Value, _ name: StaticString) -> Bool {
            guard slot == nil else { duplicate = name; return false }
            slot = value
            return true
        }
        let objectEnd = JSONScan.walkObject(body, start, body.count) { key, value in
            // A cheap first-byte test keeps the common case (other keys) to one comparison.
            guard key.count >= 3 else { return true }
            let c = body[key.lowerBound + 1]
            guard c == UInt8(ascii: "m") || c == UInt8(ascii: "s") || c == UInt8(ascii: "g") || c == UInt8(ascii: "\\") else { return true }
            if JSONScan.keyEquals(body, key, "model") { return once(&model, value, "model") }
            if JSONScan.keyEquals(body, key, "stream") { return once(&stream, value, "stream") }
            if JSONScan.keyEquals(body, key, "metadata") { return once(&metadata, value, "metadata") }
            for (i, name) in RequestScan.limitKeys.enumerated() where JSONScan.keyEquals(body, key, name) {
                guard limitsSeen & (1 << i) == 0 else { duplicate = name; return false }
                limitsSeen |= 1 << i
                if let n = outputLimit(body, value) { maxOutput = max(maxOutput ?? 0, n) }
                return true
            }
            return true
        }
        if let duplicate { throw .duplicateKey(duplicate.description) }
        // The walk ends at the object's close; nothing but whitespace may follow it.
        guard let objectEnd, JSONScan.skipWhitespace(body, objectEnd, body.count) == body.count else { throw .notJSON }
        let streamFlag = stream.flatMap { JSONScan.bool(body, $0) } ?? false

        var session: String?
        if let m = metadata, m.kind == .object,
           let u = JSONScan.value(forKey: "user_id", in: body, object: m.range), u.kind == .string {
            session = JSONScan.string(body, u).flatMap { $0.isEmpty ? nil : $0 }
        }
        if let g = try kind.wire.modelInTarget(target) {
            return RequestInfo(model: g.model, modelRange: nil, stream: g.stream, bodySession: session, maxOutputTokens: maxOutput)
        }
        guard let m = model, m.kind == .string else { throw .noModel }
        let raw = UnsafeRawBufferPointer(rebasing: body[(m.range.lowerBound + 1)..<(m.range.upperBound - 1)])
        let known = raw.isEmpty || memchr(raw.baseAddress!, 0x5C, raw.count) != nil ? nil : table?.knownModel(raw)
        guard let name = known ?? JSONScan.string(body, m), !name.isEmpty else { throw .noModel }
        return RequestInfo(model: name, modelRange: m.range, stream: streamFlag, bodySession: session, maxOutputTokens: maxOutput)
    }

    /// The top-level keys that carry an output limit (Gemini's is nested in
    /// `generationConfig`); when several appear, the largest limit counts.
    static let limitKeys: [StaticString] = ["max_tokens", "max_completion_tokens", "max_output_tokens", "generationConfig"]

    /// The output limit a limit key's value sets: the integer itself, or Gemini's
    /// `generationConfig.maxOutputTokens` (the largest, if repeated); nil for anything else.
    static func outputLimit(_ body: UnsafeRawBufferPointer, _ v: JSONScan.Value) -> Int? {
        if v.kind == .number { return JSONScan.int(body, v).map { max(0, $0) } }
        guard v.kind == .object else { return nil }
        var most: Int?
        JSONScan.forEachMember(in: body, object: v.range) { k, value in
            if JSONScan.keyEquals(body, k, "maxOutputTokens"), let n = JSONScan.int(body, value) { most = max(most ?? 0, max(0, n)) }
            return true
        }
        return most
    }

    public static func scan(body: [UInt8], kind: ProtocolKind, target: ArraySlice<UInt8>) throws(RequestScanError) -> RequestInfo {
        try scan(body: body, kind: kind, target: target, table: nil)
    }

    static func scan(body: [UInt8], kind: ProtocolKind, target: ArraySlice<UInt8>, table: ChannelTable?) throws(RequestScanError) -> RequestInfo {
        let r: Result<RequestInfo, RequestScanError> = body.withUnsafeBytes { p in
            do throws(RequestScanError) {
                return .success(try scan(body: p, kind: kind, target: target, table: table))
            } catch {
                return .failure(error)
            }
        }
        return try r.get()
    }

    /// The session identity used for affinity, strongest first: an explicit
    /// `x-ccload-session` header; the format's own (`WireProtocol.sessionHeader`; Codex: the
    /// `session_id`, then `conversation_id` header);
    /// then the body's (`RequestInfo.bodySession`, Anthropic `metadata.user_id`).
    public static func session<H: HTTPHeadFields>(head: H, kind: ProtocolKind, bodySession: String?) -> String? {
        if let v = head.value("x-ccload-session"), !v.isEmpty { return String(decoding: v, as: UTF8.self) }
        return kind.wire.sessionHeader(head) ?? bodySession
    }

    /// The body with the model value at `range` (from `RequestInfo.modelRange`, quotes
    /// included) replaced by `model` as a JSON string; every other byte is kept as is.
    public static func rewriteModel(body: [UInt8], range: Range<Int>, to model: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + model.utf8.count + 8)
        out.append(contentsOf: body[..<range.lowerBound])
        out.append(UInt8(ascii: "\""))
        JSONString.appendEscaped(&out, model)
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: body[range.upperBound...])
        return out
    }

    /// A Gemini request target with the model segment replaced (percent-encoded where the
    /// name needs it); the rest of the path and the query are kept byte for byte.
    /// nil when `target` is not a Gemini model action path.
    public static func rewriteGeminiPath(target: ArraySlice<UInt8>, to model: String) -> [UInt8]? {
        GeminiProtocol.rewritePath(target, model: model)
    }
}

extension JSONScan {
    static func keyEquals(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>, _ key: StaticString) -> Bool {
        key.withUTF8Buffer { k in keyEquals(buf, range, UnsafeRawBufferPointer(k)) }
    }
}
