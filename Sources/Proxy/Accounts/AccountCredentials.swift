/// What the request path sends for each signed-in account: the credential fields, made once
/// per snapshot (`Authorization: Bearer …` and, for Codex, `chatgpt-account-id: …`, as
/// header bytes), and when the token expires. Immutable; a sign-in or refresh builds a new
/// snapshot and the control plane swaps it into every loop, like the channel table.
public final class AccountCredentials: Sendable {
    public struct Entry: Sendable {
        public let kind: AccountKind
        /// The credential header lines, each ending in CRLF.
        public let fields: [UInt8]
        /// Wall clock, milliseconds.
        public let expiresMillis: UInt64
        /// Claude: the `anthropic-beta` flag the subscription endpoint needs.
        public let beta: [UInt8]?
    }

    let byChannel: [Int: Entry]

    /// `claudeBeta`: `AccountSettings.claudeBeta` (empty: none).
    public init(_ rows: [AccountRow], claudeBeta: String = AccountSettings.defaults.claudeBeta) {
        let beta: [UInt8]? = claudeBeta.isEmpty || !OAuthTokenCall.headerSafe(claudeBeta) ? nil : Array(claudeBeta.utf8)
        var m: [Int: Entry] = [:]
        for r in rows where r.status == .ok && !r.accessToken.isEmpty && OAuthTokenCall.headerSafe(r.accessToken) {
            var f: [UInt8] = []
            f.append(contentsOf: "Authorization: Bearer ".utf8)
            f.append(contentsOf: r.accessToken.utf8)
            f.append(contentsOf: "\r\n".utf8)
            if r.kind == .codex && !r.accountID.isEmpty && OAuthTokenCall.headerSafe(r.accountID) {
                f.append(contentsOf: "chatgpt-account-id: ".utf8)
                f.append(contentsOf: r.accountID.utf8)
                f.append(contentsOf: "\r\n".utf8)
            }
            m[r.channelID] = Entry(kind: r.kind, fields: f, expiresMillis: r.expiresMillis,
                                 beta: r.kind == .claude ? beta : nil)
        }
        byChannel = m
    }

    public static let none = AccountCredentials([])

    @inline(__always)
    public subscript(channelID: Int) -> Entry? { byChannel[channelID] }

    /// Whether channel `channelID`'s token is missing or expires within `slackMillis` of `nowMillis`.
    @inline(__always)
    public func expired(channelID: Int, nowMillis: UInt64, slackMillis: UInt64 = 1000) -> Bool {
        guard let e = byChannel[channelID] else { return true }
        return e.expiresMillis <= nowMillis &+ slackMillis
    }

    /// The expiry per account, for comparing with the store (another process may have refreshed).
    public var expiries: [Int: UInt64] { byChannel.mapValues(\.expiresMillis) }
}
