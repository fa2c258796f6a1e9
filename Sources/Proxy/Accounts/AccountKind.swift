/// What signs in to a subscription account channel: a Claude (Pro/Max) login, spoken to
/// with the Anthropic protocol, or a ChatGPT login for Codex, spoken to with the Codex
/// Responses protocol. An account channel's credential is an OAuth token pair that
/// refreshes itself, not a key.
public enum AccountKind: String, Sendable, Codable, CaseIterable {
    case claude
    case codex

    /// The wire protocol the channel speaks.
    public var protocolKind: ProtocolKind {
        switch self {
        case .claude: return .anthropic
        case .codex: return .codex
        }
    }

    /// The account kind a channel of protocol `kind` may be, if any.
    public static func forProtocol(_ kind: ProtocolKind) -> AccountKind? {
        allCases.first { $0.protocolKind == kind }
    }
}

/// Where an account stands.
public enum AccountStatus: String, Sendable, Codable {
    /// It holds a token pair that refreshes.
    case ok
    /// No token yet, or its refresh token was refused: an admin must sign in (routing skips it).
    case needsSignIn = "needs_sign_in"
}
