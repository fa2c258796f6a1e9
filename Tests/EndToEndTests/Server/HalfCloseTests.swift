import Foundation
import Glibc
import XCTest

/// A client that sends its request and shuts down its sending side (`shutdown(SHUT_WR)`,
/// as `curl --no-keepalive`-style tools and some SDK proxies do) still gets the whole,
/// streamed response; then the connection closes.
final class HalfCloseTests: RelayCase {
    /// Sends `request`, half-closes, and reads until ccload closes.
    func halfClosedExchange(port: Int, _ request: String) throws -> (HTTPResponse, Bool) {
        let c = try RawConnection(port: port)
        try c.send(request)
        XCTAssertEqual(shutdown(c.fd, Int32(SHUT_WR)), 0)
        let r = try c.readResponse(timeout: 15)
        return (r, c.readUntilClose(timeout: 5))
    }

    func testHalfCloseDoesNotAbortARelayedStream() throws {
        let mock = try startMock(["--delay-ms", "100"])
        let ccload = try startRelay([channel("a", url: mock.url)]).ccload
        let body = anthropicBody(stream: true)
        let (r, closed) = try halfClosedExchange(port: ccload.port, "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        assertCompleteAnthropicStream(r)
        XCTAssertTrue(closed, "the connection must close after the response")
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertEqual(rec["status"] as? Int, 200, "\(rec)")
        XCTAssertNil(rec["error"] as? String, "\(rec)")
    }

    func testHalfCloseDoesNotAbortAPassThroughStream() throws {
        let mock = try startMock(["--delay-ms", "100"])
        let ccload = try startCcload(upstream: mock.url)
        let (r, closed) = try halfClosedExchange(port: ccload.port, messagesRequest(query: "stream=1&events=5"))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, "half-close cut the stream: \(r.bodyText)")
        XCTAssertTrue(r.bodyText.contains("token4 "), r.bodyText)
        XCTAssertTrue(closed)
    }

    func testPipelinedRequestsBeforeTheHalfCloseAreAllAnswered() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url)
        let c = try RawConnection(port: ccload.port)
        try c.send(messagesRequest(query: "stream=1&events=2") + messagesRequest(query: "size=300"))
        XCTAssertEqual(shutdown(c.fd, Int32(SHUT_WR)), 0)
        let first = try c.readResponse(timeout: 10)
        XCTAssertTrue(first.complete && first.bodyText.contains("token1 "), first.bodyText)
        let second = try c.readResponse(timeout: 10)
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.body.count, 300)
        XCTAssertTrue(c.readUntilClose(timeout: 5))
    }

    func testHalfCloseWithAPartialRequestJustCloses() throws {
        let ccload = try startCcload(upstream: nil)
        let c = try RawConnection(port: ccload.port)
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        XCTAssertEqual(shutdown(c.fd, Int32(SHUT_WR)), 0)
        XCTAssertTrue(c.readUntilClose(timeout: 5), "a half-closed partial request must not hold the connection")
        XCTAssertEqual(c.buffer.count, 0)
        XCTAssertEqual(try ccload.get("/health").status, 200)
    }

    /// The SSE comment that tells a half-closed client from a gone one lands between
    /// events, never inside one: here the client half-closes while an event is only half
    /// sent (relay and pass-through).
    func testTheHalfCloseProbeNeverLandsInsideAnEvent() throws {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        func chunk(_ s: String) -> String { String(s.utf8.count, radix: 16) + "\r\n" + s + "\r\n" }
        let start = #"event: message_start\#ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":3}}}\#n\#n"#
        let delta = #"event: content_block_delta\#ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"half-token"}}\#n\#n"#
        let firstHalf = #"event: message_delta\#ndata: {"type":"message_del"#
        let secondHalf = #"ta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\#n\#n"#
        let stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        let before = head + chunk(start) + chunk(delta) + chunk(firstHalf)
        let after = chunk(secondHalf) + chunk(stop) + "0\r\n\r\n"
        let up = try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 10) != nil else { return }
            try? conn.send(before)
            usleep(1_000_000)  // the client half-closes meanwhile
            try? conn.send(after)
            _ = conn.readUntilClose(timeout: 5)
        }
        let relayed = try startRelay([channel("a", url: "http://127.0.0.1:\(up.port)")]).ccload
        let passed = try startCcload(upstream: "http://127.0.0.1:\(up.port)")
        for (mode, ccload) in [("relay", relayed), ("pass-through", passed)] {
            let body = anthropicBody(stream: true)
            let c = try RawConnection(port: ccload.port)
            try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            XCTAssertTrue(c.readUntil(contains: "half-token", timeout: 10), "\(mode): \(c.buffer.text)")
            XCTAssertEqual(shutdown(c.fd, Int32(SHUT_WR)), 0)
            let r = try c.readResponse(timeout: 15)
            XCTAssertTrue(r.complete, "\(mode): \(r.bodyText)")
            let events = SSEParse.events(r.bodyText)
            XCTAssertEqual(events.map(\.name), ["message_start", "content_block_delta", "message_delta", "message_stop"], "\(mode): \(r.bodyText)")
            for e in events {
                XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(e.data.utf8)), "\(mode): \(e.name) \(e.data)")
            }
        }
    }
}
