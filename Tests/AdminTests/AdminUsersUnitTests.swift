import XCTest

@testable import Admin
@testable import Proxy

/// Roles on the route table, the password rule, what users may do with their own tokens,
/// and sessions that know their user.
final class AdminUsersUnitTests: XCTestCase {
    /// Every route says who may call it; nothing under `/admin/` is open; the routes a user
    /// may call are exactly the ones for their own session, password, tokens, usage and log export.
    func testEveryRouteDeclaresItsRole() {
        var seen = Set<String>()
        for r in AdminRoutes.all {
            XCTAssertTrue(seen.insert("\(r.method) \(r.pattern)").inserted, "\(r.method) \(r.pattern) is listed twice")
            if r.pattern.hasPrefix("/admin/") {
                XCTAssertNotEqual(r.access, .open, "\(r.method) \(r.pattern) is open")
            }
        }
        let userRoutes = Set(AdminRoutes.all.filter { $0.access == .user }.map { "\($0.method) \($0.pattern)" })
        XCTAssertEqual(userRoutes, [
            "GET /admin/session", "PUT /admin/password",
            "GET /admin/tokens", "POST /admin/tokens", "GET /admin/tokens/{id}", "PUT /admin/tokens/{id}",
            "DELETE /admin/tokens/{id}", "GET /admin/tokens/{id}/usage",
            "GET /admin/usage", "GET /admin/usage.csv", "GET /admin/logs.csv",
        ])
        let open = Set(AdminRoutes.all.filter { $0.access == .open }.map(\.pattern))
        XCTAssertEqual(open, ["/login", "/logout", "/register", "/public/summary", "/web/*", "/metrics"])
        XCTAssertEqual(AdminRoute.Access.session, .admin, "the old name means admin only")
    }

    func testTheRouterRefusesAUserOnAnAdminRoute() {
        let user = SessionUser(userID: 4, role: .user)
        let admin = SessionUser(userID: 5, role: .admin)
        XCTAssertEqual(AdminRouter.refusal(user, .admin, "/admin/channels")?.status, 403)
        XCTAssertEqual(AdminRouter.refusal(user, .admin, "/admin/channels")?.type, "permission_error")
        XCTAssertNil(AdminRouter.refusal(user, .user, "/admin/tokens"))
        XCTAssertNil(AdminRouter.refusal(admin, .admin, "/admin/channels"))
        XCTAssertNil(AdminRouter.refusal(.passwordAdmin, .admin, "/admin/channels"))
        XCTAssertEqual(SessionUser(userID: nil, role: .user).role, .admin, "no user id is the CCLOAD_PASS admin")
        XCTAssertTrue(user.owns(4))
        XCTAssertFalse(user.owns(5))
        XCTAssertFalse(user.owns(nil), "a user does not own the admin's tokens")
        XCTAssertTrue(admin.owns(4) && admin.owns(nil))
        XCTAssertFalse(SessionUser.nobody.isAdmin, "no session grants nothing")
        XCTAssertFalse(SessionUser.nobody.owns(nil) || SessionUser.nobody.owns(1) || SessionUser.nobody.owns(0))
    }

    func testPasswordRule() {
        XCTAssertNotNil(PasswordRule.weakness("1234567", username: nil), "7 characters")
        XCTAssertNil(PasswordRule.weakness("12345678", username: nil), "8 characters")
        XCTAssertNil(PasswordRule.weakness("密码密码密码密码", username: nil), "8 characters, 24 bytes")
        XCTAssertNotNil(PasswordRule.weakness("aaaaaaaaaa", username: nil))
        XCTAssertNotNil(PasswordRule.weakness("Alice-1234", username: "alice-1234"))
        XCTAssertNil(PasswordRule.weakness(String(repeating: "ab", count: 512), username: nil), "1024 bytes")
        XCTAssertNotNil(PasswordRule.weakness(String(repeating: "ab", count: 512) + "c", username: nil), "1025 bytes")
        XCTAssertThrowsError(try PasswordRule.check("short", username: nil, field: "new_password")) { e in
            XCTAssertEqual((e as? AdminError)?.field, "new_password")
            XCTAssertEqual((e as? AdminError)?.message, "new_password must be at least 8 characters")
        }
    }

    func testUsernameAndEmailRules() throws {
        XCTAssertEqual(try UserInput.checkedUsername("  alice.b-c_d@x "), "alice.b-c_d@x")
        for bad in ["", "   ", "a b", "ali/ce", "名字", String(repeating: "a", count: 65)] {
            XCTAssertThrowsError(try UserInput.checkedUsername(bad), bad)
        }
        XCTAssertNoThrow(try UserInput.checkedUsername(String(repeating: "a", count: 64)))
        XCTAssertEqual(try UserInput.checkedEmail("a@b.c"), "a@b.c")
        XCTAssertNil(try UserInput.checkedEmail(""))
        XCTAssertNil(try UserInput.checkedEmail(nil))
        for bad in ["ab", "@b", "a@", "a@@b", "a b@c", "a@b\u{0}"] {
            XCTAssertThrowsError(try UserInput.checkedEmail(bad), bad)
        }
    }

    func testAUserTokensGroupMustBeOneTheyMayUse() throws {
        let none = User(username: "a", passwordHash: "")
        let some = User(username: "b", passwordHash: "", allowedGroupIDs: [2, 5])
        XCTAssertNoThrow(try UserTokenRules.checkTokenGroup(nil, for: none))
        XCTAssertThrowsError(try UserTokenRules.checkTokenGroup(2, for: none)) { e in XCTAssertEqual((e as? AdminError)?.field, "group_id") }
        XCTAssertNoThrow(try UserTokenRules.checkTokenGroup(5, for: some))
        XCTAssertThrowsError(try UserTokenRules.checkTokenGroup(3, for: some))
        XCTAssertThrowsError(try UserTokenRules.checkTokenGroup(nil, for: some), "a user with groups must pick one")
        XCTAssertEqual(try UserTokenRules.checkedGroupIDs([5, 2, 5]), [2, 5])
        XCTAssertThrowsError(try UserTokenRules.checkedGroupIDs([1, 0])) { e in
            XCTAssertEqual((e as? AdminError)?.message, "allowed_group_ids[1] must be a positive group id")
        }
        XCTAssertThrowsError(try UserTokenRules.checkedGroupIDs(Array(1...1001)))
        XCTAssertNoThrow(try UserTokenRules.checkedGroupIDs(Array(1...1000)))
    }

    func input(_ json: String) throws -> AdminTokens.TokenInput {
        try AdminJSON.decode(AdminTokens.TokenInput.self, from: Array(json.utf8))
    }

    func testAUsersTokenLimitsAreNoLooserThanTheirs() throws {
        let capped = User(username: "a", passwordHash: "",
                          limits: TokenLimits(dailyCostCapMicroUSD: 2_000_000, monthlyCostCapMicroUSD: 10_000_000, requestsPerMinute: 10))
        // Left out on create: the user's limits apply.
        var t = AuthToken(name: "t")
        let bare = try input(#"{"name":"t"}"#)
        try bare.apply(to: &t)
        try UserTokenRules.bound(&t, by: capped, input: bare, creating: true)
        XCTAssertEqual(t.dailyCostCapMicroUSD, 2_000_000)
        XCTAssertEqual(t.monthlyCostCapMicroUSD, 10_000_000)
        XCTAssertEqual(t.requestsPerMinute, 10)
        XCTAssertNil(t.weeklyCostCapMicroUSD, "no limit of the user's: none is imposed")
        // Tighter is fine; at the limit is fine; looser or none is not.
        for (json, ok) in [(#"{"name":"t","daily_cost_cap_usd":1}"#, true), (#"{"name":"t","daily_cost_cap_usd":2}"#, true),
                           (#"{"name":"t","daily_cost_cap_usd":2.000001}"#, false), (#"{"name":"t","daily_cost_cap_usd":null}"#, false),
                           (#"{"name":"t","requests_per_minute":11}"#, false), (#"{"name":"t","requests_per_minute":10}"#, true),
                           (#"{"name":"t","weekly_cost_cap_usd":1000}"#, true)] {
            var t = AuthToken(name: "t")
            let i = try input(json)
            try i.apply(to: &t)
            if ok {
                XCTAssertNoThrow(try UserTokenRules.bound(&t, by: capped, input: i, creating: true), json)
            } else {
                XCTAssertThrowsError(try UserTokenRules.bound(&t, by: capped, input: i, creating: true), json) { e in
                    XCTAssertEqual((e as? AdminError)?.status, 400)
                    XCTAssertTrue((e as? AdminError)?.message.contains("the limit the admin set for you") == true)
                }
            }
        }
        // On update a field left out keeps the token's value; clearing a capped limit is refused.
        var u = t
        let clear = try input(#"{"daily_cost_cap_usd":null}"#)
        try clear.apply(to: &u)
        XCTAssertThrowsError(try UserTokenRules.bound(&u, by: capped, input: clear, creating: false)) { e in
            XCTAssertEqual((e as? AdminError)?.field, "daily_cost_cap_usd")
        }
    }

    func testTokenInputTakesTheNewFields() throws {
        var t = AuthToken(name: "t")
        try input(#"{"weekly_cost_cap_usd":1.5,"monthly_cost_cap_usd":3,"allowed_clients":["codex_cli"]}"#).apply(to: &t)
        XCTAssertEqual(t.weeklyCostCapMicroUSD, 1_500_000)
        XCTAssertEqual(t.monthlyCostCapMicroUSD, 3_000_000)
        XCTAssertEqual(t.allowedClients, .codexCLI)
        try input(#"{"allowed_clients":null}"#).apply(to: &t)
        XCTAssertNil(t.allowedClients)
        for bad in [#"{"allowed_clients":[]}"#, #"{"allowed_clients":["cursor"]}"#] {
            XCTAssertThrowsError(try input(bad).apply(to: &t)) { e in XCTAssertEqual((e as? AdminError)?.field, "allowed_clients") }
        }
        XCTAssertThrowsError(try input(#"{"weekly_cost_cap_usd":-1}"#).apply(to: &t)) { e in
            XCTAssertEqual((e as? AdminError)?.field, "weekly_cost_cap_usd")
        }
    }

    func testUserInputRefusesUnknownAndBadFields() throws {
        func decode(_ json: String) throws -> UserInput { try AdminJSON.decode(UserInput.self, from: Array(json.utf8)) }
        XCTAssertThrowsError(try decode(#"{"username":"a","pasword":"x"}"#)) { e in XCTAssertEqual((e as? AdminError)?.field, "pasword") }
        XCTAssertThrowsError(try decode(#"{"role":"root"}"#)) { e in XCTAssertEqual((e as? AdminError)?.field, "role") }
        XCTAssertThrowsError(try decode(#"{"token_limits":{"daily":1}}"#)) { e in XCTAssertEqual((e as? AdminError)?.field, "daily") }
        XCTAssertThrowsError(try decode(#"{"token_limits":{"max_concurrency":0}}"#)) { e in
            XCTAssertEqual((e as? AdminError)?.field, "token_limits.max_concurrency")
        }
        var u = User(username: "old", passwordHash: "h")
        try decode(#"{"role":"admin","token_limits":{"weekly_cost_cap_usd":4},"allowed_group_ids":[3,3,1]}"#).apply(to: &u)
        XCTAssertEqual(u.role, .admin)
        XCTAssertEqual(u.limits.weeklyCostCapMicroUSD, 4_000_000)
        XCTAssertEqual(u.allowedGroupIDs, [1, 3])
        XCTAssertEqual(u.username, "old", "left out: kept")
    }

    func testSessionsKnowTheirUserAndEndByUser() {
        let s = AdminSessions()
        s.add(secret: "a1", expiresMillis: UInt64.max, user: SessionUser(userID: 1, role: .user))
        s.add(secret: "a2", expiresMillis: UInt64.max, user: SessionUser(userID: 1, role: .user))
        s.add(secret: "b", expiresMillis: UInt64.max, user: SessionUser(userID: 2, role: .admin))
        s.add(secret: "root", expiresMillis: UInt64.max)
        XCTAssertEqual(s.user(Array("a1".utf8)), SessionUser(userID: 1, role: .user))
        XCTAssertEqual(s.user(Array("root".utf8)), .passwordAdmin)
        s.removeAll(userID: 1)
        XCTAssertNil(s.user(Array("a1".utf8)))
        XCTAssertNil(s.user(Array("a2".utf8)))
        XCTAssertEqual(s.user(Array("b".utf8))?.role, .admin)
        XCTAssertTrue(s.valid(Array("root".utf8)))
        XCTAssertEqual(s.count, 2)
    }
}
