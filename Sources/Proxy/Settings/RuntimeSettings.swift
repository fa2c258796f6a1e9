import Reactor

/// The settings that apply live, typed: built from the store's settings (stored values
/// over the catalog's defaults) and pushed to the cooldown book, the selector, session
/// affinity, the writer and every loop when an admin changes one.
public struct RuntimeSettings: Sendable, Equatable {
    public var cooldowns = CooldownSettings()
    public var selector = SelectorSettings()
    public var affinityEnabled: Bool
    public var affinityTTLNanos: UInt64
    public var affinityCacheNanos: UInt64
    public var affinityCapacity: Int
    public var affinityPromptDigest: Bool
    public var firstByteTimeoutNanos: UInt64
    public var connectTimeoutNanos: UInt64
    public var stream = StreamTimeouts()
    public var logRetentionDays: Int
    public var statsRetentionDays: Int
    public var logRequests: Bool
    public var adminSessionHours: Int
    public var cors: CORSPolicy
    /// `POST /register` is open (new users still need the admin's approval).
    public var selfRegistration: Bool
    /// Where notices go (`webhooks`; `NoticeDispatcher`).
    public var webhooks: [Webhook] = []

    /// The catalog's defaults.
    public init() { self = Self.defaults }

    /// The catalog's defaults (they satisfy its own rules: `SettingsCatalogTests`).
    public static let defaults: RuntimeSettings = {
        do { return try RuntimeSettings(values: [:]) } catch { preconditionFailure("the catalog's defaults do not hold: \(error)") }
    }()

    /// The bounds of a first-byte timeout, in seconds: the `first_byte_timeout_seconds`
    /// setting's, and what a channel's own timeout is clamped to where it is used.
    public static let firstByteTimeoutSeconds: ClosedRange<Double> = {
        let def = SettingsCatalog.named("first_byte_timeout_seconds")
        return def.minimum!...def.maximum!
    }()

    /// A first-byte timeout in seconds (any Double: NaN, negative, 1e300) as nanoseconds
    /// within `firstByteTimeoutSeconds`; NaN → the shortest.
    public static func firstByteTimeoutNanos(seconds: Double) -> UInt64 {
        let b = firstByteTimeoutSeconds
        let s = seconds.isNaN ? b.lowerBound : Swift.min(Swift.max(seconds, b.lowerBound), b.upperBound)
        return Saturating.nanos(seconds: s)
    }

    /// From `SettingsCatalog` keys and values (as `Store.settings()` returns them). A key
    /// missing from `values` keeps its catalog default; a value that does not parse
    /// throws, naming the key.
    public init(values: [String: String]) throws(StoreError) {
        func raw(_ key: String) -> String {
            values[key] ?? SettingsCatalog.definition(key)!.defaultValue
        }
        func number(_ key: String) throws(StoreError) -> Double {
            let v = raw(key)
            if let def = SettingsCatalog.definition(key), let why = SettingsCatalog.problem(v, def) {
                throw StoreError(.invalid, "setting \(key) \(why)")
            }
            return Double(v)!
        }
        func nanos(_ key: String) throws(StoreError) -> UInt64 { Saturating.nanos(seconds: try number(key)) }
        func integer(_ key: String) throws(StoreError) -> Int { Saturating.integer(try number(key)) }
        func flag(_ key: String) throws(StoreError) -> Bool {
            let v = raw(key)
            guard v == "true" || v == "false" else { throw StoreError(.invalid, "setting \(key) must be true or false, not \(v)") }
            return v == "true"
        }
        var c = CooldownSettings()
        c.authNanos = try nanos("cooldown_auth_seconds")
        c.notFoundNanos = c.authNanos
        c.serverNanos = try nanos("cooldown_server_seconds")
        c.connectionNanos = c.serverNanos
        c.rateLimitNanos = try nanos("cooldown_rate_limit_seconds")
        c.timeoutNanos = try nanos("cooldown_timeout_seconds")
        c.minimumNanos = try nanos("cooldown_min_seconds")
        c.maximumNanos = try nanos("cooldown_max_seconds")
        guard c.minimumNanos <= c.maximumNanos else {
            throw StoreError(.invalid, "setting cooldown_min_seconds must not exceed cooldown_max_seconds")
        }
        cooldowns = c
        selector.maxKeyRetries = try integer("max_key_retries")
        selector.maxChannels = try integer("max_channels_per_request")
        selector.fallbackToSoonest = try flag("fallback_to_soonest")
        affinityEnabled = try flag("session_affinity")
        affinityTTLNanos = try nanos("affinity_ttl_seconds")
        affinityCacheNanos = try nanos("affinity_cache_seconds")
        affinityCapacity = try integer("affinity_max_sessions")
        affinityPromptDigest = try flag("affinity_prompt_digest")
        firstByteTimeoutNanos = try nanos("first_byte_timeout_seconds")
        connectTimeoutNanos = try nanos("connect_timeout_seconds")
        stream.upstreamIdleNanos = try nanos("upstream_idle_timeout_seconds")
        let keepAliveOnly = try nanos("keepalive_only_timeout_seconds")
        stream.keepAliveOnlyNanos = try flag("keepalive_stall") ? keepAliveOnly : 0
        stream.clientWriteNanos = try nanos("client_write_timeout_seconds")
        logRetentionDays = try integer("log_retention_days")
        statsRetentionDays = try integer("stats_retention_days")
        logRequests = try flag("log_request_records")
        adminSessionHours = try integer("admin_session_hours")
        do {
            cors = try CORSPolicy(origins: raw("cors_allowed_origins"), allowCredentials: try flag("cors_allow_credentials"))
        } catch {
            throw StoreError(.invalid, "setting cors_allowed_origins \(error)")
        }
        selfRegistration = try flag("self_registration")
        switch WebhookList.parse(raw("webhooks")) {
        case .success(let w): webhooks = w
        case .failure(let e): throw StoreError(.invalid, "setting webhooks: \(e)")
        }
    }
}
