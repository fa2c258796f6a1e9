import Foundation
import XCTest

/// SIGTERM: stop accepting, let in-flight streams finish, exit 0; a second signal exits
/// at once.
final class DrainTests: EndToEndCase {
    func testSIGTERMRefusesNewConnectionsLetsTheStreamFinishAndExitsZero() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, threads: 2, ["CCLOAD_DRAIN_SECONDS": "10"])
        let gate = gateName()
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=4&delay_ms=100&gate=\(gate)"))
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5))

        ccload.process.signal(SIGTERM)
        XCTAssertTrue(ccload.process.waitForOutput("draining", timeout: 3), ccload.process.stderrText)
        // New connections are refused (the listeners close as the drain starts).
        var refused = false
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline && !refused {
            do {
                let probe = try RawConnection(port: ccload.port)
                // Accepted in the instant before the listener closed: it must not be served.
                try? probe.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = probe.readUntilClose(timeout: 1)
                usleep(20_000)
            } catch let e as RawConnection.ConnectError {
                refused = e.errno == ECONNREFUSED
                if !refused { XCTFail("connect failed other than refused: \(e)") ; break }
            }
        }
        XCTAssertTrue(refused, "new connections were still accepted while draining")
        // The stream holds the process open.
        usleep(200_000)
        XCTAssertTrue(ccload.process.isRunning, "exited with a stream in flight")
        XCTAssertFalse(c.buffer.text.contains("message_stop"))

        try mock.release(gate: gate)
        let r = try c.readResponse(timeout: 5)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, "the in-flight stream was cut by the drain")
        XCTAssertTrue(r.bodyText.contains("token3 ") && r.bodyText.contains("message_stop"), r.bodyText)
        XCTAssertTrue(c.readUntilClose(timeout: 3), "connection kept open after the drain's last response")
        XCTAssertEqual(ccload.process.waitForExit(timeout: 5), 0, "ccload did not exit 0 after draining")
        XCTAssertTrue(ccload.process.waitForOutput("stopped"), ccload.process.stderrText)
    }

    func testSecondSignalExitsAtOnce() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_DRAIN_SECONDS": "30"])
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "stream=1&events=3&gate=\(gateName())"))  // never released
        XCTAssertTrue(c.readUntil(contains: "token0 ", timeout: 5))
        ccload.process.signal(SIGTERM)
        XCTAssertTrue(ccload.process.waitForOutput("draining", timeout: 3))
        XCTAssertNil(ccload.process.waitForExit(timeout: 0.3), "exited with a stream in flight")
        ccload.process.signal(SIGTERM)
        let status = ccload.process.waitForExit(timeout: 3)
        XCTAssertNotNil(status, "a second SIGTERM did not end the process (drain is 30 s)")
        XCTAssertTrue(c.readUntilClose(timeout: 3), "client connection outlived the process")
    }

    func testNothingInFlightExitsZeroPromptly() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_DRAIN_SECONDS": "20"])
        ccload.process.signal(SIGTERM)
        XCTAssertEqual(ccload.process.waitForExit(timeout: 3), 0)
        XCTAssertTrue(ccload.process.waitForOutput("stopped"))
    }

    /// Idle keep-alive connections are not in flight: the drain closes them and does not
    /// wait for the drain deadline.
    func testIdleConnectionAfterAProxiedResponseDoesNotHoldTheDrain() throws {
        let mock = try startMock()
        let ccload = try startCcload(upstream: mock.url, ["CCLOAD_DRAIN_SECONDS": "20"])
        let c = try ccload.connect()
        try c.send(messagesRequest(query: "size=300"))
        XCTAssertEqual(try c.readResponse().status, 200)
        ccload.process.signal(SIGTERM)
        XCTAssertEqual(ccload.process.waitForExit(timeout: 3), 0, "idle connection held the drain")
        XCTAssertTrue(c.readUntilClose(timeout: 1))
    }

    func testIdleConnectionAfterALocalResponseDoesNotHoldTheDrain() throws {
        let ccload = try startCcload(upstream: nil, ["CCLOAD_DRAIN_SECONDS": "20"])
        let c = try ccload.connect()
        try c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(try c.readResponse().status, 200)
        ccload.process.signal(SIGTERM)
        XCTAssertEqual(ccload.process.waitForExit(timeout: 3), 0, "idle connection held the drain")
        XCTAssertTrue(c.readUntilClose(timeout: 1))
    }
}
