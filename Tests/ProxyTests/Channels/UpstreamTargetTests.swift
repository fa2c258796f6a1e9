import XCTest
import TLS
@testable import Proxy

/// `UpstreamTarget(url:)` as a table: what is accepted, what each part becomes, and
/// what is refused.
final class UpstreamTargetTests: XCTestCase {
    struct Row {
        let url: String
        let host: String
        let port: Int
        let tls: Bool
        let prefix: String
        let hostHeader: String
        let line: UInt
    }

    func testAcceptedURLs() {
        let rows: [Row] = [
            Row(url: "http://127.0.0.1:8080", host: "127.0.0.1", port: 8080, tls: false, prefix: "", hostHeader: "127.0.0.1:8080", line: #line),
            Row(url: "http://example.com", host: "example.com", port: 80, tls: false, prefix: "", hostHeader: "example.com", line: #line),
            Row(url: "http://example.com/", host: "example.com", port: 80, tls: false, prefix: "", hostHeader: "example.com", line: #line),
            Row(url: "http://example.com:80", host: "example.com", port: 80, tls: false, prefix: "", hostHeader: "example.com", line: #line),
            Row(url: "http://example.com:443", host: "example.com", port: 443, tls: false, prefix: "", hostHeader: "example.com:443", line: #line),
            Row(url: "https://api.anthropic.com", host: "api.anthropic.com", port: 443, tls: true, prefix: "", hostHeader: "api.anthropic.com", line: #line),
            Row(url: "https://api.anthropic.com:443", host: "api.anthropic.com", port: 443, tls: true, prefix: "", hostHeader: "api.anthropic.com", line: #line),
            Row(url: "https://relay.example:8443/api", host: "relay.example", port: 8443, tls: true, prefix: "/api", hostHeader: "relay.example:8443", line: #line),
            Row(url: "https://relay.example/a/b/", host: "relay.example", port: 443, tls: true, prefix: "/a/b", hostHeader: "relay.example", line: #line),
            Row(url: "https://relay.example/a//", host: "relay.example", port: 443, tls: true, prefix: "/a", hostHeader: "relay.example", line: #line),
            Row(url: "HTTPS://Relay.Example", host: "Relay.Example", port: 443, tls: true, prefix: "", hostHeader: "Relay.Example", line: #line),
            Row(url: "http://[::1]:9000/p", host: "::1", port: 9000, tls: false, prefix: "/p", hostHeader: "[::1]:9000", line: #line),
            Row(url: "https://[2001:db8::1]", host: "2001:db8::1", port: 443, tls: true, prefix: "", hostHeader: "[2001:db8::1]", line: #line),
            Row(url: "http://[::1]", host: "::1", port: 80, tls: false, prefix: "", hostHeader: "[::1]", line: #line),
            Row(url: "http://h:1", host: "h", port: 1, tls: false, prefix: "", hostHeader: "h:1", line: #line),
            Row(url: "http://h:65535", host: "h", port: 65535, tls: false, prefix: "", hostHeader: "h:65535", line: #line),
        ]
        for r in rows {
            guard let t = UpstreamTarget(url: r.url) else {
                XCTFail("\(r.url) was refused", line: r.line)
                continue
            }
            XCTAssertEqual(t.dial.host, r.host, r.url, line: r.line)
            XCTAssertEqual(t.dial.port, r.port, r.url, line: r.line)
            XCTAssertEqual(t.dial.tls, r.tls, r.url, line: r.line)
            XCTAssertNil(t.dial.proxy, r.url, line: r.line)
            XCTAssertEqual(String(decoding: t.pathPrefix, as: UTF8.self), r.prefix, r.url, line: r.line)
            XCTAssertEqual(String(decoding: t.hostHeader, as: UTF8.self), r.hostHeader, r.url, line: r.line)
            XCTAssertTrue(t.poolKey.hasPrefix(r.tls ? "https://" : "http://"), "\(r.url): \(t.poolKey)", line: r.line)
        }
    }

    func testRefusedURLs() {
        let refused = [
            "", "example.com", "example.com:80", "ftp://example.com", "http:/example.com", "http://",
            "http:///path", "http://:80", "http://user:pass@example.com", "https://key@example.com/v1",
            "http://example.com:0", "http://example.com:65536", "http://example.com:99999",
            "http://example.com:-1", "http://example.com:abc", "http://example.com:", "http://::1:80", "http://[::1",
            "http://[::1]x", "http://[::1]:", "http://example.com/p?x=1", "http://example.com/p#frag",
        ]
        for url in refused {
            XCTAssertNil(UpstreamTarget(url: url), "\(url) was accepted")
        }
    }

    func testPoolKeyTellsOriginsAndProxiesApart() throws {
        let a = try XCTUnwrap(UpstreamTarget(url: "https://api.example.com/v1"))
        let b = try XCTUnwrap(UpstreamTarget(url: "https://API.example.com:443/other"))
        let c = try XCTUnwrap(UpstreamTarget(url: "http://api.example.com:443"))
        let d = try XCTUnwrap(UpstreamTarget(url: "https://api.example.com:8443"))
        XCTAssertEqual(a.poolKey, b.poolKey, "same origin, different prefix or case, must share a pool")
        XCTAssertNotEqual(a.poolKey, c.poolKey, "scheme must split pools")
        XCTAssertNotEqual(a.poolKey, d.poolKey, "port must split pools")
        let proxy = try XCTUnwrap(EgressProxy(url: "http://user:pw-secret@127.0.0.1:3128"))
        let e = try XCTUnwrap(UpstreamTarget(url: "https://api.example.com", proxy: proxy))
        XCTAssertNotEqual(a.poolKey, e.poolKey, "an egress proxy must split pools")
        XCTAssertEqual(e.dial.proxy, proxy)
        XCTAssertFalse(e.poolKey.contains("pw-secret"), "pool key carries the proxy password: \(e.poolKey)")
        // The pool's number for a key follows the key: equal keys share it, different keys never do.
        for (x, y) in [(a, b), (a, c), (a, d), (a, e), (c, d), (b, e)] {
            XCTAssertEqual(x.poolID == y.poolID, x.poolKey == y.poolKey, "\(x.poolKey) / \(y.poolKey)")
        }
        XCTAssertFalse(e.displayName.contains("pw-secret"), e.displayName)
    }

    func testDisplayNameShowsSchemeHostAndPrefix() throws {
        let t = try XCTUnwrap(UpstreamTarget(url: "https://relay.example:8443/api/"))
        XCTAssertEqual(t.displayName, "https://relay.example:8443/api")
        let u = try XCTUnwrap(UpstreamTarget(url: "http://[::1]:9000"))
        XCTAssertEqual(u.displayName, "http://[::1]:9000")
    }
}
