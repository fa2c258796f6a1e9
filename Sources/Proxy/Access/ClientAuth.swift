import CEpoll
import Reactor

/// A SHA-256 digest; client secrets are only ever kept in this form.
public struct TokenDigest: Sendable, Hashable {
    public let bytes: [UInt8]

    public init<C: Collection>(of secret: C) where C.Element == UInt8 {
        bytes = [UInt8](unsafeUninitializedCapacity: Int(SHA256_DIGEST_LENGTH)) { o, n in
            // Hashed in place when the secret is contiguous (a request's bytes), else copied once.
            if secret.withContiguousStorageIfAvailable({ p in _ = SHA256(p.baseAddress, p.count, o.baseAddress) }) == nil {
                let input = Array(secret)
                input.withUnsafeBufferPointer { p in _ = SHA256(p.baseAddress, p.count, o.baseAddress) }
            }
            n = Int(SHA256_DIGEST_LENGTH)
        }
    }

    /// A digest already computed (as the store keeps it).
    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Constant-time comparison (the digests have a fixed length).
    public func matches(_ other: TokenDigest) -> Bool {
        bytes.withUnsafeBytes { a in
            other.bytes.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}

/// One client token as the proxy checks it: its id (the store's, or its position in
/// `CCLOAD_AUTH` without a store), the digest of its secret, and its limits.
public struct ClientToken: Sendable, Equatable {
    public var id: Int
    public var name: String
    public var digest: TokenDigest
    public var enabled = true
    public var expiresAtMillis: UInt64?
    /// nil → any model.
    public var allowedModels: Set<String>?
    public var dailyCostCapMicroUSD: Int64?
    public var totalCostCapMicroUSD: Int64?
    /// Weeks start on Monday 00:00, months on the 1st, 00:00, in `CCLOAD_TZ` (`SpendPeriods` of the local day).
    public var weeklyCostCapMicroUSD: Int64?
    public var monthlyCostCapMicroUSD: Int64?
    public var requestsPerMinute: Int?
    public var maxConcurrency: Int?
    /// Routed only within this channel group; nil → every channel.
    public var groupID: Int?
    /// The user who owns it (`AuthToken.ownerUserID`); nil → the admin's. Copied into the
    /// request record for usage per user.
    public var ownerUserID: Int?
    /// nil → any client; else only requests whose `User-Agent` names one of these. Setting
    /// it words the refusal once, so a refused request builds no string.
    public var allowedClients: ClientKinds? {
        didSet { clientRefusal = allowedClients.map { "token \(name) may only be used from \($0.rule)" } ?? "" }
    }
    /// The message of a request from another client (empty without a restriction).
    public private(set) var clientRefusal = ""

    public init(id: Int, name: String, digest: TokenDigest) {
        self.id = id
        self.name = name
        self.digest = digest
    }

    /// Whether a cost cap limits it (its requests are then estimated and metered).
    public var hasCostCap: Bool {
        dailyCostCapMicroUSD != nil || totalCostCapMicroUSD != nil || weeklyCostCapMicroUSD != nil || monthlyCostCapMicroUSD != nil
    }

    /// Why a request with this `User-Agent` (raw value, nil without one) is refused by the
    /// client restriction, or nil when it may proceed. Byte compares only.
    @inline(__always)
    public func refusesClient(userAgent: ArraySlice<UInt8>?) -> TokenRefusal? {
        guard let kinds = allowedClients, !kinds.admits(userAgent: userAgent) else { return nil }
        return TokenRefusal(status: 403, message: clientRefusal)
    }
}

/// Who a request is from, after authentication.
public enum AuthOutcome: Equatable, Sendable {
    /// A known token matched; its id.
    case token(Int)
    /// No tokens are configured and the client is on loopback.
    case loopback
    case missing
    case invalid
    /// No tokens are configured and the client is not on loopback.
    case notLoopback
}

/// Checks the client's ccload token. Tokens arrive as `Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key` or a `key=` query parameter; only their SHA-256
/// digests are kept, and a presented token is found by its digest (a lookup keyed by a
/// digest tells a timing observer nothing about any secret). Immutable.
public final class ClientAuth: Sendable {
    private let byDigest: [TokenDigest: ClientToken]
    private let byID: IDMap<ClientToken>

    public init(tokens: [ClientToken]) {
        var d: [TokenDigest: ClientToken] = [:]
        var i = IDMap<ClientToken>()
        for t in tokens {
            d[t.digest] = t
            i[t.id] = t
        }
        byDigest = d
        byID = i
    }

    /// Plain secrets (`CCLOAD_AUTH` without a store): ids are their 1-based positions.
    public convenience init(secrets: [String]) {
        self.init(tokens: secrets.enumerated().map {
            ClientToken(id: $0.offset + 1, name: "token \($0.offset + 1)", digest: TokenDigest(of: Array($0.element.utf8)))
        })
    }

    public var tokenCount: Int { byDigest.count }

    public func token(id: Int) -> ClientToken? { byID[id] }

    public func check(_ head: HTTPRequestHead, peer: SocketAddress) -> AuthOutcome {
        var none: VerifiedTokenCache? = nil
        return check(head, peer: peer, cache: &none)
    }

    /// `check`, first asking a loop's cache of secrets already verified against this token
    /// set (and adding to it): the cache must be reset whenever the token set changes.
    func check(_ head: HTTPRequestHead, peer: SocketAddress, cache: inout VerifiedTokenCache?) -> AuthOutcome {
        if byDigest.isEmpty { return peer.isLoopback ? .loopback : .notLoopback }
        guard let presented = ClientAuth.presentedToken(head) else { return .missing }
        if let id = cache?.tokenID(for: presented) { return .token(id) }
        guard let t = byDigest[TokenDigest(of: presented)] else { return .invalid }
        cache?.remember(presented, as: t.id)
        return .token(t.id)
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
