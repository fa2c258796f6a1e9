/// The one URL a run aims at: plain `http://host:port/path?query`.
struct TargetURL: Sendable {
    var host: String
    var port: Int
    /// Path and query as sent on the request line.
    var target: String

    /// The Host header value.
    var authority: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? h : "\(h):\(port)"
    }

    init?(_ text: String) {
        guard text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var hostPort = rest[..<slash]
        var path = String(rest[slash...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        var portNumber = 80
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()) else { return nil }
                portNumber = p
            } else if !after.isEmpty { return nil }
            hostPort = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
        } else if let colon = hostPort.lastIndex(of: ":") {
            guard let p = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            portNumber = p
            hostPort = hostPort[..<colon]
        }
        guard !hostPort.isEmpty, (1...65535).contains(portNumber) else { return nil }
        host = String(hostPort)
        port = portNumber
        target = path
    }
}
