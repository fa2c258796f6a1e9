/// Token counts as one upstream reports them, read from its answer by the format's
/// `WireProtocol.readUsage` and normalised by its `WireProtocol.usage` (see `Usage`). Every
/// count is clamped to `0...Usage.maxTokens` as read (`tokens`): the numbers are the
/// upstream's and may be anything.
public struct UsageCounts: Sendable, Equatable {
    /// Whether any usage was read at all.
    public var reported = false
    public var input = 0
    public var output = 0
    public var cached = 0
    /// Gemini: tool-use prompt tokens (added to input).
    public var extraInput = 0
    /// Gemini: thinking tokens (added to output).
    public var extraOutput = 0
    /// Anthropic: the cache-write total, and its split by lifetime when reported.
    public var cacheCreation = 0
    public var cache5m: Int?
    public var cache1h: Int?
    /// The model the upstream says answered (`message.model`, `model`, `modelVersion`): the first one read,
    /// only when `readsModel` (nothing on the request path uses it yet, and decoding it was a
    /// String allocation and ~1,200 instructions per answer in callgrind).
    public var responseModel: String?
    public var readsModel = false

    public init() {}

    /// A token count as the upstream sent it, clamped to `0...Usage.maxTokens`: upstream
    /// numbers are hostile, and a negative or near-`Int.max` count must neither trap the sums
    /// in the normalisation and in pricing nor credit a client.
    static func tokens(_ data: UnsafeRawBufferPointer, _ value: JSONScan.Value) -> Int? {
        JSONScan.int(data, value).map { min(max($0, 0), Usage.maxTokens) }
    }

    /// A usage object in the shape OpenAI's APIs share: the `input` and `output` counts, and
    /// `details.cached_tokens` (cached tokens, included in the input count). Replaces what an
    /// earlier one said (the last wins).
    mutating func readPromptUsage(_ data: UnsafeRawBufferPointer, _ range: Range<Int>,
                                  input: StaticString, output: StaticString, details: StaticString) {
        reported = true
        cached = 0
        JSONScan.forEachMember(in: data, object: range) { key, v in
            if let n = Self.tokens(data, v) {
                if JSONScan.keyEquals(data, key, input) { self.input = n }
                else if JSONScan.keyEquals(data, key, output) { self.output = n }
            } else if v.kind == .object, JSONScan.keyEquals(data, key, details) {
                if let d = JSONScan.value(forKey: "cached_tokens", in: data, object: v.range), let n = Self.tokens(data, d) { cached = n }
            }
            return true
        }
    }

    /// Keeps the first model named by a string value.
    mutating func noteModel(_ data: UnsafeRawBufferPointer, _ v: JSONScan.Value) {
        if readsModel, responseModel == nil, v.kind == .string { responseModel = JSONScan.string(data, v) }
    }
}
