import Reactor

/// Which upstream API a request is for, from its path.
enum MockProtocol: String {
    /// `/v1/messages` (and anything the mock does not otherwise know).
    case anthropic
    /// `/v1/messages/count_tokens`.
    case countTokens
    /// `/v1/chat/completions`.
    case openai
    /// `/v1/responses`, `/responses` (Codex backend).
    case responses
    /// `/v1beta/models/{m}:generateContent`, `:streamGenerateContent`.
    case gemini

    static func of(path: String) -> MockProtocol {
        if path.hasSuffix("/messages/count_tokens") { return .countTokens }
        if path.hasSuffix("/chat/completions") { return .openai }
        if path.hasSuffix("/responses") { return .responses }
        if path.contains(":generateContent") || path.contains(":streamGenerateContent") { return .gemini }
        return .anthropic
    }
}

/// Process-wide behaviour, from the command line, so that channels pointed at different
/// mock processes behave differently. Per-request options (query or `x-mock-*` headers)
/// override these.
struct MockDefaults: Sendable {
    var status = 200
    /// Only the first K requests fail with `status` (500 when no status is given); later
    /// ones succeed. 0: every request answers `status`.
    var failFirst = 0
    /// `retry-after` value sent on error answers (429 without it: "7").
    var retryAfter: String?
    var headDelayMs = 0
    var delayMs = 0
    var events = 5
    /// Close the connection after this many content deltas (abruptly, no last chunk).
    var cutAfterEvents: Int?
    /// Send an SSE error event of this type (after the metadata preamble, before content).
    var sseErrorFirst: String?
    /// Answer 401 unless this key arrives in the protocol's credential header.
    var requireKey: String?
    var inputTokens = 12
    var outputTokens = 34
    var cacheRead = 0
    var cacheWrite5m = 0
    var cacheWrite1h = 0
}

nonisolated(unsafe) var mockDefaults = MockDefaults()  // set once in main, before any loop runs

/// What one mock request asks for, from the process defaults, its query string or
/// `x-mock-*` headers (headers win). Bodies that say `"stream":true` stream too.
struct MockOptions {
    var proto = MockProtocol.anthropic
    var status = 200
    /// Whether `status` came from the process defaults (so `--fail-first` may lift it).
    var statusIsDefault = true
    /// JSON body size for non-streaming Anthropic answers.
    var size = 1024
    var stream = false
    /// Gemini `:streamGenerateContent` without `alt=sse`: one JSON array of chunks.
    var jsonArrayStream = false
    var events = 5
    var delayMs = 0
    /// Streams: delay between the opening events (Anthropic `message_start`, `ping`,
    /// `content_block_start`) and the first content event, so a client's first body byte
    /// and its first content event are apart (the benchmarks time both).
    var firstDelayMs = 0
    /// Delay before the response head.
    var headDelayMs = 0
    /// Cut the connection: "head" (before any byte), "body" (after the head and one event).
    var cut: String?
    /// Close after this many content deltas.
    var cutAfterEvents: Int?
    /// Hold the stream after its first event until `POST /mock/release?gate=NAME`.
    var gate: String?
    /// Answer with an SSE error event of this type before any content.
    var sseErrorType: String?
    var retryAfter: String?
    var inputTokens = 12
    var outputTokens = 34
    var cacheRead = 0
    var cacheWrite5m = 0
    var cacheWrite1h = 0
    /// The model the request asked for (body `"model"`, or the Gemini path's model).
    var model = ""
    /// OpenAI chat: `stream_options.include_usage`.
    var includeUsage = false

    init(_ request: HTTPRequest, defaults d: MockDefaults = mockDefaults) {
        status = d.status
        events = d.events
        delayMs = d.delayMs
        headDelayMs = d.headDelayMs
        cutAfterEvents = d.cutAfterEvents
        sseErrorType = d.sseErrorFirst
        retryAfter = d.retryAfter
        inputTokens = d.inputTokens
        outputTokens = d.outputTokens
        cacheRead = d.cacheRead
        cacheWrite5m = d.cacheWrite5m
        cacheWrite1h = d.cacheWrite1h

        let head = request.head
        let target = String(decoding: head.targetBytes, as: UTF8.self)
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        proto = MockProtocol.of(path: path)
        var pairs: [(String, String)] = []
        if let q = target.firstIndex(of: "?") {
            for part in target[target.index(after: q)...].split(separator: "&") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                pairs.append((kv[0], kv.count > 1 ? kv[1] : "1"))
            }
        }
        for f in head.fields {
            let name = String(decoding: head.name(of: f), as: UTF8.self).lowercased()
            if name.hasPrefix("x-mock-") {
                pairs.append((String(name.dropFirst(7).map { $0 == "-" ? "_" : $0 }),
                              String(decoding: head.value(of: f), as: UTF8.self)))
            }
        }
        if request.body.count < 65536 {
            let body = String(decoding: request.body, as: UTF8.self)
            if body.contains("\"stream\":true") || body.contains("\"stream\": true") { stream = true }
            if body.contains("\"include_usage\":true") || body.contains("\"include_usage\": true") { includeUsage = true }
            model = MockOptions.stringValue(forKey: "model", in: request.body) ?? ""
        } else {
            model = MockOptions.stringValue(forKey: "model", in: request.body.prefix(65536)) ?? ""
        }
        if proto == .gemini {
            // /v1beta/models/{model}:action
            if let models = path.split(separator: "/", omittingEmptySubsequences: false).last {
                let rest = models
                if let colon = rest.lastIndex(of: ":") {
                    model = String(rest[..<colon]).removingPercentEncodingLite
                    if rest[rest.index(after: colon)...] == "streamGenerateContent" {
                        stream = true
                        jsonArrayStream = !pairs.contains { $0.0 == "alt" && $0.1 == "sse" }
                    }
                }
            }
        }
        for (k, v) in pairs {
            switch k {
            case "status": status = Int(v) ?? status; statusIsDefault = false
            case "size": size = min(Int(v) ?? size, 64 << 20)
            case "stream": stream = v != "0" && v != "false"
            case "events": events = Int(v) ?? events
            case "delay_ms": delayMs = Int(v) ?? delayMs
            case "head_delay_ms": headDelayMs = Int(v) ?? headDelayMs
            case "first_delay_ms": firstDelayMs = Int(v) ?? firstDelayMs
            case "cut": cut = v
            case "cut_after_events": cutAfterEvents = Int(v)
            case "gate": gate = v
            case "sse_error": sseErrorType = v == "0" ? nil : (v == "1" ? MockBodies.defaultSSEErrorType(proto) : v)
            case "retry_after": retryAfter = v
            case "input_tokens": inputTokens = Int(v) ?? inputTokens
            case "output_tokens": outputTokens = Int(v) ?? outputTokens
            case "cache_read": cacheRead = Int(v) ?? cacheRead
            case "cache_write_5m": cacheWrite5m = Int(v) ?? cacheWrite5m
            case "cache_write_1h": cacheWrite1h = Int(v) ?? cacheWrite1h
            default: break
            }
        }
        if cut == "body" && cutAfterEvents == nil { cutAfterEvents = 1 }
    }

    /// The first `"key": "value"` string in a JSON body, by a byte scan (no unescaping
    /// beyond what a model name needs).
    static func stringValue(forKey key: String, in body: some Collection<UInt8>) -> String? {
        let b = Array(body)
        let needle = Array("\"\(key)\"".utf8)
        var i = 0
        while i + needle.count <= b.count {
            if b[i] == needle[0] && Array(b[i..<(i + needle.count)]) == needle {
                var j = i + needle.count
                while j < b.count && (b[j] == 0x20 || b[j] == 0x0A || b[j] == 0x0D || b[j] == 0x09) { j += 1 }
                if j < b.count && b[j] == UInt8(ascii: ":") {
                    j += 1
                    while j < b.count && (b[j] == 0x20 || b[j] == 0x0A || b[j] == 0x0D || b[j] == 0x09) { j += 1 }
                    guard j < b.count && b[j] == UInt8(ascii: "\"") else { return nil }
                    var k = j + 1
                    while k < b.count && b[k] != UInt8(ascii: "\"") { k += b[k] == UInt8(ascii: "\\") ? 2 : 1 }
                    return k <= b.count ? String(decoding: b[(j + 1)..<min(k, b.count)], as: UTF8.self) : nil
                }
            }
            i += 1
        }
        return nil
    }
}

extension String {
    /// `%XX` decoded (model names in Gemini paths); the text unchanged when malformed.
    var removingPercentEncodingLite: String {
        guard contains("%") else { return self }
        var out: [UInt8] = []
        let u = Array(utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%"), i + 2 < u.count, let v = UInt8(String(decoding: u[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
