import Foundation
import XCTest

/// What the client sees when the upstream or the client fails: 502, 504, incomplete
/// bodies that never pass for complete ones, and the one safe retry.
final class FailureTests: EndToEndCase {
    func testUnreachableUpstreamIs502() throws {
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(closedPort())")
        let r = try ccload.request(messagesRequest())
        assertErrorShape(r, status: 502, type: "api_error")
        let message = (r.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertTrue(message.lowercased().contains("refused"), "message should name the cause: \(message)")
        let c = try curl(["-X", "POST", "--data-binary", "{}", ccload.url + "/v1/messages"])
        XCTAssertEqual(c.exitCode, 0)
        XCTAssertEqual(c.status, 502)
    }

    func testNoResponseHeadWithinFirstByteTimeoutIs504() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_FIRST_BYTE_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        try c.send(messagesRequest(headers: ["x-mock-head-delay-ms: 3000"]))
        let r = try c.readResponse(timeout: 2.5)
        assertErrorShape(r, status: 504, type: "timeout_error")
        // Nothing of the late upstream answer may follow on this connection.
        XCTAssertTrue(c.staysQuiet(for: 0.3) || c.peerClosed, "bytes after the 504: \(c.buffer.text)")
        // The timed-out upstream connection is not reused: the next request is served normally.
        XCTAssertEqual(try ccload.request(messagesRequest(query: "size=400")).body.count, 400)
    }

    /// Error messages state the configured timeouts, not a rounded-down 0.
    func testTimeoutMessagesStateTheConfiguredSeconds() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_FIRST_BYTE_TIMEOUT": "0.5", "CCLOAD_HEADER_TIMEOUT": "0.5"])
        let r504 = try ccload.request(messagesRequest(headers: ["x-mock-head-delay-ms: 3000"]), timeout: 2.5)
        XCTAssertEqual(r504.status, 504)
        let m504 = (r504.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertFalse(m504.contains(" 0 s"), "504 message misstates the 0.5 s timeout: \(m504)")
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.1\r\n")
        let r408 = try c.readResponse(timeout: 2.5)
        XCTAssertEqual(r408.status, 408)
        let m408 = (r408.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        XCTAssertFalse(m408.contains(" 0 s"), "408 message misstates the 0.5 s timeout: \(m408)")
    }

    func testUpstreamErrorStatusPassesThrough() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        for status in [400, 429, 500, 503, 529] {
            let r = try ccload.request(messagesRequest(query: "status=\(status)"))
            XCTAssertEqual(r.status, status)
            XCTAssertTrue(r.bodyText.contains("mock failure \(status)"), r.bodyText)
            if status == 429 { XCTAssertEqual(r.header("retry-after"), "7") }
        }
    }

    func testMalformedUpstreamResponseIs502() throws {
        let upstream = try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            try? conn.send("HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")
            _ = conn.readUntilClose(timeout: 5)
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)")
        let r = try ccload.request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assertErrorShape(r, status: 502, type: "api_error")
    }

    /// The client goes away mid-stream: ccload closes its upstream connection as soon as it
    /// can tell. A FIN alone may be a half-close (the client still reads), so the stream goes
    /// on until the next write finds the client gone (its reset) — or at once on a reset.
    func testClientDisconnectMidStreamClosesTheUpstreamConnection() throws {
        let upstream = try startScripted { conn, index, up in
            guard conn.readRequest(timeout: 5) != nil else { return }
            try? conn.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "f\r\ndata: event-1\n\n\r\n")
            // Hold the stream open; a well-behaved proxy closes us when its client leaves.
            if conn.readUntilClose(timeout: 1.5) { return up.note("conn\(index) closed by ccload") }
            try? conn.send("f\r\ndata: event-2\n\n\r\n")
            if conn.readUntilClose(timeout: 5) { up.note("conn\(index) closed by ccload") }
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)")
        for (index, reset) in [(0, false), (1, true)] {
            var c: RawConnection? = try ccload.connect()
            try c!.send(messagesRequest())
            XCTAssertTrue(c!.readUntil(contains: "event-1", timeout: 5), "event 1 never arrived: \(c!.buffer.text)")
            if reset {
                // close() with SO_LINGER 0: a reset, which ccload sees at once.
                var l = linger(l_onoff: 1, l_linger: 0)
                setsockopt(c!.fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
            }
            c = nil  // the client process is gone: its socket is closed
            XCTAssertTrue(upstream.waitForNote("conn\(index) closed by ccload", timeout: reset ? 1.2 : 8),
                          "upstream connection left open after the client disconnected (reset: \(reset))")
        }
    }

    /// Same with the real mock: after a client abandons a stream, the next request does not
    /// land on that upstream connection (a new one is opened) and is served normally.
    func testClientDisconnectMidStreamDoesNotPoolTheConnection() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 1)
        let before = try mock.acceptedConnections()
        let gate = gateName()
        do {
            let c = try ccload.connect()
            try c.send(messagesRequest(query: "stream=1&events=3&gate=\(gate)"))
            XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5))
        }  // closed here
        usleep(100_000)
        let r = try ccload.request(messagesRequest(query: "size=300"))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body.count, 300)
        XCTAssertEqual(try mock.acceptedConnections() - before, 2, "the abandoned stream's upstream connection was reused")
        XCTAssertTrue(ccload.process.isRunning)
    }

    func testUpstreamCutMidStreamLeavesTheChunkedBodyIncomplete() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3&cut=body"))
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.chunked)
        XCTAssertTrue(r.bodyText.contains("token0 "), r.bodyText)
        XCTAssertFalse(r.complete, "a cut stream was ended with the last chunk, like a success")
        XCTAssertTrue(c.peerClosed)
        XCTAssertFalse(r.raw.text.hasSuffix("0\r\n\r\n"))

        let cr = try curl(["-N", "-X", "POST", "--data-binary", "{}", ccload.url + "/v1/messages?stream=1&events=3&cut=body"])
        XCTAssertEqual(cr.exitCode, 18, "curl must see a partial transfer (18); stderr: \(cr.stderr)")
        XCTAssertTrue(cr.bodyText.contains("token0 "))
    }

    func testUpstreamCutInsideAContentLengthBodyLeavesItShort() throws {
        let upstream = try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            try? conn.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":")
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)")
        let c = try ccload.connect()
        try c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("content-length"), "100")
        XCTAssertFalse(r.complete)
        XCTAssertEqual(r.bodyText, "{\"partial\":")
        XCTAssertTrue(c.peerClosed, "client must see the connection end")

        let cr = try curl([ccload.url + "/v1/models"])
        XCTAssertEqual(cr.exitCode, 18, "curl must see a partial transfer (18); stderr: \(cr.stderr)")
    }

    /// A pooled connection the upstream closes as the next request arrives (its keep-alive
    /// ran out): ccload retries once on a fresh connection and the client never notices.
    func testPooledConnectionClosedBeforeAnswerIsRetriedOnce() throws {
        let upstream = try startScripted { conn, index, up in
            guard let first = conn.readRequest(timeout: 5) else { return }
            if index == 0 {
                try? conn.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
                guard conn.readRequest(timeout: 5) != nil else { return }
                up.note("conn0 dropped a request")
                return  // closes without answering
            }
            up.note("conn\(index) got \(first.head.components(separatedBy: "\r\n")[0])")
            try? conn.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
            _ = conn.readUntilClose(timeout: 5)
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)", threads: 1)
        XCTAssertEqual(try ccload.request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n").bodyText, "first")
        let r = try ccload.request(messagesRequest(query: "n=2"))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.bodyText, "second")
        XCTAssertEqual(upstream.acceptedCount, 2)
        XCTAssertEqual(upstream.observations.sorted(), ["conn0 dropped a request", "conn1 got POST /v1/messages?n=2 HTTP/1.1"])
    }

    /// The retry is one retry: when the fresh connection fails too, the client gets 502.
    func testRetryOnAPooledConnectionHappensOnlyOnce() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 1)
        XCTAssertEqual(try ccload.request(messagesRequest()).status, 200)  // pools one connection
        let before = try mock.acceptedConnections()
        let r = try ccload.request(messagesRequest(headers: ["x-mock-cut: head"]))
        assertErrorShape(r, status: 502)
        XCTAssertEqual(try mock.acceptedConnections() - before, 1, "expected exactly one retry on one fresh connection")
    }

    /// A fresh connection that closes without answering is not retried.
    func testFreshConnectionClosedBeforeAnswerIs502WithoutRetry() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 1)
        let before = try mock.acceptedConnections()
        let r = try ccload.request(messagesRequest(headers: ["x-mock-cut: head"]))
        assertErrorShape(r, status: 502)
        XCTAssertEqual(try mock.acceptedConnections() - before, 1, "a fresh connection's failure must not be retried")
    }

    /// An upstream that closes an idle pooled connection: the next request still succeeds.
    func testIdlePooledConnectionClosedByUpstreamIsNotUsed() throws {
        let upstream = try startScripted { conn, index, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            try? conn.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#\(index)")
            if index == 0 { usleep(50_000); return }  // idle close
            _ = conn.readUntilClose(timeout: 5)
        }
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(upstream.port)", threads: 1)
        XCTAssertEqual(try ccload.request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n").bodyText, "#0")
        usleep(300_000)
        let r = try ccload.request("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.bodyText, "#1")
    }
}
