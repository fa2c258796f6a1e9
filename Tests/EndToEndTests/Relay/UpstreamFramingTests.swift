import Foundation
import Glibc
import XCTest

/// Upstream heads cannot break the client's framing: a `Connection` header naming
/// `Content-Length` does not remove it, and an unsolicited `101` or a flood of `1xx`
/// interim responses is an upstream failure (failover before the commit point).
final class UpstreamFramingTests: RelayCase {
    /// Answers every request on the connection with `answer` (keep-alive).
    func scripted(_ answer: @escaping @Sendable (Int) -> String) throws -> ScriptedUpstream {
        try startScripted { conn, index, _ in
            while conn.readRequest(timeout: 10) != nil {
                do { try conn.send(answer(index)) } catch { return }
            }
        }
    }

    static let json = #"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":1,"output_tokens":1}}"#

    func testConnectionNamingContentLengthKeepsTheClientFramed() throws {
        let up = try scripted { _ in
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: content-length, x-hop\r\nX-Hop: 1\r\n"
                + "Content-Length: \(Self.json.utf8.count)\r\n\r\n" + Self.json
        }
        for ccload in [try startCcload(upstream: "http://127.0.0.1:\(up.port)"),
                       try startRelay([channel("a", url: "http://127.0.0.1:\(up.port)")]).ccload] {
            let c = try ccload.connect()
            for i in 0..<2 {
                let body = anthropicBody(stream: false)
                try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
                let r = try c.readResponse(timeout: 5)
                XCTAssertEqual(r.status, 200, "request \(i): \(r.bodyText)")
                XCTAssertEqual(r.headers(named: "content-length"), ["\(Self.json.utf8.count)"], "request \(i): \(r.headBytes.text)")
                XCTAssertNil(r.header("x-hop"))
                XCTAssertTrue(r.complete)
                XCTAssertEqual(r.bodyText, Self.json)
            }
        }
    }

    func testUnsolicited101FailsOver() throws {
        let up = try scripted { _ in "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" }
        let healthy = try startMock()
        let ccload = try startRelay([channel("switch", url: "http://127.0.0.1:\(up.port)", priority: 10, ["id": 1]),
                                     channel("healthy", url: healthy.url, priority: 5, ["id": 2])]).ccload
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "connection")])

        // Pass-through: nothing to fail over to, so 502 rather than a 101 forwarded.
        let pass = try startCcload(upstream: "http://127.0.0.1:\(up.port)")
        let p = try pass.post("/v1/messages", anthropicBody(stream: false))
        assertErrorShape(p, status: 502)
        XCTAssertTrue(p.bodyText.contains("101"), p.bodyText)
    }

    func testInterimFloodFailsOverButEightArePassed() throws {
        let up = try scripted { index in
            // Connection 0: nine interim responses; later ones: exactly eight.
            String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: index == 0 ? 9 : 8)
                + "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(Self.json.utf8.count)\r\n\r\n" + Self.json
        }
        let healthy = try startMock()
        let ccload = try startRelay([channel("hints", url: "http://127.0.0.1:\(up.port)", priority: 10, ["id": 1]),
                                     channel("healthy", url: healthy.url, priority: 5, ["id": 2])],
                                    ["CCLOAD_COOLDOWN_SERVER": "0.01", "CCLOAD_COOLDOWN_MIN": "0.01"]).ccload
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(r.status, 200, r.bodyText)
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "connection")])
        XCTAssertEqual(try healthy.requests(), 1)
        usleep(200_000)  // the channel's short cooldown ends
        let eight = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(eight.status, 200, eight.bodyText)
        XCTAssertEqual(eight.bodyText, Self.json, "eight interim responses are within bounds: channel 1 answers")
        XCTAssertFalse(eight.raw.text.contains("100 Continue"), "interim responses are not forwarded")
        XCTAssertEqual(try healthy.requests(), 1)
    }
}
