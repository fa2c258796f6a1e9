import TLS

/// What each channel field may hold. Every way a channel comes in (the admin API, the
/// channels file at start-up and on SIGHUP, a CSV import) goes through `ChannelFile.build`,
/// which applies these rules, so no admin input can put a control byte, a space or CR/LF
/// into an upstream request line or header, or a number that overflows the arithmetic
/// made with it. Each rule answers why a value is refused (never echoing a secret), or
/// nil. `UpstreamTarget` applies the URL rule again, so `CCLOAD_UPSTREAM` gets it too.
public enum ChannelFieldRules {
    public static let maxNameCharacters = 200
    public static let maxURLBytes = 2048
    public static let maxKeyBytes = 8192
    public static let maxModelBytes = 256
    public static let maxModels = 1000
    /// Seconds; the same bound as the global `first_byte_timeout_seconds` setting.
    public static let maxFirstByteTimeout = RuntimeSettings.firstByteTimeoutSeconds.upperBound
    public static let maxCostMultiplier = 1000.0
    /// USD, as for a client token's cost caps.
    public static let maxDailyCostLimit = 1_000_000_000.0
    public static let maxConcurrency = 100_000

    /// A name (channel or token): shown in the UI and written to logs. No control
    /// characters (CR, LF, tab, NUL, DEL, C1, U+2028/U+2029).
    public static func name(_ s: String) -> String? {
        if s.unicodeScalars.contains(where: isControl) { return "must not hold control characters (CR, LF, tab, …)" }
        if s.count > maxNameCharacters { return "must be at most \(maxNameCharacters) characters" }
        return nil
    }

    /// An upstream key: sent as a header value. Visible characters only: no space, no
    /// control byte, no CR/LF. (Bytes past ASCII pass: they cannot end a header line,
    /// and a key shown masked, `sk-a…wxyz`, carries one until it is matched to the stored key.)
    public static func key(_ s: String) -> String? {
        if s.utf8.count > maxKeyBytes { return "is longer than \(maxKeyBytes) bytes" }
        if s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) { return "holds a space, a control byte or CR/LF" }
        return nil
    }

    /// A model name (served, or either side of a redirect): it goes into the request body,
    /// and for Gemini into the URL path. No space, control byte, `"` or `\`; for Gemini
    /// also none of `/ ? # % :`, which would change the path.
    public static func model(_ s: String, kind: ProtocolKind?) -> String? {
        if s.isEmpty { return "must not be empty" }
        if s.utf8.count > maxModelBytes { return "\"\(visible(s))\" is longer than \(maxModelBytes) bytes" }
        if s.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"\(visible(s))\" holds a space, a control byte, a quote or a backslash"
        }
        if kind == .gemini, s.utf8.contains(where: { "/?#%:".utf8.contains($0) }) {
            return "\"\(visible(s))\" holds one of / ? # % : (a Gemini model name goes into the URL path)"
        }
        return nil
    }

    /// An upstream base URL, `http(s)://host[:port][/prefix]`: visible ASCII only (no
    /// space, control byte or CR/LF anywhere), a host of letters, digits, `.`, `-`, `_`
    /// (or a bracketed IPv6 literal), no userinfo, query or fragment.
    public static func url(_ s: String) -> String? {
        if s.utf8.count > maxURLBytes { return "is longer than \(maxURLBytes) bytes" }
        if s.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return "holds a space, a control byte, CR/LF or a non-ASCII character (write the host in punycode, the path percent-encoded)"
        }
        guard let schemeEnd = s.range(of: "://") else { return nil }  // the URL parser says what is wrong
        let rest = s[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.contains("@") { return "must not hold user:password@ (give a key instead)" }
        return host(hostPart(authority))
    }

    /// An egress proxy URL: visible ASCII only, a host like an upstream's, and no control
    /// byte in its user or password even once percent-decoded.
    public static func proxy(_ s: String) -> String? {
        if s.utf8.count > maxURLBytes { return "is longer than \(maxURLBytes) bytes" }
        if s.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) { return "holds a space, a control byte, CR/LF or a non-ASCII character" }
        guard let e = EgressProxy(url: s) else { return nil }  // the proxy parser says what is wrong
        for part in [e.username, e.password].compactMap({ $0 }) where part.unicodeScalars.contains(where: isControl) {
            return "holds a control byte or CR/LF in its user or password"
        }
        return host(e.host.contains(":") ? "[\(e.host)]" : e.host)
    }

    /// Seconds between a channel's health probes.
    public static let probeIntervalSeconds = 5...86_400

    /// Why a channel's numbers are out of range: the field (file names) and the reason.
    public static func numbers(_ c: Channel) -> (field: String, reason: String)? {
        if let t = c.firstByteTimeoutSeconds, !(t > 0 && t <= maxFirstByteTimeout) {
            return ("first_byte_timeout", "must be more than 0 and at most \(Int(maxFirstByteTimeout)) seconds")
        }
        if !(c.costMultiplier >= 0 && c.costMultiplier <= maxCostMultiplier) {
            return ("cost_multiplier", "must be from 0 to \(Int(maxCostMultiplier))")
        }
        if let l = c.dailyCostLimitUSD, !(l >= 0 && l <= maxDailyCostLimit) {
            return ("daily_cost_limit", "must be from 0 to \(Int(maxDailyCostLimit)) USD")
        }
        if let m = c.maxConcurrency, !(1...maxConcurrency).contains(m) {
            return ("max_concurrency", "must be from 0 (no limit) to \(maxConcurrency)")
        }
        if let p = c.probeIntervalSeconds, !probeIntervalSeconds.contains(p) {
            return ("probe_interval_s", "must be 0 (no probes) or from \(probeIntervalSeconds.lowerBound) to \(probeIntervalSeconds.upperBound) seconds")
        }
        return nil
    }

    // MARK: pieces

    /// The host of an authority (`host`, `host:port`, `[v6]:port`), brackets kept.
    static func hostPart(_ authority: Substring) -> Substring {
        if authority.hasPrefix("[") { return authority.prefix { $0 != "]" } + (authority.contains("]") ? "]" : "") }
        return authority.prefix { $0 != ":" }
    }

    /// A host: a name of letters, digits, `.`, `-`, `_`, or a bracketed IPv6 literal.
    static func host<S: StringProtocol>(_ h: S) -> String? {
        if h.hasPrefix("[") {
            let inner = h.dropFirst().dropLast()
            let ok = h.hasSuffix("]") && !inner.isEmpty && inner.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) || $0 == 0x3A || $0 == 0x2E
            }
            return ok ? nil : "has a host that is not an IPv6 address in brackets"
        }
        let ok = h.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x2D || $0 == 0x5F
        }
        return ok ? nil : "has a host with characters other than letters, digits, '.', '-' and '_'"
    }

    /// A control character: C0, DEL, C1, or a Unicode line or paragraph separator.
    public static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}"
    }

    /// `s` with control bytes shown as `\u{…}` (for an error message that quotes a model name).
    static func visible(_ s: String) -> String {
        let clipped = s.unicodeScalars.prefix(64)
        var out = ""
        for u in clipped { out += isControl(u) ? "\\u{\(String(u.value, radix: 16))}" : String(u) }
        return clipped.count < s.unicodeScalars.count ? out + "…" : out
    }
}
