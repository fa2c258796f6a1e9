import Admin
import CEpoll
import Reactor
import Proxy
import TLS
import Foundation

/// The start-up settings, from what the command line and environment give
/// (`GivenSettings`, read by `SettingsCatalog`) over the catalog's defaults. The live ones
/// given are not applied here: they become `settingSeeds`, written over the stored values
/// at start, and every loop takes them from the store (`ControlPlane`).
enum Configuration {
    static let abstract = "One endpoint for Claude Code and Codex traffic: routing, failover, streaming, accounting."

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The resolved settings, validated.
    static func resolve(_ given: GivenSettings) throws(Failure) -> Settings {
        var s = Settings()
        s.port = given.int("port")!
        s.listen = given.string("listen")!
        s.threads = given.int("threads") ?? Int(cc_online_cpus())
        s.drainNanos = Saturating.nanos(seconds: given.double("drain_seconds")!)
        var http = HTTPServerConfig()
        http.maxBodyBytes = given.int("max_body_bytes")!
        http.headerTimeoutNanos = Saturating.nanos(seconds: given.double("header_timeout_seconds")!)
        http.idleTimeoutNanos = Saturating.nanos(seconds: given.double("idle_timeout_seconds")!)
        http.errorBody = { status, message in ErrorBody.anthropic(status: status, message: message) }
        s.maxConnections = given.int("max_connections")
        s.http = http
        var proxy = ProxyConfig()
        var egress: EgressProxy?
        if let p = given.string("upstream_proxy") {
            guard let e = EgressProxy(url: p) else {
                throw Failure("CCLOAD_UPSTREAM_PROXY must look like http://host:port or socks5://host:port")
            }
            egress = e
        }
        if let u = given.string("upstream") {
            guard let t = UpstreamTarget(url: u, proxy: egress) else {
                throw Failure("CCLOAD_UPSTREAM must look like http://host:port or https://host[:port][/prefix]")
            }
            proxy.upstream = t
        }
        do {
            proxy.pool.tls = try TLSClientContext(caFile: given.string("ca_file"))
        } catch {
            throw Failure("TLS set-up failed: \(error)")
        }
        if let k = given.string("upstream_key") {
            // Sent as a header value, like a channel's key: the same rule.
            if let why = ChannelFieldRules.key(k) { throw Failure("CCLOAD_UPSTREAM_KEY \(why)") }
            proxy.upstreamKey = Array(k.utf8)
        }
        s.proxy = proxy
        s.channelsFile = given.string("channels_file")
        s.authTokens = (given.string("auth") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let p = given.string("prices_file") {
            do { s.pricing = Pricing.builtIn.merging(try Pricing.load(file: p)) } catch {
                throw Failure("CCLOAD_PRICES_FILE: \(error)")
            }
        }
        s.sqlitePath = given.string("sqlite_path")!
        if let url = given.string("database_url"), !url.isEmpty {
            // The URL is not repeated: it holds the database password.
            guard StoreLocation.isPostgresURL(url) else {
                throw Failure("CCLOAD_DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:port/database)")
            }
            s.databaseURL = url
        }
        if let name = given.string("instance_name"), !name.isEmpty {
            let ok = name.utf8.count <= 64 && name.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
            }
            guard ok else { throw Failure("CCLOAD_INSTANCE_NAME must be letters, digits, '.', '_' or '-', at most 64") }
            s.instanceName = name
        }
        s.settingSeeds = given.liveSeeds
        s.adminPassword = given.string("admin_password")
        if let k = given.string("secret_key") {
            // The text itself is never repeated: it is the key.
            guard let key = SecretKey(text: k) else { throw Failure("CCLOAD_SECRET_KEY must be \(SecretKey.formatText)") }
            s.secretKey = key
        }
        if let list = given.string("trusted_proxies") {
            switch TrustedProxies.parse(list) {
            case .success(let t): s.trustedProxies = t
            case .failure(let e): throw Failure("CCLOAD_TRUSTED_PROXIES: \(e)")
            }
        }
        s.metricsEndpoint = given.bool("metrics")
        switch given.string("request_log_packing") ?? "busy" {
        case "busy": s.logPacking = .whenBusy
        case "always": s.logPacking = .always
        case "never": s.logPacking = .never
        default: throw Failure("CCLOAD_REQUEST_LOG_PACKING must be busy, always or never")
        }
        s.accounts = AccountSettings.from { given.string($0) ?? "" }
        do { s.calendar = try LocalCalendar.named(given.string("time_zone")) } catch { throw Failure("\(error)") }
        let cert = given.string("tls_cert"), key = given.string("tls_key")
        switch (cert, key) {
        case (nil, nil): break
        case (let c?, let k?):
            do { s.tlsServer = try TLSServerContext(certFile: c, keyFile: k) } catch {
                throw Failure("cannot serve HTTPS: \(error)")
            }
        default:
            throw Failure("CCLOAD_TLS_CERT and CCLOAD_TLS_KEY go together")
        }
        return s
    }
}

/// Start-up settings after flags and environment are merged (every field is set by
/// `Configuration.resolve`).
struct Settings: Sendable {
    var port = 0
    var listen = ""
    var threads = 1
    var drainNanos: UInt64 = 0
    /// `CCLOAD_MAX_CONNECTIONS`; nil → derived from the file descriptor limit at start.
    var maxConnections: Int?
    var http = HTTPServerConfig()
    var proxy = ProxyConfig()
    /// Serve HTTPS with this certificate instead of plain HTTP.
    var tlsServer: TLSServerContext?
    var channelsFile: String?
    var authTokens: [String] = []
    var pricing = Pricing.builtIn
    var sqlitePath = ""
    /// PostgreSQL (`CCLOAD_DATABASE_URL`); nil: the SQLite file `sqlitePath`.
    var databaseURL: String?
    var storeLocation: StoreLocation { .from(databaseURL: databaseURL, sqlitePath: sqlitePath) }
    /// This instance's name on the cluster bus (`CCLOAD_INSTANCE_NAME`).
    var instanceName = ClusterBus.defaultInstanceName()
    /// Live settings given explicitly (catalog key → value), written to the database at start-up.
    var settingSeeds: [String: String] = [:]
    /// `CCLOAD_PASS`; nil → a generated password whose hash is stored.
    var adminPassword: String?
    /// `CCLOAD_SECRET_KEY`; nil → the key file beside the database.
    var secretKey: SecretKey?
    /// `CCLOAD_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names a login's source.
    var trustedProxies = TrustedProxies.none
    /// `CCLOAD_METRICS=1`: serve `GET /metrics` in Prometheus text format.
    var metricsEndpoint = false
    /// `CCLOAD_REQUEST_LOG_PACKING`.
    var logPacking = LogPacking.whenBusy
    /// `CCLOAD_TZ`: where local days begin for the daily counters.
    var calendar = LocalCalendar.utc
    /// Subscription accounts: the OAuth providers and refresh timing.
    var accounts = AccountSettings.defaults
}
