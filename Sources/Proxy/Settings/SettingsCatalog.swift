/// The type a setting's value must parse as.
public enum SettingType: String, Sendable {
    case int, double, bool, string
}

/// A known setting and its default (stored as text; typed on read).
public struct SettingDefinition: Sendable {
    public var key: String
    public var type: SettingType
    public var defaultValue: String
    public var summary: String
    /// Inclusive bounds for numbers.
    public var minimum: Double?
    public var maximum: Double?
    /// The environment variable that seeds it at start-up (an explicit value wins over the database).
    public var environment: String?

    public init(_ key: String, _ type: SettingType, _ defaultValue: String, _ summary: String,
                min: Double? = nil, max: Double? = nil, env: String? = nil) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.summary = summary
        self.minimum = min
        self.maximum = max
        self.environment = env
    }
}

/// The settings ccload knows; all apply live (see `RuntimeSettings`).
public enum SettingsCatalog {
    public static let all: [SettingDefinition] = [
        SettingDefinition("cooldown_auth_seconds", .double, "300", "first cooldown after an auth failure (401/403)", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_AUTH"),
        SettingDefinition("cooldown_server_seconds", .double, "120", "first cooldown after a 5xx or connection failure", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_SERVER"),
        SettingDefinition("cooldown_rate_limit_seconds", .double, "60", "first cooldown after a 429", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_RATE_LIMIT"),
        SettingDefinition("cooldown_timeout_seconds", .double, "60", "first cooldown after a first-byte timeout", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_TIMEOUT"),
        SettingDefinition("cooldown_min_seconds", .double, "10", "shortest cooldown", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_MIN"),
        SettingDefinition("cooldown_max_seconds", .double, "1800", "longest cooldown (doubling stops here)", min: 0.01, max: 86_400, env: "CCLOAD_COOLDOWN_MAX"),
        SettingDefinition("max_key_retries", .int, "3", "keys tried per channel before the next channel", min: 1, max: 8, env: "CCLOAD_MAX_KEY_RETRIES"),
        SettingDefinition("max_channels_per_request", .int, "8", "channels tried per request", min: 1, max: 64),
        SettingDefinition("fallback_to_soonest", .bool, "true", "when every channel is cooling, try the one whose cooldown ends first", env: "CCLOAD_FALLBACK_TO_SOONEST"),
        SettingDefinition("first_byte_timeout_seconds", .double, "300", "seconds a try may take to reach the commit point: response headers, a stream's first content, a whole error answer (a channel may set its own)",
                          min: RuntimeSettings.firstByteTimeoutSeconds.lowerBound, max: RuntimeSettings.firstByteTimeoutSeconds.upperBound, env: "CCLOAD_FIRST_BYTE_TIMEOUT"),
        SettingDefinition("upstream_idle_timeout_seconds", .double, "300", "seconds an upstream may send nothing once its response head is in (before the commit point: failover; after: the stream ends with the protocol's error event)", min: 1, max: 3600, env: "CCLOAD_UPSTREAM_IDLE_TIMEOUT"),
        SettingDefinition("keepalive_stall", .bool, "false", "an event stream that sends only keep-alives (: comments, event: ping) for keepalive_only_timeout_seconds counts as stalled", env: "CCLOAD_KEEPALIVE_STALL"),
        SettingDefinition("keepalive_only_timeout_seconds", .double, "120", "with keepalive_stall on: seconds of keep-alives only before an event stream counts as stalled", min: 1, max: 3600, env: "CCLOAD_KEEPALIVE_ONLY_TIMEOUT"),
        SettingDefinition("client_write_timeout_seconds", .double, "60", "seconds a client may take no byte of a response ccload has ready before its connection is closed", min: 1, max: 3600, env: "CCLOAD_CLIENT_WRITE_TIMEOUT"),
        SettingDefinition("connect_timeout_seconds", .double, "10", "seconds to connect (and handshake) to an upstream", min: 0.01, max: 300, env: "CCLOAD_CONNECT_TIMEOUT"),
        SettingDefinition("session_affinity", .bool, "true", "keep a conversation on the same channel while it is healthy", env: "CCLOAD_SESSION_AFFINITY"),
        SettingDefinition("affinity_ttl_seconds", .double, "3600", "how long a session's channel is remembered", min: 0.01, max: 604_800, env: "CCLOAD_AFFINITY_TTL"),
        SettingDefinition("log_retention_days", .int, "30", "request logs older than this are deleted", min: 1, max: 3650, env: "CCLOAD_LOG_RETENTION_DAYS"),
        SettingDefinition("stats_retention_days", .int, "365", "hourly statistics older than this are deleted", min: 1, max: 3650),
        SettingDefinition("log_request_records", .bool, "true", "write every request's record to the database", env: "CCLOAD_REQUEST_LOG"),
        SettingDefinition("admin_session_hours", .int, "24", "admin session lifetime", min: 1, max: 720),
    ]

    public static func definition(_ key: String) -> SettingDefinition? { all.first { $0.key == key } }

    /// Why `value` is not acceptable for `def`, or nil when it is.
    public static func problem(_ value: String, _ def: SettingDefinition) -> String? {
        switch def.type {
        case .int:
            guard let i = Int(value) else { return "must be an integer, not \(value)" }
            return range(Double(i), def)
        case .double:
            guard let d = Double(value), d.isFinite else { return "must be a number, not \(value)" }
            return range(d, def)
        case .bool:
            return value == "true" || value == "false" ? nil : "must be true or false, not \(value)"
        case .string:
            return nil
        }
    }

    private static func range(_ v: Double, _ def: SettingDefinition) -> String? {
        if let lo = def.minimum, v < lo { return "must be at least \(Self.format(lo)), not \(Self.format(v))" }
        if let hi = def.maximum, v > hi { return "must be at most \(Self.format(hi)), not \(Self.format(v))" }
        return nil
    }

    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }
}
