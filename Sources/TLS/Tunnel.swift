import Glibc
import Reactor

/// What a tunnel handshake wants next.
enum TunnelStep {
    /// Send these bytes, then keep reading.
    case send([UInt8])
    /// Read more (at most `readLimit` bytes).
    case needMore
    /// The tunnel is open; the socket now carries the upstream's bytes.
    case done
    case failed(TransportError)
}

/// The byte-level handshake of an egress proxy, kept apart from I/O so it can be fed
/// any split of the proxy's reply. The dialer sends `start()`, then reads at most
/// `readLimit` bytes at a time and feeds them to `receive`.
protocol TunnelHandshake {
    mutating func start() -> [UInt8]
    var readLimit: Int { get }
    mutating func receive(_ bytes: UnsafeRawBufferPointer) -> TunnelStep
}

/// Formats `host` for an authority: IPv6 literals in brackets.
func authority(_ host: String, _ port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

/// HTTP CONNECT (RFC 9110 §9.3.6) with optional `Proxy-Authorization: Basic`.
struct HTTPConnectHandshake: TunnelHandshake {
    let target: String
    let credentials: String?
    private var reply: [UInt8] = []
    static let maxReply = 16 * 1024

    init(host: String, port: Int, username: String?, password: String?) {
        target = authority(host, port)
        credentials = username.map { Base64.encode(Array("\($0):\(password ?? "")".utf8)) }
    }

    func start() -> [UInt8] {
        var s = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let c = credentials { s += "Proxy-Authorization: Basic \(c)\r\n" }
        s += "\r\n"
        return Array(s.utf8)
    }

    var readLimit: Int { 4096 }

    mutating func receive(_ bytes: UnsafeRawBufferPointer) -> TunnelStep {
        reply.append(contentsOf: bytes)
        guard let end = HTTPConnectHandshake.headerEnd(reply) else {
            return reply.count > HTTPConnectHandshake.maxReply ? .failed(.proxy("CONNECT reply too long")) : .needMore
        }
        // "HTTP/1.x NNN ..."
        guard reply.count >= 12, reply.starts(with: Array("HTTP/1.".utf8)),
              let status = Int(String(decoding: reply[9..<12], as: UTF8.self)) else {
            return .failed(.proxy("malformed CONNECT reply"))
        }
        guard (200..<300).contains(status) else {
            return .failed(.proxy("CONNECT refused: \(status)"))
        }
        if end != reply.count {
            // The upstream cannot speak before we do (TLS ClientHello, HTTP request).
            return .failed(.proxy("unexpected data after CONNECT reply"))
        }
        return .done
    }

    static func headerEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}

/// SOCKS5 CONNECT (RFC 1928) with username/password authentication (RFC 1929).
/// The upstream name goes to the proxy as ATYP=domain, so DNS happens there.
struct SOCKS5Handshake: TunnelHandshake {
    private enum Phase { case method, auth, replyHead, replyAddress }
    private let host: String
    private let port: Int
    private let username: String?
    private let password: String?
    private var phase = Phase.method
    private var buffer: [UInt8] = []
    private var need = 2

    init(host: String, port: Int, username: String?, password: String?) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    func start() -> [UInt8] {
        // Offer only what we can do: user/password when we have it, else no auth.
        username == nil ? [5, 1, 0] : [5, 1, 2]
    }

    var readLimit: Int { max(1, need - buffer.count) }

    mutating func receive(_ bytes: UnsafeRawBufferPointer) -> TunnelStep {
        buffer.append(contentsOf: bytes)
        while buffer.count >= need {
            let step = advance()
            if case .needMore = step { continue }
            return step
        }
        return .needMore
    }

    private mutating func take(_ n: Int) -> [UInt8] {
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    private mutating func advance() -> TunnelStep {
        switch phase {
        case .method:
            let r = take(2)
            guard r[0] == 5 else { return .failed(.proxy("not a SOCKS5 proxy")) }
            if r[1] == 0 && username == nil {
                return requestConnect()
            }
            if r[1] == 2, let u = username {
                let user = Array(u.utf8), pass = Array((password ?? "").utf8)
                guard user.count <= 255, pass.count <= 255 else {
                    return .failed(.proxy("SOCKS5 credentials too long"))
                }
                phase = .auth
                need = 2
                return .send([1, UInt8(user.count)] + user + [UInt8(pass.count)] + pass)
            }
            return .failed(.proxy("SOCKS5 proxy accepts no offered authentication method"))
        case .auth:
            let r = take(2)
            guard r[1] == 0 else { return .failed(.proxy("SOCKS5 authentication failed")) }
            return requestConnect()
        case .replyHead:
            let r = Array(buffer[..<4])
            guard r[0] == 5 else { return .failed(.proxy("malformed SOCKS5 reply")) }
            guard r[1] == 0 else { return .failed(.proxy("SOCKS5 connect failed: \(SOCKS5Handshake.replyText(r[1]))")) }
            switch r[3] {
            case 1: need = 4 + 4 + 2
            case 4: need = 4 + 16 + 2
            case 3:
                if buffer.count < 5 { need = 5; return .needMore }
                need = 5 + Int(buffer[4]) + 2
            default: return .failed(.proxy("malformed SOCKS5 reply"))
            }
            phase = .replyAddress
            return .needMore
        case .replyAddress:
            _ = take(need)
            guard buffer.isEmpty else { return .failed(.proxy("unexpected data after SOCKS5 reply")) }
            return .done
        }
    }

    private mutating func requestConnect() -> TunnelStep {
        var req: [UInt8] = [5, 1, 0]
        if let a = SocketAddress(ip: host, port: port) {
            withUnsafeBytes(of: a.storage) { raw in
                if a.family == AF_INET6 {
                    req.append(4)
                    req.append(contentsOf: raw[8..<24])  // sin6_addr
                } else {
                    req.append(1)
                    req.append(contentsOf: raw[4..<8])  // sin_addr
                }
            }
        } else {
            let name = Array(host.utf8)
            guard name.count <= 255 else { return .failed(.proxy("host name too long for SOCKS5")) }
            req.append(3)
            req.append(UInt8(name.count))
            req.append(contentsOf: name)
        }
        req.append(UInt8(port >> 8))
        req.append(UInt8(port & 0xff))
        phase = .replyHead
        need = 4
        return .send(req)
    }

    static func replyText(_ code: UInt8) -> String {
        switch code {
        case 1: return "general failure"
        case 2: return "not allowed by ruleset"
        case 3: return "network unreachable"
        case 4: return "host unreachable"
        case 5: return "connection refused"
        case 6: return "TTL expired"
        case 7: return "command not supported"
        case 8: return "address type not supported"
        default: return "error \(code)"
        }
    }
}

/// Standard base64 (RFC 4648) for the Basic credentials.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i]
            let b1 = i + 1 < bytes.count ? bytes[i + 1] : 0
            let b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
