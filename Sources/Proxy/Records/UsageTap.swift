/// Reads token usage from the bytes that go to the client (de-chunked, in any split), on the
/// side: it never holds bytes back and never blocks. Memory is bounded: a stream keeps at
/// most one event (`maxEventBytes`); a non-streaming body is kept up to `maxBodyBytes` and
/// scanned once complete, and a larger body makes the usage unknown.
///
/// What it reads (each format's `readUsage`):
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

    /// A non-streaming body's declared length (`Content-Length`), when it has one.
    public let bodyLength: Int?

    private var sse: SSEScanner
    private var body: [UInt8] = []
    private var bodyOverflow = false
    /// The whole body came in one piece and was read where it lay.
    private var bodyRead = false
    private var finished = false

    /// The format whose answer this is: it reads the usage and normalises it.
    private let wire: any WireProtocol.Type
    /// Counts as the format reports them; `usage` normalises.
    private var counts = UsageCounts()

    /// The model the upstream says answered (`message.model`, `model`, `modelVersion`), when
    /// made with `readsModel`.
    public var responseModel: String? { counts.responseModel }

    /// `bodyLength`: a non-streaming body's `Content-Length`; when its first piece is the
    /// whole of it (the usual small answer), the usage is read there and nothing is copied.
    public init(kind: ProtocolKind, streaming: Bool, bodyLength: Int? = nil, maxBodyBytes: Int = 8 << 20,
                maxEventBytes: Int = 1 << 20, readsModel: Bool = false) {
        self.kind = kind
        self.counts.readsModel = readsModel
        self.bodyLength = bodyLength
        self.wire = kind.wire
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
            if bodyOverflow || bodyRead { return }
            if body.isEmpty, bytes.count == bodyLength, bytes.count <= maxBodyBytes {
                scanBody(bytes)
                bodyRead = true
                return
            }
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
        } else if !bodyOverflow && !bodyRead {
            let held = body
            held.withUnsafeBytes { scanBody($0) }
        }
        body = []
        finished = true
        return usage
    }

    /// The usage so far (final after `finish()`), normalised by the format (see `Usage`).
    public var usage: Usage {
        guard counts.reported else { return .unknown }
        return wire.usage(counts)
    }

    // MARK: Reading

    private mutating func handle(_ event: SSEEvent) {
        if event.isTooLarge { return }
        let wire = self.wire
        event.data.withUnsafeBytes { data in wire.readUsage(event: event, data: data, into: &counts) }
    }

    /// One walk over the body: the format reads the usage from the body's extent while the
    /// walk checks that extent is one well-formed value; what it read counts only then (a
    /// separate `JSONScan.document` pass first was half the tap's cost on a 1 KiB answer).
    private mutating func scanBody(_ data: UnsafeRawBufferPointer) {
        guard let root = JSONScan.trimmedRoot(data) else { return }
        var read = counts
        if wire.readUsage(body: data, doc: root, into: &read) { counts = read }
    }
}
