/// One OAuth provider's public facts: the authorize page, the token endpoint, the client
/// id, the redirect URI the out-of-band code page answers to, and the scopes. Settings
/// (`SettingsCatalog`), so a test points them at a local mock and a change upstream needs
/// no release.
public struct OAuthProvider: Sendable, Equatable {
    public var authorizeURL: String
    public var tokenURL: String
    public var clientID: String
    public var redirectURI: String
    public var scopes: String
    /// Sent on token requests (the CLI's own user agent).
    public var userAgent: String

    public init(authorizeURL: String, tokenURL: String, clientID: String, redirectURI: String, scopes: String, userAgent: String) {
        self.authorizeURL = authorizeURL
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.scopes = scopes
        self.userAgent = userAgent
    }
}

/// How accounts sign in and refresh (start-up settings).
public struct AccountSettings: Sendable, Equatable {
    public var claude: OAuthProvider
    public var codex: OAuthProvider
    /// The beta flag a Claude subscription request must carry (merged into the client's `anthropic-beta`).
    public var claudeBeta: String
    /// Refresh this long before the access token expires.
    public var refreshMarginMillis: UInt64
    /// A request that meets an expired token waits at most this long for the refresh.
    public var waitMillis: UInt64
    /// First retry delay after a transient refresh failure (doubling, at most 10 minutes).
    public var retryMillis: UInt64
    /// A pending sign-in (its PKCE verifier and state) is forgotten after this.
    public var signInTTLMillis: UInt64

    /// The catalog's defaults (the public values).
    public static var defaults: AccountSettings { from { SettingsCatalog.named($0).defaultValue } }

    /// From setting values by catalog key (`value` gives the resolved text of each).
    public static func from(_ value: (String) -> String) -> AccountSettings {
        func millis(_ key: String) -> UInt64 { Saturating.nanos(seconds: Double(value(key)) ?? 0) / 1_000_000 }
        return AccountSettings(
            claude: OAuthProvider(authorizeURL: value("claude_oauth_authorize_url"), tokenURL: value("claude_oauth_token_url"),
                                  clientID: value("claude_oauth_client_id"), redirectURI: value("claude_oauth_redirect_uri"),
                                  scopes: value("claude_oauth_scopes"), userAgent: value("claude_oauth_user_agent")),
            codex: OAuthProvider(authorizeURL: value("codex_oauth_authorize_url"), tokenURL: value("codex_oauth_token_url"),
                                 clientID: value("codex_oauth_client_id"), redirectURI: value("codex_oauth_redirect_uri"),
                                 scopes: value("codex_oauth_scopes"), userAgent: value("codex_oauth_user_agent")),
            claudeBeta: value("claude_oauth_beta"),
            refreshMarginMillis: millis("account_refresh_margin_seconds"),
            waitMillis: millis("account_refresh_wait_seconds"),
            retryMillis: millis("account_refresh_retry_seconds"),
            signInTTLMillis: millis("account_sign_in_ttl_seconds"))
    }

    public init(claude: OAuthProvider, codex: OAuthProvider, claudeBeta: String, refreshMarginMillis: UInt64,
                waitMillis: UInt64, retryMillis: UInt64, signInTTLMillis: UInt64) {
        self.claude = claude
        self.codex = codex
        self.claudeBeta = claudeBeta
        self.refreshMarginMillis = refreshMarginMillis
        self.waitMillis = waitMillis
        self.retryMillis = retryMillis
        self.signInTTLMillis = signInTTLMillis
    }

    public func provider(_ kind: AccountKind) -> OAuthProvider {
        switch kind {
        case .claude: return claude
        case .codex: return codex
        }
    }
}
