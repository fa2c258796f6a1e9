import CEpoll
import Reactor

/// A SHA-256 digest; client secrets are only ever kept in this form.
public struct TokenDigest: Sendable, Hashable {
    public let bytes: [UInt8]

    public init<C: Collection>(of secret: C) where C.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array(secret)
        input.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                _ = SHA256(p.baseAddress, p.count, o.baseAddress)
            }
        }
        bytes = out
    }

    /// Constant-time comparison (the digests have a fixed length).
    public func matches(_ other: TokenDigest) -> Bool {
        bytes.withUnsafeBytes { a in
            other.bytes.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}

/// Who a request is from, after authentication.
public enum AuthOutcome: Equatable, Sendable {
    /// A configured token matched; `tokenID` is its 1-based position.
    case token(Int)
    /// No tokens are configured and the client is on loopback.
    case loopback
    case missing
    case invalid
    /// No tokens are configured and the client is not on loopback.
    case notLoopback
}

/// Checks the client's ccload token. Tokens arrive as `Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key` or a `key=` query parameter; they are compared by
/// SHA-256 digest in constant time and never kept in clear.
public final class ClientAuth: Sendable {
    private let digests: [TokenDigest]

    public init(tokens: [String]) {
        digests = tokens.map { TokenDigest(of: Array($0.utf8)) }
    }

    public var tokenCount: Int { digests.count }

    public func check(_ head: HTTPRequestHead, peer: SocketAddress) -> AuthOutcome {
        if digests.isEmpty { return peer.isLoopback ? .loopback : .notLoopback }
        guard let presented = ClientAuth.presentedToken(head) else { return .missing }
        let d = TokenDigest(of: presented)
        var found = 0
        // Every digest is compared, so timing does not tell which one matched.
        for (i, known) in digests.enumerated() where known.matches(d) && found == 0 { found = i + 1 }
        return found > 0 ? .token(found) : .invalid
    }

    /// The credential the client sent, from the first place that has one.
    static func presentedToken(_ head: HTTPRequestHead) -> ArraySlice<UInt8>? {
        if let v = head.value("authorization") {
            // "Bearer" alone (the header's trailing space is trimmed by the parser) carries nothing.
            if ASCII.equalsIgnoringCase(v, "bearer") { return nil }
            if v.count > 7, ASCII.equalsIgnoringCase(v.prefix(7), "bearer ") {
                return trimmed(v.dropFirst(7))
            }
            return trimmed(v)
        }
        if let v = head.value("x-api-key") { return trimmed(v) }
        if let v = head.value("x-goog-api-key") { return trimmed(v) }
        return queryValue(head.targetBytes, "key")
    }

    private static func trimmed(_ v: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        var s = v
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s.isEmpty ? nil : s
    }

    /// The raw value of query parameter `name` in a request target.
    static func queryValue(_ target: ArraySlice<UInt8>, _ name: StaticString) -> ArraySlice<UInt8>? {
        guard let q = target.firstIndex(of: 0x3F) else { return nil }
        var rest = target[(q + 1)...]
        while !rest.isEmpty {
            let end = rest.firstIndex(of: 0x26) ?? rest.endIndex
            let pair = rest[rest.startIndex..<end]
            if let eq = pair.firstIndex(of: 0x3D), ASCII.equalsIgnoringCase(pair[pair.startIndex..<eq], name) {
                let v = pair[(eq + 1)...]
                return v.isEmpty ? nil : v
            }
            rest = end < rest.endIndex ? rest[(end + 1)...] : rest[end..<end]
        }
        return nil
    }
}
