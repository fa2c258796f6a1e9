import Foundation
import TLS

/// The one decoder of channel input: the fields of a channels-file entry, an admin API body
/// (`POST`/`PUT /admin/channels`) or an imported CSV row become a `Channel` here, under one
/// vocabulary of field names, so what one input accepts the others accept. Off the hot path.
extension ChannelFile {
    /// Every channel field: its name (the channels file's) and the other spellings any input
    /// accepts for it. Only one spelling of a field may be given at a time.
    public static let fieldSpellings: [(field: String, aliases: [String])] = [
        ("id", []), ("name", []), ("protocol", ["channel_type"]), ("url", ["urls"]),
        ("api_key", ["api_keys", "keys"]), ("key_strategy", []), ("priority", []), ("weight", []), ("models", []),
        ("model_redirects", ["redirects"]), ("enabled", []), ("proxy", []),
        ("first_byte_timeout", ["first_byte_timeout_seconds"]), ("cost_multiplier", []),
        ("daily_cost_limit", ["daily_cost_limit_usd"]), ("max_concurrency", []), ("insecure_skip_verify", []),
        ("probe_interval_s", ["probe_interval_seconds"]), ("probe_model", []),
    ]

    /// Spelling → field name.
    private static let fieldBySpelling: [String: String] = {
        var m: [String: String] = [:]
        for (field, aliases) in fieldSpellings {
            m[field] = field
            for a in aliases { m[a] = field }
        }
        return m
    }()

    /// The field a spelling names (`urls` → `url`), nil for an unknown field.
    public static func field(named spelling: String) -> String? { fieldBySpelling[spelling] }

    /// The spellings of `field`, its own name first.
    public static func spellings(_ field: String) -> [String] {
        guard let e = fieldSpellings.first(where: { $0.field == field }) else { return [field] }
        return [e.field] + e.aliases
    }

    static let maxPriority = 1_000_000_000
    static let maxWeight = 1_000_000

    /// Why one entry cannot become a channel: the field to blame (as the input spelled it,
    /// or the field's name when it is missing) and why.
    public struct FieldError: Error, Sendable, Equatable {
        public var field: String?
        public var reason: String

        public init(field: String?, reason: String) {
            self.field = field
            self.reason = reason
        }
    }

    /// Duplicate names and ids across the file.
    public struct Seen: Sendable {
        var names = Set<String>()
        var ids = Set<Int>()

        public init() {}

        /// Notes `c`, or throws when its name (or id) came before. Id 0 is a channel still
        /// to be created (an import's new rows): the store gives each its own id.
        public mutating func check(_ c: Channel) throws(FieldError) {
            guard names.insert(c.name).inserted else { throw FieldError(field: "name", reason: "\"\(c.name)\" is used twice") }
            guard c.id == 0 || ids.insert(c.id).inserted else { throw FieldError(field: "id", reason: "\(c.id) is used twice") }
        }
    }

    /// A channel from one entry's fields (any spelling of `fieldSpellings`; `.null` counts as
    /// absent). Its id is the `id` field, else `position`.
    public static func build(_ f: [String: FieldValue], position: Int) throws(FieldError) -> Channel {
        let r = FieldReader(fields: f)
        guard let name = try r.string("name") else { throw FieldError(field: "name", reason: "missing") }
        if let why = ChannelFieldRules.name(name) { throw FieldError(field: "name", reason: why) }
        let id = try r.integer("id") ?? position
        guard id > 0 else { throw FieldError(field: "id", reason: "must be positive") }
        let kind = try protocolKind(r)
        let (urls, proxyURL) = try targets(r)
        var c = Channel(id: id, name: name, kind: kind, urls: urls,
                        keys: try keys(r).enumerated().map { ChannelKey(index: $0.offset, secret: $0.element) })
        c.proxy = proxyURL
        try readOrder(r, into: &c)
        try readModels(r, into: &c)
        c.enabled = try r.bool("enabled") ?? true
        try readLimits(r, into: &c)
        if let (field, why) = ChannelFieldRules.numbers(c) { throw FieldError(field: field, reason: why) }
        return c
    }

    private static func protocolKind(_ r: FieldReader) throws(FieldError) -> ProtocolKind {
        guard let (n, v) = try r.one("protocol") else { return .anthropic }
        guard case .string(let s) = v else { throw FieldError(field: n, reason: "must be a string") }
        switch s.trimmingCharacters(in: .whitespaces).lowercased() {
        case "", "anthropic", "claude": return .anthropic
        case "openai", "openai_chat", "chat": return .openai
        case "codex", "responses": return .codex
        case "gemini", "google": return .gemini
        default: throw FieldError(field: n, reason: "unknown protocol \"\(s)\" (anthropic, openai, codex, gemini)")
        }
    }

    /// The upstream URLs and the egress proxy they are reached through.
    private static func targets(_ r: FieldReader) throws(FieldError) -> (urls: [String], proxy: String?) {
        guard let (urlField, urls) = try r.list("url", splitSpaces: true), !urls.isEmpty else {
            throw FieldError(field: "url", reason: "missing")
        }
        var proxy: EgressProxy?
        let proxyURL = try r.string("proxy")
        if let p = proxyURL {
            if let why = ChannelFieldRules.proxy(p) { throw FieldError(field: "proxy", reason: why) }
            guard let e = EgressProxy(url: p) else {
                throw FieldError(field: "proxy", reason: "\"\(p)\" is not http:// or socks5://[user:pass@]host[:port]")
            }
            proxy = e
        }
        for u in urls {
            if let why = ChannelFieldRules.url(u) {
                throw FieldError(field: urlField, reason: "\"\(ChannelFieldRules.visible(u))\" \(why)")
            }
        }
        for u in urls where UpstreamTarget(url: u, proxy: proxy) == nil {
            throw FieldError(field: urlField, reason: "\"\(u)\" is not http(s)://host[:port][/prefix]")
        }
        return (urls, proxyURL)
    }

    private static func keys(_ r: FieldReader) throws(FieldError) -> [String] {
        guard let (keyField, secrets) = try r.list("api_key") else {
            throw FieldError(field: "api_key", reason: "missing")
        }
        guard !secrets.isEmpty else { throw FieldError(field: keyField, reason: "no key") }
        for (i, k) in secrets.enumerated() {
            if let why = ChannelFieldRules.key(k) { throw FieldError(field: keyField, reason: "key \(i + 1) \(why)") }
        }
        return secrets
    }

    /// Key strategy, priority, weight: where the channel stands in the order.
    private static func readOrder(_ r: FieldReader, into c: inout Channel) throws(FieldError) {
        if let s = try r.string("key_strategy") {
            switch s.lowercased() {
            case "sequential", "seq", "顺序": c.keyStrategy = .sequential
            case "round_robin", "round-robin", "roundrobin", "rr", "轮询": c.keyStrategy = .roundRobin
            default: throw FieldError(field: "key_strategy", reason: "unknown strategy \"\(s)\" (sequential, round_robin)")
            }
        }
        c.priority = try r.integer("priority") ?? 0
        guard (-maxPriority...maxPriority).contains(c.priority) else {
            throw FieldError(field: "priority", reason: "must be between -\(maxPriority) and \(maxPriority)")
        }
        if let w = try r.integer("weight") {
            guard (1...maxWeight).contains(w) else { throw FieldError(field: "weight", reason: "must be between 1 and \(maxWeight)") }
            c.weight = w
        }
    }

    /// Served models and model redirects.
    private static func readModels(_ r: FieldReader, into c: inout Channel) throws(FieldError) {
        if let (_, models) = try r.list("models") {
            guard models.count <= ChannelFieldRules.maxModels else {
                throw FieldError(field: "models", reason: "at most \(ChannelFieldRules.maxModels) models")
            }
            for m in models {
                if let why = ChannelFieldRules.model(m, kind: c.kind) { throw FieldError(field: "models", reason: why) }
            }
            c.models = models
        }
        guard let (n, v) = try r.one("model_redirects") else { return }
        var object: [String: FieldValue]
        switch v {
        case .object(let o): object = o
        case .string(let s):
            guard let o = try? JSONDecoder().decode([String: FieldValue].self, from: Data(s.utf8)) else {
                throw FieldError(field: n, reason: "not a JSON object of model names")
            }
            object = o
        default: throw FieldError(field: n, reason: "must be an object of model names")
        }
        guard object.count <= ChannelFieldRules.maxModels else {
            throw FieldError(field: n, reason: "at most \(ChannelFieldRules.maxModels) redirects")
        }
        for (from, to) in object.sorted(by: { $0.key < $1.key }) {
            guard case .string(let t) = to, !t.isEmpty, !from.isEmpty else {
                throw FieldError(field: n, reason: "\"\(ChannelFieldRules.visible(from))\" must map to a model name")
            }
            for m in [from, t] {
                if let why = ChannelFieldRules.model(m, kind: c.kind) { throw FieldError(field: n, reason: why) }
            }
            c.redirects[from] = t
        }
    }

    /// Timeout, cost, concurrency and certificate verification.
    private static func readLimits(_ r: FieldReader, into c: inout Channel) throws(FieldError) {
        if let (n, t) = try r.spelledNumber("first_byte_timeout") {
            guard t > 0 else { throw FieldError(field: n, reason: "must be positive (seconds)") }
            c.firstByteTimeoutSeconds = t
        }
        if let m = try r.number("cost_multiplier") {
            guard m >= 0 else { throw FieldError(field: "cost_multiplier", reason: "must be ≥ 0") }
            c.costMultiplier = m
        }
        if let (n, l) = try r.spelledNumber("daily_cost_limit") {
            guard l >= 0 else { throw FieldError(field: n, reason: "must be ≥ 0") }
            c.dailyCostLimitUSD = l > 0 ? l : nil
        }
        if let m = try r.integer("max_concurrency") {
            guard m >= 0 else { throw FieldError(field: "max_concurrency", reason: "must be ≥ 0") }
            c.maxConcurrency = m > 0 ? m : nil
        }
        c.insecureSkipVerify = try r.bool("insecure_skip_verify") ?? false
        if let (n, p) = try r.spelledNumber("probe_interval_s") {
            // 0 turns probes off; a fraction or a value out of bounds is refused (`ChannelFieldRules.numbers`).
            let b = ChannelFieldRules.probeIntervalSeconds
            guard p == 0 || (p == p.rounded() && p >= Double(b.lowerBound) && p <= Double(b.upperBound)) else {
                throw FieldError(field: n, reason: "must be 0 (no probes) or whole seconds from \(b.lowerBound) to \(b.upperBound)")
            }
            c.probeIntervalSeconds = p > 0 ? Int(p) : nil
        }
        if let (n, v) = try r.one("probe_model") {
            guard case .string(let m) = v else { throw FieldError(field: n, reason: "must be a model name") }
            if !m.isEmpty {
                if let why = ChannelFieldRules.model(m, kind: c.kind) { throw FieldError(field: n, reason: why) }
                c.probeModel = m
            }
        }
    }

    /// `changes` laid over `base`: a field in `changes` replaces its value in `base`
    /// (under any spelling); `.null` clears it. For partial updates of a stored channel.
    /// Two spellings of one field within `changes` both stay, for `build` to refuse.
    public static func overlay(_ base: [String: FieldValue], _ changes: [String: FieldValue]) -> [String: FieldValue] {
        var out = base
        for name in changes.keys {
            for spelling in field(named: name).map(spellings) ?? [name] { out[spelling] = nil }
        }
        out.merge(changes) { _, new in new }
        return out
    }

    /// A channel as fields `build` turns back into the same channel.
    public static func fields(of c: Channel) -> [String: FieldValue] {
        var f: [String: FieldValue] = [
            "id": .number(Double(c.id)), "name": .string(c.name), "protocol": .string(c.kind.rawValue),
            "urls": .array(c.urls.map { .string($0) }), "api_keys": .array(c.keys.map { .string($0.secret) }),
            "key_strategy": .string(c.keyStrategy.rawValue), "priority": .number(Double(c.priority)),
            "models": .array(c.models.map { .string($0) }),
            "model_redirects": .object(c.redirects.mapValues { .string($0) }), "enabled": .bool(c.enabled),
            "cost_multiplier": .number(c.costMultiplier), "insecure_skip_verify": .bool(c.insecureSkipVerify),
        ]
        if let w = c.weight { f["weight"] = .number(Double(w)) }
        if let p = c.proxy { f["proxy"] = .string(p) }
        if let t = c.firstByteTimeoutSeconds { f["first_byte_timeout"] = .number(t) }
        if let l = c.dailyCostLimitUSD { f["daily_cost_limit"] = .number(l) }
        if let m = c.maxConcurrency { f["max_concurrency"] = .number(Double(m)) }
        if let p = c.probeIntervalSeconds { f["probe_interval_s"] = .number(Double(p)) }
        if let m = c.probeModel { f["probe_model"] = .string(m) }
        return f
    }
}

/// Reads one entry's fields by field name, under any of the field's spellings; every error
/// names the spelling the entry used.
private struct FieldReader {
    typealias FieldError = ChannelFile.FieldError
    let fields: [String: FieldValue]

    /// The one spelling of `field` given (not `.null`) and its value.
    func one(_ field: String) throws(FieldError) -> (String, FieldValue)? {
        var found: (String, FieldValue)?
        for n in ChannelFile.spellings(field) {
            guard let v = fields[n], v != .null else { continue }
            if let (prev, _) = found { throw FieldError(field: n, reason: "given together with \"\(prev)\"") }
            found = (n, v)
        }
        return found
    }

    func string(_ field: String) throws(FieldError) -> String? {
        guard let (n, v) = try one(field) else { return nil }
        guard case .string(let s) = v else { throw FieldError(field: n, reason: "must be a string") }
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? nil : t
    }

    func spelledNumber(_ field: String) throws(FieldError) -> (String, Double)? {
        guard let (n, v) = try one(field) else { return nil }
        switch v {
        case .number(let d): return (n, d)
        case .string(let s):
            guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite else {
                throw FieldError(field: n, reason: "not a number: \"\(s)\"")
            }
            return (n, d)
        default: throw FieldError(field: n, reason: "must be a number")
        }
    }

    func number(_ field: String) throws(FieldError) -> Double? { try spelledNumber(field)?.1 }

    func integer(_ field: String) throws(FieldError) -> Int? {
        guard let (n, d) = try spelledNumber(field) else { return nil }
        guard d == d.rounded(), abs(d) < 1e15 else { throw FieldError(field: n, reason: "not an integer: \(d)") }
        return Int(d)
    }

    func bool(_ field: String) throws(FieldError) -> Bool? {
        guard let (n, v) = try one(field) else { return nil }
        switch v {
        case .bool(let b): return b
        case .number(let d) where d == 0 || d == 1: return d == 1
        case .string(let s):
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "y", "on", "enabled", "enable", "启用", "是", "开启": return true
            case "false", "0", "no", "n", "off", "disabled", "disable", "禁用", "否", "关闭": return false
            default: throw FieldError(field: n, reason: "not a boolean: \"\(s)\"")
            }
        default: throw FieldError(field: n, reason: "must be true or false")
        }
    }

    /// A list: an array of strings, a JSON array in a string, or a string split on
    /// commas and newlines (and, for URLs, spaces).
    func list(_ field: String, splitSpaces: Bool = false) throws(FieldError) -> (String, [String])? {
        guard let (n, v) = try one(field) else { return nil }
        var items: [String]
        switch v {
        case .array(let a):
            items = []
            for e in a {
                guard case .string(let s) = e else { throw FieldError(field: n, reason: "must be a list of strings") }
                items.append(s)
            }
        case .string(let s):
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if t.hasPrefix("["), let a = try? JSONDecoder().decode([String].self, from: Data(t.utf8)) {
                items = a
            } else {
                // Split on scalars: "\r\n" (one Character) and a separator followed by a
                // combining mark must still separate.
                items = t.unicodeScalars.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r" || $0 == ";"
                    || (splitSpaces && ($0 == " " || $0 == "\t")) }).map { String(String.UnicodeScalarView($0)) }
            }
        default:
            throw FieldError(field: n, reason: "must be a list or a comma-separated string")
        }
        return (n, items.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty })
    }
}
