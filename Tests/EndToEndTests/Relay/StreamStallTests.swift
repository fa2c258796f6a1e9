import Foundation
import Glibc
import XCTest

/// After the response head nothing may hang: an upstream that goes silent, a stream of
/// keep-alives only, or a client that stops reading each ends the exchange, frees both
/// descriptors and the channel's and the token's concurrency slots, and is recorded.
final class StreamStallTests: RelayCase {
    static let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    static let messageStart = #"event: message_start\#ndata: {"type":"message_start","message":{"id":"m","model":"claude-sonnet-4-5","usage":{"input_tokens":3,"output_tokens":1}}}\#n\#n"#
    static let delta = #"event: content_block_delta\#ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"stalled-token "}}\#n\#n"#
    static let ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n"

    static func chunk(_ s: String) -> String { String(s.utf8.count, radix: 16) + "\r\n" + s + "\r\n" }

    /// A whole, short Anthropic stream (message_start, one delta, message_stop).
    static func wholeStream() -> String {
        Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta)
            + Self.chunk("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") + "0\r\n\r\n"
    }

    /// Sends `prefix`, then waits (bounded) for ccload to close the connection and notes it.
    static func sendThenWaitForClose(_ conn: RawConnection, _ prefix: String, _ up: ScriptedUpstream, note: String) {
        try? conn.send(prefix)
        if conn.readUntilClose(timeout: 20) { up.note(note) }
    }

    /// An upstream that reads one request, sends `prefix` and then nothing, noting "closed"
    /// when ccload closes the connection.
    func silentAfter(_ prefix: String) throws -> ScriptedUpstream {
        try startScripted { conn, _, up in
            guard conn.readRequest(timeout: 10) != nil else { return }
            Self.sendThenWaitForClose(conn, prefix, up, note: "closed")
        }
    }

    /// ccload with the silent channel first (id 1) and a healthy mock second (id 2).
    func silentThenHealthy(_ silent: ScriptedUpstream) throws -> CcloadProcess {
        let healthy = try startMock()
        return try startRelay([
            channel("silent", url: "http://127.0.0.1:\(silent.port)", priority: 10, ["id": 1]),
            channel("healthy", url: healthy.url, priority: 5, ["id": 2]),
        ], ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"]).ccload
    }

    func openFDs(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// The descriptor count of a ccload that is surely serving (one request answered, so
    /// every loop's listener and spare descriptor exist) once it stops changing.
    func settledFDs(_ ccload: CcloadProcess) throws -> Int {
        XCTAssertEqual(try ccload.get("/health", headers: ["Connection: close"]).status, 200)
        var last = openFDs(ccload.process.pid), same = 0
        let deadline = Date().addingTimeInterval(5)
        while same < 4 && Date() < deadline {
            usleep(50_000)
            let now = openFDs(ccload.process.pid)
            same = now == last ? same + 1 : 0
            last = now
        }
        return last
    }

    /// What each open descriptor of `pid` points at (for failure messages).
    func fdTargets(_ pid: Int32) -> [String] {
        let dir = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map {
            "\($0)→" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0)) ?? "?")
        }
    }

    func waitForFDs(_ pid: Int32, atMost n: Int, timeout: Double = 10) -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var now = openFDs(pid)
        while now > n && Date() < deadline {
            usleep(20_000)
            now = openFDs(pid)
        }
        return now
    }

    func lastEvent(_ text: String) -> String {
        text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.last ?? ""
    }

    // MARK: upstream silent after the commit point

    func testSilentAfterHeadAndOneEventEndsWithAnErrorEventAndFreesTheSlots() throws {
        // Connection 0 stalls after one content event; the next one answers in full.
        let up = try startScripted { conn, index, up in
            guard conn.readRequest(timeout: 10) != nil else { return }
            if index == 0 {
                Self.sendThenWaitForClose(conn, Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta), up, note: "stalled connection closed")
            } else {
                try? conn.send(Self.wholeStream())
                _ = conn.readUntilClose(timeout: 10)
            }
        }
        let ccload = try startRelay([channel("one", url: "http://127.0.0.1:\(up.port)", ["max_concurrency": 1, "id": 1])],
                                    ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"]).ccload
        // A token that may hold one request at a time.
        let created = try ccload.post("/admin/tokens", #"{"name":"one-at-a-time","max_concurrency":1}"#,
                                      headers: ["Authorization: Bearer \(try ccload.adminToken())"])
        let secret = try XCTUnwrap(created.json?["secret"] as? String, created.bodyText)
        let before = try settledFDs(ccload)

        let started = Date()
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: ["x-api-key: \(secret)"], timeout: 15)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, "the stalled stream must end cleanly with the last chunk: \(r.bodyText)")
        XCTAssertTrue(r.bodyText.contains("stalled-token "), r.bodyText)
        let last = lastEvent(r.bodyText)
        XCTAssertTrue(last.hasPrefix("event: error\ndata: "), "last event: \(last)")
        XCTAssertTrue(last.contains(#""type":"api_error""#), last)
        XCTAssertTrue(last.contains("stalled"), last)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.9, "the stream ended before the idle timeout")
        XCTAssertTrue(up.waitForNote("stalled connection closed", timeout: 10), "ccload kept the stalled upstream open")

        // Both slots are free again: the same token on the same max_concurrency 1 channel.
        let again = try ccload.post("/v1/messages", anthropicBody(stream: true), headers: ["x-api-key: \(secret)"], timeout: 15)
        XCTAssertEqual(again.status, 200, again.bodyText)
        XCTAssertTrue(again.bodyText.contains("message_stop"), again.bodyText)

        let records = try ccload.waitForRecords(2)
        let stalled = try XCTUnwrap(records.last)
        XCTAssertEqual(stalled["status"] as? Int, 200, "\(stalled)")
        XCTAssertTrue((stalled["error"] as? String ?? "").contains("stalled: no data for 1 s"), "\(stalled)")
        XCTAssertLessThanOrEqual(waitForFDs(ccload.process.pid, atMost: before + 1), before + 1,
                                 "descriptors leaked (one pooled upstream connection may stay)")
    }

    func testIdleTimeoutIsALiveSetting() throws {
        let up = try silentAfter(Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta))
        let ccload = try startRelay([channel("one", url: "http://127.0.0.1:\(up.port)")]).ccload
        let auth = "Authorization: Bearer \(try ccload.adminToken())"
        let low = #"{"upstream_idle_timeout_seconds":0.5}"#
        let bad = try ccload.request("PUT /admin/settings HTTP/1.1\r\nHost: x\r\n\(auth)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(low.utf8.count)\r\n\r\n" + low)
        XCTAssertEqual(bad.status, 400, "below the 1 s minimum: \(bad.bodyText)")
        XCTAssertTrue(bad.bodyText.contains("at least 1"), bad.bodyText)
        let body = #"{"upstream_idle_timeout_seconds":1}"#
        let put = try ccload.request("PUT /admin/settings HTTP/1.1\r\nHost: x\r\n\(auth)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
        XCTAssertEqual(put.status, 200, put.bodyText)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 15)
        XCTAssertTrue(r.complete, r.bodyText)
        XCTAssertTrue(lastEvent(r.bodyText).hasPrefix("event: error\n"), r.bodyText)
        XCTAssertTrue(up.waitForNote("closed", timeout: 10))
    }

    func testKeepAlivesOnlyCountAsAStallWhenTurnedOn() throws {
        // After one content event the upstream sends only pings (every 200 ms), forever.
        let up = try startScripted { conn, _, up in
            guard conn.readRequest(timeout: 10) != nil else { return }
            try? conn.send(Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta))
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                do { try conn.send(Self.chunk(Self.ping) + Self.chunk(": keep-alive\n\n")) } catch { up.note("closed"); return }
                usleep(200_000)
            }
        }
        let ccload = try startRelay([channel("one", url: "http://127.0.0.1:\(up.port)")],
                                    ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "5", "CCLOAD_KEEPALIVE_STALL": "1", "CCLOAD_KEEPALIVE_ONLY_TIMEOUT": "1"]).ccload
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 15)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, r.bodyText)
        XCTAssertTrue(r.bodyText.contains("event: ping"), "keep-alives pass through until the stall: \(r.bodyText)")
        let last = lastEvent(r.bodyText)
        XCTAssertTrue(last.hasPrefix("event: error\n") && last.contains("only keep-alives for 1 s"), last)
        XCTAssertTrue(up.waitForNote("closed", timeout: 10))
    }

    // MARK: upstream silent before the commit point

    func testSilentBeforeContentFailsOverAndCoolsTheModelAsATimeout() throws {
        // Head and metadata only: nothing content-bearing, so nothing was committed.
        let silent = try silentAfter(Self.head + Self.chunk(Self.messageStart))
        let ccload = try silentThenHealthy(silent)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 15)
        assertCompleteAnthropicStream(r)
        XCTAssertFalse(r.bodyText.contains("event: error"), r.bodyText)
        XCTAssertTrue(silent.waitForNote("closed", timeout: 10))
        let rec = try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "timeout")])
        XCTAssertNil(rec["error"] as? String, "\(rec)")
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cooldown(cools, "channel 1 model \(RelayCase.model)")?["failure_class"] as? String, "timeout",
                       "the (channel, model) must cool as a timeout: \(cools)")
    }

    func testErrorBodyThatStallsFailsOver() throws {
        // A 500 whose body never completes: the held error cannot be classified, so the stall
        // itself is the failure (a timeout), before anything reached the client.
        let silent = try silentAfter("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            + "Content-Length: 100\r\n\r\n{\"type\":\"error\",")
        let ccload = try silentThenHealthy(silent)
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false), timeout: 15)
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertTrue(silent.waitForNote("closed", timeout: 10))
        try assertRecord(ccload, channel: 2, status: 200, failures: [(1, 0, "timeout")])
    }

    func testJSONBodyThatStallsAfterTheCommitIsCutShort() throws {
        // Not an event stream: there is no error event to send, so the body stays incomplete.
        let silent = try silentAfter("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + "Content-Length: 100\r\n\r\n{\"id\":\"msg_1\",")
        let ccload = try startRelay([channel("silent", url: "http://127.0.0.1:\(silent.port)")],
                                    ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"]).ccload
        let c = try ccload.connect()
        let body = anthropicBody(stream: false)
        try c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let r = try c.readResponse(timeout: 15)
        XCTAssertEqual(r.status, 200)
        XCTAssertFalse(r.complete, "a cut body must not look complete")
        XCTAssertEqual(r.bodyText, "{\"id\":\"msg_1\",")
        XCTAssertTrue(c.peerClosed)
        XCTAssertTrue(silent.waitForNote("closed", timeout: 10))
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertTrue((rec["error"] as? String ?? "").contains("stalled"), "\(rec)")
    }

    func testPassThroughStallAfterHeadEndsWithAnErrorEvent() throws {
        let up = try silentAfter(Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta))
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(up.port)", ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"])
        let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 15)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, r.bodyText)
        XCTAssertTrue(r.bodyText.contains("stalled-token "), r.bodyText)
        XCTAssertTrue(lastEvent(r.bodyText).hasPrefix("event: error\ndata: "), r.bodyText)
        XCTAssertTrue(up.waitForNote("closed", timeout: 10))
    }

    /// A stall in the middle of an event (relay and pass-through): the partial event never
    /// reaches the client, the events before it are whole and the error event is its own.
    func testAStallMidEventEndsWithWholeEventsThenTheErrorEvent() throws {
        let partial = "event: message_delta\ndata: {\"type\":\"message_del"
        let prefix = Self.head + Self.chunk(Self.messageStart) + Self.chunk(Self.delta) + Self.chunk(partial)
        let relayed = try silentThenHealthy(try silentAfter(prefix))
        let passUp = try silentAfter(prefix)
        let passed = try startCcload(upstream: "http://127.0.0.1:\(passUp.port)", ["CCLOAD_UPSTREAM_IDLE_TIMEOUT": "1"])
        for (mode, ccload) in [("relay", relayed), ("pass-through", passed)] {
            let r = try ccload.post("/v1/messages", anthropicBody(stream: true), timeout: 15)
            XCTAssertEqual(r.status, 200, mode)
            XCTAssertTrue(r.complete, "\(mode): \(r.bodyText)")
            XCTAssertFalse(r.bodyText.contains("message_del"), "\(mode): the partial event reached the client: \(r.bodyText)")
            let events = SSEParse.events(r.bodyText)
            XCTAssertEqual(events.map(\.name), ["message_start", "content_block_delta", "error"], "\(mode): \(r.bodyText)")
            for e in events {
                XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(e.data.utf8)), "\(mode): \(e.name) \(e.data)")
            }
        }
    }

    // MARK: a client that stops reading

    /// A client with a tiny receive buffer that sends a request and never reads (closed
    /// when the connection is released).
    func connectNonReading(port: Int, request: String) throws -> RawConnection {
        let c = try RawConnection(port: port, receiveBuffer: 2048)
        try c.send(request)
        return c
    }

    /// The upstream streams events as fast as ccload takes them until ccload closes it.
    func floodingUpstream() throws -> ScriptedUpstream {
        try startScripted { conn, _, up in
            guard conn.readRequest(timeout: 10) != nil else { return }
            try? conn.send(Self.head + Self.chunk(Self.messageStart))
            let event = Self.chunk(String(repeating: Self.delta, count: 40))
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let n = event.utf8CString.withUnsafeBufferPointer { p in
                    Glibc.send(conn.fd, p.baseAddress, p.count - 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { up.note("closed"); return }
                if n < 0 {
                    var p = pollfd(fd: conn.fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 100)
                    if p.revents & Int16(POLLHUP | POLLERR) != 0 { up.note("closed"); return }
                    if p.revents & Int16(POLLIN) != 0, conn.fill(until: Date()) == .closed { up.note("closed"); return }
                }
            }
        }
    }

    func testClientThatStopsReadingIsClosedAndTheUpstreamFreed() throws {
        let up = try floodingUpstream()
        let ccload = try startRelay([channel("one", url: "http://127.0.0.1:\(up.port)", ["max_concurrency": 1, "id": 1])],
                                    ["CCLOAD_CLIENT_WRITE_TIMEOUT": "1"]).ccload
        let pid = ccload.process.pid
        let before = try settledFDs(ccload)
        let beforeList = fdTargets(pid)
        let body = anthropicBody(stream: true)
        let client = try connectNonReading(port: ccload.port, request: "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        defer { withExtendedLifetime(client) {} }
        XCTAssertTrue(up.waitForNote("closed", timeout: 20), "ccload kept reading for a client that never reads")
        XCTAssertEqual(waitForFDs(pid, atMost: before), before,
                       "the client and upstream descriptors must be closed: before \(beforeList), after \(fdTargets(pid))")
        let rec = try XCTUnwrap(try ccload.waitForRecords(1).first)
        XCTAssertTrue((rec["error"] as? String ?? "").contains("client took no byte of the response for 1 s"), "\(rec)")
        // The channel's one slot is free again: with the upstream gone, the next request is
        // tried (502), not refused as over the channel's limit (503).
        up.stop()
        let r = try ccload.post("/v1/messages", anthropicBody(stream: false), timeout: 10)
        XCTAssertEqual(r.status, 502, "the channel's concurrency slot was not given back: \(r.bodyText)")
    }

    func testPassThroughClientThatStopsReadingIsClosed() throws {
        let up = try floodingUpstream()
        let ccload = try startCcload(upstream: "http://127.0.0.1:\(up.port)", ["CCLOAD_CLIENT_WRITE_TIMEOUT": "1"])
        let before = try settledFDs(ccload)
        let body = anthropicBody(stream: true)
        let client = try connectNonReading(port: ccload.port, request: "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        defer { withExtendedLifetime(client) {} }
        XCTAssertTrue(up.waitForNote("closed", timeout: 20), "ccload kept reading for a client that never reads")
        XCTAssertEqual(waitForFDs(ccload.process.pid, atMost: before), before)
    }
}
