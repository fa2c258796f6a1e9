import Reactor
import XCTest

@testable import Admin
@testable import Proxy

/// A request head parsed from text.
func head(_ text: String) -> HTTPRequestHead {
    var p = HTTP1RequestParser(maxBodyBytes: 1 << 20)
    let bytes = Array(text.utf8)
    var offset = 0
    let event = bytes.withUnsafeBytes { p.next($0, &offset) }
    precondition(event == .head, "not a head: \(event)")
    return p.head!
}

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64
    init(_ start: UInt64) { value = start }
    var now: UInt64 { lock.lock(); defer { lock.unlock() }; return value }
    func advance(_ ms: UInt64) { lock.lock(); value += ms; lock.unlock() }
}

final class AdminPasswordTests: XCTestCase {
    func testHashMatchesOnlyItsPasswordAndNeverHoldsIt() {
        let p = AdminPassword(hashing: "correct horse", iterations: 1_000)
        XCTAssertTrue(p.matches("correct horse"))
        XCTAssertFalse(p.matches("correct horse "))
        XCTAssertFalse(p.matches(""))
        XCTAssertFalse(p.encoded.contains("correct"))
        XCTAssertTrue(p.encoded.hasPrefix("pbkdf2-sha256$1000$"), p.encoded)
        // Parsed back from its stored form, it checks the same way.
        let back = AdminPassword(encoded: p.encoded)
        XCTAssertEqual(back?.matches("correct horse"), true)
        XCTAssertEqual(back?.matches("wrong"), false)
        // Two hashes of one password differ (fresh salt).
        XCTAssertNotEqual(AdminPassword(hashing: "x", iterations: 1_000).encoded, AdminPassword(hashing: "x", iterations: 1_000).encoded)
    }

    func testMalformedStoredHashesAreRefused() {
        for bad in ["", "plain", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$10$!!$AAAA", "md5$1$AAAA$AAAA",
                    "pbkdf2-sha256$10$AAAA$AAAA"] {
            XCTAssertNil(AdminPassword(encoded: bad), bad)
        }
    }

    func testGeneratedPasswordsAreLongAndDistinct() {
        let a = AdminPassword.generate(), b = AdminPassword.generate()
        XCTAssertEqual(a.count, 27)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, a)
    }
}

final class LoginLimiterTests: XCTestCase {
    func testFiveFailuresPerMinuteThenWaitUntilTheOldestLeaves() {
        let clock = ManualClock(1_000_000)
        let l = LoginLimiter(limit: 5, windowMillis: 60_000, clock: { clock.now })
        for i in 0..<5 {
            XCTAssertNil(l.retryAfterSeconds("10.0.0.1"), "failure \(i)")
            l.recordFailure("10.0.0.1")
            clock.advance(1_000)
        }
        // Five failures at t=0..4 s; now t=5 s: blocked until the first leaves at t=60 s.
        XCTAssertEqual(l.retryAfterSeconds("10.0.0.1"), 55)
        XCTAssertNil(l.retryAfterSeconds("10.0.0.2"), "another address is not limited")
        clock.advance(54_000)
        XCTAssertEqual(l.retryAfterSeconds("10.0.0.1"), 1)
        clock.advance(1_000)
        XCTAssertNil(l.retryAfterSeconds("10.0.0.1"), "the oldest failure left the window")
        l.recordFailure("10.0.0.1")
        XCTAssertNotNil(l.retryAfterSeconds("10.0.0.1"), "five in the last minute again")
    }

    func testSuccessForgetsFailures() {
        let clock = ManualClock(0)
        let l = LoginLimiter(limit: 2, windowMillis: 60_000, clock: { clock.now })
        l.recordFailure("a")
        l.recordSuccess("a")
        l.recordFailure("a")
        XCTAssertNil(l.retryAfterSeconds("a"))
    }
}

final class AdminSessionsTests: XCTestCase {
    func testSessionsExpireAndAreKeptOnlyAsDigests() {
        let clock = ManualClock(5_000)
        let s = AdminSessions(clock: { clock.now })
        s.add(secret: "abc", expiresMillis: 10_000)
        XCTAssertTrue(s.valid(Array("abc".utf8)))
        XCTAssertFalse(s.valid(Array("abd".utf8)))
        clock.advance(5_000)
        XCTAssertFalse(s.valid(Array("abc".utf8)), "expired at 10 s")
        XCTAssertEqual(s.count, 0, "an expired session is forgotten")
        s.load([(TokenDigest(of: Array("stored".utf8)).bytes, 20_000)])
        XCTAssertTrue(s.valid(Array("stored".utf8)))
        s.remove(secret: Array("stored".utf8))
        XCTAssertFalse(s.valid(Array("stored".utf8)))
    }
}

final class AdminRouterRulesTests: XCTestCase {
    func testSameOriginNeedsOriginOrRefererNamingTheHost() {
        let cases: [(String, Bool)] = [
            ("Origin: http://ccload.local:8080", true),
            ("Origin: https://ccload.local:8080", true),
            ("Origin: HTTP://CCLOAD.LOCAL:8080", true),
            ("Origin: http://ccload.local:8081", false),
            ("Origin: http://evil.example", false),
            ("Origin: http://ccload.local:8080.evil.example", false),
            ("Origin: null", false),
            ("Referer: http://ccload.local:8080/web/#/channels", true),
            ("Referer: http://evil.example/http://ccload.local:8080/", false),
            ("X-Nothing: 1", false),
        ]
        for (header, ok) in cases {
            let h = head("POST /admin/channels HTTP/1.1\r\nHost: ccload.local:8080\r\n\(header)\r\nContent-Length: 0\r\n\r\n")
            XCTAssertEqual(AdminRouter.sameOrigin(h), ok, header)
        }
        let noHost = head("POST /x HTTP/1.0\r\nOrigin: http://a\r\n\r\n")
        XCTAssertFalse(AdminRouter.sameOrigin(noHost))
    }

    func testCookieValueIsFoundAmongOthers() {
        let h = head("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; ccload_session=tok-123; b=2\r\n\r\n")
        XCTAssertEqual(AdminRouter.cookie(h, "ccload_session").map { String(decoding: $0, as: UTF8.self) }, "tok-123")
        XCTAssertNil(AdminRouter.cookie(h, "ccload"))
        let prefixOnly = head("GET / HTTP/1.1\r\nHost: h\r\nCookie: xccload_session=1\r\n\r\n")
        XCTAssertNil(AdminRouter.cookie(prefixOnly, "ccload_session"))
    }

    func testAdminPathsAndProxyPathsAreTold() {
        for p in ["/", "/?x=1", "/admin/channels", "/web/", "/web", "/login", "/logout", "/public/summary", "/metrics"] {
            XCTAssertTrue(AdminRouter.isAdminPath(Array(p.utf8)[...]), p)
        }
        for p in ["/v1/messages", "/v1beta/models/x:generateContent", "/health", "/backend-api/codex/responses", "/x"] {
            XCTAssertFalse(AdminRouter.isAdminPath(Array(p.utf8)[...]), p)
        }
    }

    func testRoutePatternsMatchSegments() {
        let r = AdminRoute("GET", "/admin/channels/{id}/test") { _ in }
        XCTAssertEqual(r.match("/admin/channels/42/test".split(separator: "/")), ["id": "42"])
        XCTAssertNil(r.match("/admin/channels/42".split(separator: "/")))
        XCTAssertNil(r.match("/admin/channels/42/test/x".split(separator: "/")))
        let star = AdminRoute("GET", "/web/*", .open) { _ in }
        XCTAssertEqual(star.match("/web/a/b.js".split(separator: "/")), ["*": "a/b.js"])
        XCTAssertEqual(r.match("/admin/channels/a%20b/test".split(separator: "/")), ["id": "a b"])
    }

    func testQueryIsPercentDecoded() {
        let (path, q) = AdminRouter.split(Array("/admin/logs?model=claude%2Dx&x=a+b&empty=".utf8)[...])
        XCTAssertEqual(path, "/admin/logs")
        XCTAssertEqual(q, ["model": "claude-x", "x": "a b", "empty": ""])
    }
}

final class AdminJSONTests: XCTestCase {
    struct Input: Decodable {
        let name: String
        let priority: Int?
        let keys: [String]?
        let nested: Nested?
        struct Nested: Decodable { let maxConcurrency: Int }
    }

    func field(_ body: String) -> (String?, String) {
        do {
            _ = try AdminJSON.decode(Input.self, from: Array(body.utf8))
            return (nil, "decoded")
        } catch {
            return (error.field, error.message)
        }
    }

    func testDecodingErrorsNameTheField() {
        XCTAssertEqual(field(#"{"priority":1}"#).0, "name")
        XCTAssertEqual(field(#"{"name":"a","priority":"high"}"#).0, "priority")
        XCTAssertTrue(field(#"{"name":"a","priority":"high"}"#).1.contains("integer"))
        XCTAssertEqual(field(#"{"name":"a","keys":["k",3]}"#).0, "keys[1]")
        XCTAssertEqual(field(#"{"name":"a","nested":{"max_concurrency":true}}"#).0, "nested.max_concurrency")
        XCTAssertEqual(field(#"{"name":null}"#).0, "name")
        XCTAssertEqual(field("{not json").1, "the body is not valid JSON")
        XCTAssertEqual(field("").1, "a JSON body is required")
        XCTAssertNil(field(#"{"name":"a"}"#).0)
    }

    func testErrorBodyShape() throws {
        let e = AdminError.invalid("priority", "priority must be an integer")
        let j = try JSONSerialization.jsonObject(with: Data(e.body)) as? [String: Any]
        let inner = try XCTUnwrap(j?["error"] as? [String: Any])
        XCTAssertEqual(inner["type"] as? String, "invalid_request")
        XCTAssertEqual(inner["field"] as? String, "priority")
        XCTAssertEqual(e.status, 400)
        XCTAssertEqual(AdminError(StoreError(.full, "disk full")).status, 500)
        XCTAssertTrue(AdminError(StoreError(.full, "disk full")).message.contains("disk full"))
        XCTAssertEqual(AdminError(StoreError(.notFound, "no channel 3")).status, 404)
        XCTAssertEqual(AdminError(StoreError(.constraint, "name taken")).status, 409)
    }
}
