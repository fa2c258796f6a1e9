import Foundation
import XCTest

/// ccload in front of an HTTPS upstream (the mock behind a TLS front with a CA made by the
/// test): verification with CCLOAD_CA_FILE, streaming over TLS, and failing closed.
final class HTTPSUpstreamTests: EndToEndCase {
    private var certificates: TestCertificates!

    override func setUpWithError() throws {
        try super.setUpWithError()
        certificates = try TestCertificates.make()
        let c = certificates!
        onTearDown { c.remove() }
    }

    private func startFront(for mock: MockUpstream) throws -> Int {
        // The front's own log line reads "tls front listening on 127.0.0.1:PORT".
        let front = try TLSFrontScript.start(certificates: certificates, upstreamPort: mock.port)
        track(front)
        return try front.waitForListeningPort()
    }

    func testStreamsOverHTTPSWithTheCAFile() throws {
        let mock = try startMock()
        let tlsPort = try startFront(for: mock)
        let ccload = try startCcload(upstream: "https://localhost:\(tlsPort)", ["CCLOAD_CA_FILE": certificates.caCert])

        let gate = gateName()
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3&gate=\(gate)"))
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5),
                      "event 1 did not arrive over HTTPS while the upstream held the rest; got:\n\(c.buffer.text)")
        XCTAssertFalse(c.buffer.text.contains("token1"))
        try mock.release(gate: gate)
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.chunked && r.complete)
        XCTAssertTrue(r.bodyText.contains("token2 ") && r.bodyText.contains("message_stop"), r.bodyText)

        let head = try mock.lastRequest().head
        XCTAssertTrue(head.contains("\r\nHost: localhost:\(tlsPort)\r\n"), head)
    }

    func testLargeBodiesAndConnectionReuseOverHTTPS() throws {
        let mock = try startMock()
        let tlsPort = try startFront(for: mock)
        let ccload = try startCcload(upstream: "https://localhost:\(tlsPort)", threads: 1, ["CCLOAD_CA_FILE": certificates.caCert])
        let direct = try RawConnection(port: mock.port)
        try direct.send(messagesRequest(query: "stream=1&events=3000"))
        let expected = try direct.readResponse()
        let directJSON = try curl(["-X", "POST", "--data-binary", "{}", mock.url + "/v1/messages?size=200000"])

        let before = try mock.acceptedConnections()
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3000"))
        let r = try c.readResponse(timeout: 10)
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.body, expected.body, "SSE body over TLS differs")
        for _ in 0..<3 {
            try c.send(messagesRequest(query: "size=200000"))
            let j = try c.readResponse(timeout: 10)
            XCTAssertEqual(j.body, directJSON.body, "JSON body over TLS differs")
        }
        XCTAssertEqual(try mock.acceptedConnections() - before, 1, "HTTPS upstream connection not reused")
    }

    func testUnknownCAFailsClosedWith502NamingTheCertificate() throws {
        let mock = try startMock()
        let tlsPort = try startFront(for: mock)
        let ccload = try startCcload(upstream: "https://localhost:\(tlsPort)")
        let before = try mock.acceptedConnections()
        let r = try ccload.request(messagesRequest())
        assertErrorShape(r, status: 502, type: "api_error")
        let message = (r.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.lowercased().contains("certificate"), "502 should name the certificate problem: \(message)")
        XCTAssertEqual(try mock.acceptedConnections(), before, "the request went through an unverified TLS connection")
    }

    func testHostnameNotInTheCertificateFailsClosed() throws {
        let mock = try startMock()
        let front = try TLSFrontScript.start(certificates: certificates, upstreamPort: mock.port, wrongName: true)
        track(front)
        let tlsPort = try front.waitForListeningPort()
        let ccload = try startCcload(upstream: "https://localhost:\(tlsPort)", ["CCLOAD_CA_FILE": certificates.caCert])
        let before = try mock.acceptedConnections()
        let r = try ccload.request(messagesRequest())
        assertErrorShape(r, status: 502, type: "api_error")
        let message = (r.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.lowercased().contains("certificate") || message.lowercased().contains("hostname"),
                      "502 should name the certificate problem: \(message)")
        XCTAssertEqual(try mock.acceptedConnections(), before, "the request went through a TLS connection to the wrong name")
    }
}
