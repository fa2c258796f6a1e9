import XCTest
import Glibc
import Reactor
@testable import TLS

final class EgressTests: XCTestCase {
    let pki = TestPKI.shared
    var client: TestLoop!
    var server: TLSTestServer!
    var proxies: [TestEgressProxy] = []

    override func setUp() {
        client = TestLoop()
        let ctx = try! TLSServerContext(certFile: pki.goodCert, keyFile: pki.goodKey)
        server = TLSTestServer(context: ctx, mode: .echo)
    }

    override func tearDown() {
        client.stop()
        server.stop()
        for p in proxies { p.stop() }
    }

    func proxy(_ kind: TestEgressProxy.Kind) -> TestEgressProxy {
        let p = TestEgressProxy(kind: kind, username: "alice", password: "s3cret-pw")
        proxies.append(p)
        return p
    }

    func roundTrip(through url: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let egress = try XCTUnwrap(EgressProxy(url: url), file: file, line: line)
        let target = DialTarget(host: "localhost", port: server.port, tls: true, proxy: egress)
        let r = try XCTUnwrap(dial(client, target, try TLSClientContext(caFile: pki.caCert)), file: file, line: line)
        switch r {
        case .failure(let e):
            XCTFail("dial through proxy failed: \(e)", file: file, line: line)
        case .success(let t):
            XCTAssertTrue(t is TLSTransport, file: file, line: line)
            let msg = pattern(100_000)
            let rep = try XCTUnwrap(exchange(client, t, send: msg, expect: msg.count), file: file, line: line)
            XCTAssertTrue(rep.received == msg, file: file, line: line)
        }
    }

    func failure(through url: String) throws -> TransportError? {
        let egress = try XCTUnwrap(EgressProxy(url: url))
        let target = DialTarget(host: "localhost", port: server.port, tls: true, proxy: egress)
        let r = try XCTUnwrap(dial(client, target, try TLSClientContext(caFile: pki.caCert)))
        switch r {
        case .failure(let e): return e
        case .success(let t):
            let box = TransportBox(t)
            _ = client.sync { box.transport.close() }
            XCTFail("dial through proxy succeeded with wrong credentials")
            return nil
        }
    }

    func testHTTPConnectWithCredentials() throws {
        let p = proxy(.http)
        try roundTrip(through: "http://alice:s3cret-pw@127.0.0.1:\(p.port)")
        XCTAssertEqual(p.requests.withLock { $0 }, ["localhost:\(server.port)"])
    }

    func testHTTPConnectWrongCredentials() throws {
        let p = proxy(.http)
        let e = try XCTUnwrap(failure(through: "http://alice:wrong-pw@127.0.0.1:\(p.port)"))
        XCTAssertEqual(e, .proxy("CONNECT refused: 407"))
        XCTAssertFalse("\(e)".contains("wrong-pw"))
    }

    func testSOCKS5WithCredentialsUsesRemoteDNS() throws {
        let p = proxy(.socks5)
        try roundTrip(through: "socks5://alice:s3cret-pw@127.0.0.1:\(p.port)")
        XCTAssertEqual(p.requests.withLock { $0 }, ["domain localhost:\(server.port)"])
    }

    func testSOCKS5WrongCredentials() throws {
        let p = proxy(.socks5)
        let e = try XCTUnwrap(failure(through: "socks5://alice:wrong-pw@127.0.0.1:\(p.port)"))
        XCTAssertEqual(e, .proxy("SOCKS5 authentication failed"))
        XCTAssertFalse("\(e)".contains("wrong-pw"))
    }

    func testUnreachableProxyNamesProxy() throws {
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        sock.close()  // nothing listens there now
        let e = try XCTUnwrap(failure(through: "http://alice:s3cret-pw@127.0.0.1:\(port)"))
        XCTAssertEqual(e, .proxy("cannot reach 127.0.0.1:\(port): connection refused"))
    }

    // MARK: parsing and byte-level handshakes

    func testEgressProxyParsing() throws {
        let h = try XCTUnwrap(EgressProxy(url: "http://us%40er:p%3Ass@proxy.example:3128"))
        XCTAssertEqual(h.kind, .httpConnect)
        XCTAssertEqual(h.host, "proxy.example")
        XCTAssertEqual(h.port, 3128)
        XCTAssertEqual(h.username, "us@er")
        XCTAssertEqual(h.password, "p:ss")
        XCTAssertFalse(h.description.contains("p:ss"))
        let s = try XCTUnwrap(EgressProxy(url: "socks5://[::1]"))
        XCTAssertEqual(s.kind, .socks5)
        XCTAssertEqual(s.host, "::1")
        XCTAssertEqual(s.port, 1080)
        XCTAssertNil(s.username)
        XCTAssertNil(EgressProxy(url: "ftp://x:1"))
        XCTAssertNil(EgressProxy(url: "http://x:99999"))
    }

    func testDialTargetParsing() throws {
        let a = try XCTUnwrap(DialTarget(url: "https://api.anthropic.com/v1/messages"))
        XCTAssertEqual(a.host, "api.anthropic.com")
        XCTAssertEqual(a.port, 443)
        XCTAssertTrue(a.tls)
        let b = try XCTUnwrap(DialTarget(url: "http://[::1]:8080"))
        XCTAssertEqual(b.host, "::1")
        XCTAssertEqual(b.port, 8080)
        XCTAssertFalse(b.tls)
        XCTAssertEqual(b.origin, "::1:8080")
        XCTAssertNil(DialTarget(url: "ws://x"))
        XCTAssertNil(DialTarget(url: "https://"))
    }

    func testHTTPConnectRequestAndSplitReply() {
        var h = HTTPConnectHandshake(host: "api.example", port: 443, username: "alice", password: "s3cret-pw")
        let req = String(decoding: h.start(), as: UTF8.self)
        XCTAssertEqual(req, "CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n"
            + "Proxy-Authorization: Basic YWxpY2U6czNjcmV0LXB3\r\n\r\n")
        let reply = Array("HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n".utf8)
        for (i, b) in reply.enumerated() {
            let step = [b].withUnsafeBytes { h.receive($0) }
            if i < reply.count - 1 {
                guard case .needMore = step else { return XCTFail("early step at \(i): \(step)") }
            } else {
                guard case .done = step else { return XCTFail("last step: \(step)") }
            }
        }
    }

    func testSOCKS5ByteByByte() {
        var s = SOCKS5Handshake(host: "api.example", port: 443, username: "u", password: "p")
        XCTAssertEqual(s.start(), [5, 1, 2])
        func feed(_ bytes: [UInt8]) -> TunnelStep {
            var last = TunnelStep.needMore
            for b in bytes { last = [b].withUnsafeBytes { s.receive($0) } }
            return last
        }
        guard case .send(let auth) = feed([5, 2]) else { return XCTFail("no auth request") }
        XCTAssertEqual(auth, [1, 1, UInt8(ascii: "u"), 1, UInt8(ascii: "p")])
        guard case .send(let conn) = feed([1, 0]) else { return XCTFail("no connect request") }
        XCTAssertEqual(conn, [5, 1, 0, 3, 11] + Array("api.example".utf8) + [1, 187])
        // Reply with a domain-form bound address, split byte by byte.
        guard case .done = feed([5, 0, 0, 3, 3] + Array("abc".utf8) + [0, 80]) else { return XCTFail("not done") }

        var bad = SOCKS5Handshake(host: "1.2.3.4", port: 80, username: "u", password: "p")
        _ = bad.start()
        _ = [UInt8]([5, 2]).withUnsafeBytes { bad.receive($0) }
        let step = [UInt8]([1, 1]).withUnsafeBytes { bad.receive($0) }
        guard case .failed(let e) = step else { return XCTFail("auth failure not reported") }
        XCTAssertEqual(e, .proxy("SOCKS5 authentication failed"))
    }

    func testBase64() {
        XCTAssertEqual(Base64.encode(Array("".utf8)), "")
        XCTAssertEqual(Base64.encode(Array("f".utf8)), "Zg==")
        XCTAssertEqual(Base64.encode(Array("fo".utf8)), "Zm8=")
        XCTAssertEqual(Base64.encode(Array("foo".utf8)), "Zm9v")
        XCTAssertEqual(Base64.encode(Array("foob".utf8)), "Zm9vYg==")
    }
}
