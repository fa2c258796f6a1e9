import Foundation
import Glibc
import XCTest

/// Work before authentication is bounded: the client token is checked at the request head
/// (no body read, no `100 Continue`), admin paths have small body caps, and the number of
/// open connections has a cap with a clean refusal past it.
final class HeadCheckTests: RelayCase {
    static let token = "ccl-head-check-Hk28Lm47Np"

    func relayWithToken(_ extra: [String: String] = [:]) throws -> (CcloadProcess, MockUpstream) {
        let mock = try startMock()
        let ccload = try startRelay([channel("a", url: mock.url, ["id": 1]), channel("o", "openai", url: mock.url, ["id": 2])],
                                    auth: [Self.token], extra).ccload
        return (ccload, mock)
    }

    func bigHead(_ target: String, headers: [String] = [], length: Int = 1_000_000) -> String {
        var s = "POST \(target) HTTP/1.1\r\nHost: ccload.test\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        for h in headers { s += h + "\r\n" }
        return s + "Content-Length: \(length)\r\n\r\n"
    }

    func testMissingOrBadTokenIsRefusedAtTheHeadWithoutContinue() throws {
        let (ccload, mock) = try relayWithToken()
        for (target, auth, openAIShape) in [("/v1/messages", nil as String?, false), ("/v1/messages", "x-api-key: wrong-token", false),
                                            ("/v1/chat/completions", nil, true)] {
            let c = try ccload.connect()
            try c.send(bigHead(target, headers: auth.map { [$0] } ?? []))
            let r = try c.readResponse(timeout: 5)
            XCTAssertEqual(r.status, 401, "\(target): \(r.statusLine) \(r.bodyText)")
            if openAIShape {
                XCTAssertNotNil((r.json?["error"] as? [String: Any])?["message"] as? String, r.bodyText)
            } else {
                assertErrorShape(r, status: 401, type: "authentication_error")
            }
            XCTAssertFalse(r.raw.text.contains("100 Continue"), "100 Continue was sent to an unauthenticated client")
            XCTAssertEqual(r.header("connection"), "close", "a body was announced: the connection must close")
            XCTAssertTrue(c.readUntilClose(timeout: 5), "the connection stayed open to receive the unread body")
        }
        XCTAssertEqual(try mock.requests(), 0)

        // With the token, the same head gets 100 Continue (the body is wanted).
        let c = try ccload.connect()
        try c.send(bigHead("/v1/messages", headers: ["x-api-key: \(Self.token)"], length: 20))
        XCTAssertTrue(c.readUntil(contains: "HTTP/1.1 100 Continue\r\n\r\n", timeout: 5), c.buffer.text)
    }

    func testRefusalReachesAClientThatSendsItsBodyAtOnce() throws {
        // No Expect: the client sends head and body together. The 401 must arrive whole, not
        // be destroyed by a reset for the unread body (ccload half-closes and discards briefly).
        let (ccload, mock) = try relayWithToken()
        for size in [100_000, 4_000_000] {
            let c = try ccload.connect()
            let body = "{\"model\":\"m\",\"pad\":\"" + String(repeating: "x", count: size) + "\"}"
            // One send: when ccload refuses, the rest of the body is already on its way or queued.
            try? c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            let r = try c.readResponse(timeout: 10)
            assertErrorShape(r, status: 401)
            XCTAssertTrue(c.readUntilClose(timeout: 10))
            XCTAssertFalse(c.sawReset, "the refusal was followed by a reset (\(size) bytes)")
        }
        XCTAssertEqual(try mock.requests(), 0)
    }

    func testRefusalWithoutABodyKeepsTheConnection() throws {
        let (ccload, _) = try relayWithToken()
        let c = try ccload.connect()
        try c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        let refused = try c.readResponse(timeout: 5)
        XCTAssertEqual(refused.status, 401, refused.bodyText)
        XCTAssertNil(refused.header("connection"))
        try c.send("GET /v1/models HTTP/1.1\r\nHost: x\r\nx-api-key: \(Self.token)\r\n\r\n")
        XCTAssertEqual(try c.readResponse(timeout: 5).status, 200, "the kept-alive connection serves the next request")
    }

    func testPassThroughChecksTheTokenAtTheHead() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_AUTH": Self.token])
        let c = try ccload.connect()
        try c.send(bigHead("/v1/messages"))
        let r = try c.readResponse(timeout: 5)
        assertErrorShape(r, status: 401)
        XCTAssertFalse(r.raw.text.contains("100 Continue"))
        XCTAssertTrue(c.readUntilClose(timeout: 5))
        XCTAssertEqual(try mock.requests(), 0)
    }

    // MARK: admin body caps

    /// POSTs `size` bytes (or only announces them) to `target` without a session.
    func post(_ ccload: CcloadProcess, _ target: String, size: Int, sendBody: Bool = true) throws -> HTTPResponse {
        let c = try ccload.connect()
        try c.send("POST \(target) HTTP/1.1\r\nHost: ccload.test\r\nContent-Type: application/json\r\nContent-Length: \(size)\r\n\r\n")
        if sendBody { try c.send([UInt8](repeating: 0x20, count: size)) }
        return try c.readResponse(timeout: 20)
    }

    func testAdminBodyCapsOnBothSides() throws {
        let ccload = try startCcload(upstream: nil)
        for (target, cap) in [("/login", 16 * 1024), ("/admin/settings", 1 << 20), ("/admin/channels/import", 10 << 20)] {
            let at = try post(ccload, target, size: cap)
            XCTAssertNotEqual(at.status, 413, "\(target) refused a body of exactly \(cap) bytes")
            let over = try post(ccload, target, size: cap + 1, sendBody: false)
            assertErrorShape(over, status: 413, type: "request_too_large")
            XCTAssertTrue(over.bodyText.contains("\(cap) bytes"), over.bodyText)
        }
        // The proxy's own paths keep the server-wide cap: the body is wanted.
        let c = try ccload.connect()
        try c.send(bigHead("/v1/messages", length: (16 << 20) + 1))
        XCTAssertTrue(c.readUntil(contains: "HTTP/1.1 100 Continue\r\n\r\n", timeout: 5), c.buffer.text)
    }

    func testTooLargeBodySentAtOnceStillGetsIts413() throws {
        // Same for a body over its cap: the 413 arrives whole, then a clean close.
        let ccload = try startCcload(upstream: nil)
        let c = try ccload.connect()
        let body = String(repeating: " ", count: 200_000)
        try? c.send("POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let r = try c.readResponse(timeout: 10)
        assertErrorShape(r, status: 413)
        XCTAssertTrue(c.readUntilClose(timeout: 10))
        XCTAssertFalse(c.sawReset, "the 413 was followed by a reset")
    }

    // MARK: connection cap

    func testConnectionCapOnBothSides() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_MAX_CONNECTIONS": "3"])
        XCTAssertTrue(ccload.process.waitForOutput("at most 3 client connections"), ccload.process.stderrText)
        var open: [RawConnection] = []
        for i in 0..<3 {
            let c = try ccload.connect()
            try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(try c.readResponse(timeout: 5).status, 200, "connection \(i + 1) of 3 must be served")
            open.append(c)
        }
        // One over: a short 503 and a close, without sending anything.
        let over = try ccload.connect()
        let r = try over.readResponse(timeout: 5)
        assertErrorShape(r, status: 503)
        XCTAssertTrue(r.bodyText.contains("connection limit (3)"), r.bodyText)
        XCTAssertEqual(r.header("connection"), "close")
        XCTAssertTrue(over.readUntilClose(timeout: 5))
        // One closes: a new one is served again.
        open.removeFirst()
        var served = false
        let deadline = Date().addingTimeInterval(5)
        while !served && Date() < deadline {
            let c = try ccload.connect()
            try? c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            served = (try? c.readResponse(timeout: 5).status) == 200
            if !served { usleep(20_000) }
        }
        XCTAssertTrue(served, "a freed connection slot was not reused")
    }

    func testConnectionCapMustBeAPositiveNumber() throws {
        for (value, message) in [("0", "CCLOAD_MAX_CONNECTIONS must be at least 1"), ("abc", "CCLOAD_MAX_CONNECTIONS=abc is not a valid number")] {
            let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                         environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_MAX_CONNECTIONS": value])
            track(p)
            XCTAssertNotNil(p.waitForExit(timeout: 10), "ccload started with CCLOAD_MAX_CONNECTIONS=\(value)")
            XCTAssertNotEqual(p.waitForExit(timeout: 1), 0)
            XCTAssertTrue(p.waitForOutput(message), p.stderrText)
        }
        // The smallest cap, 1, is taken.
        let one = try startCcload(upstream: nil, ["CCLOAD_MAX_CONNECTIONS": "1"])
        XCTAssertEqual(try one.get("/health").status, 200)
    }
}
