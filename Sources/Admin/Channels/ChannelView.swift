import Proxy

/// A channel as the admin API answers it (`ChannelView` in API.md): keys masked, the
/// proxy's password masked, and its live state (cooldowns of the channel, its keys and its
/// models; today's cost). Absent values are answered as `null`, not left out.
struct ChannelView: Encodable, Sendable {
    struct Key: Encodable, Sendable {
        let index: Int
        let masked: String
        let cooldownRemainingMs: UInt64?
        let failures: Int

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(masked, forKey: .masked)
            try c.encode(cooldownRemainingMs, forKey: .cooldownRemainingMs)
            try c.encode(failures, forKey: .failures)
        }

        enum CodingKeys: String, CodingKey { case index, masked, cooldownRemainingMs, failures }
    }

    struct Cooling: Encodable, Sendable {
        let remainingMs: UInt64
        let failures: Int
        let failureClass: String
    }

    struct ModelCooling: Encodable, Sendable {
        let model: String
        let remainingMs: UInt64
        let failures: Int
    }

    let channel: Channel
    let keys: [Key]
    let cooldown: Cooling?
    let modelCooldowns: [ModelCooling]
    let todayCostUsd: Double
    /// The channel's last health probe: when it ended, what it found.
    let probe: ChannelCheckView?

    /// `c` with the cooldown entries of `book` at `now` (monotonic), today's spend and its
    /// last health probe.
    init(_ c: Channel, cooling: [CooldownSnapshotEntry], todayCostUSD: Double, probe: ChannelCheckResult? = nil) {
        channel = c
        self.probe = probe.map { ChannelCheckView($0, withTime: true) }
        var keyEntries: [Int: CooldownSnapshotEntry] = [:]
        var channelEntry: CooldownSnapshotEntry?
        var models: [ModelCooling] = []
        for e in cooling where e.scope.channelID == c.id {
            switch e.scope {
            case .channel: channelEntry = e
            case .key(_, let k): keyEntries[k] = e
            case .model(_, let m):
                if e.remainingNanos > 0 {
                    models.append(ModelCooling(model: m, remainingMs: Self.millis(e.remainingNanos), failures: e.consecutiveFailures))
                }
            }
        }
        keys = c.keys.map { k in
            let e = keyEntries[k.index]
            return Key(index: k.index, masked: k.masked,
                       cooldownRemainingMs: e.flatMap { $0.remainingNanos > 0 ? Self.millis($0.remainingNanos) : nil },
                       failures: e?.consecutiveFailures ?? 0)
        }
        cooldown = channelEntry.flatMap { e in
            e.remainingNanos > 0
                ? Cooling(remainingMs: Self.millis(e.remainingNanos), failures: e.consecutiveFailures, failureClass: e.lastClass.rawValue)
                : nil
        }
        modelCooldowns = models
        todayCostUsd = todayCostUSD
    }

    /// Rounded up, so a scope still cooling never shows 0.
    static func millis(_ nanos: UInt64) -> UInt64 { (nanos + 999_999) / 1_000_000 }

    enum CodingKeys: String, CodingKey {
        case id, name, `protocol`, urls, keys, keyStrategy, priority, weight, models, redirects, enabled, proxy
        case firstByteTimeoutSeconds, costMultiplier, dailyCostLimitUsd, maxConcurrency, insecureSkipVerify
        case cooldown, modelCooldowns, todayCostUsd
        case probeIntervalS, probeModel, probe
    }

    func encode(to encoder: Encoder) throws {
        let ch = channel
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ch.id, forKey: .id)
        try c.encode(ch.name, forKey: .name)
        try c.encode(ch.kind.rawValue, forKey: .protocol)
        try c.encode(ch.urls, forKey: .urls)
        try c.encode(keys, forKey: .keys)
        try c.encode(ch.keyStrategy.rawValue, forKey: .keyStrategy)
        try c.encode(ch.priority, forKey: .priority)
        try c.encode(ch.weight, forKey: .weight)
        try c.encode(ch.models, forKey: .models)
        try c.encode(ch.redirects, forKey: .redirects)
        try c.encode(ch.enabled, forKey: .enabled)
        try c.encode(ch.proxy.map(ChannelSecrets.maskProxy), forKey: .proxy)
        try c.encode(ch.firstByteTimeoutSeconds, forKey: .firstByteTimeoutSeconds)
        try c.encode(ch.costMultiplier, forKey: .costMultiplier)
        try c.encode(ch.dailyCostLimitUSD, forKey: .dailyCostLimitUsd)
        try c.encode(ch.maxConcurrency, forKey: .maxConcurrency)
        try c.encode(ch.insecureSkipVerify, forKey: .insecureSkipVerify)
        try c.encode(cooldown, forKey: .cooldown)
        try c.encode(modelCooldowns, forKey: .modelCooldowns)
        try c.encode(todayCostUsd, forKey: .todayCostUsd)
        try c.encode(ch.probeIntervalSeconds, forKey: .probeIntervalS)
        try c.encode(ch.probeModel, forKey: .probeModel)
        try c.encode(probe, forKey: .probe)
    }
}

/// What the admin API shows of a channel's secrets, and how a masked secret sent back
/// (an export re-imported, a form re-submitted) keeps the stored one.
enum ChannelSecrets {
    /// A proxy URL with its password replaced by `****` (user and host stay).
    static func maskProxy(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":****" + String(url[at...])
    }

    /// Whether `s` is a key as the API shows it (`ChannelKey.masked`), not a key.
    static func looksMasked(_ s: String) -> Bool {
        s.contains("…") || (!s.isEmpty && s.allSatisfy { $0 == "*" })
    }

    /// Puts the stored secrets back where `c` carries their masked forms: a masked key
    /// becomes the stored key it masks (the same position first), a masked proxy the
    /// stored proxy. A masked value that masks nothing stored is an error naming the field
    /// (in file names: `api_key`, `proxy`).
    static func restore(_ c: inout Channel, from stored: Channel?) throws(ChannelFile.FieldError) {
        for (i, k) in c.keys.enumerated() where looksMasked(k.secret) {
            let candidates = stored?.keys ?? []
            let same = i < candidates.count && candidates[i].masked == k.secret ? candidates[i] : nil
            guard let match = same ?? candidates.first(where: { $0.masked == k.secret }) else {
                throw ChannelFile.FieldError(field: "api_key", reason: "key \(i + 1) is masked (\(k.secret)) and matches no stored key of this channel; give the full key")
            }
            c.keys[i].secret = match.secret
        }
        if let p = c.proxy, p.contains(":****@") {
            guard let s = stored?.proxy, maskProxy(s) == p else {
                throw ChannelFile.FieldError(field: "proxy", reason: "the proxy password is masked and matches no stored proxy; give it in full")
            }
            c.proxy = s
        }
    }
}

/// What one check of a channel found (`ChannelCheckResult`), as the admin API shows it: the
/// test button's answer (`withTime` false: no `at_ms`, `error` left out when ok) and a
/// channel's last health probe in the channel list (`withTime` true: `at_ms`, `error` null
/// when ok). The error text never holds a key (`ChannelCheck.scrub`).
struct ChannelCheckView: Encodable, Sendable {
    let result: ChannelCheckResult
    let withTime: Bool

    init(_ r: ChannelCheckResult, withTime: Bool) {
        result = r
        self.withTime = withTime
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if withTime { try c.encode(result.atMillis, forKey: .atMs) }
        try c.encode(result.ok, forKey: .ok)
        try c.encode(result.status, forKey: .status)
        try c.encode(result.ttfbMs, forKey: .ttfbMs)
        try c.encode(result.durationMs, forKey: .durationMs)
        try c.encode(result.model, forKey: .model)
        if withTime { try c.encode(result.error, forKey: .error) } else { try c.encodeIfPresent(result.error, forKey: .error) }
    }

    enum CodingKeys: String, CodingKey { case atMs, ok, status, ttfbMs, durationMs, model, error }
}
