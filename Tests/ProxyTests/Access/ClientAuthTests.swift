import XCTest
@testable import Proxy
@testable import Reactor

final class ClientAuthTests: XCTestCase {
    private func head(_ lines: String) -> HTTPRequestHead { parsedRequestHead(lines) }

    private let remote = SocketAddress(ip: "10.1.2.3", port: 5000)!
    private let local = SocketAddress(ip: "127.0.0.1", port: 5000)!

    func testEachPlaceATokenCanArrive() {
        let auth = ClientAuth(secrets: ["alpha-token", "beta-token"])
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer beta-token\r\n"), peer: remote), .token(2))
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-token\r\n"), peer: remote), .token(1))
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nx-goog-api-key: beta-token\r\n"), peer: remote), .token(2))
        XCTAssertEqual(auth.check(head("GET /v1beta/models/g:generateContent?alt=sse&key=alpha-token HTTP/1.1\r\nHost: x\r\n"), peer: remote), .token(1))
    }

    func testWrongOrMissingTokensAreRefusedEvenFromLoopback() {
        let auth = ClientAuth(secrets: ["alpha-token"])
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-tokeN\r\n"), peer: local), .invalid)
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-token2\r\n"), peer: local), .invalid)
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\n"), peer: local), .missing)
        XCTAssertEqual(auth.check(head("GET /?key= HTTP/1.1\r\nHost: x\r\n"), peer: local), .missing)
    }

    func testWithoutTokensOnlyLoopbackIsAccepted() {
        let auth = ClientAuth(secrets: [])
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\n"), peer: local), .loopback)
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\n"), peer: SocketAddress(ip: "::1", port: 1)!), .loopback)
        XCTAssertEqual(auth.check(head("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: anything\r\n"), peer: remote), .notLoopback)
    }

    func testALoopsCacheAnswersLikeTheDigestsAndKeepsOnlyVerifiedSecrets() {
        let auth = ClientAuth(secrets: ["alpha-token", "beta-token"])
        var cache: VerifiedTokenCache? = VerifiedTokenCache(capacity: 4)
        let requests = [
            ("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-token\r\n", AuthOutcome.token(1)),
            ("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer beta-token\r\n", .token(2)),
            ("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-tokeN\r\n", .invalid),
            ("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-token2\r\n", .invalid),
            ("GET / HTTP/1.1\r\nHost: x\r\nx-api-key: alpha-toke\r\n", .invalid),
            ("GET / HTTP/1.1\r\nHost: x\r\n", .missing),
        ]
        // Twice: the first pass fills the cache, the second is answered from it; each
        // answer is the uncached check's.
        for pass in 0..<2 {
            for (text, expected) in requests {
                XCTAssertEqual(auth.check(head(text), peer: remote, cache: &cache), expected, "pass \(pass): \(text)")
                XCTAssertEqual(auth.check(head(text), peer: remote), expected)
            }
        }
        XCTAssertEqual(cache?.count, 2, "only the two verified secrets are kept")
        // A secret of the same length that differs in one byte is not a hit.
        XCTAssertNil(cache?.tokenID(for: ArraySlice("alpha-tokeM".utf8)))
        XCTAssertEqual(cache?.tokenID(for: ArraySlice("alpha-token".utf8)), 1)
    }

    func testTheCacheIsBoundedAndForgetsOnReset() {
        var cache = VerifiedTokenCache(capacity: 3)
        for i in 0..<10 { cache.remember(ArraySlice("secret-\(i)".utf8), as: i) }
        XCTAssertLessThanOrEqual(cache.count, 3)
        XCTAssertEqual(cache.tokenID(for: ArraySlice("secret-9".utf8)), 9, "the newest is kept")
        cache.reset()
        XCTAssertEqual(cache.count, 0)
        XCTAssertNil(cache.tokenID(for: ArraySlice("secret-9".utf8)))
    }

    func testDigestIsSHA256() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        let hex = TokenDigest(of: Array("abc".utf8)).bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        XCTAssertEqual(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // A slice of a larger buffer (hashed in place) and a non-contiguous collection agree.
        let buffer = Array("xxabcyy".utf8)
        XCTAssertEqual(TokenDigest(of: buffer[2..<5]), TokenDigest(of: Array("abc".utf8)))
        XCTAssertEqual(TokenDigest(of: "abc".utf8), TokenDigest(of: Array("abc".utf8)))
    }
}
