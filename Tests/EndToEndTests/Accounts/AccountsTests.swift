import Foundation
import XCTest

/// Subscription account channels end to end: the real ccload against `OAuthMock` (sign-in,
/// refresh, the subscription endpoint) and a key channel as the fallback.
final class AccountsTests: EndToEndCase {
    private func env(_ mock: OAuthMock, _ extra: [String: String] = [:]) -> [String: String] {
        var e = ["CCLOAD_CLAUDE_OAUTH_TOKEN_URL": mock.url + "/token",
                 "CCLOAD_CLAUDE_OAUTH_AUTHORIZE_URL": mock.url + "/authorize",
                 "CCLOAD_ACCOUNT_REFRESH_MARGIN": "0", "CCLOAD_ACCOUNT_REFRESH_RETRY": "0.2"]
        for (k, v) in extra { e[k] = v }
        return e
    }

    private func adminPost(_ c: CcloadProcess, _ path: String, _ body: String) throws -> HTTPResponse {
        try c.post(path, body, headers: ["Authorization: Bearer \(try c.adminToken())"])
    }

    private func channelID(_ c: CcloadProcess, _ name: String) throws -> Int {
        let list = try c.adminJSON("/admin/channels")["data"] as? [[String: Any]] ?? []
        guard let id = list.first(where: { $0["name"] as? String == name })?["id"] as? Int else { throw TestFailure("no channel \(name)") }
        return id
    }

    /// Starts a sign-in, tells the mock the challenge, pastes `code#state`; returns the finish answer.
    @discardableResult
    private func signIn(_ c: CcloadProcess, _ mock: OAuthMock, id: Int) throws -> HTTPResponse {
        let start = try adminPost(c, "/admin/channels/\(id)/account/sign-in", #"{"kind":"claude"}"#)
        XCTAssertEqual(start.status, 200, start.bodyText)
        let url = try XCTUnwrap(start.json?["authorize_url"] as? String)
        let items = URLComponents(string: url)?.queryItems ?? []
        func q(_ n: String) -> String? { items.first { $0.name == n }?.value }
        XCTAssertTrue(url.hasPrefix(mock.url + "/authorize?"), url)
        XCTAssertEqual(q("code_challenge_method"), "S256")
        XCTAssertEqual(q("client_id"), "9d1c250a-e61b-44d9-88ed-5944d1962f5e")
        XCTAssertNil(q("code_verifier"), "the verifier stays on the server")
        let state = try XCTUnwrap(q("state"))
        mock.with { $0.challenge = q("code_challenge") }
        return try adminPost(c, "/admin/channels/\(id)/account/finish", #"{"code":"\#(mock.expectedCode)#\#(state)"}"#)
    }

    private func ask(_ c: CcloadProcess, beta: String? = nil) throws -> HTTPResponse {
        try c.request(messagesRequest(headers: beta.map { ["anthropic-beta: \($0)"] } ?? []), timeout: 20)
    }

    private func waitUntil(_ what: String, timeout: Double = 20, _ cond: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try cond() { return }
            usleep(50_000)
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    func testSignInRoundTripSendsTheBearerAndMergedBetaAndNeverShowsATokenAnywhere() throws {
        let mock = try OAuthMock(self)
        let (c, _) = try startRelay([channel("sub", url: mock.url)], [:].merging(env(mock)) { $1 })
        let id = try channelID(c, "sub")
        // Before sign-in the account routes nowhere.
        let started = try adminPost(c, "/admin/channels/\(id)/account/sign-in", "{}")
        XCTAssertEqual(started.status, 200, started.bodyText)
        XCTAssertNotEqual(try ask(c).status, 200, "no token yet: the account does not route")
        XCTAssertEqual(mock.with { $0.messages.count }, 0)
        // A wrong state is refused and spends the sign-in.
        let wrong = try adminPost(c, "/admin/channels/\(id)/account/finish", #"{"code":"\#(mock.expectedCode)#not-the-state"}"#)
        XCTAssertEqual(wrong.status, 400, wrong.bodyText)
        let finish = try signIn(c, mock, id: id)
        XCTAssertEqual(finish.status, 200, finish.bodyText)
        XCTAssertEqual(finish.json?["status"] as? String, "ok")
        let r = try ask(c, beta: "tools-2024, oauth-2025-04-20")
        XCTAssertEqual(r.status, 200, r.bodyText)
        let seen = try XCTUnwrap(mock.with { $0.messages.last })
        let access = try XCTUnwrap(mock.with { $0.tokensIssued.first })
        XCTAssertEqual(seen.auth, "Bearer \(access)")
        XCTAssertEqual(seen.beta, "oauth-2025-04-20,tools-2024")
        // The channel test button uses the account's credential too.
        let probe = try adminPost(c, "/admin/channels/\(id)/test", "{}")
        XCTAssertEqual(probe.json?["ok"] as? Bool, true, probe.bodyText)
        XCTAssertEqual(mock.with { $0.messages.last?.auth }, "Bearer \(access)")
        XCTAssertEqual(mock.with { $0.messages.last?.beta }, "oauth-2025-04-20")
        // The status shows the windows and a masked token.
        try waitUntil("windows") { (try c.adminJSON("/admin/channels/\(id)/account")["rate_limits"] as? [String: Any]) != nil }
        let status = try c.adminJSON("/admin/channels/\(id)/account")
        XCTAssertEqual(status["status"] as? String, "ok")
        let five = (status["rate_limits"] as? [String: Any])?["five_hour"] as? [String: Any]
        XCTAssertEqual(five?["utilization"] as? Double, 0.25)
        var answers = [status, try c.adminJSON("/admin/accounts"), try c.adminJSON("/admin/channels")].map { "\($0)" }
        answers.append(finish.bodyText)
        for t in mock.with({ $0.tokensIssued }) {
            for a in answers { XCTAssertFalse(a.contains(t), "a token shows in an admin answer") }
            XCTAssertFalse(c.process.stderrText.contains(t), "a token shows in the log")
        }
        // Signed out: the account routes nowhere again.
        XCTAssertEqual(try adminPost(c, "/admin/channels/\(id)/account/sign-out", "{}").status, 200)
        XCTAssertEqual(try c.adminJSON("/admin/channels/\(id)/account")["status"] as? String, "needs_sign_in")
        XCTAssertNotEqual(try ask(c).status, 200)
    }

    func testFiftyRequestsMeetingAnExpiredTokenWaitForOneRefresh() throws {
        let mock = try OAuthMock(self)
        mock.with { $0.expiresIn = 2; $0.refreshDelayMillis = 500 }
        let (c, _) = try startRelay([channel("sub", url: mock.url)], env(mock, ["CCLOAD_THREADS": "2"]))
        let id = try channelID(c, "sub")
        XCTAssertEqual(try signIn(c, mock, id: id).status, 200)
        mock.with { $0.expiresIn = 3600 }
        usleep(2_100_000)
        final class Statuses: @unchecked Sendable {
            let lock = NSLock()
            var list: [Int] = []
        }
        let statuses = Statuses()
        let raw = messagesRequest()
        let port = c.port
        DispatchQueue.concurrentPerform(iterations: 50) { _ in
            var s = -1
            if let conn = try? RawConnection(port: port), (try? conn.send(raw)) != nil, let r = try? conn.readResponse(timeout: 30) { s = r.status }
            statuses.lock.lock(); statuses.list.append(s); statuses.lock.unlock()
        }
        XCTAssertEqual(statuses.list.filter { $0 == 200 }.count, 50, "\(statuses.list)")
        XCTAssertEqual(mock.with { $0.refreshUses.values.reduce(0, +) }, 1, "one refresh for all of them")
    }

    func testRevokedRefreshTokenNeedsSignInAndRoutesAround() throws {
        let mock = try OAuthMock(self)
        let backup = try OAuthMock(self)
        backup.with { $0.requireBearer = false }
        mock.with { $0.expiresIn = 1 }
        let (c, _) = try startRelay([channel("sub", url: mock.url, priority: 10), channel("keyed", url: backup.url, priority: 0)], env(mock))
        let id = try channelID(c, "sub")
        XCTAssertEqual(try signIn(c, mock, id: id).status, 200)
        mock.with { $0.revoked = $0.revoked.union($0.tokensIssued.filter { $0.hasPrefix("rt-") }) }
        try waitUntil("needs sign-in") { try c.adminJSON("/admin/channels/\(id)/account")["status"] as? String == "needs_sign_in" }
        XCTAssertEqual(mock.with { $0.refreshUses.values.reduce(0, +) }, 1, "a refused refresh is not retried")
        XCTAssertTrue(c.process.waitForOutput("needs sign-in"), c.process.stderrText)
        let before = backup.with { $0.messages.count }
        XCTAssertEqual(try ask(c).status, 200)
        XCTAssertEqual(backup.with { $0.messages.count }, before + 1, "the request went to the key channel")
        XCTAssertEqual(mock.with { $0.messages.count }, 0)
    }

    func testTwoProcessesOnOneDatabaseSpendARefreshTokenOnce() throws {
        let mock = try OAuthMock(self)
        let db = NSTemporaryDirectory() + "ccload-accounts-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        onTearDown { for s in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: db + s) } }
        mock.with { $0.expiresIn = 2; $0.refreshDelayMillis = 900 }
        let (a, _) = try startRelay([channel("sub", url: mock.url)], env(mock, ["SQLITE_PATH": db]))
        XCTAssertEqual(try signIn(a, mock, id: try channelID(a, "sub")).status, 200)
        let (b, _) = try startRelay([channel("sub", url: mock.url)], env(mock, ["SQLITE_PATH": db]))
        // Several rotations, each with both processes due at the same moment.
        try waitUntil("three refreshes (or one refresh token spent twice)", timeout: 40) {
            mock.with { $0.refreshUses.count >= 3 || $0.refreshUses.values.contains { $0 > 1 } }
        }
        let uses = mock.with { $0.refreshUses }
        XCTAssertTrue(uses.values.allSatisfy { $0 == 1 }, "a refresh token was spent twice: \(uses)")
        XCTAssertEqual(try ask(a).status, 200)
        XCTAssertEqual(try ask(b).status, 200)
        // Every access and refresh token the provider issued is sealed at rest: none is in the
        // database file, its WAL or its shared memory (the bytes both processes wrote).
        var bytes = Data()
        for s in ["", "-wal", "-shm"] { bytes.append(FileManager.default.contents(atPath: db + s) ?? Data()) }
        XCTAssertGreaterThan(bytes.count, 0)
        let issued = mock.with { $0.tokensIssued }
        XCTAssertGreaterThanOrEqual(issued.count, 8, "a sign-in and three refreshes issue four pairs")
        for t in issued { XCTAssertNil(bytes.range(of: Data(t.utf8)), "a token is in the database file") }
    }

    func testCodexAccountSignsInFromTheLandingAddressAndSendsTheAccountID() throws {
        let mock = try OAuthMock(self)
        mock.with { $0.chatGPTAccount = "acct-codex-77" }
        let (c, _) = try startRelay([channel("codex-sub", "codex", url: mock.url + "/backend-api/codex")],
                                    env(mock, ["CCLOAD_CODEX_OAUTH_TOKEN_URL": mock.url + "/token", "CCLOAD_CODEX_OAUTH_AUTHORIZE_URL": mock.url + "/authorize"]))
        let id = try channelID(c, "codex-sub")
        let wrongKind = try adminPost(c, "/admin/channels/\(id)/account/sign-in", #"{"kind":"claude"}"#)
        XCTAssertEqual(wrongKind.status, 400, "a claude account on a codex channel: " + wrongKind.bodyText)
        let start = try adminPost(c, "/admin/channels/\(id)/account/sign-in", "{}")
        XCTAssertEqual(start.status, 200, start.bodyText)
        let items = URLComponents(string: try XCTUnwrap(start.json?["authorize_url"] as? String))?.queryItems ?? []
        func q(_ n: String) -> String? { items.first { $0.name == n }?.value }
        XCTAssertEqual(q("client_id"), "app_EMoamEEZ73f0CkXaXp7hrann")
        XCTAssertEqual(q("scope"), "openid profile email offline_access")
        mock.with { $0.challenge = q("code_challenge") }
        let landing = "http://localhost:1455/auth/callback?code=\(mock.expectedCode)&scope=openid&state=\(try XCTUnwrap(q("state")))"
        let finish = try adminPost(c, "/admin/channels/\(id)/account/finish", #"{"code":"\#(landing)"}"#)
        XCTAssertEqual(finish.status, 200, finish.bodyText)
        XCTAssertEqual(finish.json?["account_id"] as? String, "acct-codex-77")
        XCTAssertEqual(mock.with { $0.tokenContentTypes.last }, "application/x-www-form-urlencoded")
        let r = try c.post("/v1/responses", #"{"model":"gpt-5-codex","input":"hi"}"#)
        XCTAssertEqual(r.status, 200, r.bodyText)
        let seen = try XCTUnwrap(mock.with { $0.messages.last })
        XCTAssertEqual(seen.auth, "Bearer \(try XCTUnwrap(mock.with { $0.tokensIssued.first }))")
        XCTAssertEqual(seen.accountID, "acct-codex-77")
        XCTAssertEqual(mock.with { $0.paths.last }, "/backend-api/codex/responses")
        // A finish with no sign-in waiting is a conflict, not a crash.
        XCTAssertEqual(try adminPost(c, "/admin/channels/\(id)/account/finish", #"{"code":"abc"}"#).status, 409)
        XCTAssertEqual(try adminPost(c, "/admin/channels/\(id)/account/finish", #"{"code":""}"#).status, 400)
        // Back to a key channel: the account goes, the channel stays.
        let del = try c.request("DELETE /admin/channels/\(id)/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(try c.adminToken())\r\n\r\n")
        XCTAssertEqual(del.status, 200, del.bodyText)
        XCTAssertEqual(try c.get("/admin/channels/\(id)/account", headers: ["Authorization: Bearer \(try c.adminToken())"]).status, 404)
        XCTAssertEqual(try channelID(c, "codex-sub"), id)
    }

    func testTokensRefreshBeforeTheyExpireAndAPassingFailureIsRetried() throws {
        let mock = try OAuthMock(self)
        // A margin of 3590 s on a 3600 s token: due at once, long before it expires.
        let (c, _) = try startRelay([channel("sub", url: mock.url)], env(mock, ["CCLOAD_ACCOUNT_REFRESH_MARGIN": "3590"]))
        let id = try channelID(c, "sub")
        mock.with { $0.failNextRefreshes = 2 }
        XCTAssertEqual(try signIn(c, mock, id: id).status, 200)
        let first = try XCTUnwrap(mock.with { $0.tokensIssued.first })
        try waitUntil("a refresh after two passing failures") { mock.with { $0.refreshUses.values.reduce(0, +) } >= 3 }
        XCTAssertTrue(c.process.waitForOutput("refresh failed (HTTP 503"), c.process.stderrText)
        try waitUntil("the new token in use") {
            _ = try ask(c)
            return mock.with { $0.messages.last?.auth } != "Bearer \(first)"
        }
        let status = try c.adminJSON("/admin/channels/\(id)/account")
        XCTAssertEqual(status["status"] as? String, "ok")
        let signedIn = try XCTUnwrap(mock.with { $0.tokensIssued.dropFirst().first })
        XCTAssertEqual(mock.with { $0.refreshUses[signedIn] }, 3, "two passing failures retried with the same refresh token, then one success")
        XCTAssertGreaterThan(status["expires_at"] as? Int ?? 0, Int(Date().timeIntervalSince1970 * 1000) + 3_000_000, "the refreshed token's expiry")
    }

    func testATokenRefusedBeforeItsExpiryIsRefreshedOnceEarly() throws {
        let mock = try OAuthMock(self)
        let (c, _) = try startRelay([channel("sub", url: mock.url)], env(mock))
        let id = try channelID(c, "sub")
        XCTAssertEqual(try signIn(c, mock, id: id).status, 200)
        XCTAssertEqual(try ask(c).status, 200)
        mock.revokeAccessTokens()
        XCTAssertEqual(try ask(c).status, 401, "the refused token's answer goes back (nothing else to try)")
        try waitUntil("an early refresh") { mock.with { $0.refreshUses.values.reduce(0, +) } == 1 }
        try waitUntil("the new token answering") { try ask(c).status == 200 }
        XCTAssertEqual(mock.with { $0.refreshUses.values.reduce(0, +) }, 1, "one early refresh, not one per 401")
    }

    func testRejectedWindowStepsRoutingOffUntilReset() throws {
        let mock = try OAuthMock(self)
        let backup = try OAuthMock(self)
        backup.with { $0.requireBearer = false }
        let (c, _) = try startRelay([channel("sub", url: mock.url, priority: 10), channel("keyed", url: backup.url, priority: 0)], env(mock))
        let id = try channelID(c, "sub")
        XCTAssertEqual(try signIn(c, mock, id: id).status, 200)
        mock.with { $0.unifiedStatus = "rejected"; $0.unifiedReset = Int(Date().timeIntervalSince1970) + 120 }
        XCTAssertEqual(try ask(c).status, 200)  // this answer still came; it says the account is at its limit
        XCTAssertEqual(try ask(c).status, 200)
        XCTAssertEqual(mock.with { $0.messages.count }, 1, "the limited account was stepped off")
        XCTAssertEqual(backup.with { $0.messages.count }, 1)
        let cooling = try c.cooldowns()
        XCTAssertTrue(cooling.contains { ($0["remaining_ms"] as? Int ?? 0) > 60_000 }, "\(cooling)")
    }
}
