import Foundation
import Glibc
import XCTest

/// Admin sign-in end to end: the password (given or generated once), sessions as cookie and
/// bearer, stored only as hashes, the login limit, the same-origin rule for cookie changes,
/// and the security headers.
final class AdminAuthTests: StoreE2ECase {
    func login(_ c: CcloadProcess, _ password: String, headers: [String] = []) throws -> HTTPResponse {
        try c.post("/login", #"{"password":"\#(password)"}"#, headers: headers)
    }

    func testLoginGivesACookieAndABearerTokenAndLogoutEndsIt() throws {
        let ccload = try startCcload(upstream: nil)
        let wrong = try login(ccload, "nope")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual((wrong.json?["error"] as? [String: Any])?["field"] as? String, "password")
        XCTAssertNil(wrong.header("set-cookie"))

        let ok = try login(ccload, CcloadProcess.adminPassword)
        XCTAssertEqual(ok.status, 200, ok.bodyText)
        let token = try XCTUnwrap(ok.json?["token"] as? String)
        XCTAssertGreaterThanOrEqual(token.count, 40)
        let cookie = try XCTUnwrap(ok.header("set-cookie"))
        XCTAssertTrue(cookie.hasPrefix("ccload_session=\(token);"), cookie)
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=86400"] {
            XCTAssertTrue(cookie.contains(part), "\(part) missing: \(cookie)")
        }
        XCTAssertFalse(cookie.contains("Secure"), "plain HTTP: no Secure flag")

        XCTAssertEqual(try ccload.get("/admin/session").status, 401)
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Cookie: ccload_session=\(token)"]).json?["via"] as? String, "cookie")
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).json?["via"] as? String, "bearer")
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)x"]).status, 401)
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Cookie: ccload_session=forged"]).status, 401)

        let out = try ccload.post("/logout", "", headers: ["Authorization: Bearer \(token)"])
        XCTAssertEqual(out.status, 200)
        XCTAssertTrue(out.header("set-cookie")?.contains("Max-Age=0") ?? false)
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 401,
                       "the session ended")
        XCTAssertFalse(ccload.process.stderrText.contains(CcloadProcess.adminPassword), "the password reached the log")
        XCTAssertFalse(ccload.process.stderrText.contains(token), "a session secret reached the log")
    }

    /// Served over HTTPS, the session cookie is marked Secure.
    func testTheCookieIsSecureWhenCcloadServesHTTPS() throws {
        let pki = try TestCertificates.make()
        onTearDown { pki.remove() }
        let ccload = try startCcload(upstream: nil, ["CCLOAD_TLS_CERT": pki.leafCert, "CCLOAD_TLS_KEY": pki.leafKey])
        let r = try curl(["--cacert", pki.caCert, "-X", "POST", "-H", "content-type: application/json",
                          "--data", #"{"password":"\#(CcloadProcess.adminPassword)"}"#,
                          "https://127.0.0.1:\(ccload.port)/login"])
        XCTAssertEqual(r.status, 200, r.stderr + r.bodyText)
        let cookie = try XCTUnwrap(r.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") })
        XCTAssertTrue(cookie.contains("; Secure"), String(cookie))
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), String(cookie))
    }

    func testFailedLoginsAreLimitedThenAnswered429WithRetryAfter() throws {
        let ccload = try startCcload(upstream: nil)
        for i in 0..<5 {
            XCTAssertEqual(try login(ccload, "wrong-\(i)").status, 401, "failure \(i + 1)")
        }
        let limited = try login(ccload, "wrong-6")
        XCTAssertEqual(limited.status, 429, limited.bodyText)
        let wait = try XCTUnwrap(Int(limited.header("retry-after") ?? ""))
        XCTAssertTrue((1...60).contains(wait), "retry-after \(wait)")
        XCTAssertEqual(try login(ccload, CcloadProcess.adminPassword).status, 429,
                       "the right password is refused too while the address is limited")
    }

    func testCookieChangesNeedThisSitesOrigin() throws {
        let ccload = try startCcload(upstream: nil)
        let token = try ccload.adminToken()
        let host = "ccload.test"  // the Host the helpers send
        let cookie = "Cookie: ccload_session=\(token)"
        for bad in [[cookie], [cookie, "Origin: http://evil.example"], [cookie, "Origin: null"],
                    [cookie, "Referer: http://evil.example/\(host)/"]] {
            let r = try ccload.post("/logout", "", headers: bad)
            XCTAssertEqual(r.status, 403, "\(bad): \(r.bodyText)")
            XCTAssertTrue(r.bodyText.contains("cross-site"), r.bodyText)
        }
        XCTAssertEqual(try ccload.get("/admin/session", headers: [cookie]).status, 200, "refused changes left the session")
        // A bearer token is not sent by browsers on their own: no Origin needed.
        XCTAssertEqual(try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 200)
        let same = try ccload.post("/logout", "", headers: [cookie, "Origin: http://\(host)"])
        XCTAssertEqual(same.status, 200, same.bodyText)
        XCTAssertEqual(try ccload.get("/admin/session", headers: [cookie]).status, 401)
    }

    func testAdminAnswersCarrySecurityHeaders() throws {
        let ccload = try startCcload(upstream: nil)
        let token = try ccload.adminToken()
        for r in [try ccload.get("/admin/session", headers: ["Authorization: Bearer \(token)"]),
                  try ccload.get("/admin/session"), try login(ccload, "wrong"),
                  try ccload.get("/admin/no-such-endpoint", headers: ["Authorization: Bearer \(token)"])] {
            XCTAssertEqual(r.header("x-content-type-options"), "nosniff", "\(r.statusLine)")
            let csp = try XCTUnwrap(r.header("content-security-policy"), "\(r.statusLine)")
            for directive in ["default-src 'self'", "frame-ancestors 'none'", "script-src 'self'", "object-src 'none'"] {
                XCTAssertTrue(csp.contains(directive), "\(directive) missing from \(csp)")
            }
            XCTAssertFalse(csp.contains("unsafe-inline"), csp)
            XCTAssertEqual(r.header("x-frame-options"), "DENY")
            XCTAssertEqual(r.header("cache-control"), "no-store")
        }
        let notFound = try ccload.get("/admin/no-such-endpoint", headers: ["Authorization: Bearer \(token)"])
        XCTAssertEqual(notFound.status, 404)
        let wrongMethod = try ccload.post("/admin/session", "{}", headers: ["Authorization: Bearer \(token)"])
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("allow"), "GET")
    }

    func testBadLoginBodiesAre400() throws {
        let ccload = try startCcload(upstream: nil)
        for (body, field) in [("", nil), ("{", nil), (#"{"pass":"x"}"#, "password"), (#"{"password":5}"#, "password"),
                              (#"{"password":""}"#, "password")] as [(String, String?)] {
            let r = try ccload.post("/login", body)
            XCTAssertEqual(r.status, 400, "\(body): \(r.bodyText)")
            XCTAssertEqual((r.json?["error"] as? [String: Any])?["field"] as? String, field, body)
        }
        // The password limit, both sides: 1,024 bytes are checked (and wrong), 1,025 refused unread.
        let longest = try login(ccload, String(repeating: "p", count: 1024))
        XCTAssertEqual(longest.status, 401, longest.bodyText)
        let tooLong = try login(ccload, String(repeating: "p", count: 1025))
        XCTAssertEqual(tooLong.status, 400, tooLong.bodyText)
        XCTAssertTrue(tooLong.bodyText.contains("too long"), tooLong.bodyText)
    }

    /// No CCLOAD_PASS: a password is generated at first start, printed once on standard
    /// output, and only its hash is stored; a restart does not print it again and it still
    /// works, as do sessions made before the restart (kept as hashes).
    func testGeneratedPasswordIsShownOnceAndOnlyItsHashIsStored() throws {
        let db = tempDatabase()
        let marker = "generated admin password (shown once; set CCLOAD_PASS to choose one): "
        let first = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": ""])
        XCTAssertTrue(first.process.waitForOutput(marker, stdout: true), "no password printed: \(first.process.stdoutText)")
        let line = try XCTUnwrap(first.process.stdoutText.components(separatedBy: "\n").first { $0.contains(marker) })
        let password = String(line[line.range(of: marker)!.upperBound...]).trimmingCharacters(in: .whitespaces)
        XCTAssertEqual(password.count, 27)
        XCTAssertFalse(first.process.stderrText.contains(password), "the password reached the log")
        let token = try first.adminToken(password: password)
        stopGracefully(first)

        let stored = try XCTUnwrap(try rows(db, "SELECT value FROM settings WHERE key = '_admin_password'").first?.first as? String)
        XCTAssertTrue(stored.hasPrefix("pbkdf2-sha256$"), stored)
        XCTAssertFalse(stored.contains(password))
        XCTAssertEqual(try int(db, "SELECT count(*) FROM admin_sessions WHERE token_hash = sha256('\(token)')"), 1,
                       "the session is stored as its SHA-256")
        XCTAssertFalse(databaseBytes(db).range(of: Data(password.utf8)) != nil, "the password is in the database file")
        XCTAssertFalse(databaseBytes(db).range(of: Data(token.utf8)) != nil, "a session secret is in the database file")

        let second = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": ""])
        XCTAssertEqual(try second.get("/admin/session", headers: ["Authorization: Bearer \(token)"]).status, 200,
                       "a session survives a restart")
        XCTAssertEqual(try login(second, password).status, 200)
        XCTAssertFalse(second.process.stdoutText.contains(marker), "printed again: \(second.process.stdoutText)")
        stopGracefully(second)

        // CCLOAD_PASS, when given, is the password (the stored one does not apply).
        let third = try startCcload(upstream: nil, ["SQLITE_PATH": db, "CCLOAD_PASS": "chosen-pass-1"])
        XCTAssertEqual(try login(third, password).status, 401)
        XCTAssertEqual(try login(third, "chosen-pass-1").status, 200)
    }
}
