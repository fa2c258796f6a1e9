/// Reads token usage from the bytes that go to the client (de-chunked, in any split), on the
/// side: it never holds bytes back and never blocks. Memory is bounded: a stream keeps at
/// most one event (`maxEventBytes`); a non-streaming body is kept up to `maxBodyBytes` and
/// scanned once complete, and a larger body makes the usage unknown.
///
/// What it reads:
/// - Anthropic: `message_start` → `message.usage` (`input_tokens`, `cache_read_input_tokens`,
///   `cache_creation_input_tokens` and its `cache_creation.ephemeral_5m_input_tokens` /
///   `ephemeral_1h_input_tokens` split) and `message.model`; `message_delta` → `usage`
///   (`output_tokens`, cumulative; any input/cache count it repeats replaces the earlier one).
/// - OpenAI chat: any chunk's `usage` (`prompt_tokens`, `completion_tokens`,
///   `prompt_tokens_details.cached_tokens`; the last wins) and the first `model`.
/// - Responses: `response.completed` / `response.incomplete` / `response.failed` →
///   `response.usage` (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`);
///   `response.created` → `response.model`.
/// - Gemini: each chunk's `usageMetadata` (cumulative; the last wins: `promptTokenCount`,
///   `candidatesTokenCount`, `cachedContentTokenCount`, `thoughtsTokenCount` and
///   `toolUsePromptTokenCount`) and `modelVersion`.
/// - Non-streaming: the same fields of the one JSON body (Gemini: also a JSON array of
///   chunks, `:streamGenerateContent` without `alt=sse`).
///
/// Owner: one request on one loop.
public struct UsageTap: Sendable {
    public let kind: ProtocolKind
    /// SSE (true) or one JSON body (false): decided by the response's content type.
    public let streaming: Bool
    public let maxBodyBytes: Int

    private var sse: SSEScanner
    private var body: [UInt8] = []
    private var bodyOverflow = false
    private var finished = false

    // Counts as the protocol reports them; `usage` normalises.
    private var reported = false
    private var input = 0
    private var output = 0
    private var cached = 0
    private var extraInput = 0
    private var extraOutput = 0
    private var cacheCreation = 0
    private var cache5m: Int?
    private var cache1h: Int?

    /// The model the upstream says answered (`message.model`, `model`, `modelVersion`).
    public private(set) var responseModel: String?

    public init(kind: ProtocolKind, streaming: Bool, maxBodyBytes: Int = 8 << 20, maxEventBytes: Int = 1 << 20) {
        self.kind = kind
        self.streaming = streaming
        self.maxBodyBytes = maxBodyBytes
        self.sse = SSEScanner(maxEventBytes: maxEventBytes)
    }

    /// Bytes held right now (the partial event, or the body so far).
    public var bufferedBytes: Int { sse.bufferedBytes + body.count }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if finished || bytes.isEmpty { return }
        if streaming {
            // The scanner leaves `self` while it calls back into it (no overlapping access,
            // and swapping keeps its buffers uniquely referenced, so nothing is copied).
            var scanner = SSEScanner(maxEventBytes: 0)
            swap(&scanner, &sse)
            scanner.feed(bytes) { event in self.handle(event) }
            swap(&scanner, &sse)
        } else {
            if bodyOverflow { return }
            if body.count + bytes.count > maxBodyBytes {
                bodyOverflow = true
                body = []
                return
            }
            body.append(contentsOf: bytes)
        }
    }

    public mutating func feed(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { feed($0) }
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// End of the response: scans a non-streaming body, flushes a stream's last event, and
    /// returns the usage. Later feeds are ignored.
    @discardableResult
    public mutating func finish() -> Usage {
        if finished { return usage }
        if streaming {
            var scanner = SSEScanner(maxEventBytes: 0)
            swap(&scanner, &sse)
            scanner.finish { event in self.handle(event) }
            swap(&scanner, &sse)
        } else if !bodyOverflow {
            let held = body
            held.withUnsafeBytes { scanBody($0) }
        }
        body = []
        finished = true
        return usage
    }

    /// The usage so far (final after `finish()`), normalised (see `Usage`). Every count is
    /// clamped to `0...Int.max` as read, and the sums below saturate: the numbers are the
    /// upstream's and may be anything.
    public var usage: Usage {
        guard reported else { return .unknown }
        switch kind {
        case .anthropic:
            var w5 = cache5m ?? 0, w1 = cache1h ?? 0
            if cache5m == nil && cache1h == nil {
                w5 = cacheCreation
            } else {
                let split = Saturating.add(w5, w1)
                // A total larger than its split: the unsplit rest is the default 5 min kind.
                if cacheCreation > split { w5 = Saturating.add(w5, cacheCreation - split) }
            }
            return Usage(input: input, output: output, cacheRead: cached, cacheWrite5m: w5, cacheWrite1h: w1)
        case .openai, .codex, .gemini:
            let prompt = Saturating.add(input, extraInput)
            return Usage(input: max(0, prompt - cached), output: Saturating.add(output, extraOutput), cacheRead: cached)
        }
    }

    /// A token count as the upstream sent it, clamped to `0...Usage.maxTokens`: upstream
    /// numbers are hostile, and a negative or near-`Int.max` count must neither trap the sums
    /// below and in pricing nor credit a client.
    static func tokens(_ data: UnsafeRawBufferPointer, _ value: JSONScan.Value) -> Int? {
        JSONScan.int(data, value).map { min(max($0, 0), Usage.maxTokens) }
    }

    // MARK: Streams

    private mutating func handle(_ event: SSEEvent) {
        if event.isTooLarge { return }
        event.data.withUnsafeBytes { data in
            switch kind {
            case .anthropic: anthropicEvent(event, data)
            case .openai: openAIChunk(data)
            case .codex: responsesEvent(event, data)
            case .gemini: geminiChunk(data, object: nil)
            }
        }
    }

    private mutating func anthropicEvent(_ event: SSEEvent, _ data: UnsafeRawBufferPointer) {
        let type = ProtocolRules.eventType(event, data)
        if type.elementsEqual("message_start".utf8) {
            guard let message = JSONScan.value(forKey: "message", in: data), message.kind == .object else { return }
            anthropicMessage(data, message.range)
        } else if type.elementsEqual("message_delta".utf8) {
            if let u = JSONScan.value(forKey: "usage", in: data), u.kind == .object { anthropicUsage(data, u.range, isDelta: true) }
        }
    }

    /// A Messages object (the `message_start` payload or a whole non-streaming body).
    private mutating func anthropicMessage(_ data: UnsafeRawBufferPointer, _ range: Range<Int>?) {
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if JSONScan.keyEquals(data, key, "usage"), v.kind == .object {
                anthropicUsage(data, v.range)
            } else if responseModel == nil, JSONScan.keyEquals(data, key, "model"), v.kind == .string {
                responseModel = JSONScan.string(data, v)
            }
            return true
        }
    }

    /// `isDelta`: a `message_delta` usage, whose `output_tokens` is cumulative and replaces;
    /// its input and cache counts (newer API versions and some relays repeat or only then
    /// report them) replace the `message_start` ones only when non-zero, so a relay's
    /// zeros never erase real counts.
    private mutating func anthropicUsage(_ data: UnsafeRawBufferPointer, _ range: Range<Int>, isDelta: Bool = false) {
        reported = true
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if let n = Self.tokens(data, v) {
                if JSONScan.keyEquals(data, key, "output_tokens") { output = n; return true }
                if isDelta && n == 0 { return true }
                if JSONScan.keyEquals(data, key, "input_tokens") { input = n }
                else if JSONScan.keyEquals(data, key, "cache_read_input_tokens") { cached = n }
                else if JSONScan.keyEquals(data, key, "cache_creation_input_tokens") { cacheCreation = n }
            } else if v.kind == .object, JSONScan.keyEquals(data, key, "cache_creation") {
                if let e = JSONScan.value(forKey: "ephemeral_5m_input_tokens", in: data, object: v.range),
                   let n = Self.tokens(data, e), !(isDelta && n == 0) { cache5m = n }
                if let e = JSONScan.value(forKey: "ephemeral_1h_input_tokens", in: data, object: v.range),
                   let n = Self.tokens(data, e), !(isDelta && n == 0) { cache1h = n }
            }
            return true
        }
    }

    private mutating func openAIChunk(_ data: UnsafeRawBufferPointer, object: Range<Int>? = nil) {
        JSONScan.forEachMember(in: data, object: object) { key, v in
            if v.kind == .object, JSONScan.keyEquals(data, key, "usage") {
                openAIUsage(data, v.range)
            } else if responseModel == nil, v.kind == .string, JSONScan.keyEquals(data, key, "model") {
                responseModel = JSONScan.string(data, v)
            }
            return true
        }
    }

    private mutating func openAIUsage(_ data: UnsafeRawBufferPointer, _ range: Range<Int>) {
        reported = true
        cached = 0
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if let n = Self.tokens(data, v) {
                if JSONScan.keyEquals(data, key, "prompt_tokens") { input = n }
                else if JSONScan.keyEquals(data, key, "completion_tokens") { output = n }
            } else if v.kind == .object, JSONScan.keyEquals(data, key, "prompt_tokens_details") {
                if let c = JSONScan.value(forKey: "cached_tokens", in: data, object: v.range), let n = Self.tokens(data, c) { cached = n }
            }
            return true
        }
    }

    private mutating func responsesEvent(_ event: SSEEvent, _ data: UnsafeRawBufferPointer) {
        let type = ProtocolRules.eventType(event, data)
        let final = type.elementsEqual("response.completed".utf8) || type.elementsEqual("response.incomplete".utf8)
            || type.elementsEqual("response.failed".utf8) || type.elementsEqual("response.done".utf8)
        let created = type.elementsEqual("response.created".utf8)
        guard final || created, let r = JSONScan.value(forKey: "response", in: data), r.kind == .object else { return }
        responsesObject(data, r.range)
    }

    /// A Responses object (an event's `response`, or a whole non-streaming body).
    private mutating func responsesObject(_ data: UnsafeRawBufferPointer, _ range: Range<Int>?) {
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if v.kind == .object, JSONScan.keyEquals(data, key, "usage") {
                reported = true
                cached = 0
                JSONScan.forEachMember(in: data, object: v.range) { k, u in
                    if let n = Self.tokens(data, u) {
                        if JSONScan.keyEquals(data, k, "input_tokens") { input = n }
                        else if JSONScan.keyEquals(data, k, "output_tokens") { output = n }
                    } else if u.kind == .object, JSONScan.keyEquals(data, k, "input_tokens_details") {
                        if let c = JSONScan.value(forKey: "cached_tokens", in: data, object: u.range), let n = Self.tokens(data, c) { cached = n }
                    }
                    return true
                }
            } else if responseModel == nil, v.kind == .string, JSONScan.keyEquals(data, key, "model") {
                responseModel = JSONScan.string(data, v)
            }
            return true
        }
    }

    private mutating func geminiChunk(_ data: UnsafeRawBufferPointer, object: Range<Int>?) {
        JSONScan.forEachMember(in: data, object: object) { key, v in
            if v.kind == .object, JSONScan.keyEquals(data, key, "usageMetadata") {
                reported = true
                input = 0; output = 0; cached = 0; extraInput = 0; extraOutput = 0
                JSONScan.forEachMember(in: data, object: v.range) { k, u in
                    guard let n = Self.tokens(data, u) else { return true }
                    if JSONScan.keyEquals(data, k, "promptTokenCount") { input = n }
                    else if JSONScan.keyEquals(data, k, "candidatesTokenCount") { output = n }
                    else if JSONScan.keyEquals(data, k, "cachedContentTokenCount") { cached = n }
                    else if JSONScan.keyEquals(data, k, "thoughtsTokenCount") { extraOutput = n }
                    else if JSONScan.keyEquals(data, k, "toolUsePromptTokenCount") { extraInput = n }
                    return true
                }
            } else if responseModel == nil, v.kind == .string, JSONScan.keyEquals(data, key, "modelVersion") {
                responseModel = JSONScan.string(data, v)
            }
            return true
        }
    }

    // MARK: Whole bodies

    private mutating func scanBody(_ data: UnsafeRawBufferPointer) {
        guard let doc = JSONScan.document(data) else { return }
        switch kind {
        case .anthropic:
            if doc.kind == .object { anthropicMessage(data, doc.range) }
        case .openai:
            if doc.kind == .object { openAIChunk(data, object: doc.range) }
        case .codex:
            if doc.kind == .object { responsesObject(data, doc.range) }
        case .gemini:
            if doc.kind == .object {
                geminiChunk(data, object: doc.range)
            } else if doc.kind == .array {
                JSONScan.forEachElement(in: data, array: doc.range) { element in
                    if element.kind == .object { geminiChunk(data, object: element.range) }
                    return true
                }
            }
        }
    }
}
