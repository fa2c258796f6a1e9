import CEpoll
import Reactor

/// Sign-ins started and not yet finished: per account channel, its PKCE verifier and state,
/// kept server-side for `AccountSettings.signInTTLMillis` and bounded in number. The
/// authorize URL carries only the S256 challenge and the state.
public final class AccountSignIns: Sendable {
    public struct Pending: Sendable, Equatable {
        public var kind: AccountKind
        public var verifier: String
        public var state: String
        public var expiresMillis: UInt64
    }

    /// At most this many sign-ins wait at once; the oldest goes first.
    public static let capacity = 64

    private let pending = Lock<[Int: Pending]>([:])

    public init() {}

    /// Starts (or starts over) the sign-in of channel `channelID`: the authorize URL to open.
    public func start(channelID: Int, kind: AccountKind, provider: OAuthProvider, nowMillis: UInt64, ttlMillis: UInt64) -> String {
        let verifier = Store.base64url(Self.random(32))
        let state = Store.base64url(Self.random(32))
        let challenge = Store.base64url(TokenDigest(of: Array(verifier.utf8)).bytes)
        pending.withLock { p in
            p = p.filter { $0.value.expiresMillis > nowMillis }
            if p[channelID] == nil && p.count >= Self.capacity, let oldest = p.min(by: { $0.value.expiresMillis < $1.value.expiresMillis }) {
                p[oldest.key] = nil
            }
            p[channelID] = Pending(kind: kind, verifier: verifier, state: state, expiresMillis: nowMillis &+ ttlMillis)
        }
        var query: [(String, String)] = []
        if kind == .claude { query.append(("code", "true")) }
        query += [("client_id", provider.clientID), ("response_type", "code"), ("redirect_uri", provider.redirectURI),
                  ("scope", provider.scopes), ("code_challenge", challenge), ("code_challenge_method", "S256"), ("state", state)]
        if kind == .codex { query += [("id_token_add_organizations", "true"), ("codex_cli_simplified_flow", "true")] }
        let sep = provider.authorizeURL.contains("?") ? "&" : "?"
        return provider.authorizeURL + sep + FormEncoding.encode(query)
    }

    /// Takes the pending sign-in of `channelID` (it is spent either way), when not expired.
    public func take(channelID: Int, nowMillis: UInt64) -> Pending? {
        pending.withLock { p in
            guard let v = p.removeValue(forKey: channelID), v.expiresMillis > nowMillis else { return nil }
            return v
        }
    }

    /// Forgets the pending sign-in of `channelID`.
    public func cancel(channelID: Int) { _ = pending.withLock { $0.removeValue(forKey: channelID) } }

    public var count: Int { pending.withLock { $0.count } }

    static func random(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        precondition(RAND_bytes(&b, Int32(n)) == 1, "no randomness")
        return b
    }

    /// What an admin pasted: the code alone, `code#state` (Claude's code page), or the
    /// address the browser landed on (`…?code=…&state=…`). The state, when given, must match.
    public static func pastedCode(_ text: String) -> (code: String, state: String?)? {
        let t = text.trimmingCharactersInSpaces
        guard !t.isEmpty, t.utf8.count <= 4096 else { return nil }
        if t.hasPrefix("http://") || t.hasPrefix("https://") {
            guard let q = t.firstIndex(of: "?") else { return nil }
            var code: String?, state: String?
            for pair in t[t.index(after: q)...].split(whereSeparator: { $0 == "&" || $0 == "#" }) {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let v = FormEncoding.decode(String(kv[1]))
                if kv[0] == "code" { code = v } else if kv[0] == "state" { state = v }
            }
            guard let code, !code.isEmpty, Self.plausible(code) else { return nil }
            return (code, state)
        }
        let parts = t.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let code = String(parts[0])
        guard !code.isEmpty, Self.plausible(code) else { return nil }
        return (code, parts.count == 2 && !parts[1].isEmpty ? String(parts[1]) : nil)
    }

    /// A code has no spaces or control characters (it goes into a request body).
    static func plausible(_ s: String) -> Bool { s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F } }
}

extension String {
    var trimmingCharactersInSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\r" || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\r" || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// `application/x-www-form-urlencoded` (RFC 3986 unreserved characters kept).
public enum FormEncoding {
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    static func decode(_ s: String) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x37
            case 0x61...0x66: return c - 0x57
            default: return nil
            }
        }
        while i < b.count {
            if b[i] == 0x25, i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i] == 0x2B ? 0x20 : b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
