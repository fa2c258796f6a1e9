import Glibc
import Reactor

/// Where a login attempt comes from, as the login limit counts it: an IPv4 address (an
/// IPv4-mapped IPv6 address counts as the IPv4 address it maps), or the /64 an IPv6
/// address belongs to (one host is usually given a whole /64, so keying by the full
/// address would give it 2^64 buckets).
public struct LoginSource: Hashable, Sendable, CustomStringConvertible {
    /// IPv4: the address in the low 32 bits of `low`, `high` = 0, `v4` true. IPv6: the
    /// first 64 bits in `high`, `low` = 0.
    let high: UInt64
    let low: UInt64
    let v4: Bool

    public init(_ address: SocketAddress) {
        let a = LoginSource.bytes(address)
        if a[0..<10].allSatisfy({ $0 == 0 }) && a[10] == 0xFF && a[11] == 0xFF {
            high = 0
            low = a[12..<16].reduce(0) { $0 << 8 | UInt64($1) }
            v4 = true
        } else {
            high = a[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
            low = 0
            v4 = false
        }
    }

    /// An address as 16 bytes, IPv4 as IPv4-mapped IPv6 (`::ffff:10.0.0.1` and `10.0.0.1`
    /// give the same bytes).
    static func bytes(_ address: SocketAddress) -> [UInt8] {
        withUnsafeBytes(of: address.storage) { raw in
            if address.family == AF_INET6 {
                return withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            }
            let v4 = withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) }
            return [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + v4
        }
    }

    /// A numeric IPv4 or IPv6 address (as an `X-Forwarded-For` hop names it; IPv6 may be
    /// in brackets); nil for anything else.
    public init?(ip: String) {
        guard let a = SocketAddress(ip: ip, port: 0) else { return nil }
        self.init(a)
    }

    /// `10.0.0.1`, or `2001:db8:1:2::/64`.
    public var description: String {
        if v4 {
            return "\(low >> 24 & 0xFF).\(low >> 16 & 0xFF).\(low >> 8 & 0xFF).\(low & 0xFF)"
        }
        let groups = (0..<4).map { String(high >> (48 - 16 * UInt64($0)) & 0xFFFF, radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
