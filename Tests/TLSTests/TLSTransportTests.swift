import XCTest
import Glibc
import Reactor
@testable import TLS

final class TLSTransportTests: XCTestCase {
    let pki = TestPKI.shared
    var client: TestLoop!
    var servers: [TLSTestServer] = []

    override func setUp() {
        client = TestLoop()
    }

    override func tearDown() {
        client.stop()
        for s in servers { s.stop() }
        servers.removeAll()
    }

    func server(cert: String? = nil, key: String? = nil, mode: ServerMode = .echo,
                maxTLS12: Bool = false, receiveBuffer: Int? = nil) -> TLSTestServer {
        let ctx = try! TLSServerContext(certFile: cert ?? pki.goodCert, keyFile: key ?? pki.goodKey, maxTLS12: maxTLS12)
        let s = TLSTestServer(context: ctx, mode: mode, receiveBuffer: receiveBuffer)
        servers.append(s)
        return s
    }

    func trusting() -> TLSClientContext { try! TLSClientContext(caFile: pki.caCert) }

    func expectFailure(_ r: Result<any Transport, TransportError>?, contains text: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let r else { return XCTFail("dial did not complete", file: file, line: line) }
        switch r {
        case .success(let t):
            let box = TransportBox(t)
            _ = client.sync { box.transport.close() }
            XCTFail("dial succeeded, expected failure naming \(text)", file: file, line: line)
        case .failure(let e):
            XCTAssertTrue("\(e)".contains(text), "error \"\(e)\" does not name \"\(text)\"", file: file, line: line)
        }
    }

    func connected(_ r: Result<any Transport, TransportError>?, file: StaticString = #filePath, line: UInt = #line) -> TLSTransport? {
        guard let r else { XCTFail("dial did not complete", file: file, line: line); return nil }
        switch r {
        case .success(let t):
            guard let tls = t as? TLSTransport else { XCTFail("not a TLS transport", file: file, line: line); return nil }
            return tls
        case .failure(let e):
            XCTFail("dial failed: \(e)", file: file, line: line)
            return nil
        }
    }

    // MARK: verification

    func testValidChainAndHostnameRoundTrips() throws {
        let s = server()
        let ctx = trusting()
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), ctx)))
        XCTAssertEqual(client.sync { t.alpnProtocol }, "http/1.1")
        let msg = Array("hello over TLS".utf8)
        let rep = try XCTUnwrap(exchange(client, t, send: msg, expect: msg.count))
        XCTAssertEqual(rep.received, msg)
        XCTAssertEqual(rep.ending, .open)
    }

    func testIPLiteralVerifiedAgainstIPAddressSAN() throws {
        let s = server()
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "127.0.0.1", port: s.port, tls: true), trusting())))
        let rep = try XCTUnwrap(exchange(client, t, send: [1, 2, 3], expect: 3))
        XCTAssertEqual(rep.received, [1, 2, 3])
    }

    func testWrongHostnameFailsClosed() {
        let s = server(cert: pki.wrongHostCert, key: pki.wrongHostKey)
        expectFailure(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting()),
                      contains: "certificate verify failed: hostname mismatch")
    }

    func testExpiredCertificateFailsClosed() {
        let s = server(cert: pki.expiredCert, key: pki.expiredKey)
        expectFailure(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting()),
                      contains: "certificate verify failed: certificate has expired")
    }

    func testUnknownCAFailsClosed() throws {
        let s = server()
        let ctx = try TLSClientContext()  // system store only
        expectFailure(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), ctx),
                      contains: "certificate verify failed: unable to get local issuer certificate")
    }

    func testCAFromEnvironmentPasses() throws {
        let s = server()
        setenv("CCLOAD_CA_FILE", pki.caCert, 1)
        defer { unsetenv("CCLOAD_CA_FILE") }
        let ctx = try TLSClientContext.fromEnvironment()
        XCTAssertEqual(ctx.caFile, pki.caCert)
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), ctx)))
        _ = client.sync { t.close() }
    }

    func testSSLCertFileHonoured() throws {
        // OpenSSL's default paths read SSL_CERT_FILE when the context is made.
        let s = server()
        setenv("SSL_CERT_FILE", pki.caCert, 1)
        let ctx = try TLSClientContext()
        unsetenv("SSL_CERT_FILE")
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), ctx)))
        _ = client.sync { t.close() }
    }

    func testMissingCAFileIsAnError() {
        XCTAssertThrowsError(try TLSClientContext(caFile: pki.dir + "/nope.pem")) { e in
            XCTAssertTrue("\(e)".contains("cannot load CA file"), "\(e)")
        }
    }

    func testSkipVerifyAcceptsUnknownCA() throws {
        let s = server(cert: pki.wrongHostCert, key: pki.wrongHostKey)
        let ctx = try TLSClientContext(verify: false)
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), ctx)))
        _ = client.sync { t.close() }
    }

    // MARK: resumption

    func resumption(maxTLS12: Bool) throws {
        let s = server(maxTLS12: maxTLS12)
        let ctx = trusting()
        let target = DialTarget(host: "localhost", port: s.port, tls: true)
        let full0 = TLSStats.fullHandshakes, resumed0 = TLSStats.resumedHandshakes

        let t1 = try XCTUnwrap(connected(dial(client, target, ctx)))
        XCTAssertEqual(client.sync { t1.resumed }, false)
        // A round trip lets the client read the TLS 1.3 NewSessionTicket.
        XCTAssertEqual(exchange(client, t1, send: [42], expect: 1)?.received, [42])
        XCTAssertEqual(ctx.cachedSessionCount, 1)

        let t2 = try XCTUnwrap(connected(dial(client, target, ctx)))
        XCTAssertEqual(client.sync { t2.resumed }, true)
        XCTAssertEqual(exchange(client, t2, send: [43], expect: 1)?.received, [43])
        XCTAssertGreaterThanOrEqual(TLSStats.fullHandshakes - full0, 1)
        XCTAssertGreaterThanOrEqual(TLSStats.resumedHandshakes - resumed0, 1)

        // Another origin does not get this one's session.
        let t3 = try XCTUnwrap(connected(dial(client, DialTarget(host: "127.0.0.1", port: s.port, tls: true), ctx)))
        XCTAssertEqual(client.sync { t3.resumed }, false)
        _ = client.sync { t3.close() }
    }

    func testSessionResumedOnSecondConnectionTLS13() throws { try resumption(maxTLS12: false) }
    func testSessionResumedOnSecondConnectionTLS12() throws { try resumption(maxTLS12: true) }

    // MARK: streams

    func testLargeBodyAcrossManyRecordsWithBufferedDrain() throws {
        let body = pattern(1 << 20)
        let s = server(mode: .respond(body, closeNotify: true))
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting())))
        // Small reads leave most of each 16 KiB record inside OpenSSL.
        let rep = try XCTUnwrap(exchange(client, t, send: Array("GET / HTTP/1.1\r\n\r\n".utf8), expect: nil, readChunk: 1000))
        XCTAssertEqual(rep.received.count, body.count)
        XCTAssertTrue(rep.received == body)
        XCTAssertEqual(rep.ending, .closed)
        XCTAssertGreaterThan(rep.bufferedDrains, 100)
    }

    func testCloseNotifyIsClosed() throws {
        let s = server(mode: .respond(Array("bye".utf8), closeNotify: true))
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting())))
        let rep = try XCTUnwrap(exchange(client, t, send: [1], expect: nil))
        XCTAssertEqual(rep.received, Array("bye".utf8))
        XCTAssertEqual(rep.ending, .closed)
    }

    func testEOFWithoutCloseNotifyIsUnexpectedEOF() throws {
        let s = server(mode: .respond(Array("bye".utf8), closeNotify: false))
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting())))
        let rep = try XCTUnwrap(exchange(client, t, send: [1], expect: nil))
        XCTAssertEqual(rep.received, Array("bye".utf8))
        XCTAssertEqual(rep.ending, .failed(.tls("unexpected EOF")))
    }

    func testStalledHandshakeTimesOut() throws {
        // A listening socket nobody accepts from: the kernel completes TCP, nobody speaks TLS.
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        let start = monotonicNanos()
        let r = dial(client, DialTarget(host: "127.0.0.1", port: port, tls: true), trusting(), handshakeTimeout: 0.3)
        expectFailure(r, contains: "TLS handshake timed out")
        let elapsed = Double(monotonicNanos() - start) / 1e9
        XCTAssertGreaterThan(elapsed, 0.25)
        XCTAssertLessThan(elapsed, 2)
        sock.close()
    }

    func testWritesThatHitWantWriteCompleteIntact() throws {
        let size = 4 << 20
        let body = pattern(size, seed: 99)
        let s = server(mode: .sink(expect: size), receiveBuffer: 32 * 1024)
        let t = try XCTUnwrap(connected(dial(client, DialTarget(host: "localhost", port: s.port, tls: true), trusting())))
        let rep = try XCTUnwrap(exchange(client, t, send: body, expect: 16, wait: 20) { fd in
            Socket.setBufferSizes(fd, send: 16 * 1024)
        })
        XCTAssertEqual(rep.received.count, 16)
        let count = rep.received[0..<8].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let hash = rep.received[8..<16].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        XCTAssertEqual(count, UInt64(size))
        XCTAssertEqual(hash, fnv1a(body))
        XCTAssertGreaterThan(rep.writeWantWrite, 0, "socket buffers never filled")
    }

    func testHandshakeFailureNamesCause() throws {
        // A plain TCP peer that answers the ClientHello with garbage.
        let s = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(s.raw).port
        let raw = s.release()
        let fl = fcntl(raw, F_GETFL)
        _ = fcntl(raw, F_SETFL, fl & ~O_NONBLOCK)
        let th = Thread {
            let c = accept(raw, nil, nil)
            guard c >= 0 else { return }
            var buf = [UInt8](repeating: 0, count: 4096)
            _ = Glibc.read(c, &buf, buf.count)
            let junk = Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)
            _ = Glibc.write(c, junk, junk.count)
            usleep(200_000)
            Glibc.close(c)
        }
        th.start()
        defer { Glibc.close(raw) }
        expectFailure(dial(client, DialTarget(host: "127.0.0.1", port: port, tls: true), trusting()),
                      contains: "handshake failed: ")
    }
}
