/// Token counts of one request, normalised across protocols so that every field is billed
/// at one price: `input` is the *uncached* input (OpenAI's `prompt_tokens`, Responses'
/// `input_tokens` and Gemini's `promptTokenCount` include cached tokens; those are moved to
/// `cacheRead`), `output` includes reasoning/thinking tokens, and cache writes are split by
/// their lifetime (Anthropic only; the other protocols do not report writes).
public struct Usage: Sendable, Equatable {
    public var input: Int
    public var output: Int
    public var cacheRead: Int
    public var cacheWrite5m: Int
    public var cacheWrite1h: Int
    /// Whether the upstream reported usage at all (false: the counts are zero, not measured).
    public var known: Bool

    public init(input: Int = 0, output: Int = 0, cacheRead: Int = 0, cacheWrite5m: Int = 0, cacheWrite1h: Int = 0, known: Bool = true) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite5m = cacheWrite5m
        self.cacheWrite1h = cacheWrite1h
        self.known = known
    }

    /// The largest count the usage tap takes from an upstream (2^40, about 10^12 tokens):
    /// a few sums of counts this size stay far from overflow, in tokens and in cost.
    public static let maxTokens = 1 << 40

    /// Nothing measured.
    public static let unknown = Usage(known: false)

    /// Both cache-write lifetimes together.
    public var cacheWrite: Int { Saturating.add(cacheWrite5m, cacheWrite1h) }

    /// Every input token, cached or not.
    public var totalInput: Int { Saturating.add(Saturating.add(input, cacheRead), cacheWrite) }
}
