import Foundation
import Glibc
import XCTest

/// Hostile-upstream regression cases for the defects of issue 10 (each test names its item):
/// each failed on the code before its fix.
final class HostileUpstreamRegressionTests: HostileCase {
    /// Item 7: a flood of interim 1xx responses is an upstream failure (failover), not a
    /// wait until the first-byte timeout.
    func testA1xxFloodFailsOverWellBeforeTheFirstByteTimeout() throws {
        let healthy = try startMock()
        let flood = [UInt8](repeating: 0, count: 0) + Array(String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 40_000).utf8)
        let hostile = try startHostile(.init(bytes: flood, cut: flood.count, ending: .silence, silenceSeconds: 60))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, ["CCLOAD_FIRST_BYTE_TIMEOUT": "60"])
        let r = try ask(ccload, stream: false, timeout: 10)
        XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(r.status) \(r.bodyText)")
        let rec = try ccload.waitForRecords(1).first ?? [:]
        XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.first?["channel_id"] as? Int, 1, "\(rec)")
        assertUp(ccload)
    }

    /// Item 7: an unsolicited 101 is an upstream failure; the client never sees it.
    func testAnUnsolicited101FailsOver() throws {
        let healthy = try startMock()
        let bytes = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{05}hello".utf8)
        let hostile = try startHostile(.init(bytes: bytes, cut: bytes.count, ending: .silence, silenceSeconds: 20))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        for stream in [false, true] {
            let r = try ask(ccload, stream: stream, timeout: 15)
            XCTAssertNotEqual(r.status, 101, "the upstream's 101 reached the client")
            XCTAssertTrue(isHealthyAnswer(r, stream: stream), "stream \(stream): \(r.status) \(r.bodyText)")
            try clearCooldowns(ccload)
        }
        assertUp(ccload)
    }

    /// Item 7: `Connection` naming a framing header does not remove it: the client's
    /// framing stays right and its keep-alive connection serves the next request.
    func testConnectionNamingFramingHeadersKeepsTheClientInStep() throws {
        let healthy = try startMock()
        let message = CannedResponse.anthropicMessage()
        let body = Array(message.bytes[message.commitAt...])
        let variants: [[UInt8]] = [
            Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: content-length\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body,
            Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: Content-Length, keep-alive\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body,
            CannedResponse.anthropicMessage(chunked: true).bytes.withHeader("Connection: transfer-encoding"),
            CannedResponse.anthropicStream().bytes.withHeader("Connection: transfer-encoding, content-type"),
        ]
        let hostile = try startHostile(.init(bytes: variants[0]))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        for (i, v) in variants.enumerated() {
            hostile.set(.init(bytes: v))
            let stream = i == 3
            let c = try ccload.connect()
            do {
                for round in 0..<2 {
                    try c.send(messagesRequest(headers: [authHeader], body: anthropicBody(stream: stream)))
                    let r = try c.readResponse(timeout: 5)
                    keep(r)
                    XCTAssertEqual(r.status, 200, "variant \(i) round \(round)")
                    XCTAssertTrue(r.complete && r.bodyText.contains("hostile-token"), "variant \(i) round \(round): \(r.raw.text)")
                    if c.peerClosed { break }
                }
                XCTAssertTrue(c.buffer.isEmpty, "variant \(i): stray bytes after the responses: \(c.buffer.text)")
            } catch {
                XCTFail("variant \(i) (\(v.text.prefix(120).debugDescription)): \(error)")
            }
        }
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// Item 4: an upstream that sends its head and a content event, then goes silent:
    /// the client gets the protocol's error event (not a hang), and ccload lets go of the
    /// upstream connection. Before the commit point the same stall fails over.
    func testAStreamThatStallsAfterTheHeadEndsWithAnErrorEvent() throws {
        let healthy = try startMock()
        let stream = CannedResponse.anthropicStream()
        let committed = Array(stream.bytes[0..<stream.commitAt]) + [13, 10]
        let hostile = try startHostile(.init(bytes: committed, cut: committed.count, ending: .silence, silenceSeconds: 30))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"])
        let baseline = socketCount(ccload.process.pid)
        let r = try ask(ccload, stream: true, timeout: 8)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.bodyText.contains("hostile-token"), r.bodyText)
        XCTAssertTrue(r.bodyText.contains("event: error"), "no error event after the stall: \(r.bodyText)")
        let rec = try ccload.waitForRecords(1).first ?? [:]
        XCTAssertNotNil(rec["error"] as? String, "\(rec)")
        XCTAssertLessThanOrEqual(settleFDs(ccload, atMost: baseline + 1), baseline + 1, "the stalled upstream connection is still open")
        // Before the commit point: head and message_start, then silence.
        let early = Array(stream.bytes[0..<(stream.bytes.range(of: "event: content_block_delta")! - 4)])
        hostile.set(.init(bytes: early, cut: early.count, ending: .silence, silenceSeconds: 30))
        try clearCooldowns(ccload)
        let f = try ask(ccload, stream: true, timeout: 8)
        XCTAssertTrue(isHealthyAnswer(f, stream: true), "a stall before the commit point did not fail over: \(f.bodyText)")
        assertUp(ccload)
    }
}

extension Array where Element == UInt8 {
    /// A response's bytes with one more header line after the status line.
    func withHeader(_ line: String) -> [UInt8] {
        guard let eol = rangeOf([13, 10]) else { return self }
        return Array(self[0..<eol.upperBound]) + Array((line + "\r\n").utf8) + Array(self[eol.upperBound...])
    }

    /// Where `s` starts in these bytes, nil when absent.
    func range(of s: String) -> Int? { rangeOf(Array(s.utf8))?.lowerBound }
}
