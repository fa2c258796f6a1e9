import Admin
import ArgumentParser
import CEpoll
import Reactor
import Proxy
import TLS
import Foundation

/// Every setting, from a flag or else the environment variable named beside it.
struct Configuration: ParsableArguments {
    @Option(help: "Port to listen on (env PORT, default 8080; 0 picks a free port).")
    var port: Int?
    @Option(help: "Address to listen on, IPv4 or IPv6 (env CCLOAD_LISTEN, default 0.0.0.0).")
    var listen: String?
    @Option(help: "Reactor threads (env CCLOAD_THREADS, default: online CPUs).")
    var threads: Int?
    @Option(help: "Seconds in-flight requests get to finish after SIGTERM (env CCLOAD_DRAIN_SECONDS, default 30).")
    var drainSeconds: Double?
    @Option(help: "Largest request body in bytes (env CCLOAD_MAX_BODY_BYTES, default 33554432).")
    var maxBodyBytes: Int?
    @Option(help: "Seconds for a complete request header block (env CCLOAD_HEADER_TIMEOUT, default 15).")
    var headerTimeout: Double?
    @Option(help: "Seconds an idle keep-alive connection stays open (env CCLOAD_IDLE_TIMEOUT, default 120).")
    var idleTimeout: Double?
    @Option(help: "Seconds to connect to an upstream (env CCLOAD_CONNECT_TIMEOUT, default 10).")
    var connectTimeout: Double?
    @Option(help: "Seconds to wait for upstream response headers (env CCLOAD_FIRST_BYTE_TIMEOUT, default 300).")
    var firstByteTimeout: Double?
    @Option(help: "Seconds an upstream may send nothing once its response head is in (env CCLOAD_UPSTREAM_IDLE_TIMEOUT, default 300).")
    var upstreamIdleTimeout: Double?
    @Option(help: "An event stream that sends only keep-alives for --keepalive-only-timeout counts as stalled: 1 or 0 (env CCLOAD_KEEPALIVE_STALL, default 0).")
    var keepaliveStall: Int?
    @Option(help: "Seconds of keep-alives only before a stream counts as stalled, with --keepalive-stall 1 (env CCLOAD_KEEPALIVE_ONLY_TIMEOUT, default 120).")
    var keepaliveOnlyTimeout: Double?
    @Option(help: "Seconds a client may take no byte of a ready response before it is closed (env CCLOAD_CLIENT_WRITE_TIMEOUT, default 60).")
    var clientWriteTimeout: Double?
    @Option(help: "Open client connections allowed; past it a new one gets 503 (env CCLOAD_MAX_CONNECTIONS, default: from the file descriptor limit).")
    var maxConnections: Int?
    @Option(help: "Pass-through upstream base URL, http://host:port (env CCLOAD_UPSTREAM).")
    var upstream: String?
    @Option(help: "Key sent upstream in place of the client's credentials (env CCLOAD_UPSTREAM_KEY).")
    var upstreamKey: String?
    @Option(help: "Egress proxy for the upstream: http://user:pass@host:port or socks5://… (env CCLOAD_UPSTREAM_PROXY).")
    var upstreamProxy: String?
    @Option(help: "PEM bundle of extra CA certificates for HTTPS upstreams (env CCLOAD_CA_FILE).")
    var caFile: String?
    @Option(help: "Channels file: a JSON array, or CSV in ccLoad's export format; re-read on SIGHUP (env CCLOAD_CHANNELS_FILE).")
    var channelsFile: String?
    @Option(help: "Client tokens, comma-separated (env CCLOAD_AUTH). With none, only loopback clients are served.")
    var auth: String?
    @Option(help: "JSON file of model prices overriding the built-in table (env CCLOAD_PRICES_FILE).")
    var pricesFile: String?
    @Option(help: "The SQLite database (env SQLITE_PATH, default data/ccload.db; created on first start).")
    var sqlitePath: String?
    @Option(help: "Days request logs are kept (env CCLOAD_LOG_RETENTION_DAYS, default 30).")
    var logRetentionDays: Int?
    @Option(help: "Write every request's record to the database: 1 or 0 (env CCLOAD_REQUEST_LOG, default 1).")
    var requestLog: Int?
    @Option(help: "Keep a session (metadata.user_id, Codex session_id, x-ccload-session) on one channel while healthy: 1 or 0 (env CCLOAD_SESSION_AFFINITY, default 1).")
    var sessionAffinity: Int?
    @Option(help: "Seconds a session's channel is remembered (env CCLOAD_AFFINITY_TTL, default 3600).")
    var affinityTTL: Double?
    @Option(help: "When every channel is cooling, try the one whose cooldown ends first: 1 or 0 (env CCLOAD_FALLBACK_TO_SOONEST, default 1).")
    var fallbackToSoonest: Int?
    @Option(help: "Keys tried per channel before the next channel, 1-8 (env CCLOAD_MAX_KEY_RETRIES, default 3).")
    var maxKeyRetries: Int?
    @Option(help: "First cooldown after an auth failure, seconds (env CCLOAD_COOLDOWN_AUTH, default 300).")
    var cooldownAuth: Double?
    @Option(help: "First cooldown after a 5xx or connection failure, seconds (env CCLOAD_COOLDOWN_SERVER, default 120).")
    var cooldownServer: Double?
    @Option(help: "First cooldown after a 429, seconds (env CCLOAD_COOLDOWN_RATE_LIMIT, default 60).")
    var cooldownRateLimit: Double?
    @Option(help: "First cooldown after a first-byte timeout, seconds (env CCLOAD_COOLDOWN_TIMEOUT, default 60).")
    var cooldownTimeout: Double?
    @Option(help: "Shortest cooldown, seconds (env CCLOAD_COOLDOWN_MIN, default 10).")
    var cooldownMin: Double?
    @Option(help: "Longest cooldown, seconds (env CCLOAD_COOLDOWN_MAX, default 1800).")
    var cooldownMax: Double?
    @Option(help: "Reverse proxies whose X-Forwarded-For last hop is a login's source, comma-separated IPs (env CCLOAD_TRUSTED_PROXIES, default none).")
    var trustedProxies: String?
    @Option(help: "Certificate chain (PEM) to serve HTTPS instead of HTTP (env CCLOAD_TLS_CERT; needs --tls-key).")
    var tlsCert: String?
    @Option(help: "Private key (PEM) for --tls-cert (env CCLOAD_TLS_KEY).")
    var tlsKey: String?

    private func env(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }

    private func number<T: LosslessStringConvertible>(_ flag: T?, _ name: String, _ fallback: T) throws -> T {
        if let flag { return flag }
        guard let raw = env(name) else { return fallback }
        guard let v = T(raw) else { throw ValidationError("\(name)=\(raw) is not a valid number") }
        return v
    }

    private func seconds(_ flag: Double?, _ name: String, _ fallback: Double) throws -> UInt64 {
        let s = try number(flag, name, fallback)
        guard s > 0, s < 1e7 else { throw ValidationError("\(name) must be a positive number of seconds") }
        return Saturating.nanos(seconds: s)
    }

    /// A live setting given explicitly (flag or environment): it is written to the
    /// database at start-up, over what an admin stored there.
    private func seed(_ s: inout Settings, _ key: String, _ flag: (any CustomStringConvertible)?, bool: Bool = false) {
        guard let def = SettingsCatalog.definition(key) else { preconditionFailure("no setting \(key)") }
        guard let raw = flag.map({ "\($0)" }) ?? def.environment.flatMap(env) else { return }
        s.settingSeeds[key] = bool ? (raw == "0" || raw.lowercased() == "false" ? "false" : "true") : raw
    }

    /// The resolved settings, validated.
    func resolve() throws -> Settings {
        var s = Settings()
        s.port = try number(port, "PORT", 8080)
        guard (0...65535).contains(s.port) else { throw ValidationError("PORT must be 0...65535") }
        s.listen = listen ?? env("CCLOAD_LISTEN") ?? "0.0.0.0"
        s.threads = try number(threads, "CCLOAD_THREADS", Int(cc_online_cpus()))
        guard (1...256).contains(s.threads) else { throw ValidationError("CCLOAD_THREADS must be 1...256") }
        s.drainNanos = try seconds(drainSeconds, "CCLOAD_DRAIN_SECONDS", 30)
        var http = HTTPServerConfig()
        http.maxBodyBytes = try number(maxBodyBytes, "CCLOAD_MAX_BODY_BYTES", 32 * 1024 * 1024)
        guard http.maxBodyBytes >= 0 else { throw ValidationError("CCLOAD_MAX_BODY_BYTES must be >= 0") }
        http.headerTimeoutNanos = try seconds(headerTimeout, "CCLOAD_HEADER_TIMEOUT", 15)
        http.idleTimeoutNanos = try seconds(idleTimeout, "CCLOAD_IDLE_TIMEOUT", 120)
        http.errorBody = { status, message in ErrorBody.anthropic(status: status, message: message) }
        if let n = try maxConnections ?? env("CCLOAD_MAX_CONNECTIONS").map({ raw -> Int in
            guard let v = Int(raw) else { throw ValidationError("CCLOAD_MAX_CONNECTIONS=\(raw) is not a valid number") }
            return v
        }) {
            guard n >= 1 else { throw ValidationError("CCLOAD_MAX_CONNECTIONS must be at least 1") }
            s.maxConnections = n
        }
        s.http = http
        var proxy = ProxyConfig()
        proxy.pool.connectTimeoutNanos = try seconds(connectTimeout, "CCLOAD_CONNECT_TIMEOUT", 10)
        proxy.firstByteTimeoutNanos = try seconds(firstByteTimeout, "CCLOAD_FIRST_BYTE_TIMEOUT", 300)
        var egress: EgressProxy?
        if let p = upstreamProxy ?? env("CCLOAD_UPSTREAM_PROXY") {
            guard let e = EgressProxy(url: p) else {
                throw ValidationError("CCLOAD_UPSTREAM_PROXY must look like http://host:port or socks5://host:port")
            }
            egress = e
        }
        if let u = upstream ?? env("CCLOAD_UPSTREAM") {
            guard let t = UpstreamTarget(url: u, proxy: egress) else {
                throw ValidationError("CCLOAD_UPSTREAM must look like http://host:port or https://host[:port][/prefix]")
            }
            proxy.upstream = t
        }
        do {
            proxy.pool.tls = try TLSClientContext(caFile: caFile ?? env("CCLOAD_CA_FILE"))
        } catch {
            throw ValidationError("TLS set-up failed: \(error)")
        }
        if let k = upstreamKey ?? env("CCLOAD_UPSTREAM_KEY") {
            // Sent as a header value, like a channel's key: the same rule.
            if let why = ChannelFieldRules.key(k) { throw ValidationError("CCLOAD_UPSTREAM_KEY \(why)") }
            proxy.upstreamKey = Array(k.utf8)
        }
        s.proxy = proxy
        s.channelsFile = channelsFile ?? env("CCLOAD_CHANNELS_FILE")
        s.authTokens = (auth ?? env("CCLOAD_AUTH") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let p = pricesFile ?? env("CCLOAD_PRICES_FILE") {
            do { s.pricing = Pricing.builtIn.merging(try Pricing.load(file: p)) } catch {
                throw ValidationError("CCLOAD_PRICES_FILE: \(error)")
            }
        }
        s.sqlitePath = sqlitePath ?? env("SQLITE_PATH") ?? Store.defaultPath
        s.logRetentionDays = try number(logRetentionDays, "CCLOAD_LOG_RETENTION_DAYS", 30)
        s.logRequests = try number(requestLog, "CCLOAD_REQUEST_LOG", 1) != 0
        guard s.logRetentionDays >= 1 else { throw ValidationError("CCLOAD_LOG_RETENTION_DAYS must be at least 1") }
        var affinity = SessionAffinitySettings()
        affinity.enabled = try number(sessionAffinity, "CCLOAD_SESSION_AFFINITY", 1) != 0
        affinity.ttlNanos = try seconds(affinityTTL, "CCLOAD_AFFINITY_TTL", 3600)
        s.affinity = affinity
        var selector = SelectorSettings()
        selector.fallbackToSoonest = try number(fallbackToSoonest, "CCLOAD_FALLBACK_TO_SOONEST", 1) != 0
        selector.maxKeyRetries = try number(maxKeyRetries, "CCLOAD_MAX_KEY_RETRIES", 3)
        guard (1...8).contains(selector.maxKeyRetries) else { throw ValidationError("CCLOAD_MAX_KEY_RETRIES must be 1...8") }
        s.selector = selector
        var cool = CooldownSettings()
        cool.authNanos = try seconds(cooldownAuth, "CCLOAD_COOLDOWN_AUTH", 300)
        cool.serverNanos = try seconds(cooldownServer, "CCLOAD_COOLDOWN_SERVER", 120)
        cool.connectionNanos = cool.serverNanos
        cool.rateLimitNanos = try seconds(cooldownRateLimit, "CCLOAD_COOLDOWN_RATE_LIMIT", 60)
        cool.timeoutNanos = try seconds(cooldownTimeout, "CCLOAD_COOLDOWN_TIMEOUT", 60)
        cool.minimumNanos = try seconds(cooldownMin, "CCLOAD_COOLDOWN_MIN", 10)
        cool.maximumNanos = try seconds(cooldownMax, "CCLOAD_COOLDOWN_MAX", 1800)
        guard cool.minimumNanos <= cool.maximumNanos else { throw ValidationError("CCLOAD_COOLDOWN_MIN must not exceed CCLOAD_COOLDOWN_MAX") }
        s.cooldowns = cool
        seed(&s, "cooldown_auth_seconds", cooldownAuth)
        seed(&s, "cooldown_server_seconds", cooldownServer)
        seed(&s, "cooldown_rate_limit_seconds", cooldownRateLimit)
        seed(&s, "cooldown_timeout_seconds", cooldownTimeout)
        seed(&s, "cooldown_min_seconds", cooldownMin)
        seed(&s, "cooldown_max_seconds", cooldownMax)
        seed(&s, "max_key_retries", maxKeyRetries)
        seed(&s, "fallback_to_soonest", fallbackToSoonest, bool: true)
        seed(&s, "first_byte_timeout_seconds", firstByteTimeout)
        seed(&s, "connect_timeout_seconds", connectTimeout)
        seed(&s, "upstream_idle_timeout_seconds", upstreamIdleTimeout)
        seed(&s, "keepalive_stall", keepaliveStall, bool: true)
        seed(&s, "keepalive_only_timeout_seconds", keepaliveOnlyTimeout)
        seed(&s, "client_write_timeout_seconds", clientWriteTimeout)
        seed(&s, "session_affinity", sessionAffinity, bool: true)
        seed(&s, "affinity_ttl_seconds", affinityTTL)
        seed(&s, "log_retention_days", logRetentionDays)
        seed(&s, "log_request_records", requestLog, bool: true)
        if let p = env("CCLOAD_PASS") { s.adminPassword = p }
        if let list = trustedProxies ?? env("CCLOAD_TRUSTED_PROXIES") {
            switch TrustedProxies.parse(list) {
            case .success(let t): s.trustedProxies = t
            case .failure(let e): throw ValidationError("CCLOAD_TRUSTED_PROXIES: \(e)")
            }
        }
        s.metricsEndpoint = env("CCLOAD_METRICS").map { $0 != "0" && $0.lowercased() != "false" } ?? false
        let cert = tlsCert ?? env("CCLOAD_TLS_CERT"), key = tlsKey ?? env("CCLOAD_TLS_KEY")
        switch (cert, key) {
        case (nil, nil): break
        case (let c?, let k?):
            do { s.tlsServer = try TLSServerContext(certFile: c, keyFile: k) } catch {
                throw ValidationError("cannot serve HTTPS: \(error)")
            }
        default:
            throw ValidationError("CCLOAD_TLS_CERT and CCLOAD_TLS_KEY go together")
        }
        return s
    }
}

/// Settings after flags and environment are merged.
struct Settings: Sendable {
    var port = 8080
    var listen = "0.0.0.0"
    var threads = 1
    var drainNanos: UInt64 = 30 * nanosPerSecond
    /// `CCLOAD_MAX_CONNECTIONS`; nil → derived from the file descriptor limit at start.
    var maxConnections: Int?
    var http = HTTPServerConfig()
    var proxy = ProxyConfig()
    /// Serve HTTPS with this certificate instead of plain HTTP.
    var tlsServer: TLSServerContext?
    var channelsFile: String?
    var authTokens: [String] = []
    var pricing = Pricing.builtIn
    var affinity = SessionAffinitySettings()
    var selector = SelectorSettings()
    var cooldowns = CooldownSettings()
    var sqlitePath = Store.defaultPath
    var logRetentionDays = 30
    var logRequests = true
    /// Live settings given explicitly (catalog key → value), written to the database at start-up.
    var settingSeeds: [String: String] = [:]
    /// `CCLOAD_PASS`; nil → a generated password whose hash is stored.
    var adminPassword: String?
    /// `CCLOAD_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names a login's source.
    var trustedProxies = TrustedProxies.none
    /// `CCLOAD_METRICS=1`: serve `GET /metrics` in Prometheus text format.
    var metricsEndpoint = false
}
