import Reactor

/// The type a setting's value must parse as.
public enum SettingType: String, Sendable {
    case int, double, bool, string
}

/// What a setting's number counts.
public enum SettingUnit: String, Sendable {
    case none = "", seconds, hours, days, bytes
}

/// One setting, declared once: its names (stored key, flag, environment variable), type,
/// default, bounds, unit, whether it applies live, and its help text. `--help`, flag and
/// environment parsing (`GivenSettings`), the store's defaults, `RuntimeSettings`,
/// `/admin/settings` and the README's configuration table all come from here.
public struct SettingDefinition: Sendable {
    /// The stored key of a live setting; a start-up setting's name.
    public var key: String
    public var type: SettingType
    /// As stored text (a bool is `true`/`false`); empty: none.
    public var defaultValue: String
    /// Says what the default is when it is worked out at start (`online CPUs`).
    public var defaultNote: String?
    /// The help text (Markdown: `code` in backticks).
    public var summary: String
    /// Inclusive bounds for numbers.
    public var minimum: Double?
    public var maximum: Double?
    /// The environment variable that gives it at start-up.
    public var environment: String?
    /// The command-line flag that gives it (without `--`); it wins over the variable.
    public var flag: String?
    public var unit: SettingUnit
    /// Live settings are stored and applied at once when an admin changes one; one given
    /// as a flag or variable is written over the stored value at start. The others are read
    /// at start only.
    public var live: Bool

    public init(_ key: String, _ type: SettingType, _ defaultValue: String, _ summary: String,
                min: Double? = nil, max: Double? = nil, env: String? = nil, flag: String? = nil,
                unit: SettingUnit = .none, live: Bool = true, defaultNote: String? = nil) {
        self.key = key
        self.type = type
        self.defaultValue = defaultValue
        self.defaultNote = defaultNote
        self.summary = summary
        self.minimum = min
        self.maximum = max
        self.environment = env
        self.flag = flag
        self.unit = unit
        self.live = live
    }

    /// The help text without Markdown backticks.
    public var plainSummary: String { summary.replacingAll("`", with: "") }

    /// The default as `--help` and the README show it: a bool as the `1`/`0` its flag takes.
    public var defaultText: String {
        if let defaultNote { return defaultNote }
        if defaultValue.isEmpty { return "none" }
        if type == .bool { return defaultValue == "true" ? "1" : "0" }
        return defaultValue
    }

    /// The bounds as `--help` and the README show them (`1–8`, `at least 1`), or "".
    public var boundsText: String {
        switch (minimum, maximum) {
        case (let lo?, let hi?): return "\(SettingsCatalog.format(lo))–\(SettingsCatalog.format(hi))"
        case (let lo?, nil): return "at least \(SettingsCatalog.format(lo))"
        case (nil, let hi?): return "at most \(SettingsCatalog.format(hi))"
        case (nil, nil): return type == .bool ? "1 or 0" : ""
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// Every setting ccload knows. `all` are the live ones (what the store holds; see
/// `RuntimeSettings`), `startUp` the ones read at start only; `every` is both.
public enum SettingsCatalog {
    /// Shortest and longest start-up durations that are not live settings.
    private static let startUpSeconds = (min: 0.001, max: 9_999_999.0)

    public static let all: [SettingDefinition] = [
        cooldown("auth", "300", "first cooldown after an auth failure (401/403) or a 404; each consecutive failure doubles it"),
        cooldown("server", "120", "first cooldown after a 5xx or connection failure; each consecutive failure doubles it"),
        cooldown("rate_limit", "60", "first cooldown after a 429; each consecutive failure doubles it"),
        cooldown("timeout", "60", "first cooldown after a first-byte timeout; each consecutive failure doubles it"),
        cooldown("min", "10", "shortest computed cooldown"),
        cooldown("max", "1800", "longest computed cooldown (doubling stops here; an upstream's own reset time may run to 6 h)"),
        SettingDefinition("max_key_retries", .int, "3", "keys tried per channel before the next channel",
                          min: 1, max: Double(KeyOrder.capacity), env: "CCLOAD_MAX_KEY_RETRIES", flag: "max-key-retries"),
        SettingDefinition("max_channels_per_request", .int, "8", "channels tried per request", min: 1, max: 64),
        SettingDefinition("fallback_to_soonest", .bool, "true", "when every channel is cooling, try the one whose cooldown ends first",
                          env: "CCLOAD_FALLBACK_TO_SOONEST", flag: "fallback-to-soonest"),
        SettingDefinition("first_byte_timeout_seconds", .double, "300",
                          "a try must reach the commit point within this, counted from sending the request: the response head of a plain answer, the first content event of a stream, the whole of an error answer (classified at once when 64 KiB of it are in). Past it the try fails over as a timeout, however slowly bytes still trickle; with nothing left, 504. A channel may set its own",
                          min: 0.01, max: 3600, env: "CCLOAD_FIRST_BYTE_TIMEOUT", flag: "first-byte-timeout", unit: .seconds),
        SettingDefinition("upstream_idle_timeout_seconds", .double, "300",
                          "once the response head is in, the upstream may send nothing for this long; before the commit point that is a failover that cools the (channel, model) as a timeout, after it the stream ends with the protocol's error event",
                          min: 1, max: 3600, env: "CCLOAD_UPSTREAM_IDLE_TIMEOUT", flag: "upstream-idle-timeout", unit: .seconds),
        SettingDefinition("keepalive_stall", .bool, "false",
                          "when on, an event stream that sends only keep-alives (`: comment` lines, `event: ping`) for `keepalive_only_timeout_seconds` counts as stalled too",
                          env: "CCLOAD_KEEPALIVE_STALL", flag: "keepalive-stall"),
        SettingDefinition("keepalive_only_timeout_seconds", .double, "120", "with `keepalive_stall` on: how long keep-alives alone may go on before an event stream counts as stalled",
                          min: 1, max: 3600, env: "CCLOAD_KEEPALIVE_ONLY_TIMEOUT", flag: "keepalive-only-timeout", unit: .seconds),
        SettingDefinition("client_write_timeout_seconds", .double, "60",
                          "a client that takes no byte of a response ccload has ready for this long is closed; its upstream is closed and its slots freed",
                          min: 1, max: 3600, env: "CCLOAD_CLIENT_WRITE_TIMEOUT", flag: "client-write-timeout", unit: .seconds),
        SettingDefinition("connect_timeout_seconds", .double, "10", "upstream TCP connect, tunnel and TLS handshake, else 502",
                          min: 0.01, max: 300, env: "CCLOAD_CONNECT_TIMEOUT", flag: "connect-timeout", unit: .seconds),
        SettingDefinition("session_affinity", .bool, "true",
                          "keep a session (`metadata.user_id`, Codex `session_id`, `x-ccload-session`) on its channel while it is healthy",
                          env: "CCLOAD_SESSION_AFFINITY", flag: "session-affinity"),
        SettingDefinition("affinity_ttl_seconds", .double, "3600", "how long a session's channel is remembered",
                          min: 0.01, max: 604_800, env: "CCLOAD_AFFINITY_TTL", flag: "affinity-ttl", unit: .seconds),
        SettingDefinition("affinity_cache_seconds", .double, "300",
                          "a session's upstream prompt cache counts as warm for this long after its last turn (a request with `cache_control` `\"ttl\":\"1h\"`: an hour); while warm the session keeps its channel and key even over a recovered higher-priority channel",
                          min: 0.01, max: 86_400, env: "CCLOAD_AFFINITY_CACHE", flag: "affinity-cache", unit: .seconds),
        SettingDefinition("affinity_max_sessions", .int, "100000", "sessions the affinity table holds; past it the least recently used is forgotten",
                          min: 1, max: 10_000_000, env: "CCLOAD_AFFINITY_MAX_SESSIONS", flag: "affinity-max-sessions"),
        SettingDefinition("affinity_prompt_digest", .bool, "false",
                          "for requests with no session id: identify the session by a digest of its system prompt and first user message (hashed in place, the text is never kept)",
                          env: "CCLOAD_AFFINITY_PROMPT_DIGEST", flag: "affinity-prompt-digest"),
        SettingDefinition("log_retention_days", .int, "30", "request records older than this are deleted daily",
                          min: 1, max: 3650, env: "CCLOAD_LOG_RETENTION_DAYS", flag: "log-retention-days", unit: .days),
        SettingDefinition("stats_retention_days", .int, "365", "hourly statistics older than this are deleted", min: 1, max: 3650, unit: .days),
        SettingDefinition("log_request_records", .bool, "true", "write every request's record to the database",
                          env: "CCLOAD_REQUEST_LOG", flag: "request-log"),
        SettingDefinition("admin_session_hours", .int, "24", "admin session lifetime", min: 1, max: 720, unit: .hours),
        SettingDefinition("cors_allowed_origins", .string, "none",
                          "browser origins allowed to call `/v1/*` (CORS): comma-separated `https://host[:port]`, or `*` for any; `none` (or empty): CORS off, no CORS headers and preflights not answered",
                          env: "CCLOAD_CORS_ORIGINS", flag: "cors-origins"),
        SettingDefinition("cors_allow_credentials", .bool, "false",
                          "with origins listed one by one: also send `Access-Control-Allow-Credentials: true` (refused with `*`)",
                          env: "CCLOAD_CORS_CREDENTIALS", flag: "cors-credentials"),
        SettingDefinition("self_registration", .bool, "false",
                          "anyone may sign up with `POST /register`; a new user logs in once the admin approves them"),
        SettingDefinition("webhooks", .string, "none",
                          "where notices go (a channel, key or model starts cooling or recovers, an account needs sign-in or fails a refresh, a token reaches a cost cap): entries separated by commas or spaces, each `format=url` with format `generic` (JSON), `slack`, `feishu`, `dingtalk` or `wecom`, or a bare URL (generic); at most 16; `none` (or empty): no webhooks. The URLs are secrets: admin answers show them masked (`slack=https://hooks.slack.com/****`), and a masked entry sent back keeps the stored one"),
    ]

    /// A cooldown duration: `cooldown_<name>_seconds`, `CCLOAD_COOLDOWN_<NAME>`, `--cooldown-<name>`.
    private static func cooldown(_ name: String, _ defaultValue: String, _ summary: String) -> SettingDefinition {
        SettingDefinition("cooldown_\(name)_seconds", .double, defaultValue, summary, min: 0.01, max: 86_400,
                          env: "CCLOAD_COOLDOWN_\(name.uppercased())", flag: "cooldown-\(name.replacingAll("_", with: "-"))", unit: .seconds)
    }

    /// An OAuth fact: `<key>`, `CCLOAD_<KEY>`, `--<key with dashes>`, read at start.
    private static func oauth(_ key: String, _ defaultValue: String, _ summary: String) -> SettingDefinition {
        SettingDefinition(key, .string, defaultValue, summary, env: "CCLOAD_\(key.uppercased())",
                          flag: key.replacingAll("_", with: "-"), live: false)
    }

    public static let startUp: [SettingDefinition] = [
        SettingDefinition("port", .int, "8080", "port to listen on (`0` picks a free one and logs it)",
                          min: 0, max: 65535, env: "PORT", flag: "port", live: false),
        SettingDefinition("listen", .string, "0.0.0.0", "listen address, IPv4 or IPv6 (`::` takes both)",
                          env: "CCLOAD_LISTEN", flag: "listen", live: false),
        SettingDefinition("threads", .int, "", "reactor threads, each with its own `SO_REUSEPORT` listener",
                          min: 1, max: 256, env: "CCLOAD_THREADS", flag: "threads", live: false, defaultNote: "online CPUs"),
        SettingDefinition("sqlite_path", .string, Store.defaultPath, "the database; created and migrated on first start",
                          env: "SQLITE_PATH", flag: "sqlite-path", live: false),
        SettingDefinition("database_url", .string, "",
                          "a PostgreSQL database (`postgres://user:password@host:5432/db`) for several instances that share one configuration, cooldowns, limits, affinity and records; set, it replaces `sqlite_path`, and `CCLOAD_SECRET_KEY` is required. The URL holds a password: it is never logged or shown",
                          env: "CCLOAD_DATABASE_URL", flag: "database-url", live: false, defaultNote: "SQLite"),
        SettingDefinition("instance_name", .string, "",
                          "this instance's name among several on one PostgreSQL database (the fleet view, the requests in flight); letters, digits, `.`, `_`, `-`, at most 64",
                          env: "CCLOAD_INSTANCE_NAME", flag: "instance-name", live: false, defaultNote: "host name and process id"),
        SettingDefinition("channels_file", .string, "",
                          "channels to add or update in the database (by name): a JSON array, or CSV in ccLoad's export format; applied at start and on SIGHUP",
                          env: "CCLOAD_CHANNELS_FILE", flag: "channels-file", live: false),
        SettingDefinition("auth", .string, "",
                          "client tokens, comma-separated, added to the database (only their SHA-256 is kept); with no tokens at all, only loopback clients are served",
                          env: "CCLOAD_AUTH", flag: "auth", live: false),
        SettingDefinition("admin_password", .string, "",
                          "the admin password for `/login` and the web UI; without it one is generated at first start and printed once. Only its PBKDF2 hash is stored; a `CCLOAD_PASS` that differs from it replaces it and ends every admin session",
                          env: "CCLOAD_PASS", live: false, defaultNote: "generated"),
        SettingDefinition("secret_key", .string, "",
                          "the key that seals channel keys, account tokens and proxy passwords in the database (AES-256-GCM): 32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`). Without it the key is the file `<database>.key`, made with mode 0600 at first start; a key that is not the one the database was sealed with stops the start",
                          env: "CCLOAD_SECRET_KEY", live: false, defaultNote: "key file"),
        SettingDefinition("trusted_proxies", .string, "",
                          "reverse proxies (IP addresses, comma-separated) whose last `X-Forwarded-For` hop is a login's source for the login limit",
                          env: "CCLOAD_TRUSTED_PROXIES", flag: "trusted-proxies", live: false),
        SettingDefinition("metrics", .bool, "false", "`1` serves `GET /metrics` in Prometheus text format (no login)",
                          env: "CCLOAD_METRICS", live: false),
        SettingDefinition("request_log_packing", .string, "busy",
                          "when the request-log writer stores a batch whole and moves its rows into `request_logs` later (SQLite): `busy` while batches fill (1,000 records within 100 ms), `always`, or `never` (every row straight into the table, for tools that read the file themselves)",
                          env: "CCLOAD_REQUEST_LOG_PACKING", flag: "request-log-packing", live: false),
        SettingDefinition("prices_file", .string, "",
                          "JSON `{\"model-prefix\": {\"input\": …, \"output\": …, \"cache_read\": …, \"cache_write_5m\": …, \"cache_write_1h\": …}}`, USD per million tokens, over the built-in table",
                          env: "CCLOAD_PRICES_FILE", flag: "prices-file", live: false),
        SettingDefinition("upstream", .string, "", "without channels: `http(s)://host[:port][/prefix]` that `/v1/*` is forwarded to",
                          env: "CCLOAD_UPSTREAM", flag: "upstream", live: false),
        SettingDefinition("upstream_key", .string, "",
                          "sent upstream where the client put its `Authorization` / `x-api-key`; without it no client credential goes upstream at all (no `Authorization`, `x-api-key`, `x-goog-api-key`, `api-key`, `Cookie` or `?key=`)",
                          env: "CCLOAD_UPSTREAM_KEY", flag: "upstream-key", live: false),
        SettingDefinition("upstream_proxy", .string, "", "egress proxy: `http://user:pass@host:port` (CONNECT) or `socks5://user:pass@host:port`",
                          env: "CCLOAD_UPSTREAM_PROXY", flag: "upstream-proxy", live: false),
        SettingDefinition("ca_file", .string, "", "PEM bundle added to the system CAs for HTTPS upstreams (`SSL_CERT_FILE` is honoured too)",
                          env: "CCLOAD_CA_FILE", flag: "ca-file", live: false),
        SettingDefinition("tls_cert", .string, "", "certificate chain (PEM): serve HTTPS instead of HTTP (needs `CCLOAD_TLS_KEY`)",
                          env: "CCLOAD_TLS_CERT", flag: "tls-cert", live: false),
        SettingDefinition("tls_key", .string, "", "private key (PEM) for `CCLOAD_TLS_CERT`",
                          env: "CCLOAD_TLS_KEY", flag: "tls-key", live: false),
        SettingDefinition("max_body_bytes", .int, String(HTTPServerConfig().maxBodyBytes), "larger request bodies get 413",
                          min: 0, env: "CCLOAD_MAX_BODY_BYTES", flag: "max-body-bytes", unit: .bytes, live: false),
        SettingDefinition("header_timeout_seconds", .double, seconds(HTTPServerConfig().headerTimeoutNanos),
                          "the request line and headers (and a TLS handshake) must arrive within this, else 408",
                          min: startUpSeconds.min, max: startUpSeconds.max, env: "CCLOAD_HEADER_TIMEOUT", flag: "header-timeout", unit: .seconds, live: false),
        SettingDefinition("idle_timeout_seconds", .double, seconds(HTTPServerConfig().idleTimeoutNanos), "idle keep-alive client connections are closed after this",
                          min: startUpSeconds.min, max: startUpSeconds.max, env: "CCLOAD_IDLE_TIMEOUT", flag: "idle-timeout", unit: .seconds, live: false),
        SettingDefinition("max_connections", .int, "",
                          "open client connections (all threads); past it a new connection gets a short `503` and is closed. The default is half of (`RLIMIT_NOFILE` − 64 − 4 per thread), at least 16, since a proxied connection may hold two descriptors",
                          min: 1, env: "CCLOAD_MAX_CONNECTIONS", flag: "max-connections", live: false, defaultNote: "from the fd limit"),
        SettingDefinition("time_zone", .string, "",
                          "IANA time zone (`Asia/Shanghai`, `Europe/Berlin`, `UTC`) from the system's tz database whose midnight resets the daily counters (token daily cost caps, channel daily cost limits) and starts the weeks (Monday) and months (the 1st) of token caps; an unknown name stops the start",
                          env: "CCLOAD_TZ", flag: "tz", live: false, defaultNote: "the system's"),
        SettingDefinition("drain_seconds", .double, "30", "after SIGTERM/SIGINT, how long in-flight requests get to finish",
                          min: startUpSeconds.min, max: startUpSeconds.max, env: "CCLOAD_DRAIN_SECONDS", flag: "drain-seconds", unit: .seconds, live: false),
    ] + accounts

    /// Subscription accounts (Claude and Codex sign-in): the providers' public OAuth facts and
    /// the refresh timing. Start-up settings, so a test points them at a local mock.
    static let accounts: [SettingDefinition] = [
        oauth("claude_oauth_authorize_url", "https://claude.ai/oauth/authorize", "Claude sign-in: the OAuth authorize page (PKCE S256)"),
        oauth("claude_oauth_token_url", "https://platform.claude.com/v1/oauth/token", "Claude sign-in: the token endpoint (code exchange and refresh, JSON)"),
        oauth("claude_oauth_client_id", "9d1c250a-e61b-44d9-88ed-5944d1962f5e", "Claude sign-in: Claude Code's OAuth client id"),
        oauth("claude_oauth_redirect_uri", "https://platform.claude.com/oauth/code/callback", "Claude sign-in: the redirect URI whose page shows the code to paste (`code#state`)"),
        oauth("claude_oauth_scopes", "org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload", "Claude sign-in: the scopes asked for"),
        oauth("claude_oauth_user_agent", "claude-cli/2.0.53 (external, cli)", "Claude sign-in: the user agent of token requests"),
        oauth("claude_oauth_beta", "oauth-2025-04-20", "the `anthropic-beta` flag merged into every request on a Claude account channel"),
        oauth("codex_oauth_authorize_url", "https://auth.openai.com/oauth/authorize", "Codex (ChatGPT) sign-in: the OAuth authorize page (PKCE S256)"),
        oauth("codex_oauth_token_url", "https://auth.openai.com/oauth/token", "Codex sign-in: the token endpoint (form-encoded; the `id_token` names the `chatgpt-account-id`)"),
        oauth("codex_oauth_client_id", "app_EMoamEEZ73f0CkXaXp7hrann", "Codex sign-in: the Codex CLI's OAuth client id"),
        oauth("codex_oauth_redirect_uri", "http://localhost:1455/auth/callback", "Codex sign-in: the redirect URI (paste the address the browser lands on, or its `code`)"),
        oauth("codex_oauth_scopes", "openid profile email offline_access", "Codex sign-in: the scopes asked for"),
        oauth("codex_oauth_user_agent", "codex_cli_rs", "Codex sign-in: the user agent of token requests"),
        SettingDefinition("account_refresh_margin_seconds", .double, "300", "an account's access token is refreshed this long before it expires",
                          min: 0, max: 86_400, env: "CCLOAD_ACCOUNT_REFRESH_MARGIN", flag: "account-refresh-margin", unit: .seconds, live: false),
        SettingDefinition("account_refresh_wait_seconds", .double, "30", "a request that meets an expired account token waits at most this long for its refresh, then fails over",
                          min: 0.1, max: 600, env: "CCLOAD_ACCOUNT_REFRESH_WAIT", flag: "account-refresh-wait", unit: .seconds, live: false),
        SettingDefinition("account_refresh_retry_seconds", .double, "5", "first retry after a refresh failed for a passing reason (doubling, at most 600 s)",
                          min: 0.1, max: 600, env: "CCLOAD_ACCOUNT_REFRESH_RETRY", flag: "account-refresh-retry", unit: .seconds, live: false),
        SettingDefinition("account_sign_in_ttl_seconds", .double, "600", "a started sign-in (its PKCE verifier and state) must be finished within this",
                          min: 10, max: 3600, env: "CCLOAD_ACCOUNT_SIGN_IN_TTL", flag: "account-sign-in-ttl", unit: .seconds, live: false),
    ]

    /// Every setting: the start-up ones, then the live ones.
    public static let every: [SettingDefinition] = startUp + all

    /// A live setting (what the store may hold), by key.
    public static func definition(_ key: String) -> SettingDefinition? { all.first { $0.key == key } }

    /// Any setting, by key; a key that is not in the catalog is a programming error.
    public static func named(_ key: String) -> SettingDefinition {
        guard let def = every.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key) in the catalog") }
        return def
    }

    /// A duration setting's default, in nanoseconds (for the types that hold it).
    public static func defaultNanos(_ key: String) -> UInt64 {
        Saturating.nanos(seconds: Double(named(key).defaultValue) ?? 0)
    }

    /// An integer setting's default.
    public static func defaultInteger(_ key: String) -> Int { Int(named(key).defaultValue) ?? 0 }

    /// A bool setting's default.
    public static func defaultFlag(_ key: String) -> Bool { named(key).defaultValue == "true" }

    /// Why `value` is not acceptable for `def`, or nil when it is.
    public static func problem(_ value: String, _ def: SettingDefinition) -> String? {
        switch def.type {
        case .int:
            guard let i = Int(value) else { return "must be an integer, not \(value)" }
            return rangeProblem(Double(i), def)
        case .double:
            guard let d = Double(value), d.isFinite else { return "must be a number, not \(value)" }
            return rangeProblem(d, def)
        case .bool:
            return value == "true" || value == "false" ? nil : "must be true or false, not \(value)"
        case .string:
            return nil
        }
    }

    /// Why the number `v` is outside `def`'s bounds, or nil.
    static func rangeProblem(_ v: Double, _ def: SettingDefinition) -> String? {
        if let lo = def.minimum, v < lo { return "must be at least \(Self.format(lo)), not \(Self.format(v))" }
        if let hi = def.maximum, v > hi { return "must be at most \(Self.format(hi)), not \(Self.format(v))" }
        return nil
    }

    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }

    /// Nanoseconds as the text of a number of seconds.
    static func seconds(_ nanos: UInt64) -> String { format(Double(nanos) / Double(nanosPerSecond)) }
}
