import Foundation
import Glibc
import XCTest

/// Shared pieces of the `/admin/channels` end-to-end tests: ccload with no channels on a
/// database of the test's own, admin calls with the session token that remember every
/// answer, and the check that no full upstream key ever shows (answers or stderr).
class AdminChannelsCase: StoreE2ECase {
    /// Keys tests give channels: recognisable, and never allowed to show whole.
    let keyA = "sk-ant-e2e-AAAA-secret-1111-zz90"
    let keyB = "sk-ant-e2e-BBBB-secret-2222-yy81"
    let keyC = "sk-ant-e2e-CCCC-secret-3333-xx72"
    var secrets: [String] { [keyA, keyB, keyC, "proxy-pass-Q7w"] }
    /// Every admin answer body this test received.
    private(set) var answers: [String] = []

    func masked(_ key: String) -> String { String(key.prefix(4)) + "…" + String(key.suffix(4)) }

    /// ccload routing nothing yet, on `db` (a fresh temp database by default).
    func startEmpty(db: String? = nil, _ extra: [String: String] = [:]) throws -> CcloadProcess {
        var env = ["SQLITE_PATH": db ?? tempDatabase()]
        for (k, v) in extra { env[k] = v }
        return try startCcload(upstream: nil, env)
    }

    /// An admin call with the bearer session (unless `auth` is false); the answer is kept.
    @discardableResult
    func admin(_ c: CcloadProcess, _ method: String, _ path: String, _ body: String? = nil,
               contentType: String = "application/json", headers: [String] = [], auth: Bool = true,
               timeout: Double = 10) throws -> HTTPResponse {
        var s = "\(method) \(path) HTTP/1.1\r\nHost: ccload.test\r\n"
        if auth { s += "Authorization: Bearer \(try c.adminToken())\r\n" }
        for h in headers { s += h + "\r\n" }
        if let body {
            s += "Content-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        } else {
            s += method == "GET" || method == "DELETE" ? "\r\n" : "Content-Length: 0\r\n\r\n"
        }
        let r = try c.request(s, timeout: timeout)
        answers.append(r.bodyText)
        return r
    }

    /// An admin call expected to answer `status` with a JSON object, which is returned.
    @discardableResult
    func adminJSON(_ c: CcloadProcess, _ method: String, _ path: String, _ body: Any? = nil, status: Int = 200,
                   file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let text = try body.map { b -> String in
            if let s = b as? String { return s }
            return String(decoding: try JSONSerialization.data(withJSONObject: b, options: [.sortedKeys]), as: UTF8.self)
        }
        let r = try admin(c, method, path, text)
        XCTAssertEqual(r.status, status, "\(method) \(path): \(r.bodyText)", file: file, line: line)
        guard let j = r.json else { throw TestFailure("\(method) \(path): not a JSON object: \(r.bodyText)") }
        return j
    }

    /// A channel input with the usual fields.
    func input(_ name: String, url: String, proto: String = "anthropic", keys: [String]? = nil,
               _ extra: [String: Any] = [:]) -> [String: Any] {
        var d: [String: Any] = ["name": name, "protocol": proto, "url": url, "api_keys": keys ?? [keyA]]
        for (k, v) in extra { d[k] = v }
        return d
    }

    /// Creates a channel (201) and returns its view.
    @discardableResult
    func create(_ c: CcloadProcess, _ input: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        try adminJSON(c, "POST", "/admin/channels", input, status: 201, file: file, line: line)
    }

    /// `GET /admin/channels` data.
    func list(_ c: CcloadProcess) throws -> [[String: Any]] {
        guard let d = try adminJSON(c, "GET", "/admin/channels")["data"] as? [[String: Any]] else {
            throw TestFailure("/admin/channels has no data array")
        }
        return d
    }

    func view(_ c: CcloadProcess, _ id: Int) throws -> [String: Any] {
        try adminJSON(c, "GET", "/admin/channels/\(id)")
    }

    /// A proxied Anthropic request (loopback, no client token needed).
    func proxied(_ c: CcloadProcess, model: String = RelayCase.model) throws -> HTTPResponse {
        try c.post("/v1/messages", anthropicBody(model: model, stream: false))
    }

    /// The stored secrets of a channel's keys, in order (read with sqlite3 while ccload runs:
    /// WAL readers are fine), each opened with the database's key: the file holds them sealed.
    func storedKeys(_ db: String, channel id: Int) throws -> [String] {
        try rows(db, "SELECT secret FROM channel_keys WHERE channel_id = \(id) ORDER BY idx").map {
            try openStored(db, $0[0] as? String ?? "")
        }
    }

    /// A channel's stored egress proxy URL, opened with the database's key (nil: none).
    func storedProxy(_ db: String, channel id: Int) throws -> String? {
        guard let stored = try rows(db, "SELECT proxy FROM channels WHERE id = \(id)")[0][0] as? String else { return nil }
        return try openStored(db, stored)
    }

    /// No full key (nor the proxy password) in any answer this test got, nor in ccload's stderr.
    func assertSecretsNeverShown(_ c: CcloadProcess, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(answers.isEmpty, "no admin answers were checked", file: file, line: line)
        for s in secrets {
            for a in answers where a.contains(s) {
                XCTFail("a secret showed in an answer: \(a.prefix(400))", file: file, line: line)
            }
            XCTAssertFalse(c.process.stderrText.contains(s), "a secret is in ccload's stderr", file: file, line: line)
        }
    }

    /// The `error.field` of an admin error answer.
    func field(_ r: HTTPResponse) -> String? { (r.json?["error"] as? [String: Any])?["field"] as? String }
}
