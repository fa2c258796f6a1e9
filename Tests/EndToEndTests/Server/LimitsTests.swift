import Foundation
import XCTest

/// Every limit on both sides of its edge, the 400 family, the header and idle timeouts,
/// and a process that survives random bytes.
final class LimitsTests: EndToEndCase {
    /// A GET /health head of exactly `size` bytes, padded in one header.
    private func head(ofSize size: Int) -> [UInt8] {
        let start = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "
        let end = "\r\n\r\n"
        let pad = size - start.utf8.count - end.utf8.count
        return Array(start.utf8) + [UInt8](repeating: UInt8(ascii: "p"), count: pad) + Array(end.utf8)
    }

    func testHeadOf64KiBIsAcceptedAndOneByteMoreIs431() throws {
        let ccload = try startCcload(upstream: nil)
        let ok = try ccload.connect()
        try ok.send(head(ofSize: 65536))
        let r1 = try ok.readResponse()
        XCTAssertEqual(r1.status, 200, "a head of exactly 64 KiB must be accepted: \(r1.bodyText)")

        let big = try ccload.connect()
        try big.send(head(ofSize: 65537))
        let r2 = try big.readResponse()
        assertErrorShape(r2, status: 431, type: "invalid_request_error")
        XCTAssertTrue(big.readUntilClose(timeout: 3), "connection must close after 431")

        // Far over the limit, in many writes: still 431, not a hang or a crash.
        let huge = try ccload.connect()
        try huge.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        for _ in 0..<40 { try? huge.send("X-Filler: " + String(repeating: "f", count: 2000) + "\r\n") }
        assertErrorShape(try huge.readResponse(), status: 431)
        XCTAssertEqual(try ccload.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200)
    }

    func testBodyAtMaxIsForwardedAndOneByteMoreIs413WithContentLength() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_MAX_BODY_BYTES": "1000"])
        let body = String(repeating: "b", count: 1000)
        let r = try ccload.request(messagesRequest(body: body))
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(try mock.lastRequest().bodyLength, 1000)

        let before = try mock.acceptedConnections()
        let c = try ccload.connect()
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        let r2 = try c.readResponse()
        assertErrorShape(r2, status: 413, type: "request_too_large")
        XCTAssertTrue(c.readUntilClose(timeout: 3))
        XCTAssertEqual(try mock.acceptedConnections(), before)
    }

    private func chunked(_ total: Int, pieces: [Int]) -> String {
        var s = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        var left = total
        for p in pieces where left > 0 {
            let n = min(p, left)
            s += String(n, radix: 16) + "\r\n" + String(repeating: "c", count: n) + "\r\n"
            left -= n
        }
        if left > 0 { s += String(left, radix: 16) + "\r\n" + String(repeating: "c", count: left) + "\r\n" }
        return s + "0\r\n\r\n"
    }

    func testChunkedBodyAtMaxIsForwardedAndOneByteMoreIs413() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_MAX_BODY_BYTES": "1000"])
        let r = try ccload.request(chunked(1000, pieces: [400, 400, 200]))
        XCTAssertEqual(r.status, 200, r.bodyText)
        let last = try mock.lastRequest()
        XCTAssertEqual(last.bodyLength, 1000)
        XCTAssertTrue(last.head.contains("Content-Length: 1000\r\n"), "de-chunked body goes with its length:\n\(last.head)")
        XCTAssertFalse(last.head.lowercased().contains("transfer-encoding"), last.head)

        let r2 = try ccload.request(chunked(1001, pieces: [400, 400, 201]))
        assertErrorShape(r2, status: 413, type: "request_too_large")
        let r3 = try ccload.request(chunked(1001, pieces: [1001]))
        assertErrorShape(r3, status: 413, type: "request_too_large")
    }

    func testMalformedRequestsAre400AndNeverForwarded() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let before = try mock.acceptedConnections()
        let cases: [(String, String)] = [
            ("double space in request line", "GET  /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("extra token in request line", "GET /v1/models HTTP/1.1 x\r\nHost: x\r\n\r\n"),
            ("bad version", "GET /v1/models HTTQ/1.1\r\nHost: x\r\n\r\n"),
            ("control byte in method", "G\u{01}T /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("not HTTP at all", "hello there\r\n\r\n"),
            ("bare LF line endings", "GET /v1/models HTTP/1.1\nHost: x\n\n"),
            ("missing Host in 1.1", "GET /v1/models HTTP/1.1\r\nAccept: */*\r\n\r\n"),
            ("two Host fields", "GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            ("bad chunk size", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
            ("chunk size with sign", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
            ("chunk data longer than its size", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"),
            ("Content-Length with Transfer-Encoding", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("two different Content-Lengths", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
            ("non-numeric Content-Length", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello"),
            ("negative Content-Length", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            ("unsupported transfer coding", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            ("Transfer-Encoding in 1.0", "POST /v1/messages HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("control byte in header value", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Bad: a\u{01}b\r\n\r\n"),
            ("NUL in header value", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Bad: a\u{00}b\r\n\r\n"),
            ("space in header name", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n"),
            ("space before colon", "GET /v1/models HTTP/1.1\r\nHost : x\r\n\r\n"),
            ("header without colon", "GET /v1/models HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
            ("obs-fold", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n"),
            ("obs-fold with tab", "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tcontinued\r\n\r\n"),
            ("bare CR in header", "GET /v1/models HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n"),
        ]
        for (name, raw) in cases {
            let c = try ccload.connect()
            try c.send(raw)
            let r: HTTPResponse
            do {
                r = try c.readResponse(timeout: 3)
            } catch {
                XCTFail("\(name): \(error)")
                continue
            }
            XCTAssertEqual(r.status, 400, "\(name): got \(r.statusLine) \(r.bodyText)")
            assertErrorShape(r, status: 400, type: "invalid_request_error")
            XCTAssertTrue(c.readUntilClose(timeout: 3), "\(name): connection must close after 400")
        }
        XCTAssertEqual(try mock.acceptedConnections(), before, "a malformed request reached the upstream")
        XCTAssertEqual(try ccload.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200)
    }

    func testPartialHeadGets408AndCloseAfterTheHeaderTimeout() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_HEADER_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        let start = Date()
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        XCTAssertTrue(c.staysQuiet(for: 0.2), "answered before the header timeout: \(c.buffer.text)")
        let r = try c.readResponse(timeout: 5)
        let elapsed = Date().timeIntervalSince(start)
        assertErrorShape(r, status: 408)
        XCTAssertGreaterThanOrEqual(elapsed, 0.4, "408 came before the 0.5 s header timeout")
        XCTAssertTrue(c.readUntilClose(timeout: 3), "connection must close after 408")
    }

    func testHeadCompletedInTimeIsServed() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_HEADER_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.1\r\n")
        usleep(200_000)
        try c.send("Host: x\r\n")
        usleep(100_000)
        try c.send("\r\n")
        let r = try c.readResponse()
        XCTAssertEqual(r.status, 200)
        // The next request on the connection has its own header clock.
        usleep(300_000)
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        usleep(300_000)
        try c.send("\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
    }

    /// A slowloris client sending a byte at a time must not keep resetting the clock.
    func testTricklingHeadStillTimesOut() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_HEADER_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        let deadline = Date().addingTimeInterval(3)
        var got408 = false
        while Date() < deadline && !c.peerClosed {
            try? c.send("a")
            if c.fill(until: Date().addingTimeInterval(0.1)) != .timeout, c.buffer.text.contains("\r\n\r\n") {
                got408 = c.buffer.text.hasPrefix("HTTP/1.1 408 ")
                break
            }
        }
        XCTAssertTrue(got408, "a trickling head was never timed out; got: \(c.buffer.text)")
    }

    func testIdleKeepAliveConnectionIsClosedAfterTheIdleTimeoutNotBefore() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_IDLE_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(c.staysQuiet(for: 0.2), "idle connection closed before the idle timeout")
        XCTAssertTrue(c.readUntilClose(timeout: 3), "idle connection still open 3 s past a 0.5 s idle timeout")
        XCTAssertTrue(c.buffer.isEmpty, "an idle close sends nothing: \(c.buffer.text)")

        // A connection that never sends a byte goes too.
        let silent = try ccload.connect()
        XCTAssertTrue(silent.staysQuiet(for: 0.2))
        XCTAssertTrue(silent.readUntilClose(timeout: 3), "silent connection kept open")
    }

    func testIdleTimeoutAfterAProxiedResponse() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_IDLE_TIMEOUT": "0.5"])
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "size=300"))
        XCTAssertEqual(try c.readResponse().status, 200)
        XCTAssertTrue(c.staysQuiet(for: 0.2), "idle connection closed before the idle timeout")
        XCTAssertTrue(c.readUntilClose(timeout: 3), "idle connection still open 3 s past a 0.5 s idle timeout")
        XCTAssertTrue(c.buffer.isEmpty, "an idle close sends nothing: \(c.buffer.text)")
    }

    func testProcessSurvivesRandomGarbageAndKeepsServing() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 2,
                                     ["CCLOAD_HEADER_TIMEOUT": "0.5", "CCLOAD_IDLE_TIMEOUT": "1", "CCLOAD_MAX_BODY_BYTES": "4096"])
        var rng = SeededGenerator(seed: 0xCC10AD)
        func bytes(_ n: Int, printable: Bool = false) -> [UInt8] {
            (0..<n).map { _ in printable ? UInt8.random(in: 0x20...0x7E, using: &rng) : UInt8.random(in: 0...255, using: &rng) }
        }
        let prefixes = ["", "GET / HTTP/1.1\r\n", "POST /v1/messages HTTP/1.1\r\nHost: x\r\n",
                        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
                        "GET /health HTTP/1.1\r\nHost: x\r\nX-A: "]
        var payloads: [[UInt8]] = []
        for _ in 0..<200 {
            let p = Array(prefixes[Int.random(in: 0..<prefixes.count, using: &rng)].utf8)
            var tail = bytes(Int.random(in: 1...3000, using: &rng), printable: Bool.random(using: &rng))
            // Sprinkle line ends so the parser gets past the first line now and then.
            for _ in 0..<Int.random(in: 0...8, using: &rng) where !tail.isEmpty {
                let at = Int.random(in: 0..<tail.count, using: &rng)
                tail.replaceSubrange(at..<min(at + 2, tail.count), with: [13, 10])
            }
            payloads.append(p + tail)
        }
        let port = ccload.port
        let list = payloads
        let badReplies = NSLock()
        nonisolated(unsafe) var odd: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for i in stride(from: worker, to: list.count, by: 8) {
                guard let c = try? RawConnection(port: port) else {
                    badReplies.lock(); odd.append("connect \(i) failed"); badReplies.unlock()
                    continue
                }
                try? c.send(list[i])
                _ = c.fill(until: Date().addingTimeInterval(0.03))
                if !c.buffer.isEmpty && !c.buffer.text.hasPrefix("HTTP/1.1 ") {
                    badReplies.lock(); odd.append("payload \(i): \(c.buffer.text.prefix(80))"); badReplies.unlock()
                }
            }
        }
        XCTAssertEqual(odd, [], "malformed replies or refused connections")
        XCTAssertTrue(ccload.process.isRunning, "ccload died on garbage; stderr:\n\(ccload.process.stderrText)")
        for _ in 0..<4 {
            XCTAssertEqual(try ccload.request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status, 200)
            XCTAssertEqual(try ccload.request(messagesRequest(query: "size=500")).body.count, 500)
        }
    }
}
