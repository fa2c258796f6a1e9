import Foundation
import Glibc
import XCTest

/// The login limit against a hostile client, end to end: parallel guesses, a trusted
/// reverse proxy's `X-Forwarded-For`, sessions ending when the password changes, and an
/// older password hash upgraded at the next login.
final class AdminLoginLimitTests: StoreE2ECase {
    func loginRequest(_ password: String, headers: [String] = []) -> String {
        let body = #"{"password":"\#(password)"}"#
        var s = "POST /login HTTP/1.1\r\nHost: ccload.test\r\n"
        for h in headers { s += h + "\r\n" }
        return s + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    func logins(_ c: CcloadProcess) throws -> [String: Any] {
        guard let l = try c.adminJSON("/admin/metrics")["logins"] as? [String: Any] else {
            throw TestFailure("/admin/metrics has no logins object")
        }
        return l
    }

    /// 100 wrong logins from one address sent at once: before this fix each was counted
    /// only after its PBKDF2 ran, so all 100 were hashed (100 guesses) on the store's
    /// reader threads. Now at most 5 reach PBKDF2; the rest get 429 (the source used its
    /// attempts) or 503 (two hashes are running) with `retry-after`, and a well-behaved
    /// client is served throughout.
    func testHundredParallelWrongLoginsGetAtMostFiveGuesses() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let token = try ccload.adminToken()
        let hashedBefore = try XCTUnwrap(try logins(ccload)["hashed"] as? Int)

        var flood: [RawConnection] = []
        for _ in 0..<100 { flood.append(try ccload.connect()) }
        for (i, c) in flood.enumerated() { try c.send(loginRequest("wrong-guess-\(i)")) }

        // While the guesses are being answered, a well-behaved client is served.
        XCTAssertEqual(try ccload.get("/health").status, 200)
        XCTAssertEqual(try ccload.request(messagesRequest(), timeout: 20).status, 200)
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)"], timeout: 20).status, 200)

        var statuses: [Int: Int] = [:]
        for c in flood {
            let r = try c.readResponse(timeout: 60)
            statuses[r.status, default: 0] += 1
            if r.status == 429 || r.status == 503 {
                XCTAssertNotNil(Int(r.header("retry-after") ?? ""), "\(r.status) without retry-after")
                XCTAssertEqual((r.json?["error"] as? [String: Any])?["type"] as? String, r.status == 429 ? "rate_limited" : "server_error")
            }
        }
        XCTAssertEqual(Set(statuses.keys).subtracting([401, 429, 503]), [], "\(statuses)")
        XCTAssertLessThanOrEqual(statuses[401] ?? 0, 5, "\(statuses)")
        XCTAssertGreaterThanOrEqual((statuses[429] ?? 0) + (statuses[503] ?? 0), 95, "\(statuses)")
        let after = try logins(ccload)
        let hashed = try XCTUnwrap(after["hashed"] as? Int) - hashedBefore
        XCTAssertLessThanOrEqual(hashed, 5, "\(after)")
        XCTAssertEqual(hashed, statuses[401] ?? 0, "every hashed guess was answered 401")
        XCTAssertEqual(after["in_flight"] as? Int, 0)

        // Asked one at a time from now on, the address still gets no more than five guesses in all.
        var wrong = statuses[401] ?? 0
        for i in 0..<10 {
            let r = try ccload.post("/login", #"{"password":"later-guess-\#(i)"}"#, timeout: 20)
            if r.status == 401 { wrong += 1 }
            if r.status == 429 { break }
        }
        XCTAssertLessThanOrEqual(wrong, 5)
        XCTAssertEqual(try ccload.post("/login", #"{"password":"\#(CcloadProcess.adminPassword)"}"#).status, 429,
                       "the right password is refused too while the address is limited")
        XCTAssertEqual(try ccload.get("/health").status, 200)
        XCTAssertEqual(try ccload.request(messagesRequest(), timeout: 20).status, 200)
        XCTAssertFalse(ccload.process.stderrText.contains("wrong-guess"), "a presented password reached the log")
    }

    /// Behind a trusted reverse proxy (`CCLOAD_TRUSTED_PROXIES`), each client counts by the
    /// last `X-Forwarded-For` hop; without the setting the header is ignored (a client
    /// could otherwise pick a fresh bucket for every guess).
    func testTrustedProxyForwardedForSeparatesClientsAndIsIgnoredOtherwise() throws {
        let behind = try startCcload(upstream: nil, ["CCLOAD_TRUSTED_PROXIES": "127.0.0.1"])
        let attacker = "X-Forwarded-For: 198.51.100.1, 203.0.113.7"
        for i in 0..<5 { XCTAssertEqual(try behind.request(loginRequest("w\(i)", headers: [attacker])).status, 401) }
        let limited = try behind.request(loginRequest("w5", headers: [attacker]))
        XCTAssertEqual(limited.status, 429)
        XCTAssertTrue(limited.bodyText.contains("203.0.113.7"), limited.bodyText)
        // Another client behind the same proxy, and a spoofed first hop, are not limited.
        XCTAssertEqual(try behind.request(loginRequest("x", headers: ["X-Forwarded-For: 203.0.113.8"])).status, 401)
        XCTAssertEqual(try behind.request(loginRequest(CcloadProcess.adminPassword, headers: ["X-Forwarded-For: 203.0.113.7, 203.0.113.9"])).status, 200)

        let direct = try startCcload(upstream: nil)
        for i in 0..<5 {
            XCTAssertEqual(try direct.request(loginRequest("w\(i)", headers: ["X-Forwarded-For: 10.9.0.\(i)"])).status, 401)
        }
        XCTAssertEqual(try direct.request(loginRequest("w5", headers: ["X-Forwarded-For: 10.9.0.99"])).status, 429,
                       "an untrusted X-Forwarded-For picked a new bucket")

        let bad = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                       environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_TRUSTED_PROXIES": "proxy.local",
                                                     "SQLITE_PATH": tempDatabase()])
        track(bad)
        XCTAssertNotNil(bad.waitForExit(timeout: 10), "started with a trusted proxy that is not an address")
        XCTAssertTrue(bad.waitForOutput("CCLOAD_TRUSTED_PROXIES") && bad.waitForOutput("proxy.local"), bad.stderrText)
    }

    /// A new `CCLOAD_PASS` ends every admin session at start-up; the same one keeps them.
    /// Before this fix a changed password left every old session valid.
    func testANewPasswordEndsEverySessionTheSamePasswordKeepsThem() throws {
        let db = tempDatabase()
        let first = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": "pass-one-Aa1"])
        let token = try first.adminToken(password: "pass-one-Aa1")
        stopGracefully(first)

        let same = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": "pass-one-Aa1"])
        XCTAssertEqual(try same.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 200,
                       "the same password ended the sessions")
        stopGracefully(same)

        let changed = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": "pass-two-Bb2"])
        XCTAssertEqual(try changed.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 401,
                       "a session made with the old password survived the change")
        XCTAssertTrue(changed.process.waitForOutput("1 admin sessions ended"), changed.process.stderrText)
        XCTAssertEqual(try changed.post("/login", #"{"password":"pass-one-Aa1"}"#).status, 401)
        let fresh = try changed.adminToken(password: "pass-two-Bb2")
        stopGracefully(changed)
        XCTAssertEqual(try int(db, "SELECT count(*) FROM admin_sessions"), 1)

        // Without CCLOAD_PASS the stored hash (of the last one given) applies; nothing ends.
        let stored = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": ""])
        XCTAssertEqual(try stored.get("/admin/session", headers: ["Authorization: Bearer \(fresh)"]).status, 200)
        XCTAssertEqual(try stored.post("/login", #"{"password":"pass-two-Bb2"}"#).status, 200)
        XCTAssertFalse(stored.process.stdoutText.contains("generated admin password"))
    }

    /// A hash stored with 100,000 iterations (what ccload wrote before) still logs in and is
    /// re-hashed with 600,000 at that login (or at start-up when CCLOAD_PASS names it).
    func testAnOlderHashStillLogsInAndIsUpgraded() throws {
        // PBKDF2-HMAC-SHA256("legacy-pass-9Zx", salt 00 01 … 0f, 100000), made with Python's hashlib.
        let legacy = "pbkdf2-sha256$100000$AAECAwQFBgcICQoLDA0ODw==$F4hCHp8KB4kjwCJHZeaACeaiRi1dkQDkbLxXyMo+wy8="
        let db = tempDatabase()
        stopGracefully(try startCcload(upstream: nil, ["SQLITE_PATH": db]))
        _ = try sql(db, ["UPDATE settings SET value = '\(legacy)' WHERE key = '_admin_password'"])

        let c = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": ""])
        XCTAssertEqual(try c.post("/login", #"{"password":"wrong"}"#).status, 401)
        XCTAssertEqual(try rows(db, "SELECT value FROM settings WHERE key = '_admin_password'").first?.first as? String, legacy,
                       "a failed login changed the hash")
        let token = try c.adminToken(password: "legacy-pass-9Zx")
        let upgraded = try XCTUnwrap(try rows(db, "SELECT value FROM settings WHERE key = '_admin_password'").first?.first as? String)
        XCTAssertTrue(upgraded.hasPrefix("pbkdf2-sha256$600000$"), upgraded)
        XCTAssertTrue(c.process.waitForOutput("re-hashed with 600000"), c.process.stderrText)
        XCTAssertEqual(try c.post("/login", #"{"password":"legacy-pass-9Zx"}"#).status, 200, "the new hash checks")
        stopGracefully(c)

        let again = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": ""])
        XCTAssertEqual(try again.post("/login", #"{"password":"legacy-pass-9Zx"}"#).status, 200)
        XCTAssertEqual(try again.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 200,
                       "an upgrade is not a password change")
        stopGracefully(again)

        // Given as CCLOAD_PASS, an older hash of it is upgraded at start-up and its sessions stay.
        _ = try sql(db, ["UPDATE settings SET value = '\(legacy)' WHERE key = '_admin_password'"])
        let given = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": "legacy-pass-9Zx"])
        XCTAssertEqual(try given.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 200)
        let atStart = try XCTUnwrap(try rows(db, "SELECT value FROM settings WHERE key = '_admin_password'").first?.first as? String)
        XCTAssertTrue(atStart.hasPrefix("pbkdf2-sha256$600000$"), atStart)
    }

    /// On a dual-stack listener an IPv4 client arrives as an IPv4-mapped IPv6 address: it
    /// counts as its IPv4 address, and an IPv6 client by its /64, each its own source.
    func testDualStackPeersCountAsIPv4AndIPv6Per64() throws {
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": "::", "CCLOAD_PASS": CcloadProcess.adminPassword])
        track(p)
        guard p.waitForOutput("listening on [::]:", timeout: 10) else { throw TestFailure("no listening line: \(p.stderrText)") }
        let text = p.stderrText
        let port = Int(text[text.range(of: "listening on [::]:")!.upperBound...].prefix { $0.isNumber }) ?? 0
        func login(_ host: String, _ password: String) throws -> CurlResult {
            try curl(["-g", "-X", "POST", "-H", "content-type: application/json", "-H", "origin: http://\(host)",
                      "--data", #"{"password":"\#(password)"}"#, "http://\(host):\(port)/login"], maxTime: 20)
        }
        for i in 0..<5 { XCTAssertEqual(try login("127.0.0.1", "w\(i)").status, 401) }
        let v4 = try login("127.0.0.1", "w5")
        XCTAssertEqual(v4.status, 429)
        XCTAssertTrue(v4.bodyText.contains("from 127.0.0.1;"), v4.bodyText)
        for i in 0..<5 { XCTAssertEqual(try login("[::1]", "w\(i)").status, 401, "IPv6 loopback is not the IPv4 source") }
        let v6 = try login("[::1]", "w5")
        XCTAssertEqual(v6.status, 429)
        XCTAssertTrue(v6.bodyText.contains("from 0:0:0:0::/64;"), v6.bodyText)
    }
}
