import Foundation
import XCTest

/// Responses stream: each upstream read reaches the client at once, whatever the framing,
/// and HTTP/1.0 clients get bodies they can read.
final class StreamingTests: EndToEndCase {
    /// The SSE body the mock sends for `query`, fetched directly and de-chunked.
    private func directBody(_ mock: MockUpstream, query: String) throws -> [UInt8] {
        let c = try RawConnection(port: mock.port)
        try c.send(messagesRequest(query: query))
        let r = try c.readResponse()
        XCTAssertTrue(r.complete && r.chunked)
        return r.body
    }

    /// The issue's proof: the mock holds event 2 until the test has received event 1
    /// through ccload; a proxy that buffered the body would never deliver event 1.
    func testSSEEventReachesClientBeforeUpstreamSendsTheNext() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let expected = try directBody(mock, query: "stream=1&events=3")
        let gate = gateName()
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3&gate=\(gate)"))
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5),
                      "event 1 did not reach the client while the upstream held the rest; got:\n\(c.buffer.text)")
        XCTAssertFalse(c.buffer.text.contains("token1"), "the gate did not hold")
        XCTAssertFalse(c.buffer.containsSubsequence(Array("\r\n0\r\n\r\n".utf8)), "stream ended early")
        try mock.release(gate: gate)
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("content-type"), "text/event-stream")
        XCTAssertTrue(r.chunked && r.complete, "stream must end with the last chunk")
        XCTAssertEqual(r.body, expected, "streamed body differs from the mock's")
        let text = r.bodyText
        let order = ["message_start", "token0 ", "token1 ", "token2 ", "message_stop"].map { text.range(of: $0)?.lowerBound }
        XCTAssertFalse(order.contains(nil), text)
        XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted(), "events out of order:\n\(text)")
    }

    /// The same proof with curl as the client (-N: no output buffering).
    func testCurlSeesEventOneBeforeTheGateOpens() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let gate = gateName()
        let curlRun = try ProcessUnderTest(executable: "/usr/bin/curl", arguments: [
            "-sS", "-N", "--max-time", "10", "-H", "content-type: application/json",
            "--data-binary", #"{"model":"m","stream":true}"#, ccload.url + "/v1/messages?events=2&gate=\(gate)"])
        onTearDown { curlRun.stop() }
        XCTAssertTrue(curlRun.waitForOutput("token0 ", stdout: true, timeout: 5),
                      "curl did not get event 1 before the gate opened; stdout: \(curlRun.stdoutText) stderr: \(curlRun.stderrText)")
        XCTAssertFalse(curlRun.stdoutText.contains("token1"))
        try mock.release(gate: gate)
        XCTAssertEqual(curlRun.waitForExit(timeout: 5), 0, curlRun.stderrText)
        XCTAssertTrue(curlRun.stdoutText.contains("token1 "))
        XCTAssertTrue(curlRun.stdoutText.hasSuffix("data: {\"type\":\"message_stop\"}\n\n"), curlRun.stdoutText)
    }

    func testChunkedUpstreamBodyIsDechunkedForHTTP10Client() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let expected = try directBody(mock, query: "stream=1&events=3")
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3", version: "HTTP/1.0"))
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.header("transfer-encoding"), "HTTP/1.0 clients cannot take chunked:\n\(r.headBytes.text)")
        XCTAssertNil(r.header("content-length"))
        XCTAssertTrue(r.untilClose, "body must be delimited by the close")
        XCTAssertTrue(c.peerClosed, "ccload must close to end the body")
        XCTAssertEqual(r.body, expected, "de-chunked body differs:\n\(r.bodyText)")
    }

    /// A 1.0 client asking for keep-alive cannot keep the connection when the body has
    /// no length: ccload must not promise keep-alive and must close at the end.
    func testHTTP10KeepAliveClientGetsUnsizedStreamEndedByClose() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let expected = try directBody(mock, query: "stream=1&events=2")
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=2", headers: ["Connection: keep-alive"], version: "HTTP/1.0"))
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertNil(r.header("transfer-encoding"))
        XCTAssertNil(r.header("content-length"))
        XCTAssertNotEqual(r.header("connection")?.lowercased(), "keep-alive",
                          "a body delimited by close was announced as keep-alive:\n\(r.headBytes.text)")
        XCTAssertTrue(c.peerClosed)
        XCTAssertEqual(r.body, expected)
    }

    func testContentLengthBodyToHTTP10Client() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let direct = try curl(["-X", "POST", "--data-binary", "{}", mock.url + "/v1/messages?size=1024"])
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "size=1024", version: "HTTP/1.0"))
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("content-length"), "1024")
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.body, direct.body)
        XCTAssertTrue(c.readUntilClose(timeout: 3), "HTTP/1.0 without keep-alive: ccload must close after the response")
        XCTAssertTrue(c.buffer.isEmpty, "bytes after the response: \(c.buffer.text)")
    }

    func testLargeStreamArrivesWhole() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let expected = try directBody(mock, query: "stream=1&events=2000")
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=2000"))
        let r = try c.readResponse(timeout: 10)
        XCTAssertTrue(r.complete)
        XCTAssertEqual(r.body.count, expected.count)
        XCTAssertEqual(r.body, expected)
    }
}
