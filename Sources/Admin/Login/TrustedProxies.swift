import Foundation
import Proxy
import Reactor

/// Reverse proxies whose `X-Forwarded-For` ccload believes (`CCLOAD_TRUSTED_PROXIES`: numeric
/// IPv4/IPv6 addresses, comma-separated; none by default). A login's source is the TCP peer,
/// unless the peer is one of these and the request carries `X-Forwarded-For`: then it is the
/// last hop of that header (the address the proxy itself saw). Only the last hop is used: the
/// hops before it were written by the client and prove nothing. Off by default, because any
/// client can send the header.
public struct TrustedProxies: Sendable {
    /// Each address as 16 bytes (IPv4 as IPv4-mapped IPv6), so `::ffff:10.0.0.1` and
    /// `10.0.0.1` are one address.
    private let addresses: Set<[UInt8]>

    public static let none = TrustedProxies(addresses: [])

    private init(addresses: Set<[UInt8]>) { self.addresses = addresses }

    /// Parses a comma-separated list; a failure names the first entry that is not a numeric address.
    public static func parse(_ list: String) -> Result<TrustedProxies, ParseError> {
        var out = Set<[UInt8]>()
        for raw in list.split(separator: ",") {
            let item = raw.trimmingCharacters(in: .whitespaces)
            if item.isEmpty { continue }
            guard let a = SocketAddress(ip: item, port: 0) else { return .failure(ParseError(entry: item)) }
            out.insert(LoginSource.bytes(a))
        }
        return .success(TrustedProxies(addresses: out))
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let entry: String
        public var description: String { "\"\(entry)\" is not a numeric IPv4 or IPv6 address" }
    }

    public var isEmpty: Bool { addresses.isEmpty }

    public func contains(_ peer: SocketAddress) -> Bool { addresses.contains(LoginSource.bytes(peer)) }

    /// Where a request with `head` from `peer` comes from, for the login limit.
    public func source(_ head: HTTPRequestHead, peer: SocketAddress) -> LoginSource {
        guard !addresses.isEmpty, contains(peer), let hop = Self.lastForwardedHop(head), let s = LoginSource(ip: hop) else {
            return LoginSource(peer)
        }
        return s
    }

    /// The last element of the last `X-Forwarded-For` field, trimmed.
    static func lastForwardedHop(_ head: HTTPRequestHead) -> String? {
        guard let field = head.fields.last(where: { ASCII.equalsIgnoringCase(head.name(of: $0), "x-forwarded-for") }) else {
            return nil
        }
        let value = head.value(of: field)
        let last = value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).last ?? value
        let text = String(decoding: last, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? nil : text
    }
}
