import Glibc
import Reactor
import XCTest

@testable import Admin
@testable import Proxy

/// Admin sessions and the admin password hash through the store's narrow interface
/// (sessions by digest, a hidden value): what Admin writes is what it reads back after a
/// restart, and the store never holds a session's secret.
final class AdminStoredLoginTests: XCTestCase {
    var dir = ""
    var store: Store!
    let clock = ManualClock(1_000_000)

    override func setUp() {
        var template = Array("/tmp/ccload-admin-store-XXXXXX".utf8CString)
        dir = String(cString: mkdtemp(&template)!)
        store = try! open()
    }

    override func tearDown() {
        store?.close()
        store = nil
        _ = system("rm -rf '\(dir)'")
    }

    func open() throws -> Store {
        var o = StoreOptions()
        o.firstRetentionDelayNanos = UInt64.max / 2
        let clock = self.clock
        o.wallClock = { clock.now }
        return try Store.open(path: dir + "/ccload.db", options: o)
    }

    func reopen() throws {
        store.close()
        store = try open()
    }

    func count(_ sql: String) throws -> Int64 { try store.read { r in try r.db.scalarInt(sql) ?? -1 } }

    func testSessionsLiveInTheStoreAsDigestsAndExpireByItsClock() throws {
        let (s, expires) = try AdminSessions.create(in: store, ttlMillis: 60_000)
        XCTAssertEqual(s.utf8.count, 43, "32 random bytes, base64url")
        XCTAssertEqual(expires, 1_060_000)
        XCTAssertNotEqual(AdminSessions.newSecret(), AdminSessions.newSecret())
        XCTAssertEqual(try store.read { r in try r.db.scalarInt("SELECT count(*) FROM admin_sessions WHERE token_hash = ?", [.text(s)]) }, 0,
                       "the secret itself is never stored")
        try reopen()
        let loaded = AdminSessions(clock: { [clock] in clock.now })
        try loaded.load(from: store)
        XCTAssertTrue(loaded.valid(Array(s.utf8)), "a session survives a restart")
        XCTAssertFalse(loaded.valid(Array((s + "x").utf8)))
        let (s2, _) = try AdminSessions.create(in: store, ttlMillis: 60_000)
        XCTAssertTrue(try AdminSessions.delete(s2, in: store))
        XCTAssertFalse(try AdminSessions.delete(s2, in: store), "already gone")
        clock.advance(60_001)
        let later = AdminSessions(clock: { [clock] in clock.now })
        try later.load(from: store)
        XCTAssertEqual(later.count, 0, "the expired one is not loaded, the deleted one is gone")
        XCTAssertEqual(try count("SELECT count(*) FROM admin_sessions"), 0, "loading deleted the expired row")
    }

    func testThePasswordHashIsAHiddenValueAndANewPasswordEndsEverySession() throws {
        XCTAssertNil(try AdminPassword.stored(in: store), "first start: nothing stored")
        let first = AdminPassword(hashing: "first", iterations: 1_000)
        try first.save(in: store)
        _ = try AdminSessions.create(in: store, ttlMillis: 60_000)
        _ = try AdminSessions.create(in: store, ttlMillis: 60_000)
        let again = AdminPassword(hashing: "first", iterations: 2_000)
        try again.save(in: store)
        XCTAssertEqual(try count("SELECT count(*) FROM admin_sessions"), 2, "a re-hash of the same password keeps the sessions")
        try reopen()
        XCTAssertEqual(try AdminPassword.stored(in: store)?.encoded, again.encoded)
        XCTAssertTrue(try XCTUnwrap(AdminPassword.stored(in: store)).matches("first"))
        XCTAssertNil(try store.settings()[AdminPassword.storeName], "not a setting")
        XCTAssertEqual(try store.read { r in try r.db.scalarText("SELECT value FROM settings WHERE key = '_admin_password'") }, again.encoded,
                       "where existing databases keep it")
        let second = AdminPassword(hashing: "second", iterations: 1_000)
        XCTAssertEqual(try second.saveAsNewPassword(in: store), 2)
        XCTAssertEqual(try count("SELECT count(*) FROM admin_sessions"), 0)
        XCTAssertEqual(try AdminPassword.stored(in: store)?.encoded, second.encoded)
        // A stored value this ccload did not write is no hash.
        try store.setHiddenValue(AdminPassword.storeName, "plain text")
        XCTAssertNil(try AdminPassword.stored(in: store))
    }
}
