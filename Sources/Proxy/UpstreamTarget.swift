import Reactor

/// Where a request goes: scheme, host, port and an optional path prefix, parsed once
/// from a URL like `http://host:port/prefix`.
public struct UpstreamTarget: Sendable {
    public var tls: Bool
    public var host: String
    public var port: Int
    public var pathPrefix: String
    /// `Host` header value (port omitted when it is the scheme's default).
    public let hostHeader: [UInt8]
    /// Pool key.
    public let origin: String

    public init?(url: String) {
        var rest = Substring(url)
        if rest.hasPrefix("http://") { tls = false; rest = rest.dropFirst(7) }
        else if rest.hasPrefix("https://") { tls = true; rest = rest.dropFirst(8) }
        else { return nil }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var prefix = String(rest[slash...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        pathPrefix = prefix
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let defaultPort = tls ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty { port = defaultPort }
            else if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
            else { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        } else {
            host = String(authority)
            port = defaultPort
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        let h = host.contains(":") ? "[\(host)]" : host
        hostHeader = Array((port == defaultPort ? h : "\(h):\(port)").utf8)
        origin = "\(tls ? "https" : "http")://\(h):\(port)"
    }
}
