import Foundation
import XCTest

/// Users and roles through the real binary: the admin makes users, users log in with a
/// username, every admin-only route refuses a user with 403 (walked from the route table
/// the binary serves), a user's tokens are theirs alone (another's answers 404), their
/// limits are held to the admin's limits for them, and disabling, deleting or a new
/// password ends a user's sessions.
final class AdminUsersTests: AdminDataCase {
    /// One call with `bearer` as the session (nil: none).
    func call(_ ccload: CcloadProcess, _ bearer: String?, _ method: String, _ target: String, _ body: String? = nil) throws -> HTTPResponse {
        var s = "\(method) \(target) HTTP/1.1\r\nHost: ccload.test\r\n"
        if let bearer { s += "Authorization: Bearer \(bearer)\r\n" }
        if let body {
            s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            s += (method == "GET" ? "" : "Content-Length: 0\r\n") + "\r\n"
        }
        return try ccload.request(s, timeout: 15)
    }

    func login(_ ccload: CcloadProcess, _ username: String, _ password: String, status: Int = 200,
               file: StaticString = #filePath, line: UInt = #line) throws -> HTTPResponse {
        let r = try ccload.post("/login", #"{"username":"\#(username)","password":"\#(password)"}"#, timeout: 15)
        XCTAssertEqual(r.status, status, "login \(username): \(r.bodyText)", file: file, line: line)
        return r
    }

    func session(_ ccload: CcloadProcess, _ username: String, _ password: String,
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try login(ccload, username, password, file: file, line: line)
        guard let t = r.json?["token"] as? String else { throw TestFailure("no session for \(username): \(r.bodyText)") }
        return t
    }

    @discardableResult
    func createUser(_ ccload: CcloadProcess, _ body: String, file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let j = try adminOK(ccload, "POST", "/admin/users", body, status: 201, file: file, line: line)
        guard let id = j["id"] as? Int else { throw TestFailure("no user id in \(j)") }
        return id
    }

    func errorMessage(_ r: HTTPResponse) -> String { ((r.json?["error"] as? [String: Any])?["message"] as? String) ?? "" }

    func testUsersLogInAndEveryAdminRouteRefusesThem() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let aliceID = try createUser(ccload, #"{"username":"alice","password":"alice-pass-1","email":"alice@example.com"}"#)
        try createUser(ccload, #"{"username":"carol","password":"carol-pass-1","role":"admin"}"#)
        let users = try adminOK(ccload, "GET", "/admin/users")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(users.map { $0["username"] as? String }, ["alice", "carol"])
        let alice = try XCTUnwrap(users.first)
        XCTAssertEqual(alice["role"] as? String, "user", "the default role")
        XCTAssertEqual(alice["email"] as? String, "alice@example.com")
        XCTAssertEqual(alice["enabled"] as? Bool, true)
        XCTAssertEqual(alice["approved"] as? Bool, true)
        XCTAssertNil(alice["password"])
        XCTAssertNil(alice["password_hash"])
        XCTAssertFalse(adminBodies.joined().contains("pbkdf2"), "no password hash in any answer")

        // Bad input: weak password, duplicate username (any case), unknown field, bad role.
        try assertBadField(ccload, "POST", "/admin/users", #"{"username":"dave","password":"short"}"#, field: "password")
        let dup = try admin(ccload, "POST", "/admin/users", #"{"username":"ALICE","password":"another-pass-1"}"#)
        XCTAssertEqual(dup.status, 409, dup.bodyText)
        XCTAssertEqual((dup.json?["error"] as? [String: Any])?["type"] as? String, "conflict")
        try assertBadField(ccload, "POST", "/admin/users", #"{"username":"dave","password":"dave-pass-1","colour":"red"}"#, field: "colour")
        try assertBadField(ccload, "POST", "/admin/users", #"{"username":"dave","password":"dave-pass-1","role":"root"}"#, field: "role")
        try assertBadField(ccload, "POST", "/admin/users", #"{"password":"dave-pass-1"}"#, field: "username")
        try assertBadField(ccload, "PUT", "/admin/users/\(aliceID)", #"{"password":"1234567"}"#, field: "password")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/users/999").status, 404)

        // Logins: a user by name; a wrong password and an unknown user answer alike; the
        // password-only body still logs in the CCLOAD_PASS admin.
        let aliceLogin = try login(ccload, "alice", "alice-pass-1")
        XCTAssertEqual(aliceLogin.json?["role"] as? String, "user")
        XCTAssertEqual(aliceLogin.json?["user_id"] as? Int, aliceID)
        let aliceSession = try XCTUnwrap(aliceLogin.json?["token"] as? String)
        let wrong = try login(ccload, "alice", "alice-pass-2", status: 401)
        let nobody = try login(ccload, "nobody", "alice-pass-1", status: 401)
        XCTAssertEqual(errorMessage(wrong), errorMessage(nobody), "an unknown user is not told apart")
        let bad = try ccload.post("/login", #"{"username":"alice","password":"alice-pass-1","otp":"1"}"#)
        XCTAssertEqual(bad.status, 400, bad.bodyText)
        XCTAssertEqual((bad.json?["error"] as? [String: Any])?["field"] as? String, "otp")
        XCTAssertEqual(try ccload.post("/login", #"{"password":"\#(CcloadProcess.adminPassword)"}"#).status, 200)
        let carolSession = try session(ccload, "carol", "carol-pass-1")

        let me = try call(ccload, aliceSession, "GET", "/admin/session")
        XCTAssertEqual(me.status, 200, me.bodyText)
        XCTAssertEqual(me.json?["username"] as? String, "alice")
        XCTAssertEqual(me.json?["role"] as? String, "user")
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/session")["role"] as? String, "admin")

        // Walk the route table the binary serves: every route declares a role, and what it
        // declares is what a user's, an admin user's and no session get.
        let table = try adminOK(ccload, "GET", "/admin/routes")["data"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(table.count, 30)
        var adminOnly = 0
        for route in table {
            let method = try XCTUnwrap(route["method"] as? String)
            let pattern = try XCTUnwrap(route["path"] as? String)
            let access = try XCTUnwrap(route["access"] as? String, "\(method) \(pattern) declares no role")
            XCTAssertTrue(["open", "user", "admin"].contains(access), "\(method) \(pattern): \(access)")
            if pattern.hasPrefix("/admin/") { XCTAssertNotEqual(access, "open", "\(method) \(pattern) is open") }
            if access == "open" { continue }
            let target = pattern.replacingOccurrences(of: "{id}", with: "999").replacingOccurrences(of: "{key}", with: "no_such_key")
            let body: String? = method == "GET" ? nil : "{}"
            let none = try call(ccload, nil, method, target, body)
            XCTAssertEqual(none.status, 401, "\(method) \(target) without a session: \(none.bodyText)")
            let asUser = try call(ccload, aliceSession, method, target, body)
            if access == "admin" {
                adminOnly += 1
                XCTAssertEqual(asUser.status, 403, "\(method) \(target) as a user: \(asUser.bodyText)")
                XCTAssertEqual((asUser.json?["error"] as? [String: Any])?["type"] as? String, "permission_error")
                let asAdminUser = try call(ccload, carolSession, method, target, body)
                XCTAssertFalse([401, 403].contains(asAdminUser.status), "\(method) \(target) as an admin user: \(asAdminUser.bodyText)")
            } else {
                XCTAssertFalse([401, 403].contains(asUser.status), "\(method) \(target) as a user: \(asUser.bodyText)")
            }
        }
        XCTAssertGreaterThan(adminOnly, 20)
        // The admin user sees what the admin sees.
        XCTAssertEqual(try call(ccload, carolSession, "GET", "/admin/users").json?["data"].map { ($0 as? [Any])?.count }, 2)
        assertNoSecrets(ccload, [aliceSession, carolSession, "alice-pass-1", "carol-pass-1"])
    }

    func testAUsersTokensAreTheirsAlone() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let aliceID = try createUser(ccload, #"{"username":"alice","password":"alice-pass-1","token_limits":{"daily_cost_cap_usd":1.5,"requests_per_minute":100}}"#)
        try createUser(ccload, #"{"username":"bob","password":"bob-pass-12"}"#)
        let alice = try session(ccload, "alice", "alice-pass-1")
        let bob = try session(ccload, "bob", "bob-pass-12")
        let (_, adminSecret) = try createToken(ccload, #"{"name":"admins"}"#)

        // Alice makes a token: hers, the secret shown once, her limits applied when left out.
        let made = try call(ccload, alice, "POST", "/admin/tokens", #"{"name":"laptop"}"#)
        XCTAssertEqual(made.status, 201, made.bodyText)
        let token = try XCTUnwrap(made.json?["token"] as? [String: Any])
        let aliceSecret = try XCTUnwrap(made.json?["secret"] as? String)
        let tokenID = try XCTUnwrap(token["id"] as? Int)
        XCTAssertEqual(token["owner_user_id"] as? Int, aliceID)
        XCTAssertEqual(token["daily_cost_cap_usd"] as? Double, 1.5)
        XCTAssertEqual(token["requests_per_minute"] as? Int, 100)
        XCTAssertEqual(try proxy(ccload, token: aliceSecret).status, 200, "a user's token is served")
        XCTAssertEqual(try proxy(ccload, token: adminSecret).status, 200)
        let later = try call(ccload, alice, "GET", "/admin/tokens/\(tokenID)")
        XCTAssertEqual(later.status, 200)
        XCTAssertFalse(later.bodyText.contains(aliceSecret), "the secret is shown once")

        // No looser than the admin's limits for her; no owner of her choosing.
        for (body, field) in [(#"{"name":"x","daily_cost_cap_usd":2}"#, "daily_cost_cap_usd"),
                              (#"{"name":"x","daily_cost_cap_usd":null}"#, "daily_cost_cap_usd"),
                              (#"{"name":"x","requests_per_minute":101}"#, "requests_per_minute"),
                              (#"{"name":"x","owner_user_id":1}"#, "owner_user_id"),
                              (#"{"name":"x","secret":"mine"}"#, "secret")] {
            let r = try call(ccload, alice, "POST", "/admin/tokens", body)
            XCTAssertEqual(r.status, 400, "\(body): \(r.bodyText)")
            XCTAssertEqual((r.json?["error"] as? [String: Any])?["field"] as? String, field, body)
        }
        let tighter = try call(ccload, alice, "PUT", "/admin/tokens/\(tokenID)", #"{"daily_cost_cap_usd":0.5,"allowed_clients":["claude_code"]}"#)
        XCTAssertEqual(tighter.status, 200, tighter.bodyText)
        XCTAssertEqual(tighter.json?["daily_cost_cap_usd"] as? Double, 0.5)
        let looser = try call(ccload, alice, "PUT", "/admin/tokens/\(tokenID)", #"{"daily_cost_cap_usd":1.6}"#)
        XCTAssertEqual(looser.status, 400, looser.bodyText)

        // Each sees only their own; another's token is as missing as one that never was.
        let aliceList = try call(ccload, alice, "GET", "/admin/tokens").json?["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(aliceList.map { $0["id"] as? Int }, [tokenID])
        XCTAssertEqual((try call(ccload, bob, "GET", "/admin/tokens").json?["data"] as? [Any])?.count, 0)
        let missing = try call(ccload, bob, "GET", "/admin/tokens/99999")
        for (method, target, body) in [("GET", "/admin/tokens/\(tokenID)", nil), ("PUT", "/admin/tokens/\(tokenID)", #"{"name":"mine now"}"#),
                                       ("DELETE", "/admin/tokens/\(tokenID)", nil), ("GET", "/admin/tokens/\(tokenID)/usage", nil)] {
            let r = try call(ccload, bob, method, target, body)
            XCTAssertEqual(r.status, 404, "\(method) \(target) by another user: \(r.bodyText)")
            XCTAssertEqual(errorMessage(r).replacingOccurrences(of: "\(tokenID)", with: "99999"), errorMessage(missing),
                           "the same words as a token that does not exist")
        }
        let adminsTokenID = try XCTUnwrap((try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]])?
            .first { $0["name"] as? String == "admins" }?["id"] as? Int)
        XCTAssertEqual(try call(ccload, alice, "GET", "/admin/tokens/\(adminsTokenID)").status, 404, "nor the admin's")
        XCTAssertEqual(try proxy(ccload, token: aliceSecret).status, 403, "bob's attempts changed nothing; the client rule holds (no User-Agent)")
        // The admin sees both, and may make a token for a user.
        let all = try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(all.compactMap { $0["name"] as? String }), ["admins", "laptop"])
        let forBob = try adminOK(ccload, "POST", "/admin/tokens", #"{"name":"for bob","owner_user_id":\#(aliceID + 1)}"#, status: 201)
        forgetLastAnswer()
        XCTAssertEqual((forBob["token"] as? [String: Any])?["owner_user_id"] as? Int, aliceID + 1)
        XCTAssertEqual((try call(ccload, bob, "GET", "/admin/tokens").json?["data"] as? [Any])?.count, 1)
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"x","owner_user_id":424242}"#, field: "owner_user_id")
        // Alice deletes her own.
        XCTAssertEqual(try call(ccload, alice, "DELETE", "/admin/tokens/\(tokenID)").status, 200)
        XCTAssertEqual(try proxy(ccload, token: aliceSecret).status, 401)
        assertNoSecrets(ccload, [aliceSecret, adminSecret, alice, bob])
    }

    func testDisablingOrDeletingAUserEndsTheirSessionsAndTokens() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        // A token that stays, so the proxy keeps requiring tokens once alice's is gone.
        _ = try createToken(ccload, #"{"name":"keeper"}"#)
        let id = try createUser(ccload, #"{"username":"alice","password":"alice-pass-1"}"#)
        let s1 = try session(ccload, "alice", "alice-pass-1")
        let made = try call(ccload, s1, "POST", "/admin/tokens", #"{"name":"t"}"#)
        let secret = try XCTUnwrap(made.json?["secret"] as? String)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 200)

        XCTAssertEqual(try adminOK(ccload, "PUT", "/admin/users/\(id)", #"{"enabled":false}"#)["enabled"] as? Bool, false)
        XCTAssertEqual(try call(ccload, s1, "GET", "/admin/tokens").status, 401, "disabling ends the session at once")
        XCTAssertEqual(try proxy(ccload, token: secret).status, 401, "a disabled user's token is not served")
        let refused = try login(ccload, "alice", "alice-pass-1", status: 403)
        XCTAssertTrue(errorMessage(refused).contains("disabled"), refused.bodyText)
        try adminOK(ccload, "PUT", "/admin/users/\(id)", #"{"enabled":true}"#)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 200, "enabled again: served again")
        XCTAssertEqual(try call(ccload, s1, "GET", "/admin/tokens").status, 401, "an ended session stays ended")

        // A new session is still a user's; deleting the user ends it and takes the token.
        let s2 = try session(ccload, "alice", "alice-pass-1")
        XCTAssertEqual(try call(ccload, s2, "GET", "/admin/channels").status, 403)
        XCTAssertEqual(try adminOK(ccload, "DELETE", "/admin/users/\(id)")["deleted"] as? Bool, true)
        XCTAssertEqual(try call(ccload, s2, "GET", "/admin/tokens").status, 401)
        XCTAssertEqual(try proxy(ccload, token: secret).status, 401, "a deleted user's tokens go with them")
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/users/\(id)").status, 404)
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [[String: Any]])?.map { $0["name"] as? String }, ["keeper"])
    }

    func testPasswordsChangeAndResetEndingSessions() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let bobID = try createUser(ccload, #"{"username":"bob","password":"bob-pass-12"}"#)
        try createUser(ccload, #"{"username":"alice","password":"alice-pass-1"}"#)
        let alice = try session(ccload, "alice", "alice-pass-1")
        let wrongOld = try call(ccload, alice, "PUT", "/admin/password", #"{"old_password":"nope-nope-1","new_password":"alice-pass-2"}"#)
        XCTAssertEqual(wrongOld.status, 403, wrongOld.bodyText)
        let weak = try call(ccload, alice, "PUT", "/admin/password", #"{"old_password":"alice-pass-1","new_password":"short"}"#)
        XCTAssertEqual(weak.status, 400, weak.bodyText)
        XCTAssertEqual((weak.json?["error"] as? [String: Any])?["field"] as? String, "new_password")
        let asName = try call(ccload, alice, "PUT", "/admin/password", #"{"old_password":"alice-pass-1","new_password":"ALICE"}"#)
        XCTAssertEqual(asName.status, 400, asName.bodyText)
        let unknown = try call(ccload, alice, "PUT", "/admin/password", #"{"old_password":"alice-pass-1","new_password":"alice-pass-2","x":1}"#)
        XCTAssertEqual(unknown.status, 400, unknown.bodyText)
        let changed = try call(ccload, alice, "PUT", "/admin/password", #"{"old_password":"alice-pass-1","new_password":"alice-pass-2"}"#)
        XCTAssertEqual(changed.status, 200, changed.bodyText)
        XCTAssertEqual(try call(ccload, alice, "GET", "/admin/session").status, 401, "a new password ends the sessions")
        _ = try login(ccload, "alice", "alice-pass-1", status: 401)
        _ = try session(ccload, "alice", "alice-pass-2")
        // The CCLOAD_PASS admin has no user to change.
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/password", #"{"old_password":"a","new_password":"bbbbbbbb1"}"#).status, 400)

        // The admin resets bob's password: his session ends, the new one works.
        let bob = try session(ccload, "bob", "bob-pass-12")
        try adminOK(ccload, "PUT", "/admin/users/\(bobID)", #"{"password":"bob-pass-new"}"#)
        XCTAssertEqual(try call(ccload, bob, "GET", "/admin/session").status, 401)
        _ = try session(ccload, "bob", "bob-pass-new")
        // A role change ends them too.
        let bob2 = try session(ccload, "bob", "bob-pass-new")
        try adminOK(ccload, "PUT", "/admin/users/\(bobID)", #"{"role":"admin"}"#)
        XCTAssertEqual(try call(ccload, bob2, "GET", "/admin/session").status, 401)
        let bob3 = try session(ccload, "bob", "bob-pass-new")
        XCTAssertEqual(try call(ccload, bob3, "GET", "/admin/channels").status, 200, "now an admin")
        assertNoSecrets(ccload, ["alice-pass-2", "bob-pass-new", bob, bob2, bob3])
    }

    func testSelfRegistrationIsOffUntilTurnedOnAndNeedsApproval() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let off = try ccload.post("/register", #"{"username":"eve","password":"eve-pass-12"}"#)
        XCTAssertEqual(off.status, 403, off.bodyText)
        XCTAssertTrue(errorMessage(off).contains("self_registration"), off.bodyText)
        try adminOK(ccload, "PUT", "/admin/settings", #"{"self_registration":true}"#)
        let weak = try ccload.post("/register", #"{"username":"eve","password":"eve"}"#)
        XCTAssertEqual(weak.status, 400, weak.bodyText)
        let extra = try ccload.post("/register", #"{"username":"eve","password":"eve-pass-12","role":"admin"}"#)
        XCTAssertEqual(extra.status, 400, "a registrant cannot pick a role: \(extra.bodyText)")
        let made = try ccload.post("/register", #"{"username":"eve","password":"eve-pass-12"}"#, timeout: 15)
        XCTAssertEqual(made.status, 201, made.bodyText)
        XCTAssertEqual(made.json?["approved"] as? Bool, false)
        XCTAssertEqual(made.json?["role"] as? String, "user")
        let id = try XCTUnwrap(made.json?["id"] as? Int)
        XCTAssertEqual(try ccload.post("/register", #"{"username":"Eve","password":"eve-pass-12"}"#, timeout: 15).status, 409)
        let waiting = try login(ccload, "eve", "eve-pass-12", status: 403)
        XCTAssertTrue(errorMessage(waiting).contains("approval"), waiting.bodyText)
        try adminOK(ccload, "PUT", "/admin/users/\(id)", #"{"approved":true}"#)
        _ = try session(ccload, "eve", "eve-pass-12")
        try adminOK(ccload, "PUT", "/admin/settings", #"{"self_registration":false}"#)
        XCTAssertEqual(try ccload.post("/register", #"{"username":"mallory","password":"mallory-pass-1"}"#).status, 403)
    }

    func testUserSessionsSurviveARestartAndPendingRegistrationsAreCapped() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("a", url: mock.url)])
        var ccload = try startOn(db: db, channelsFile: channels)
        try createUser(ccload, #"{"username":"alice","password":"alice-pass-1"}"#)
        let alice = try session(ccload, "alice", "alice-pass-1")
        stopGracefully(ccload)
        ccload = try startOn(db: db, channelsFile: channels)
        let me = try call(ccload, alice, "GET", "/admin/session")
        XCTAssertEqual(me.status, 200, "a user's session survives a restart: \(me.bodyText)")
        XCTAssertEqual(me.json?["username"] as? String, "alice")
        XCTAssertEqual(me.json?["role"] as? String, "user")
        XCTAssertEqual(try call(ccload, alice, "GET", "/admin/channels").status, 403, "and is still a user's")

        // A user whose stored hash has fewer iterations than new ones logs in, and is re-hashed.
        _ = try sql(db, ["""
            INSERT INTO users(username, password_hash, role, created_ms, updated_ms)
            VALUES('legacy', 'pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$kzwhDp3toIpLFz2wG+xVxLfO/L4Z8nZSn1naZd/WQEE=', 'user', 1, 1)
            """])
        let legacy = try session(ccload, "legacy", "legacy-pass-1")
        let rehashed = try XCTUnwrap(try rows(db, "SELECT password_hash FROM users WHERE username = 'legacy'").first?.first as? String)
        XCTAssertTrue(rehashed.hasPrefix("pbkdf2-sha256$600000$"), rehashed)
        XCTAssertEqual(try call(ccload, legacy, "GET", "/admin/session").status, 200, "a re-hash keeps the session")
        _ = try session(ccload, "legacy", "legacy-pass-1")

        // 99 sign-ups already wait; the 100th is taken, the 101st refused until one is approved.
        try adminOK(ccload, "PUT", "/admin/settings", #"{"self_registration":true}"#)
        _ = try sql(db, ["""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 99)
            INSERT INTO users(username, password_hash, role, approved, created_ms, updated_ms)
            SELECT 'waiting' || i, 'x', 'user', 0, 1, 1 FROM n
            """])
        let eve = try ccload.post("/register", #"{"username":"eve","password":"eve-pass-12"}"#, timeout: 15)
        XCTAssertEqual(eve.status, 201, eve.bodyText)
        let frank = try ccload.post("/register", #"{"username":"frank","password":"frank-pass-1"}"#, timeout: 15)
        XCTAssertEqual(frank.status, 429, frank.bodyText)
        XCTAssertNotNil(frank.header("retry-after"))
        let eveID = try XCTUnwrap(eve.json?["id"] as? Int)
        try adminOK(ccload, "PUT", "/admin/users/\(eveID)", #"{"approved":true}"#)
        XCTAssertEqual(try ccload.post("/register", #"{"username":"frank","password":"frank-pass-1"}"#, timeout: 15).status, 201)
    }
}
