import CEpoll
import Foundation
import Glibc

/// A mock OAuth provider and subscription endpoint on one 127.0.0.1 port: `POST /token`
/// (code exchange with a PKCE verifier check, refresh with a rotating refresh token that
/// is spent once, revocation, configurable lifetime) and `POST /v1/messages` (checks the
/// bearer token is a live access token, answers with the unified rate-limit headers).
final class OAuthMock: @unchecked Sendable {
    private let lock = NSLock()
    private var upstream: ScriptedUpstream!
    /// The code the next exchange accepts, and the challenge its verifier must hash to.
    var expectedCode = "good-code-123456"
    var challenge: String?
    /// Lifetime of issued access tokens.
    var expiresIn = 3600
    /// Refresh tokens answered with 400 invalid_grant.
    var revoked: Set<String> = []
    /// Milliseconds a refresh takes (so racing refreshes would overlap).
    var refreshDelayMillis = 200
    /// The next this many refreshes answer 503 (a passing failure), spending nothing.
    var failNextRefreshes = 0
    /// The unified status `/v1/messages` reports, and the reset it names.
    var unifiedStatus = "allowed"
    var unifiedReset = 0
    /// false: a key channel's mock (any credential is taken, no unified headers).
    var requireBearer = true
    /// When set, token answers carry an id_token whose claims name this ChatGPT account.
    var chatGPTAccount: String?
    /// The content type of the last token request.
    private(set) var tokenContentTypes: [String] = []
    private var serial = 0
    private var live: [String: Date] = [:]
    private var refreshTokens: Set<String> = []
    /// How often each refresh token was presented.
    private(set) var refreshUses: [String: Int] = [:]
    private(set) var exchanges = 0
    private(set) var messages: [(auth: String, beta: String, accountID: String)] = []
    private(set) var tokensIssued: [String] = []
    private(set) var paths: [String] = []

    var port: Int { upstream.port }
    var url: String { "http://127.0.0.1:\(upstream.port)" }

    init(_ test: EndToEndCase) throws {
        // Weak: the server lives until the test's tear-down, after this mock is gone, and the
        // ccload under test may still call it then (a refresh due at the test's end); an
        // unowned reference trapped the whole test process once.
        upstream = try test.startScripted { [weak self] conn, _, _ in
            while let (head, body) = conn.readRequest(timeout: 5) {
                guard let self else { return }
                let (status, extra, text) = self.answer(head, body)
                var out = "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\n"
                for h in extra { out += h + "\r\n" }
                try? conn.send(out + "\r\n" + text)
            }
        }
    }

    /// Every access token issued so far stops working (refresh tokens still do).
    func revokeAccessTokens() { with { $0.live.removeAll() } }

    func with<T>(_ body: (OAuthMock) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(self) }

    private func header(_ head: String, _ name: String) -> String {
        for line in head.components(separatedBy: "\r\n") {
            let p = line.split(separator: ":", maxSplits: 1)
            if p.count == 2, p[0].lowercased() == name { return p[1].trimmingCharacters(in: .whitespaces) }
        }
        return ""
    }

    private func fields(_ head: String, _ body: [UInt8]) -> [String: String] {
        let text = String(decoding: body, as: UTF8.self)
        if header(head, "content-type").hasPrefix("application/json") {
            return ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: String]) ?? [:]
        }
        var out: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]).removingPercentEncoding ?? String(kv[1]) }
        }
        return out
    }

    private func issue() -> String {
        serial += 1
        let access = "at-\(serial)-\(UInt32.random(in: 0...UInt32.max))"
        let refresh = "rt-\(serial)-\(UInt32.random(in: 0...UInt32.max))"
        live[access] = Date().addingTimeInterval(Double(expiresIn))
        refreshTokens.insert(refresh)
        tokensIssued += [access, refresh]
        var idToken = ""
        if let acct = chatGPTAccount {
            let claims = #"{"https://api.openai.com/auth":{"chatgpt_account_id":"\#(acct)"}}"#
            let b64 = Data(claims.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            idToken = #","id_token":"eyJhbGciOiJub25lIn0.\#(b64).c2ln""#
        }
        return #"{"access_token":"\#(access)","refresh_token":"\#(refresh)","expires_in":\#(expiresIn),"token_type":"Bearer"\#(idToken)}"#
    }

    private func answer(_ head: String, _ body: [UInt8]) -> (Int, [String], String) {
        let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
        if path == "/token" {
            let f = fields(head, body)
            lock.lock(); tokenContentTypes.append(header(head, "content-type")); lock.unlock()
            if f["grant_type"] == "refresh_token" {
                let rt = f["refresh_token"] ?? ""
                lock.lock()
                refreshUses[rt, default: 0] += 1
                lock.unlock()
                usleep(UInt32(refreshDelayMillis) * 1000)
                lock.lock(); defer { lock.unlock() }
                if failNextRefreshes > 0 {
                    failNextRefreshes -= 1
                    return (503, [], #"{"error":"temporarily_unavailable"}"#)
                }
                guard !revoked.contains(rt), refreshTokens.remove(rt) != nil else {
                    return (400, [], #"{"error":"invalid_grant","error_description":"refresh token spent or revoked"}"#)
                }
                return (200, [], issue())
            }
            lock.lock(); defer { lock.unlock() }
            exchanges += 1
            let verifier = f["code_verifier"] ?? ""
            var d = [UInt8](repeating: 0, count: 32)
            let v = Array(verifier.utf8)
            _ = v.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &d) }
            let digest = Data(d).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            guard f["grant_type"] == "authorization_code", f["code"] == expectedCode, let c = challenge, digest == c else {
                return (400, [], #"{"error":"invalid_grant"}"#)
            }
            return (200, [], issue())
        }
        lock.lock(); defer { lock.unlock() }
        let auth = header(head, "authorization")
        messages.append((auth, header(head, "anthropic-beta"), header(head, "chatgpt-account-id")))
        paths.append(path)
        let token = auth.hasPrefix("Bearer ") ? String(auth.dropFirst(7)) : ""
        if !requireBearer {
            return (200, [], #"{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"key"}],"usage":{"input_tokens":1,"output_tokens":1}}"#)
        }
        guard let until = live[token], until > Date() else {
            return (401, [], #"{"type":"error","error":{"type":"authentication_error","message":"bad token"}}"#)
        }
        let reset = unifiedReset == 0 ? Int(Date().timeIntervalSince1970) + 3600 : unifiedReset
        let headers = ["anthropic-ratelimit-unified-status: \(unifiedStatus)", "anthropic-ratelimit-unified-reset: \(reset)",
                       "anthropic-ratelimit-unified-5h-status: \(unifiedStatus)", "anthropic-ratelimit-unified-5h-utilization: 0.25",
                       "anthropic-ratelimit-unified-5h-reset: \(reset)", "anthropic-ratelimit-unified-7d-status: allowed",
                       "anthropic-ratelimit-unified-7d-utilization: 0.5", "anthropic-ratelimit-unified-7d-reset: \(reset + 86400)"]
        return (200, headers, #"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":1,"output_tokens":1}}"#)
    }
}
