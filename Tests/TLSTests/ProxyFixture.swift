import Foundation
import Glibc
import Synchronization
import Reactor

/// A small blocking egress proxy on 127.0.0.1 for tests: HTTP CONNECT with Basic
/// proxy authentication, or SOCKS5 with RFC 1929 user/password. One thread accepts;
/// each connection gets a thread that does the handshake and then relays with poll().
final class TestEgressProxy: @unchecked Sendable {
    enum Kind: Sendable { case http, socks5 }

    let kind: Kind
    let username: String
    let password: String
    let port: Int
    private let listenFd: Int32
    /// What clients asked for: "host:port", and for SOCKS5 "domain "/"ipv4 "/"ipv6 " first.
    let requests = Lock<[String]>([])
    private let stopped = Atomic<Bool>(false)

    init(kind: Kind, username: String, password: String) {
        self.kind = kind
        self.username = username
        self.password = password
        let sock = try! Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        port = Socket.localAddress(sock.raw).port
        listenFd = sock.release()
        let fl = fcntl(listenFd, F_GETFL)
        _ = fcntl(listenFd, F_SETFL, fl & ~O_NONBLOCK)
        let me = self
        Thread { me.acceptLoop() }.start()
    }

    func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = Glibc.shutdown(listenFd, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let c = accept(listenFd, nil, nil)
            if c < 0 {
                if cc_errno_test() == EINTR { continue }
                break
            }
            let me = self
            Thread { me.serve(c) }.start()
        }
        Glibc.close(listenFd)
    }

    private func serve(_ c: Int32) {
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let upstream: Int32?
        switch kind {
        case .http: upstream = httpHandshake(c)
        case .socks5: upstream = socksHandshake(c)
        }
        guard let u = upstream else { Glibc.close(c); return }
        relay(c, u)
    }

    private func httpHandshake(_ c: Int32) -> Int32? {
        var head: [UInt8] = []
        while !(head.count >= 4 && head.suffix(4) == [13, 10, 13, 10]) {
            guard let b = readExactly(c, 1), head.count < 8192 else { return nil }
            head += b
        }
        let text = String(decoding: head, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3, parts[0] == "CONNECT" else { return nil }
        let target = String(parts[1])
        requests.withLock { $0.append(target) }
        let expected = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let auth = lines.first { $0.lowercased().hasPrefix("proxy-authorization:") }
            .map { String($0.dropFirst("proxy-authorization:".count)).trimmingCharacters(in: .whitespaces) }
        guard auth == expected else {
            writeAll(c, Array("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n".utf8))
            return nil
        }
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else { return nil }
        var host = String(target[..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        guard let u = connectTo(host, port) else {
            writeAll(c, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".utf8))
            return nil
        }
        writeAll(c, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        return u
    }

    private func socksHandshake(_ c: Int32) -> Int32? {
        guard let g = readExactly(c, 2), g[0] == 5, let methods = readExactly(c, Int(g[1])) else { return nil }
        guard methods.contains(2) else { writeAll(c, [5, 0xff]); return nil }
        writeAll(c, [5, 2])
        guard let h = readExactly(c, 2), h[0] == 1, let user = readExactly(c, Int(h[1])),
              let pl = readExactly(c, 1), let pass = readExactly(c, Int(pl[0])) else { return nil }
        guard user == Array(username.utf8), pass == Array(password.utf8) else {
            writeAll(c, [1, 1])
            return nil
        }
        writeAll(c, [1, 0])
        guard let req = readExactly(c, 4), req[0] == 5, req[1] == 1 else { return nil }
        let host: String
        let kindText: String
        switch req[3] {
        case 1:
            guard let a = readExactly(c, 4) else { return nil }
            host = a.map(String.init).joined(separator: ".")
            kindText = "ipv4"
        case 3:
            guard let l = readExactly(c, 1), let n = readExactly(c, Int(l[0])) else { return nil }
            host = String(decoding: n, as: UTF8.self)
            kindText = "domain"
        default:
            writeAll(c, [5, 8, 0, 1, 0, 0, 0, 0, 0, 0])
            return nil
        }
        guard let p = readExactly(c, 2) else { return nil }
        let port = Int(p[0]) << 8 | Int(p[1])
        requests.withLock { $0.append("\(kindText) \(host):\(port)") }
        guard let u = connectTo(host, port) else {
            writeAll(c, [5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
            return nil
        }
        writeAll(c, [5, 0, 0, 1, 127, 0, 0, 1, 0, 0])
        return u
    }

    private func connectTo(_ host: String, _ port: Int) -> Int32? {
        for a in SocketAddress.resolveBlocking(host: host, port: port) {
            let s = socket(a.family, Int32(SOCK_STREAM.rawValue), 0)
            var addr = a
            let rc = withUnsafePointer(to: &addr.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, a.length) }
            }
            if rc == 0 { return s }
            Glibc.close(s)
        }
        return nil
    }

    private func relay(_ a: Int32, _ b: Int32) {
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var open = [true, true]
        var buf = [UInt8](repeating: 0, count: 64 * 1024)
        while open[0] || open[1] {
            let n = poll(&fds, 2, 5000)
            if n <= 0 { break }
            for i in 0..<2 where fds[i].revents != 0 && open[i] {
                let r = Glibc.read(fds[i].fd, &buf, buf.count)
                let other = fds[1 - i].fd
                if r <= 0 {
                    open[i] = false
                    fds[i].fd = -1
                    _ = Glibc.shutdown(other, Int32(SHUT_WR))
                } else {
                    writeAll(other, Array(buf[0..<r]))
                }
            }
        }
        Glibc.close(a)
        Glibc.close(b)
    }

    private func readExactly(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, n - got) }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let r = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if r <= 0 { return }
            off += r
        }
    }
}

func cc_errno_test() -> Int32 { errno }
