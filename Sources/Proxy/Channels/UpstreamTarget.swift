import Reactor
import TLS

/// Where a request goes: how to reach it (scheme, host, port, egress proxy), the path
/// prefix to put before the client's path, and the `Host` header to send. Parsed once
/// from a URL like `https://host:port/prefix`.
public struct UpstreamTarget: Sendable {
    public var dial: DialTarget
    public let pathPrefix: [UInt8]
    /// `Host` header value (port omitted when it is the scheme's default).
    public let hostHeader: [UInt8]
    /// Pool key: scheme, host, port, egress proxy and verification (connections differ by all).
    public let poolKey: String
    /// `poolKey` as a small number, the same for equal keys in this process: the pool's
    /// lookup per request hashes an Int, not the key's text (~400 instructions each way).
    public let poolID: Int
    /// False only for channels marked `insecure_skip_verify` (internal self-signed upstreams).
    public let verifyTLS: Bool

    public init?(url: String, proxy: EgressProxy? = nil, verifyTLS: Bool = true) {
        self.verifyTLS = verifyTLS
        // No space, control byte or CR/LF may reach the request line or the Host header.
        guard ChannelFieldRules.url(url) == nil, let d = DialTarget(url: url, proxy: proxy) else { return nil }
        dial = d
        let afterScheme = url.drop { $0 != "/" }.dropFirst(2)
        var prefix = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? ""
        guard !prefix.contains("?"), !prefix.contains("#") else { return nil }
        while prefix.hasSuffix("/") { prefix.removeLast() }
        pathPrefix = Array(prefix.utf8)
        let h = d.host.contains(":") ? "[\(d.host)]" : d.host
        hostHeader = Array((d.port == (d.tls ? 443 : 80) ? h : "\(h):\(d.port)").utf8)
        // The egress proxy's credentials are part of the key (as a digest, never in clear):
        // two proxies that differ only by password must not share connections.
        poolKey = "\(d.tls ? "https" : "http")://\(d.origin)" + (proxy.map {
            " via \($0) #" + TokenDigest(of: Array("\($0.username ?? ""):\($0.password ?? "")".utf8)).bytes.prefix(8).map(String.init).joined(separator: ".")
        } ?? "") + (verifyTLS ? "" : " unverified")
        poolID = PoolKeyIDs.id(for: poolKey)
    }

    /// For logs: scheme, host and port (no credentials).
    public var displayName: String {
        "\(dial.tls ? "https" : "http")://\(String(decoding: hostHeader, as: UTF8.self))\(String(decoding: pathPrefix, as: UTF8.self))"
    }
}

/// Numbers for pool keys, handed out once per distinct key for the life of the process
/// (targets are made when a channel table is built, never per request; the number of
/// distinct origins is what the tables ever named).
private enum PoolKeyIDs {
    static let ids = Lock<[String: Int]>([:])
    static func id(for key: String) -> Int {
        ids.withLock { ids in
            if let id = ids[key] { return id }
            let id = ids.count
            ids[key] = id
            return id
        }
    }
}
