import Foundation
import XCTest

/// Connection reuse on both sides: keep-alive, pipelining, HTTP/1.0 keep-alive, the
/// upstream pool, and Expect: 100-continue.
final class KeepAliveTests: EndToEndCase {
    func testSeveralRequestsOnOneClientConnection() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        for size in [200, 2000, 181, 50_000] {
            try c.send(messagesRequest(query: "size=\(size)"))
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.body.count, size, "size \(size)")
            XCTAssertNotEqual(r.header("connection")?.lowercased(), "close")
        }
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        try c.send(messagesRequest(query: "stream=1&events=2"))
        let s = try c.readResponse()
        XCTAssertTrue(s.chunked && s.complete)
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200, "connection unusable after a streamed response")
        XCTAssertFalse(c.peerClosed)
    }

    func testPipelinedRequestsInOneWriteAreAnsweredInOrder() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        let batch = messagesRequest(query: "size=190")
            + messagesRequest(query: "stream=1&events=2")
            + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            + messagesRequest(query: "size=3000")
            + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + messagesRequest(query: "size=200")
        try c.send(batch)
        let r1 = try c.readResponse()
        XCTAssertEqual(r1.status, 200); XCTAssertEqual(r1.body.count, 190)
        let r2 = try c.readResponse()
        XCTAssertEqual(r2.status, 200); XCTAssertTrue(r2.chunked && r2.complete); XCTAssertTrue(r2.bodyText.contains("token1 "))
        let r3 = try c.readResponse()
        XCTAssertEqual(r3.status, 200); XCTAssertEqual(r3.json?["status"] as? String, "ok")
        let r4 = try c.readResponse()
        XCTAssertEqual(r4.status, 200); XCTAssertEqual(r4.body.count, 3000)
        let r5 = try c.readResponse()
        XCTAssertEqual(r5.status, 404)
        let r6 = try c.readResponse()
        XCTAssertEqual(r6.status, 200); XCTAssertEqual(r6.body.count, 200)
        XCTAssertTrue(c.staysQuiet(for: 0.2), "extra bytes after the last response: \(c.buffer.text)")
    }

    func testPipelinedRequestsSplitAtOddPlaces() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        let batch = Array((messagesRequest(query: "size=700") + messagesRequest(query: "size=800") + messagesRequest(query: "size=900")).utf8)
        // Three writes cutting through a head and a body.
        for range in [0..<13, 13..<(batch.count / 2 + 3), (batch.count / 2 + 3)..<batch.count] {
            try c.send(Array(batch[range]))
            usleep(20_000)
        }
        for size in [700, 800, 900] {
            let r = try c.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.body.count, size)
        }
    }

    func testHTTP10KeepAlive() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let r1 = try c.readResponse()
        XCTAssertEqual(r1.status, 200)
        XCTAssertEqual(r1.header("connection")?.lowercased(), "keep-alive", "1.0 keep-alive must be confirmed:\n\(r1.headBytes.text)")
        XCTAssertTrue(c.staysQuiet(for: 0.1), "connection closed after a 1.0 keep-alive response")
        try c.send(messagesRequest(query: "size=300", headers: ["Connection: keep-alive"], version: "HTTP/1.0"))
        let r2 = try c.readResponse()
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.header("content-length"), "300")
        XCTAssertEqual(r2.body.count, 300)
        XCTAssertEqual(r2.header("connection")?.lowercased(), "keep-alive")
        // Without keep-alive the 1.0 connection closes after the response.
        try c.send("GET /health HTTP/1.0\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(c.readUntilClose(timeout: 3))
    }

    func testUpstreamConnectionIsReusedAcrossRequests() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 1)
        let before = try mock.acceptedConnections()
        for i in 0..<6 {
            // Fresh client connections each time; the upstream side should stay one connection.
            let r = try ccload.request(messagesRequest(query: i % 2 == 0 ? "size=200" : "stream=1&events=2"))
            XCTAssertEqual(r.status, 200)
            XCTAssertTrue(r.complete)
        }
        let after = try mock.acceptedConnections()
        XCTAssertEqual(after - before, 1, "ccload opened \(after - before) upstream connections for 6 sequential requests")
    }

    func testExpect100ContinueGetsInterimThenFinalResponse() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        let body = #"{"model":"x"}"#
        try c.send("POST /v1/messages?size=256 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        let interim = try c.readResponse(timeout: 3)
        XCTAssertEqual(interim.status, 100, "expected 100 Continue before sending the body, got \(interim.statusLine)")
        try c.send(body)
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, 256)
        let last = try mock.lastRequest()
        XCTAssertEqual(last.bodyLength, body.utf8.count)
        XCTAssertFalse(last.head.lowercased().contains("expect:"), "Expect forwarded upstream:\n\(last.head)")
        // The connection stays usable.
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
    }

    func testExpect100ContinueWithTooLargeBodyGets413NotContinue() throws {
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(closedPort())", ["CCLOAD_MAX_BODY_BYTES": "1000"])
        let c = try ccload.connect()
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        let r = try c.readResponse(timeout: 3)
        assertErrorShape(r, status: 413, type: "request_too_large")
    }
}
