import Foundation
import Glibc
import XCTest

/// Shared pieces of the admin data API tests: admin calls by bearer or cookie, the
/// refusals every endpoint owes (401 without a session, 403 for a cookie change from
/// another site), and the check that no secret ever shows.
class AdminDataCase: StoreE2ECase {
    enum Auth {
        case none
        case bearer
        /// The session cookie, with an `Origin` naming this host when `sameOrigin`.
        case cookie(sameOrigin: Bool)
    }

    /// Every admin answer a test read, to look for secrets at the end.
    private(set) var adminBodies: [String] = []

    /// Leaves the last answer out of `assertNoSecrets` (a token's creation shows its secret once).
    func forgetLastAnswer() { _ = adminBodies.popLast() }

    /// One admin call; `body` is sent as JSON.
    func admin(_ ccload: CcloadProcess, _ method: String, _ target: String, _ body: String? = nil,
               auth: Auth = .bearer, timeout: Double = 10) throws -> HTTPResponse {
        var s = "\(method) \(target) HTTP/1.1\r\nHost: ccload.test\r\n"
        switch auth {
        case .none: break
        case .bearer: s += "Authorization: Bearer \(try ccload.adminToken())\r\n"
        case .cookie(let same):
            s += "Cookie: ccload_session=\(try ccload.adminToken())\r\n"
            if same { s += "Origin: http://ccload.test\r\n" }
        }
        if let body {
            s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            s += (method == "GET" ? "" : "Content-Length: 0\r\n") + "\r\n"
        }
        let r = try ccload.request(s, timeout: timeout)
        adminBodies.append(r.bodyText)
        return r
    }

    /// Creates a token (as the admin); returns its id and secret.
    func createToken(_ ccload: CcloadProcess, _ body: String, file: StaticString = #filePath, line: UInt = #line) throws -> (Int, String) {
        let j = try adminOK(ccload, "POST", "/admin/tokens", body, status: 201, file: file, line: line)
        let token = j["token"] as? [String: Any]
        guard let id = token?["id"] as? Int, let secret = j["secret"] as? String else {
            throw TestFailure("no token id or secret in \(j)")
        }
        forgetLastAnswer()  // the one answer that shows the secret
        return (id, secret)
    }

    /// An admin call that must answer `status` with a JSON object; returns the object.
    @discardableResult
    func adminOK(_ ccload: CcloadProcess, _ method: String, _ target: String, _ body: String? = nil, status: Int = 200,
                 file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let r = try admin(ccload, method, target, body)
        XCTAssertEqual(r.status, status, "\(method) \(target): \(r.bodyText)", file: file, line: line)
        XCTAssertEqual(r.header("x-content-type-options"), "nosniff", file: file, line: line)
        guard let j = r.json else { throw TestFailure("\(method) \(target) answered no JSON object: \(r.bodyText)") }
        return j
    }

    /// Asserts a 400 whose error names `field`.
    func assertBadField(_ ccload: CcloadProcess, _ method: String, _ target: String, _ body: String? = nil, field: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try admin(ccload, method, target, body)
        XCTAssertEqual(r.status, 400, "\(method) \(target) \(body ?? ""): \(r.bodyText)", file: file, line: line)
        let e = r.json?["error"] as? [String: Any]
        XCTAssertEqual(e?["field"] as? String, field, "\(method) \(target) \(body ?? ""): \(r.bodyText)", file: file, line: line)
        XCTAssertEqual(e?["type"] as? String, "invalid_request", r.bodyText, file: file, line: line)
    }

    /// 401 without a session; for a change, 403 with the cookie but no Origin, and (when
    /// `allowed` is given) the status it answers with the cookie and a same-site Origin.
    func assertGuarded(_ ccload: CcloadProcess, _ method: String, _ target: String, _ body: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let none = try admin(ccload, method, target, body, auth: .none)
        XCTAssertEqual(none.status, 401, "\(method) \(target) without a session: \(none.bodyText)", file: file, line: line)
        let clientToken = try ccload.request("\(method) \(target) HTTP/1.1\r\nHost: ccload.test\r\nAuthorization: Bearer not-a-session\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(clientToken.status, 401, "\(method) \(target) with a bad bearer", file: file, line: line)
        if method != "GET" {
            let cross = try admin(ccload, method, target, body, auth: .cookie(sameOrigin: false))
            XCTAssertEqual(cross.status, 403, "\(method) \(target) by cookie without Origin: \(cross.bodyText)", file: file, line: line)
        }
    }

    /// Neither a secret nor an upstream key in any admin answer so far, nor in ccload's log.
    func assertNoSecrets(_ ccload: CcloadProcess, _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
        let log = ccload.process.stderrText
        for s in secrets + ["sk-secret-"] {
            for b in adminBodies where b.contains(s) {
                XCTFail("a secret (\(s.prefix(8))…) is in an admin answer: \(b.prefix(300))", file: file, line: line)
            }
            XCTAssertFalse(log.contains(s), "a secret (\(s.prefix(8))…) is in ccload's log", file: file, line: line)
        }
    }

    /// A proxy request with a client token.
    func proxy(_ ccload: CcloadProcess, token: String?, model: String = RelayCase.model, stream: Bool = false,
               query: String = "") throws -> HTTPResponse {
        try ccload.post("/v1/messages" + (query.isEmpty ? "" : "?" + query), anthropicBody(model: model, stream: stream),
                        headers: token.map { ["x-api-key: \($0)"] } ?? [])
    }

    /// Waits (bounded) until `/admin/logs` (with `query`) lists at least `count` entries.
    @discardableResult
    func waitForLogs(_ ccload: CcloadProcess, _ count: Int, query: String = "", timeout: Double = 5) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let data = try adminOK(ccload, "GET", "/admin/logs" + (query.isEmpty ? "" : "?" + query))["data"] as? [[String: Any]] ?? []
            if data.count >= count { return data }
            if Date() > deadline { throw TestFailure("only \(data.count) logs after \(timeout) s, wanted \(count)") }
            usleep(50_000)
        }
    }
}
