import Foundation

/// One call to a provider's token endpoint (a code exchange or a refresh): the body it
/// sends, and what its answer means. Claude's endpoint takes JSON, OpenAI's a form. Off the
/// request path (admin handlers and the refresher), so Foundation is fine here.
public struct OAuthTokenCall: Sendable {
    public var contentType: String
    public var body: [UInt8]

    /// The code exchange after a sign-in.
    public static func exchange(_ kind: AccountKind, _ p: OAuthProvider, code: String, verifier: String, state: String) -> OAuthTokenCall {
        switch kind {
        case .claude:
            return json(["grant_type": "authorization_code", "client_id": p.clientID, "code": code,
                         "redirect_uri": p.redirectURI, "code_verifier": verifier, "state": state])
        case .codex:
            return form([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", p.redirectURI),
                         ("client_id", p.clientID), ("code_verifier", verifier)])
        }
    }

    /// A refresh that spends `refreshToken`.
    public static func refresh(_ kind: AccountKind, _ p: OAuthProvider, refreshToken: String) -> OAuthTokenCall {
        switch kind {
        case .claude:
            return json(["grant_type": "refresh_token", "refresh_token": refreshToken, "client_id": p.clientID])
        case .codex:
            return form([("grant_type", "refresh_token"), ("client_id", p.clientID), ("refresh_token", refreshToken),
                         ("scope", "openid profile email")])
        }
    }

    static func json(_ fields: [String: String]) -> OAuthTokenCall {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return OAuthTokenCall(contentType: "application/json", body: Array(data))
    }

    static func form(_ pairs: [(String, String)]) -> OAuthTokenCall {
        OAuthTokenCall(contentType: "application/x-www-form-urlencoded", body: Array(FormEncoding.encode(pairs).utf8))
    }

    /// What a token endpoint's answer means.
    public enum Outcome: Sendable, Equatable {
        case tokens(AccountTokens)
        /// The grant was refused (400 `invalid_grant` and the like, 401, 403): sign in again.
        case refused(String)
        /// Anything else (5xx, 429, a transport failure, an answer that does not parse): try again later.
        case transient(String)
    }

    /// Access tokens live at most this long, whatever `expires_in` says.
    static let maxLifetimeSeconds: Double = 366 * 86_400

    /// Reads an answer (`status`, `body`); `previousRefresh` stays when a refresh answer
    /// names no new refresh token. Error text names the error code only (never a token).
    public static func outcome(status: Int, body: [UInt8], nowMillis: UInt64, previousRefresh: String?) -> Outcome {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        guard (200..<300).contains(status) else {
            let code = (object?["error"] as? String) ?? ((object?["error"] as? [String: Any])?["type"] as? String) ?? ""
            let what = "HTTP \(status)" + (code.isEmpty ? "" : " \(Self.printable(code))")
            if status == 401 || status == 403 || (status == 400 && ["invalid_grant", "invalid_request", "unauthorized_client", "invalid_client", ""].contains(code)) {
                return .refused(what)
            }
            return .transient(what)
        }
        guard let object, let access = object["access_token"] as? String, !access.isEmpty, Self.headerSafe(access) else {
            return .transient("the token endpoint's answer has no access_token")
        }
        let refresh = (object["refresh_token"] as? String).flatMap { $0.isEmpty ? nil : $0 } ?? previousRefresh ?? ""
        guard !refresh.isEmpty, Self.headerSafe(refresh) else { return .transient("the token endpoint's answer has no refresh_token") }
        var lifetime = 3600.0
        if let n = object["expires_in"] as? NSNumber {
            let d = n.doubleValue
            if d.isFinite && d > 0 { lifetime = min(d, maxLifetimeSeconds) }
        }
        let expires = nowMillis &+ UInt64(lifetime * 1000)
        var accountID = ""
        if let idToken = object["id_token"] as? String { accountID = Self.chatGPTAccountID(idToken: idToken) ?? "" }
        return .tokens(AccountTokens(accessToken: access, refreshToken: refresh, expiresMillis: expires, accountID: accountID))
    }

    /// The `chatgpt_account_id` claim of an OpenAI id_token (its payload is read, not verified:
    /// it came straight from the token endpoint over TLS).
    public static func chatGPTAccountID(idToken: String) -> String? {
        let parts = idToken.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count <= 64 * 1024 else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.utf8.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64),
              let payload = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let auth = payload["https://api.openai.com/auth"] as? [String: Any],
              let id = auth["chatgpt_account_id"] as? String, !id.isEmpty, id.utf8.count <= 256, headerSafe(id) else { return nil }
        return id
    }

    /// Fit for a header value: visible ASCII only, bounded.
    static func headerSafe(_ s: String) -> Bool { s.utf8.count <= 16 * 1024 && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } }

    static func printable(_ s: String) -> String { String(s.prefix(64).filter { $0.isLetter || $0.isNumber || $0 == "_" }) }
}
