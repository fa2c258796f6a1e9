import TLS

/// The wire protocol family a channel speaks and a client route belongs to.
public enum ProtocolKind: String, Sendable, CaseIterable, Codable {
    /// Anthropic Messages: POST /v1/messages, /v1/messages/count_tokens.
    case anthropic
    /// OpenAI chat completions: POST /v1/chat/completions.
    case openai
    /// Codex / OpenAI Responses: POST /v1/responses, /backend-api/codex/responses.
    case codex
    /// Gemini: POST /v1beta/models/{model}:generateContent and :streamGenerateContent.
    case gemini
}

/// How a channel's keys take turns.
public enum KeyStrategy: String, Sendable, Codable {
    /// Always the first usable key; the next only when it cools.
    case sequential
    /// Rotate through usable keys.
    case roundRobin = "round_robin"
}

/// One upstream credential of a channel. `index` is its position in the channel's key
/// list and is what records and logs name (never the secret).
public struct ChannelKey: Sendable {
    public var index: Int
    public var secret: String {
        didSet { secretBytes = Array(secret.utf8) }
    }
    /// `secret`'s UTF-8, made once: the request path sends these bytes (it made a new
    /// array of them per request before).
    public private(set) var secretBytes: [UInt8]

    public init(index: Int, secret: String) {
        self.index = index
        self.secret = secret
        self.secretBytes = Array(secret.utf8)
    }

    /// First 4 and last 4 characters, for any display.
    public var masked: String {
        let c = Array(secret)
        if c.count <= 8 { return String(repeating: "*", count: c.count) }
        return String(c[0..<4]) + "…" + String(c[(c.count - 4)...])
    }
}

/// An upstream channel: one or more base URLs and keys, reachable by one protocol,
/// serving some models at some priority. Immutable once in a table.
public struct Channel: Sendable {
    public var id: Int
    public var name: String
    public var kind: ProtocolKind
    /// Base URLs (`https://api.anthropic.com`, a relay's URL with a path prefix, …).
    public var urls: [String]
    public var keys: [ChannelKey]
    public var keyStrategy: KeyStrategy = .sequential
    /// Higher first.
    public var priority: Int = 0
    /// Explicit round-robin weight within a priority; nil → the number of usable keys.
    public var weight: Int?
    /// Models served; empty = any model.
    public var models: [String] = []
    /// Requested model → upstream model.
    public var redirects: [String: String] = [:]
    public var enabled: Bool = true
    /// Egress proxy URL (`http://…` or `socks5://…`).
    public var proxy: String?
    /// Per-channel first-byte timeout in seconds (nil → the global one).
    public var firstByteTimeoutSeconds: Double?
    /// Multiplies computed cost (a relay's price ratio).
    public var costMultiplier: Double = 1
    /// Stop routing to this channel once today's cost reaches this (USD); nil → no limit.
    public var dailyCostLimitUSD: Double?
    /// At most this many requests in flight; nil → no limit.
    public var maxConcurrency: Int?
    /// Skip certificate verification (internal self-signed upstreams only; warned at start-up).
    public var insecureSkipVerify: Bool = false
    /// A subscription account channel: its credential is the account's OAuth token
    /// (`AccountCredentials`), not its key. Set from the store's accounts when the table is built.
    public var account: AccountKind?
    /// An account channel with no usable token (needs sign-in) is left out of routing.
    public var accountSignedIn: Bool = true
    /// Health probes (`ProbeScheduler`): seconds between probes, nil → never probed (a
    /// probe is a paid request, so it is opt-in); bounds `ChannelFieldRules.probeIntervalSeconds`.
    public var probeIntervalSeconds: Int?
    /// The model probes ask for; nil → `ChannelCheck.defaultModel`.
    public var probeModel: String?

    public init(id: Int, name: String, kind: ProtocolKind, urls: [String], keys: [ChannelKey]) {
        self.id = id
        self.name = name
        self.kind = kind
        self.urls = urls
        self.keys = keys
    }

    /// Whether the channel serves `model` (after its redirects are applied to the name).
    public func serves(_ model: String) -> Bool {
        models.isEmpty || models.contains(model) || redirects[model] != nil
    }

    /// The model name to send upstream for a requested one.
    public func upstreamModel(for requested: String) -> String {
        redirects[requested] ?? requested
    }
}
