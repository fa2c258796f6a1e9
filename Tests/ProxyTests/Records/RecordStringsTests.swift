import XCTest
@testable import Proxy
@testable import Reactor

/// A loop's last client address, user agent and path: each answer is what formatting or decoding
/// afresh gives, whether it came from the last request's or not.
final class RecordStringsTests: XCTestCase {
    func testAddressesAreTheIPWithoutThePortWhicheverWasLast() {
        var s = RecordStrings()
        let a1 = SocketAddress(ip: "127.0.0.1", port: 5000)!, a2 = SocketAddress(ip: "127.0.0.1", port: 6000)!
        let b = SocketAddress(ip: "10.0.0.7", port: 5000)!
        let v6 = SocketAddress(ip: "::1", port: 5000)!, v6b = SocketAddress(ip: "[2001:db8::1]", port: 5000)!
        for (peer, want) in [(a1, "127.0.0.1"), (a2, "127.0.0.1"), (b, "10.0.0.7"), (a1, "127.0.0.1"), (v6, "::1"),
                             (v6b, "2001:db8::1"), (v6, "::1"), (b, "10.0.0.7")] {
            XCTAssertEqual(s.address(of: peer), want)
            XCTAssertEqual(s.address(of: peer), peer.ipString)
        }
        XCTAssertTrue(a1.sameIP(as: a2))
        XCTAssertFalse(a1.sameIP(as: b))
        XCTAssertFalse(v6.sameIP(as: v6b))
        // An IPv4 address and an IPv6 one with the same leading bytes are not the same IP.
        XCTAssertFalse(SocketAddress(ip: "0.0.0.0", port: 1)!.sameIP(as: SocketAddress(ip: "::", port: 1)!))
    }

    func testUserAgentsDecodeLikeStringDecodingUpTo200Bytes() {
        var s = RecordStrings()
        let long = Array(String(repeating: "a", count: 250).utf8)
        let invalid: [UInt8] = Array("curl/8 ".utf8) + [0xFF, 0xC3]
        let cases: [[UInt8]?] = [Array("claude-cli/2.0.1".utf8), Array("claude-cli/2.0.1".utf8), nil, Array("".utf8),
                                 Array("claude-cli/2.0.2".utf8), long, long, invalid, Array("claude-cli/2.0.1".utf8), nil]
        for c in cases {
            let want = c.map { String(decoding: $0.prefix(200), as: UTF8.self) } ?? ""
            XCTAssertEqual(s.userAgent(c.map { ArraySlice($0) }), want)
        }
        XCTAssertEqual(s.userAgent(ArraySlice(long)).utf8.count, 200)
        // A slice of a larger buffer (as a request head gives it) compares by its bytes.
        let head = Array("xxUA-1yy".utf8)
        XCTAssertEqual(s.userAgent(head[2..<6]), "UA-1")
        XCTAssertEqual(s.userAgent(ArraySlice(Array("UA-1".utf8))), "UA-1")
        XCTAssertEqual(s.userAgent(head[2..<5]), "UA-")
    }

    func testPathsAreTheTargetUpToItsQueryWhicheverWasLast() {
        var s = RecordStrings()
        let cases = ["/v1/chat/completions", "/v1/chat/completions?x=1", "/v1/chat/completions", "/v1/messages",
                     "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=secret", "?only-a-query", "",
                     "/v1/messages?beta=true", "/backend-api/codex/responses"]
        for c in cases {
            let want = String(c.prefix { $0 != "?" })
            XCTAssertEqual(s.path(ofTarget: ArraySlice(Array(c.utf8))), want, c)
        }
        // The user agent and the path are remembered apart.
        XCTAssertEqual(s.userAgent(ArraySlice(Array("/v1/messages".utf8))), "/v1/messages")
        XCTAssertEqual(s.path(ofTarget: ArraySlice(Array("/v1/responses".utf8))), "/v1/responses")
        XCTAssertEqual(s.userAgent(ArraySlice(Array("ua".utf8))), "ua")
        XCTAssertEqual(s.path(ofTarget: ArraySlice(Array("/v1/responses".utf8))), "/v1/responses")
    }
}
