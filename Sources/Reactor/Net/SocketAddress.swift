import Glibc
import CEpoll

/// An IPv4 or IPv6 socket address, stored by value.
public struct SocketAddress: Sendable, CustomStringConvertible {
    public var storage = sockaddr_storage()
    public var length: socklen_t = 0

    public init() {}

    /// Parses a numeric IPv4 or IPv6 literal (brackets allowed for IPv6) and a port.
    public init?(ip: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        var host = ip
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var s = sockaddr_storage()
        let ok: Bool = withUnsafeMutableBytes(of: &s) { raw in
            if host.contains(":") {
                let p = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                p.pointee.sin6_family = sa_family_t(AF_INET6)
                p.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                return inet_pton(AF_INET6, host, &p.pointee.sin6_addr) == 1
            } else {
                let p = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                p.pointee.sin_family = sa_family_t(AF_INET)
                p.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                return inet_pton(AF_INET, host, &p.pointee.sin_addr) == 1
            }
        }
        guard ok else { return nil }
        storage = s
        length = socklen_t(host.contains(":") ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: Int {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                return Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
            }
            return Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
        }
    }

    public var ipString: String {
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                var a = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
            } else {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
            }
        }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `other` has the same family and IP address (the port aside).
    public func sameIP(as other: SocketAddress) -> Bool {
        guard family == other.family else { return false }
        return withUnsafeBytes(of: storage) { a in
            withUnsafeBytes(of: other.storage) { b in
                if family == AF_INET6 {
                    let x = a.load(as: sockaddr_in6.self).sin6_addr, y = b.load(as: sockaddr_in6.self).sin6_addr
                    return withUnsafeBytes(of: x) { xb in withUnsafeBytes(of: y) { yb in xb.elementsEqual(yb) } }
                }
                return a.load(as: sockaddr_in.self).sin_addr.s_addr == b.load(as: sockaddr_in.self).sin_addr.s_addr
            }
        }
    }

    public var isLoopback: Bool {
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET6 {
                let a = raw.load(as: sockaddr_in6.self).sin6_addr
                let b = withUnsafeBytes(of: a) { Array($0) }
                if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
                // IPv4-mapped 127.x
                if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return b[12] == 127 }
                return false
            }
            let a = raw.load(as: sockaddr_in.self).sin_addr
            return UInt32(bigEndian: a.s_addr) >> 24 == 127
        }
    }

    public var description: String {
        family == AF_INET6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }

    /// Resolves `host` synchronously with getaddrinfo. Never call this on a reactor
    /// thread (start-up and helper threads only).
    public static func resolveBlocking(host: String, port: Int) -> [SocketAddress] {
        var local: Int32 = 0
        return resolveBlocking(host: host, port: port, localFailure: &local)
    }

    /// The same; when the lookup failed because this process is out of descriptors (errno
    /// EMFILE or ENFILE), `localFailure` is set to that errno, so the failure is not taken
    /// for a name that does not resolve.
    public static func resolveBlocking(host: String, port: Int, localFailure: inout Int32) -> [SocketAddress] {
        if let a = SocketAddress(ip: host, port: port) { return [a] }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var res: UnsafeMutablePointer<addrinfo>?
        errno = 0
        let rc = getaddrinfo(host, String(port), &hints, &res)
        if rc != 0 {
            // glibc reports a lookup whose files or sockets could not be opened as a name
            // error (not only EAI_SYSTEM); errno still tells.
            let e = errno
            if e == EMFILE || e == ENFILE { localFailure = e }
        }
        guard rc == 0, let first = res else { return [] }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var cur: UnsafeMutablePointer<addrinfo>? = first
        while let p = cur {
            if let sa = p.pointee.ai_addr, p.pointee.ai_addrlen <= socklen_t(MemoryLayout<sockaddr_storage>.size) {
                var a = SocketAddress()
                withUnsafeMutableBytes(of: &a.storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(p.pointee.ai_addrlen)))
                }
                a.length = p.pointee.ai_addrlen
                out.append(a)
            }
            cur = p.pointee.ai_next
        }
        return out
    }
}
