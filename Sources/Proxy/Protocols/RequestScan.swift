import CEpoll
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
    /// The body asks for a one-hour prompt cache (`cache_control` `"ttl":"1h"`).
    public var cacheOneHour = false
    /// The system prompt's value (`system`, `instructions`, Gemini `systemInstruction`) and
    /// the conversation's (`messages`, `input`, `contents`), for `RequestScan.promptDigest`.
    public var systemRange: Range<Int>?
    public var turnsRange: Range<Int>?

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
        var system: JSONScan.Value?
        var turns: JSONScan.Value?
        var maxOutput: Int?
        var limitsSeen = 0  // bit i: limitKeys[i]
        var duplicate: StaticString?
        func once(_ slot: inout JSONScan.Value?, _ value: JSONScan.Value, _ name: StaticString) -> Bool {
            guard slot == nil else { duplicate = name; return false }
            slot = value
            return true
        }
        // The first string value "1h" at any depth, found by the walk (`asksOneHourCache`).
        var oneHourAt = -1
        let objectEnd = JSONScan.walkObject(body, start, body.count, firstOneHour: &oneHourAt) { key, value in
            // A cheap first-byte test keeps the common case (other keys) to one comparison.
            guard key.count >= 3 else { return true }
            let c = body[key.lowerBound + 1]
            guard c == UInt8(ascii: "m") || c == UInt8(ascii: "s") || c == UInt8(ascii: "g") || c == UInt8(ascii: "i")
                || c == UInt8(ascii: "c") || c == UInt8(ascii: "\\") else { return true }
            if JSONScan.keyEquals(body, key, "model") { return once(&model, value, "model") }
            if JSONScan.keyEquals(body, key, "stream") { return once(&stream, value, "stream") }
            if JSONScan.keyEquals(body, key, "metadata") { return once(&metadata, value, "metadata") }
            // The prompt, for the digest: the first of each kind counts (a repeat is the
            // upstream's to refuse; these are not routing keys).
            if c == UInt8(ascii: "s") || c == UInt8(ascii: "i") || c == UInt8(ascii: "\\") {
                if system == nil && (JSONScan.keyEquals(body, key, "system") || JSONScan.keyEquals(body, key, "instructions")
                    || JSONScan.keyEquals(body, key, "systemInstruction")) {
                    system = value
                    return true
                }
            }
            if turns == nil && (JSONScan.keyEquals(body, key, "messages") || JSONScan.keyEquals(body, key, "input")
                || JSONScan.keyEquals(body, key, "contents")) {
                turns = value
                return true
            }
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
        var info: RequestInfo
        if let g = try kind.wire.modelInTarget(target) {
            info = RequestInfo(model: g.model, modelRange: nil, stream: g.stream, bodySession: session, maxOutputTokens: maxOutput)
        } else {
            guard let m = model, m.kind == .string else { throw .noModel }
            let raw = UnsafeRawBufferPointer(rebasing: body[(m.range.lowerBound + 1)..<(m.range.upperBound - 1)])
            let known = raw.isEmpty || memchr(raw.baseAddress!, 0x5C, raw.count) != nil ? nil : table?.knownModel(raw)
            guard let name = known ?? JSONScan.string(body, m), !name.isEmpty else { throw .noModel }
            info = RequestInfo(model: name, modelRange: m.range, stream: streamFlag, bodySession: session, maxOutputTokens: maxOutput)
        }
        info.cacheOneHour = oneHourAt >= 0 && asksOneHourCache(body, from: oneHourAt)
        info.systemRange = system?.range
        info.turnsRange = turns?.range
        return info
    }

    /// Whether the body holds a member `"ttl": "1h"` (Anthropic `cache_control`), found by a
    /// vector search for `"1h"` (`findQuotedOneHour`) and a look back for `"ttl"` and its
    /// colon: a byte scan, no decode. Inside a JSON string the quotes would be escaped
    /// (`\"ttl\":\"1h\"`), so text that quotes it does not count.
    static func asksOneHourCache(_ body: UnsafeRawBufferPointer, from start: Int = 0) -> Bool {
        guard body.count >= 10 else { return false }
        var from = start
        while from < body.count {
            guard let at = findQuotedOneHour(body, from: from) else { return false }
            from = at + 4
            // Back from the opening quote: whitespace, ':', whitespace, then `"ttl"`.
            var i = at - 1
            while i >= 0 && JSONScan.isWhitespace(body[i]) { i -= 1 }
            guard i >= 0, body[i] == UInt8(ascii: ":") else { continue }
            i -= 1
            while i >= 0 && JSONScan.isWhitespace(body[i]) { i -= 1 }
            guard i >= 4, body[i] == 0x22, body[i - 1] == UInt8(ascii: "l"), body[i - 2] == UInt8(ascii: "t"),
                  body[i - 3] == UInt8(ascii: "t"), body[i - 4] == 0x22 else { continue }
            return true
        }
        return false
    }

    /// A session identity for a request that names none: FNV-1a over the bytes of the system
    /// prompt and of the conversation up to and including its first user turn (`role` `user`,
    /// or a plain string `input`), hashed in place. The same opening always gives the same
    /// key, so every turn of one conversation shares it: `cache_control` members (a client
    /// moves its breakpoint to the newest turn), commas and whitespace outside them are left
    /// out. nil when the body has no turns.
    public static func promptDigest(body: UnsafeRawBufferPointer, info: RequestInfo) -> SessionKey? {
        guard let turns = info.turnsRange, turns.upperBound <= body.count else { return nil }
        var h = SessionKey.Hasher()
        if let sys = info.systemRange, sys.upperBound <= body.count { addPrompt(&h, body, sys) }
        h.add(0)
        let first = body[turns.lowerBound]
        if first == UInt8(ascii: "\"") {
            addPrompt(&h, body, turns)
            return SessionKey(hash: h.value)
        }
        guard first == UInt8(ascii: "[") else { return nil }
        var any = false
        JSONScan.forEachElement(in: body, array: turns) { v in
            any = true
            addPrompt(&h, body, v.range)
            guard v.kind == .object, let role = JSONScan.value(forKey: "role", in: body, object: v.range) else { return true }
            return !JSONScan.stringEquals(body, role, "user")
        }
        return any ? SessionKey(hash: h.value) : nil
    }

    /// The first offset in `from..<end` where `needle` starts (glibc `memmem`).
    /// The first index at or after `from` of the four bytes `"1h"`, or nil. A whole body is
    /// searched on every request, and Claude Code's bodies run to hundreds of KB: sixteen
    /// positions a step, by two vector compares (`1` then `h` one byte on), the quotes
    /// checked only where both match (glibc's `memmem` took ~5 instructions a byte for a
    /// four-byte needle; this takes well under one).
    static func findQuotedOneHour(_ body: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let base = body.baseAddress else { return nil }
        let n = body.count
        var i = max(0, from)
        let one = SIMD16<UInt8>(repeating: 0x31), h = SIMD16<UInt8>(repeating: 0x68)
        // Lanes k of the loads at i+1 and i+2 are bytes i+k+1 and i+k+2: a match at i+k needs
        // i+k+3 < n, so the step runs while i + 19 <= n and the rest goes byte by byte.
        while i + 19 <= n {
            let a1 = (base + i + 1).loadUnaligned(as: SIMD16<UInt8>.self)
            let a2 = (base + i + 2).loadUnaligned(as: SIMD16<UInt8>.self)
            if any((a1 .== one) .& (a2 .== h)) {
                for k in 0..<16 where body[i + k] == 0x22 && body[i + k + 1] == 0x31 && body[i + k + 2] == 0x68 && body[i + k + 3] == 0x22 {
                    return i + k
                }
            }
            i &+= 16
        }
        while i + 4 <= n {
            if body[i] == 0x22 && body[i + 1] == 0x31 && body[i + 2] == 0x68 && body[i + 3] == 0x22 { return i }
            i += 1
        }
        return nil
    }

    static func find(_ body: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer, from: Int, end: Int) -> Int? {
        guard let base = body.baseAddress, let n = needle.baseAddress, from < end, end <= body.count,
              let p = cc_memmem(base + from, end - from, n, needle.count) else { return nil }
        return base.distance(to: p)
    }

    /// Hashes `range` of `body` without its `cache_control` members, commas and whitespace.
    static func addPrompt(_ h: inout SessionKey.Hasher, _ body: UnsafeRawBufferPointer, _ range: Range<Int>) {
        let end = range.upperBound
        var i = range.lowerBound
        let key: StaticString = "\"cache_control\""
        while i < end {
            let found: Int? = key.withUTF8Buffer { find(body, UnsafeRawBufferPointer($0), from: i, end: end) }
            let stop = found ?? end
            while i < stop {
                let b = body[i]
                if b != UInt8(ascii: ",") && !JSONScan.isWhitespace(b) { h.add(b) }
                i += 1
            }
            guard let at = found else { return }
            var j = JSONScan.skipWhitespace(body, at + key.utf8CodeUnitCount, end)
            if j < end && body[j] == UInt8(ascii: ":") { j = JSONScan.skipWhitespace(body, j + 1, end) }
            i = JSONScan.scanValue(body, j, end)?.range.upperBound ?? j
        }
    }

    public static func promptDigest(body: [UInt8], info: RequestInfo) -> SessionKey? {
        body.withUnsafeBytes { promptDigest(body: $0, info: info) }
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
