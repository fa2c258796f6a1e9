import Reactor

/// An egress proxy that upstream connections tunnel through: `http://user:pass@host:port`
/// (HTTP CONNECT with Basic proxy authentication) or `socks5://user:pass@host:port`
/// (RFC 1928 with RFC 1929 user/password; the upstream name is resolved by the proxy).
/// `description` never shows the password.
public struct EgressProxy: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case httpConnect = "http", socks5 = "socks5" }

    public var kind: Kind
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?

    public init(kind: Kind, host: String, port: Int, username: String? = nil, password: String? = nil) {
        self.kind = kind
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    /// Parses `http://[user:pass@]host[:port]` or `socks5://[user:pass@]host[:port]`
    /// (`socks5h://` too). User and password may be percent-encoded. Default ports:
    /// 80 for http, 1080 for socks5.
    public init?(url: String) {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        let scheme = url[..<colon].lowercased()
        switch scheme {
        case "http": kind = .httpConnect
        case "socks5", "socks5h": kind = .socks5
        default: return nil
        }
        var rest = url[url.index(colon, offsetBy: 3)...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var hostPort = rest
        username = nil
        password = nil
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                guard let u = EgressProxy.percentDecode(userinfo[..<colon]),
                      let p = EgressProxy.percentDecode(userinfo[userinfo.index(after: colon)...]) else { return nil }
                username = u
                password = p
            } else {
                guard let u = EgressProxy.percentDecode(userinfo) else { return nil }
                username = u
            }
        }
        guard let (h, p) = splitHostPort(hostPort, defaultPort: kind == .socks5 ? 1080 : 80) else { return nil }
        host = h
        port = p
    }

    public var hasCredentials: Bool { username != nil }

    public var description: String {
        let user = username.map { "\($0):***@" } ?? ""
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(kind.rawValue)://\(user)\(h):\(port)"
    }

    static func percentDecode(_ s: Substring) -> String? {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hexValue(it.popFirst()!), let lo = hexValue(it.popFirst()!) else { return nil }
                out.append(hi << 4 | lo)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`; the host comes back without brackets.
func splitHostPort(_ s: Substring, defaultPort: Int) -> (String, Int)? {
    var host: Substring
    var portText: Substring? = nil
    if s.hasPrefix("[") {
        guard let close = s.firstIndex(of: "]") else { return nil }
        host = s[s.index(after: s.startIndex)..<close]
        let after = s[s.index(after: close)...]
        if !after.isEmpty {
            guard after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
        }
    } else if let colon = s.lastIndex(of: ":") {
        host = s[..<colon]
        portText = s[s.index(after: colon)...]
        if host.contains(":") { return nil }  // bare IPv6 needs brackets
    } else {
        host = s
    }
    guard !host.isEmpty else { return nil }
    var port = defaultPort
    if let t = portText {
        guard let p = Int(t), (1...65535).contains(p) else { return nil }
        port = p
    }
    return (String(host), port)
}
