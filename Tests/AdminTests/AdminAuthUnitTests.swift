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

    /// New hashes use OWASP's 600,000 iterations; an older hash names its own count, still
    /// checks, and says it needs a re-hash.
    func testNewHashesUseOWASPIterationsAndOlderOnesStillCheck() throws {
        XCTAssertEqual(AdminPassword.iterations, 600_000)
        let old = AdminPassword(hashing: "pw-old", iterations: 100_000)
        let back = try XCTUnwrap(AdminPassword(encoded: old.encoded))
        XCTAssertTrue(back.needsRehash)
        XCTAssertTrue(back.matches("pw-old"))
        let current = try XCTUnwrap(AdminPassword(encoded: "pbkdf2-sha256$600000$" + old.encoded.split(separator: "$")[2] + "$" + old.encoded.split(separator: "$")[3]))
        XCTAssertFalse(current.needsRehash)
        XCTAssertFalse(current.matches("pw-old"), "the count is part of the hash")
    }

    func testMalformedStoredHashesAreRefused() {
        for bad in ["", "plain", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$10$!!$AAAA", "md5$1$AAAA$AAAA",
                    "pbkdf2-sha256$10$AAAA$AAAA",
                    // A count past Int32 would trap in PBKDF2's argument; one past the cap would hold a thread for minutes.
                    "pbkdf2-sha256$4294967296$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "pbkdf2-sha256$10000001$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
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
    func source(_ ip: String) -> LoginSource { LoginSource(ip: ip)! }

    /// Reserves and, when granted, fails at once (a wrong password).
    func fail(_ l: LoginLimiter, _ s: LoginSource, file: StaticString = #filePath, line: UInt = #line) {
        guard case .granted(let t) = l.reserve(s) else { return XCTFail("not granted", file: file, line: line) }
        l.finish(t, .failed)
    }

    func retryAfter(_ d: LoginLimiter.Decision) -> Int? {
        if case .limited(let w) = d { return w }
        return nil
    }

    func testFiveFailuresPerMinuteThenWaitUntilTheOldestLeaves() {
        let clock = ManualClock(1_000_000)
        let l = LoginLimiter(limit: 5, windowMillis: 60_000, clock: { clock.now })
        let a = source("10.0.0.1")
        for _ in 0..<5 {
            fail(l, a)
            clock.advance(1_000)
        }
        // Five failures at t=0..4 s; now t=5 s: blocked until the first leaves at t=60 s.
        XCTAssertEqual(retryAfter(l.reserve(a)), 55)
        guard case .granted(let other) = l.reserve(source("10.0.0.2")) else { return XCTFail("another address is limited") }
        l.finish(other, .failed)
        clock.advance(54_000)
        XCTAssertEqual(retryAfter(l.reserve(a)), 1)
        clock.advance(1_000)
        fail(l, a)  // the oldest failure left the window
        XCTAssertNotNil(retryAfter(l.reserve(a)), "five in the last minute again")
    }

    /// The attempt is counted when it is reserved, before any hash: parallel attempts get
    /// no more than the limit between them, whatever their verdicts' timing.
    func testAttemptsAreReservedBeforeTheVerdict() {
        let l = LoginLimiter(limit: 5, maxInFlight: 100)
        let a = source("10.0.0.1")
        var granted: [LoginLimiter.Ticket] = []
        var limited = 0
        for _ in 0..<100 {
            switch l.reserve(a) {
            case .granted(let t): granted.append(t)
            case .limited: limited += 1
            case .busy: XCTFail("busy with room for 100")
            }
        }
        XCTAssertEqual(granted.count, 5)
        XCTAssertEqual(limited, 95)
        XCTAssertEqual(l.counts.inFlight, 5)
        XCTAssertEqual(l.counts.hashed, 5)
        for t in granted { l.finish(t, .failed) }
        XCTAssertEqual(l.counts.inFlight, 0)
        XCTAssertNotNil(retryAfter(l.reserve(a)), "failures keep their reservations")
    }

    func testSuccessForgetsAttemptsAndAnUncheckedAttemptIsGivenBack() {
        let l = LoginLimiter(limit: 2)
        let a = source("10.0.0.1")
        fail(l, a)
        guard case .granted(let ok) = l.reserve(a) else { return XCTFail("second attempt refused") }
        XCTAssertNotNil(retryAfter(l.reserve(a)), "two reserved: the limit")
        l.finish(ok, .succeeded)
        fail(l, a)
        guard case .granted(let unchecked) = l.reserve(a) else { return XCTFail("the success did not forget the failures") }
        l.finish(unchecked, .unchecked)
        guard case .granted(let again) = l.reserve(a) else { return XCTFail("the unchecked attempt was not given back") }
        l.finish(again, .failed)
        XCTAssertNotNil(retryAfter(l.reserve(a)))
    }

    /// At most `maxInFlight` hashes at once across every source; one more is busy (not
    /// queued, not counted as an attempt).
    func testHashesInFlightAreCapped() {
        let l = LoginLimiter(limit: 5, maxInFlight: 2)
        guard case .granted(let t1) = l.reserve(source("10.0.0.1")), case .granted(let t2) = l.reserve(source("10.0.0.2")) else {
            return XCTFail("two hashes refused")
        }
        guard case .busy(let wait) = l.reserve(source("10.0.0.3")) else { return XCTFail("a third hash at once was let through") }
        XCTAssertEqual(wait, 1)
        XCTAssertEqual(l.counts.busy, 1)
        XCTAssertEqual(l.counts.sources, 2, "a busy refusal leaves nothing in the table")
        l.finish(t1, .failed)
        guard case .granted(let t3) = l.reserve(source("10.0.0.3")) else { return XCTFail("room again, still refused") }
        l.finish(t2, .failed)
        l.finish(t3, .failed)
        // Busy refusals are not attempts: a source refused as busy 10 times still has all five.
        let b = LoginLimiter(limit: 5, maxInFlight: 1)
        guard case .granted(let hold) = b.reserve(source("10.9.9.9")) else { return XCTFail() }
        for _ in 0..<10 { if case .granted = b.reserve(source("10.0.0.1")) { XCTFail("past the cap") } }
        b.finish(hold, .failed)
        for _ in 0..<5 { fail(b, source("10.0.0.1")) }
        XCTAssertNotNil(retryAfter(b.reserve(source("10.0.0.1"))))
    }

    /// IPv6 counts by /64, IPv4 by address, and an IPv4-mapped IPv6 address as its IPv4.
    func testSourcesKeyIPv6By64AndMappedIPv4AsIPv4() {
        XCTAssertEqual(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        XCTAssertEqual(source("[2001:db8:1:2::5]"), source("2001:db8:1:2::1"))
        XCTAssertNotEqual(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"))
        XCTAssertEqual(source("::ffff:10.0.0.1"), source("10.0.0.1"))
        XCTAssertNotEqual(source("10.0.0.1"), source("10.0.0.2"))
        XCTAssertNotEqual(source("::1"), source("0.0.0.1"))
        XCTAssertEqual(source("2001:db8:1:2::1").description, "2001:db8:1:2::/64")
        XCTAssertEqual(source("::ffff:192.168.1.20").description, "192.168.1.20")
        XCTAssertNil(LoginSource(ip: "example.com"))
        XCTAssertNil(LoginSource(ip: "10.0.0.1, 10.0.0.2"))

        // Five failures spread over one /64 limit the whole /64.
        let l = LoginLimiter(limit: 5)
        for i in 1...5 { fail(l, source("2001:db8:1:2::\(i)")) }
        XCTAssertNotNil(retryAfter(l.reserve(source("2001:db8:1:2:abcd::9"))))
        XCTAssertNil(retryAfter(l.reserve(source("2001:db8:1:3::1"))), "the next /64 is another source")
    }

    /// At the cap the least recently used source is forgotten, not the whole table: a
    /// source still being limited stays limited through a flood of new ones.
    func testTheTableEvictsTheLeastRecentlyUsedAtItsCap() {
        let clock = ManualClock(0)
        let l = LoginLimiter(limit: 5, maxSources: 3, clock: { clock.now })
        let attacker = source("10.0.0.1")
        for _ in 0..<5 { fail(l, attacker) }
        for i in 2...50 {
            fail(l, source("10.0.1.\(i)"))
            // The attacker keeps trying: each try makes it recent again.
            XCTAssertNotNil(retryAfter(l.reserve(attacker)), "the attacker was forgotten at source \(i)")
        }
        XCTAssertEqual(l.counts.sources, 3)
        XCTAssertEqual(l.counts.evicted, 47)
        XCTAssertEqual(l.sourcesByRecency, [attacker, source("10.0.1.50"), source("10.0.1.49")])
        // Before this fix the table was cleared at its cap, forgetting every source at once.
    }
}

final class LRUMapTests: XCTestCase {
    func testEvictsLeastRecentlyUsedAndTouchRefreshes() {
        var m = LRUMap<String, Int>(capacity: 3)
        XCTAssertNil(m.set("a", 1))
        XCTAssertNil(m.set("b", 2))
        XCTAssertNil(m.set("c", 3))
        XCTAssertEqual(m.touch("a"), 1)
        XCTAssertEqual(m.set("d", 4), "b", "b was the least recently used")
        XCTAssertEqual(m.keysByRecency, ["d", "a", "c"])
        XCTAssertNil(m.set("a", 10), "an update evicts nothing")
        XCTAssertEqual(m.keysByRecency, ["a", "d", "c"])
        m.remove("d")
        XCTAssertEqual(m.count, 2)
        XCTAssertNil(m.touch("d"))
        XCTAssertNil(m.set("e", 5), "a removed entry's room is reused")
        XCTAssertEqual(m.set("f", 6), "c")
        XCTAssertEqual(m.keysByRecency, ["f", "e", "a"])
        XCTAssertEqual(m.touch("a"), 10)
        // A long random run against a slow reference.
        var fast = LRUMap<Int, Int>(capacity: 7)
        var slow: [(Int, Int)] = []  // most recent first
        var rng = SystemRandomNumberGenerator()
        for step in 0..<5_000 {
            let k = Int.random(in: 0..<20, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                let got = fast.touch(k)
                let i = slow.firstIndex { $0.0 == k }
                XCTAssertEqual(got, i.map { slow[$0].1 }, "step \(step)")
                if let i { slow.insert(slow.remove(at: i), at: 0) }
            case 1:
                let evicted = fast.set(k, step)
                var expected: Int?
                if let i = slow.firstIndex(where: { $0.0 == k }) { slow.remove(at: i) } else if slow.count == 7 { expected = slow.removeLast().0 }
                slow.insert((k, step), at: 0)
                XCTAssertEqual(evicted, expected, "step \(step)")
            default:
                fast.remove(k)
                slow.removeAll { $0.0 == k }
            }
            XCTAssertEqual(fast.keysByRecency, slow.map(\.0), "step \(step)")
        }
    }
}

final class TrustedProxiesTests: XCTestCase {
    /// Where a login from `peer` with `headers` counts.
    struct Request {
        let head: HTTPRequestHead
        let peer: SocketAddress
    }

    func request(_ peer: String, _ headers: String = "") -> Request {
        Request(head: head("POST /login HTTP/1.1\r\nHost: h\r\n\(headers)Content-Length: 0\r\n\r\n"),
                peer: SocketAddress(ip: peer, port: 40_000)!)
    }

    func testForwardedForIsBelievedOnlyFromATrustedPeerAndOnlyItsLastHop() throws {
        let none = TrustedProxies.none
        XCTAssertEqual(none.source(request("127.0.0.1", "X-Forwarded-For: 203.0.113.9\r\n")), LoginSource(ip: "127.0.0.1"),
                       "off by default: a client cannot pick its own bucket")
        guard case .success(let trusted) = TrustedProxies.parse("127.0.0.1, ::1") else { return XCTFail("parse") }
        XCTAssertEqual(trusted.source(request("127.0.0.1", "X-Forwarded-For: 203.0.113.9\r\n")), LoginSource(ip: "203.0.113.9"))
        XCTAssertEqual(trusted.source(request("::ffff:127.0.0.1", "X-Forwarded-For: 203.0.113.9\r\n")), LoginSource(ip: "203.0.113.9"),
                       "an IPv4-mapped peer is the IPv4 address")
        // The client's own hops come first; the proxy appends the address it saw last.
        XCTAssertEqual(trusted.source(request("::1", "X-Forwarded-For: 1.1.1.1, 2001:db8::7\r\n")), LoginSource(ip: "2001:db8::7"))
        XCTAssertEqual(trusted.source(request("127.0.0.1", "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 198.51.100.4\r\n")),
                       LoginSource(ip: "198.51.100.4"), "the last field's last hop")
        // A trusted peer without the header, or with an unreadable last hop, is its own source.
        XCTAssertEqual(trusted.source(request("127.0.0.1")), LoginSource(ip: "127.0.0.1"))
        XCTAssertEqual(trusted.source(request("127.0.0.1", "X-Forwarded-For: 1.1.1.1, unknown\r\n")), LoginSource(ip: "127.0.0.1"))
        // An untrusted peer's header is ignored.
        XCTAssertEqual(trusted.source(request("10.1.1.1", "X-Forwarded-For: 203.0.113.9\r\n")), LoginSource(ip: "10.1.1.1"))
        guard case .failure(let e) = TrustedProxies.parse("127.0.0.1, proxy.local") else { return XCTFail("a name was accepted") }
        XCTAssertTrue(e.description.contains("proxy.local"), e.description)
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
        let r = AdminRoute("GET", "/admin/channels/{id}/test", .admin) { _ in }
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
        // A database server away: 503 with a retry hint, in the same error shape.
        let away = AdminError(StoreError(.unavailable, "connection refused"))
        XCTAssertEqual(away.status, 503)
        XCTAssertEqual(away.type, "storage_unavailable")
        XCTAssertTrue(away.message.contains("connection refused"), away.message)
        XCTAssertEqual(away.headers.first { $0.0 == "Retry-After" }?.1, "5")
    }
}

extension TrustedProxies {
    func source(_ r: TrustedProxiesTests.Request) -> LoginSource { source(r.head, peer: r.peer) }
}
