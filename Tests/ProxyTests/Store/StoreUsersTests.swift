import XCTest

@testable import Proxy

/// Users in the store: unique usernames in any case, changes that end a user's sessions,
/// deletion taking their tokens and sessions along, tokens knowing their owner, and a
/// database made before users migrating with its tokens and sessions intact.
final class StoreUsersTests: StoreTestCase {

    func user(_ name: String, role: User.Role = .user) throws -> User {
        try store.createUser(User(username: name, passwordHash: "pbkdf2-sha256$1$AA==$AA==", role: role))
    }

    func testUsernamesAreUniqueInAnyCase() throws {
        let alice = try user("alice")
        XCTAssertGreaterThan(alice.id, 0)
        XCTAssertGreaterThan(alice.createdMillis, 0)
        XCTAssertThrowsError(try user("ALICE")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .constraint)
            XCTAssertEqual((e as? StoreError)?.message, "username ALICE is taken")
        }
        XCTAssertEqual(try store.user(username: "Alice")?.id, alice.id, "found in any case")
        let bob = try user("bob")
        var renamed = bob
        renamed.username = "alice"
        XCTAssertThrowsError(try store.updateUser(renamed)) { e in XCTAssertEqual((e as? StoreError)?.kind, .constraint) }
        XCTAssertEqual(try store.users().map(\.username), ["alice", "bob"])
    }

    func testFieldsRoundTrip() throws {
        var u = User(username: "carol", passwordHash: "h", role: .admin, email: "c@example.com", enabled: false, approved: false,
                     allowedGroupIDs: [3, 1], limits: TokenLimits(dailyCostCapMicroUSD: 1, weeklyCostCapMicroUSD: 2,
                                                                  monthlyCostCapMicroUSD: 3, totalCostCapMicroUSD: 4,
                                                                  requestsPerMinute: 5, maxConcurrency: 6))
        u = try store.createUser(u)
        let back = try XCTUnwrap(store.user(id: u.id))
        XCTAssertEqual(back.username, "carol")
        XCTAssertEqual(back.role, .admin)
        XCTAssertEqual(back.email, "c@example.com")
        XCTAssertFalse(back.enabled)
        XCTAssertFalse(back.approved)
        XCTAssertEqual(back.allowedGroupIDs, [3, 1])
        XCTAssertEqual(back.limits, u.limits)
        XCTAssertNil(try store.user(id: u.id + 100))
    }

    func session(_ userID: Int?, _ tag: UInt8) throws {
        try store.addSession(StoredSession(digest: [UInt8](repeating: tag, count: 32), expiresMillis: UInt64.max / 4, userID: userID))
    }

    func testChangesThatEndAUsersSessions() throws {
        let alice = try user("alice")
        let bob = try user("bob")
        try session(alice.id, 1)
        try session(bob.id, 2)
        try session(nil, 3)
        var a = alice
        a.email = "a@example.com"
        XCTAssertEqual(try store.updateUser(a), 0, "an email change keeps the sessions")
        a.enabled = false
        XCTAssertEqual(try store.updateUser(a), 1, "disabling ends them")
        try session(alice.id, 4)
        XCTAssertEqual(try store.liveSessions().map(\.digest.first).sorted { ($0 ?? 0) < ($1 ?? 0) }, [2, 3], "a disabled user's stored session does not load")
        a.enabled = true
        try store.updateUser(a)
        try session(alice.id, 5)
        a.role = .admin
        XCTAssertEqual(try store.updateUser(a), 1, "another role ends them")
        try session(alice.id, 6)
        XCTAssertEqual(try store.setPasswordHash(userID: alice.id, "new", endingSessions: false), 0, "a re-hash keeps them")
        XCTAssertEqual(try store.setPasswordHash(userID: alice.id, "newer", endingSessions: true), 1)
        XCTAssertEqual(try store.user(id: alice.id)?.passwordHash, "newer")
        XCTAssertThrowsError(try store.setPasswordHash(userID: 999, "x", endingSessions: true))
        let roles = try store.liveSessions().reduce(into: [UInt8: User.Role]()) { $0[$1.digest[0]] = $1.role }
        XCTAssertEqual(roles, [2: .user, 3: .admin], "sessions carry their user's role")
    }

    func testDeletingAUserTakesTheirTokensAndSessions() throws {
        let alice = try user("alice")
        var mine = AuthToken(name: "mine")
        mine.ownerUserID = alice.id
        let t = try store.createToken(mine, secret: "ccl-alice")
        _ = try store.createToken(AuthToken(name: "admins"), secret: "ccl-admin")
        try session(alice.id, 1)
        XCTAssertEqual(try store.tokens(ownerUserID: alice.id).map(\.name), ["mine"])
        XCTAssertEqual(try store.token(id: t.token.id)?.ownerUserID, alice.id)
        XCTAssertTrue(try store.token(secret: "ccl-alice")?.ownerActive == true)
        var a = alice
        a.approved = false
        try store.updateUser(a)
        XCTAssertFalse(try XCTUnwrap(store.token(secret: "ccl-alice")).ownerActive, "an unapproved owner's token is not active")
        XCTAssertTrue(try XCTUnwrap(store.token(secret: "ccl-admin")).ownerActive)
        XCTAssertTrue(try store.deleteUser(id: alice.id))
        XCTAssertFalse(try store.deleteUser(id: alice.id))
        XCTAssertEqual(try store.tokens().map(\.name), ["admins"])
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM admin_sessions"), 0)
    }

    func testATokensNewFieldsRoundTrip() throws {
        var t = AuthToken(name: "capped")
        t.weeklyCostCapMicroUSD = 10
        t.monthlyCostCapMicroUSD = 20
        t.allowedClients = .claudeCode
        var created = try store.createToken(t).token
        var back = try XCTUnwrap(store.token(id: created.id))
        XCTAssertEqual(back.weeklyCostCapMicroUSD, 10)
        XCTAssertEqual(back.monthlyCostCapMicroUSD, 20)
        XCTAssertEqual(back.allowedClients, .claudeCode)
        XCTAssertNil(back.ownerUserID)
        created.allowedClients = nil
        created.weeklyCostCapMicroUSD = nil
        try store.updateToken(created)
        back = try XCTUnwrap(store.token(id: created.id))
        XCTAssertNil(back.allowedClients)
        XCTAssertNil(back.weeklyCostCapMicroUSD)
        XCTAssertEqual(back.monthlyCostCapMicroUSD, 20)
    }

    /// A database made before users (schema 2): its tokens become the admin's, its
    /// sessions the CCLOAD_PASS admin's, and both keep working.
    func testADatabaseFromBeforeUsersMigrates() throws {
        let path = dir + "/v2.db"
        let old = try StoreTest.open(path: path, options: StoreTest.options { $0.migrations = Array(Schema.migrations.prefix(2)) })
        let digest = TokenDigest(of: Array("ccl-old".utf8)).bytes
        try old.withConfig { db in
            try db.run("INSERT INTO auth_tokens(hash, prefix, name, created_ms, daily_cost_cap_micro) VALUES(?, 'ccl-old', 'old', 1, 5)",
                       [.blob(digest)])
            try db.run("INSERT INTO admin_sessions(token_hash, created_ms, expires_ms) VALUES(?, 1, ?)",
                       [.blob([UInt8](repeating: 9, count: 32)), .int(Int64.max / 4)])
        }
        old.close()
        let new = try StoreTest.open(path: path, options: StoreTest.options())
        defer { new.close() }
        let t = try XCTUnwrap(new.token(secret: "ccl-old"))
        XCTAssertEqual(t.name, "old")
        XCTAssertEqual(t.dailyCostCapMicroUSD, 5)
        XCTAssertNil(t.ownerUserID)
        XCTAssertNil(t.weeklyCostCapMicroUSD)
        XCTAssertNil(t.allowedClients)
        XCTAssertTrue(t.clientToken.enabled)
        let s = try new.liveSessions()
        XCTAssertEqual(s.count, 1)
        XCTAssertNil(s.first?.userID)
        XCTAssertEqual(s.first?.role, .admin)
        XCTAssertEqual(try new.users().count, 0)
    }
}
