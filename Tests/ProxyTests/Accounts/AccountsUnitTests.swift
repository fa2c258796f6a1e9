import Foundation
import Reactor
import XCTest

@testable import Proxy

/// The pieces of subscription accounts that need no network: the rate-limit windows'
/// parsing (hostile numbers), the pasted code, the token endpoint's answers, the id_token's
/// account id, the merged beta field, the sign-in table's bounds, and the store's lease.
final class AccountsUnitTests: XCTestCase {
    private func head(_ fields: [(String, String)]) throws -> HTTPResponseHead {
        var text = "HTTP/1.1 200 OK\r\n"
        for (k, v) in fields { text += "\(k): \(v)\r\n" }
        text += "Content-Length: 0\r\n\r\n"
        var parser = HTTP1ResponseParser()
        let bytes = Array(text.utf8)
        var offset = 0
        let event = bytes.withUnsafeBytes { parser.next($0, &offset) }
        guard event == .head, let h = parser.head else { throw CancellationError() }
        return h
    }

    let now: UInt64 = 1_800_000_000

    func testWindowsParseAndSayWhenTheAccountIsAtItsLimit() throws {
        let h = try head([("anthropic-ratelimit-unified-status", "allowed"), ("anthropic-ratelimit-unified-reset", "\(now + 600)"),
                          ("anthropic-ratelimit-unified-5h-status", "allowed_warning"), ("anthropic-ratelimit-unified-5h-utilization", "0.875"),
                          ("anthropic-ratelimit-unified-5h-reset", "\(now + 600)"), ("anthropic-ratelimit-unified-7d-status", "allowed"),
                          ("anthropic-ratelimit-unified-7d-utilization", "0.1"), ("anthropic-ratelimit-unified-7d-reset", "\(now + 86_400)")])
        let w = try XCTUnwrap(RateLimitWindows.parse(h, nowSeconds: now))
        XCTAssertEqual(w.fiveHour.status, .allowedWarning)
        XCTAssertEqual(w.fiveHour.utilizationMilli, 875)
        XCTAssertEqual(w.sevenDay.utilizationMilli, 100)
        XCTAssertEqual(w.sevenDay.resetSeconds, now + 86_400)
        XCTAssertNil(w.limitedUntil(nowSeconds: now), "not at the limit")
        var full = w
        full.fiveHour.utilizationMilli = 1000
        XCTAssertEqual(full.limitedUntil(nowSeconds: now), now + 600, "a fully used window steps off until its reset")
        var rejected = w
        rejected.status = .rejected
        XCTAssertEqual(rejected.limitedUntil(nowSeconds: now), now + 600)
        var sevenDay = w
        sevenDay.sevenDay.status = .rejected
        XCTAssertEqual(sevenDay.limitedUntil(nowSeconds: now), now + 86_400, "the weekly window's own reset")
        var past = rejected
        past.resetSeconds = now - 5
        past.fiveHour.resetSeconds = nil
        past.sevenDay.resetSeconds = nil
        XCTAssertNil(past.limitedUntil(nowSeconds: now), "a reset in the past is no limit")
        XCTAssertNil(RateLimitWindows.parse(try head([("x-other", "1")]), nowSeconds: now), "no unified field: nothing")
    }

    func testHostileNumbersAreDroppedNeverTrapped() throws {
        for bad in ["-1", "1e308", "NaN", "inf", "99999999999999999999999999", "1.2.3", "", " ", "0x10", "11", "10.001"] {
            XCTAssertNil(RateLimitWindows.utilization(Array(bad.utf8)[...]), bad)
        }
        XCTAssertEqual(RateLimitWindows.utilization(Array("10".utf8)[...]), 10_000, "the top of the range")
        XCTAssertEqual(RateLimitWindows.utilization(Array("1".utf8)[...]), 1000)
        XCTAssertEqual(RateLimitWindows.utilization(Array("0.12345".utf8)[...]), 123, "three decimals read")
        for bad in ["99999999999999999999", "18446744073709551616", "-5", "12a", "1.5", "", "\(now + 41 * 86_400)", "\(now - 41 * 86_400)"] {
            XCTAssertNil(RateLimitWindows.reset(Array(bad.utf8)[...], now: now), bad)
        }
        XCTAssertEqual(RateLimitWindows.reset(Array("\(now + 40 * 86_400)".utf8)[...], now: now), now + 40 * 86_400, "the edge of the range")
        XCTAssertEqual(RateLimitWindows.status(Array("REJECTED".utf8)[...]), .rejected)
        XCTAssertEqual(RateLimitWindows.status(Array("maybe".utf8)[...]), .unknown)
    }

    func testPastedCodeTakesTheCodeCodeHashStateOrTheCallbackAddress() {
        XCTAssertEqual(AccountSignIns.pastedCode("  abc123 \n")?.code, "abc123")
        XCTAssertNil(AccountSignIns.pastedCode("abc123")?.state)
        let hashed = AccountSignIns.pastedCode("abc#st-1")
        XCTAssertEqual(hashed?.code, "abc")
        XCTAssertEqual(hashed?.state, "st-1")
        let url = AccountSignIns.pastedCode("http://localhost:1455/auth/callback?code=c%2Fd&scope=x&state=s9")
        XCTAssertEqual(url?.code, "c/d")
        XCTAssertEqual(url?.state, "s9")
        XCTAssertNil(AccountSignIns.pastedCode(""))
        XCTAssertNil(AccountSignIns.pastedCode("#state"))
        XCTAssertNil(AccountSignIns.pastedCode("a b"), "a space cannot be in a code")
        XCTAssertNil(AccountSignIns.pastedCode("http://localhost/cb?state=1"), "an address without a code")
        XCTAssertNil(AccountSignIns.pastedCode(String(repeating: "a", count: 4097)), "too long")
        XCTAssertNotNil(AccountSignIns.pastedCode(String(repeating: "a", count: 4096)))
    }

    func testSignInsAreSpentOnceExpireAndAreBounded() {
        let s = AccountSignIns()
        let p = AccountSettings.defaults.claude
        let url = s.start(channelID: 1, kind: .claude, provider: p, nowMillis: 1000, ttlMillis: 500)
        let q = URLComponents(string: url)?.queryItems ?? []
        let challenge = q.first { $0.name == "code_challenge" }?.value
        XCTAssertEqual(q.first { $0.name == "code_challenge_method" }?.value, "S256")
        XCTAssertEqual(q.first { $0.name == "code" }?.value, "true")
        let pending = s.take(channelID: 1, nowMillis: 1200)
        XCTAssertNotNil(pending)
        XCTAssertEqual(Store.base64url(TokenDigest(of: Array(pending!.verifier.utf8)).bytes), challenge, "S256 of the kept verifier")
        XCTAssertEqual(q.first { $0.name == "state" }?.value, pending?.state)
        XCTAssertNil(s.take(channelID: 1, nowMillis: 1200), "spent by one finish")
        _ = s.start(channelID: 2, kind: .codex, provider: AccountSettings.defaults.codex, nowMillis: 1000, ttlMillis: 500)
        XCTAssertNil(s.take(channelID: 2, nowMillis: 1500), "expired")
        for i in 0..<(AccountSignIns.capacity + 10) {
            _ = s.start(channelID: 100 + i, kind: .claude, provider: p, nowMillis: 2000 + UInt64(i), ttlMillis: 10_000)
        }
        XCTAssertEqual(s.count, AccountSignIns.capacity)
        XCTAssertNil(s.take(channelID: 100, nowMillis: 3000), "the oldest went first")
        XCTAssertNotNil(s.take(channelID: 100 + AccountSignIns.capacity + 9, nowMillis: 3000))
    }

    func testTokenAnswersMeanTokensRefusalOrTryAgain() {
        let ok = OAuthTokenCall.outcome(status: 200, body: Array(#"{"access_token":"a1","refresh_token":"r1","expires_in":100}"#.utf8),
                                        nowMillis: 5000, previousRefresh: nil)
        XCTAssertEqual(ok, .tokens(AccountTokens(accessToken: "a1", refreshToken: "r1", expiresMillis: 105_000, accountID: "")))
        let kept = OAuthTokenCall.outcome(status: 200, body: Array(#"{"access_token":"a2","expires_in":1e300}"#.utf8), nowMillis: 0, previousRefresh: "r0")
        guard case .tokens(let t) = kept else { return XCTFail("\(kept)") }
        XCTAssertEqual(t.refreshToken, "r0", "no new refresh token: the old one stays")
        XCTAssertEqual(t.expiresMillis, UInt64(OAuthTokenCall.maxLifetimeSeconds * 1000), "a lifetime past a year is capped")
        let negative = OAuthTokenCall.outcome(status: 200, body: Array(#"{"access_token":"a","refresh_token":"r","expires_in":-5}"#.utf8), nowMillis: 0, previousRefresh: nil)
        XCTAssertEqual(negative, .tokens(AccountTokens(accessToken: "a", refreshToken: "r", expiresMillis: 3_600_000, accountID: "")))
        XCTAssertEqual(OAuthTokenCall.outcome(status: 400, body: Array(#"{"error":"invalid_grant"}"#.utf8), nowMillis: 0, previousRefresh: nil),
                       .refused("HTTP 400 invalid_grant"))
        XCTAssertEqual(OAuthTokenCall.outcome(status: 401, body: [], nowMillis: 0, previousRefresh: nil), .refused("HTTP 401"))
        XCTAssertEqual(OAuthTokenCall.outcome(status: 503, body: [], nowMillis: 0, previousRefresh: nil), .transient("HTTP 503"))
        XCTAssertEqual(OAuthTokenCall.outcome(status: 429, body: Array(#"{"error":"rate_limited"}"#.utf8), nowMillis: 0, previousRefresh: nil),
                       .transient("HTTP 429 rate_limited"))
        XCTAssertEqual(OAuthTokenCall.outcome(status: 200, body: Array("not json".utf8), nowMillis: 0, previousRefresh: nil),
                       .transient("the token endpoint's answer has no access_token"))
        if case .tokens = OAuthTokenCall.outcome(status: 200, body: Array(#"{"access_token":"a\r\nX: y","refresh_token":"r"}"#.utf8), nowMillis: 0, previousRefresh: nil) {
            XCTFail("a token that would split a header is refused")
        }
    }

    func testChatGPTAccountIDComesFromTheIDTokensClaims() {
        func jwt(_ payload: String) -> String {
            let b = Data(payload.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            return "eyJhbGciOiJub25lIn0.\(b).sig"
        }
        XCTAssertEqual(OAuthTokenCall.chatGPTAccountID(idToken: jwt(#"{"https://api.openai.com/auth":{"chatgpt_account_id":"acct-42"}}"#)), "acct-42")
        XCTAssertNil(OAuthTokenCall.chatGPTAccountID(idToken: jwt(#"{"sub":"x"}"#)))
        XCTAssertNil(OAuthTokenCall.chatGPTAccountID(idToken: "only.two"))
        XCTAssertNil(OAuthTokenCall.chatGPTAccountID(idToken: jwt(#"{"https://api.openai.com/auth":{"chatgpt_account_id":"a b"}}"#)))
        let body = #"{"access_token":"a","refresh_token":"r","id_token":"\#(jwt(#"{"https://api.openai.com/auth":{"chatgpt_account_id":"acct-7"}}"#))"}"#
        guard case .tokens(let t) = OAuthTokenCall.outcome(status: 200, body: Array(body.utf8), nowMillis: 0, previousRefresh: nil) else { return XCTFail() }
        XCTAssertEqual(t.accountID, "acct-7")
    }

    func testAccountCredentialMergesTheBetaAndDropsTheClientsCredentials() throws {
        var parser = HTTP1RequestParser(maxBodyBytes: 1 << 20)
        let text = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: client-secret\r\nanthropic-beta: a-1, oauth-2025-04-20\r\nAnthropic-Beta: b-2\r\nContent-Length: 0\r\n\r\n"
        let bytes = Array(text.utf8)
        var offset = 0
        _ = bytes.withUnsafeBytes { parser.next($0, &offset) }
        let h = try XCTUnwrap(parser.head)
        let creds = AccountCredentials([AccountRow(channelID: 3, kind: .claude, accessToken: "at-x", refreshToken: "rt-x", expiresMillis: 10, status: .ok)])
        let e = try XCTUnwrap(creds[3])
        let out = String(decoding: HeaderRewriter.upstreamRequest(h, target: Array("/v1/messages".utf8), hostHeader: Array("api".utf8),
                                                                   credential: .account(fields: e.fields, beta: e.beta), bodyLength: 0), as: UTF8.self)
        XCTAssertTrue(out.contains("Authorization: Bearer at-x\r\n"), out)
        XCTAssertTrue(out.contains("anthropic-beta: oauth-2025-04-20,a-1,b-2\r\n"), out)
        XCTAssertEqual(out.lowercased().components(separatedBy: "anthropic-beta:").count, 2, "one beta field")
        XCTAssertFalse(out.contains("client-secret"))
        XCTAssertFalse(out.contains("rt-x"))
        let codex = AccountCredentials([AccountRow(channelID: 4, kind: .codex, accessToken: "at-c", expiresMillis: 10, accountID: "acct-1", status: .ok),
                                        AccountRow(channelID: 5, kind: .claude, accessToken: "at-n", status: .needsSignIn)])
        XCTAssertEqual(String(decoding: try XCTUnwrap(codex[4]).fields, as: UTF8.self), "Authorization: Bearer at-c\r\nchatgpt-account-id: acct-1\r\n")
        XCTAssertNil(codex[4]?.beta)
        XCTAssertNil(codex[5], "an account that needs sign-in has no credential")
        XCTAssertTrue(codex.expired(channelID: 4, nowMillis: 9))
        XCTAssertTrue(codex.expired(channelID: 5, nowMillis: 0))
        XCTAssertFalse(AccountCredentials([AccountRow(channelID: 6, kind: .codex, accessToken: "t", expiresMillis: 100_000, status: .ok)])
            .expired(channelID: 6, nowMillis: 1000))
    }

    func testTheLeaseIsWonOnceAndNotAfterSomeoneRefreshed() throws {
        let path = NSTemporaryDirectory() + "ccload-acct-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let a = try StoreTest.open(path: path)
        defer { a.close() }
        let b = try StoreTest.open(path: path)
        defer { b.close() }
        _ = try a.editChannels { _ in ChannelEdit(upserts: [Channel(id: 0, name: "sub", kind: .anthropic, urls: ["https://x.example"],
                                                                   keys: [ChannelKey(index: 0, secret: "placeholder")])]) }
        let id = try XCTUnwrap(try a.channels().first?.id)
        XCTAssertTrue(try a.makeAccount(channelID: id, kind: .claude))
        XCTAssertFalse(try a.makeAccount(channelID: id + 100, kind: .claude), "no such channel")
        XCTAssertFalse(try a.claimRefreshLease(channelID: id, owner: "A", seenExpiresMillis: 0, leaseMillis: 60_000), "no token: nothing to refresh")
        try a.saveAccountTokens(channelID: id, AccountTokens(accessToken: "at-1", refreshToken: "rt-1", expiresMillis: 5000, accountID: ""))
        XCTAssertTrue(try a.claimRefreshLease(channelID: id, owner: "A", seenExpiresMillis: 5000, leaseMillis: 60_000))
        XCTAssertFalse(try b.claimRefreshLease(channelID: id, owner: "B", seenExpiresMillis: 5000, leaseMillis: 60_000), "a live lease holds")
        try a.saveAccountTokens(channelID: id, AccountTokens(accessToken: "at-2", refreshToken: "rt-2", expiresMillis: 9000, accountID: ""))
        XCTAssertFalse(try b.claimRefreshLease(channelID: id, owner: "B", seenExpiresMillis: 5000, leaseMillis: 60_000),
                       "refreshed since it was read: the old refresh token is not spent again")
        XCTAssertEqual(try b.account(channelID: id)?.refreshToken, "rt-2")
        XCTAssertTrue(try b.claimRefreshLease(channelID: id, owner: "B", seenExpiresMillis: 9000, leaseMillis: 0))
        XCTAssertTrue(try a.claimRefreshLease(channelID: id, owner: "A", seenExpiresMillis: 9000, leaseMillis: 60_000), "an expired lease is taken over")
        try a.markAccountFailure(channelID: id, error: "refresh refused: HTTP 400 invalid_grant", needsSignIn: true)
        let row = try XCTUnwrap(try b.account(channelID: id))
        XCTAssertEqual(row.status, .needsSignIn)
        XCTAssertEqual(row.refreshToken, "", "a refused token is dropped")
        _ = try a.editChannels { _ in ChannelEdit(deletions: [id]) }
        XCTAssertNil(try a.account(channelID: id), "the account goes with its channel")
    }

    func testParkedRequestsAreBoundedAndResumedByDeadlineOrAll() {
        let book = AccountBook()
        let loop = Loop()
        for i in 0..<AccountBook.maxWaiters {
            XCTAssertTrue(book.wait(channelID: i % 2, loop: loop, nowMillis: 1000, waitMillis: i < 10 ? 5 : 50_000, resume: {}))
        }
        XCTAssertFalse(book.wait(channelID: 0, loop: loop, nowMillis: 1000, waitMillis: 5, resume: {}), "past the bound: go on at once")
        XCTAssertEqual(Set(book.waitingChannels), [0, 1])
        XCTAssertEqual(book.resume(channelID: 0, onlyExpiredAt: 1005), 5, "only those whose wait ran out")
        XCTAssertEqual(book.resume(channelID: 0), AccountBook.maxWaiters / 2 - 5)
        XCTAssertEqual(book.waitingChannels, [1])
        XCTAssertTrue(book.wait(channelID: 0, loop: loop, nowMillis: 1000, waitMillis: 5, resume: {}), "room again")
    }

    func testWindowsAreKeptAndHandedToTheStoreOncePerChange() {
        let book = AccountBook()
        var w = RateLimitWindows()
        w.status = .allowed
        book.record(channelID: 7, windows: w)
        book.record(channelID: 7, windows: w)
        XCTAssertEqual(book.takeChangedWindows().map(\.0), [7])
        XCTAssertTrue(book.takeChangedWindows().isEmpty, "unchanged: nothing to store")
        w.fiveHour.utilizationMilli = 500
        book.record(channelID: 7, windows: w)
        let changed = book.takeChangedWindows()
        XCTAssertEqual(changed.first?.1.json, #"{"status":"allowed","five_hour":{"status":"unknown","utilization":0.5},"seven_day":{"status":"unknown"}}"#)
        book.forget(channelID: 7)
        XCTAssertNil(book.windows(channelID: 7))
    }
}
