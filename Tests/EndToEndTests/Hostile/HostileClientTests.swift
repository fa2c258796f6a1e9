import Foundation
import Glibc
import XCTest

/// The hostile-client campaign (issue 10): hordes of slow, idle or stalled clients. During
/// each, a well-behaved client keeps being served and ccload's memory stays bounded; after
/// it, the fds come back and a normal request succeeds.
final class HostileClientTests: HostileCase {
    func testSlowlorisConnectionsAreCutAtTheHeaderTimeoutWhileOthersAreServed() throws {
        let healthy = try startMock()
        let ccload = try startHostileRelay(hostileURL: healthy.url, healthy: healthy, ["CCLOAD_HEADER_TIMEOUT": "2"])
        assertServed(ccload, "before")
        let baseline = socketCount(ccload.process.pid)
        let n = 1000 / HostileCase.quick
        var conns: [RawConnection] = []
        for _ in 0..<n {
            let c = try ccload.connect()
            try c.send("POST /v1/messages HTTP/1.1\r\nHost: slow\r\n\(authHeader)\r\nX-Slow: ")
            conns.append(c)
        }
        // One more header byte to each every 100 ms, until ccload closes them all.
        let started = Date()
        var open = Set(0..<n)
        var peak = rssKiB(ccload.process.pid)
        var servedDuring = false
        while !open.isEmpty && Date().timeIntervalSince(started) < 30 {
            for i in open {
                conns[i].fill(until: Date())
                if conns[i].peerClosed || (try? conns[i].send("a")) == nil { open.remove(i) }
            }
            if !servedDuring {
                assertServed(ccload, "during the slowloris")
                servedDuring = true
            }
            peak = max(peak, rssKiB(ccload.process.pid))
            usleep(100_000)
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(open.isEmpty, "\(open.count) of \(n) slowloris connections still open after \(Int(elapsed)) s with a 2 s header timeout")
        let told408 = conns.filter { $0.buffer.text.hasPrefix("HTTP/1.1 408") }.count
        XCTAssertEqual(told408, n, "every slowloris connection gets a 408")
        XCTAssertLessThan(peak, HostileCase.rssBoundKiB, "RSS \(peak) KiB")
        conns = []
        let after = settleFDs(ccload, atMost: baseline + 2)
        XCTAssertLessThanOrEqual(after, baseline + 2)
        assertServed(ccload, "after")
        print("HOSTILE slowloris: \(n) connections cut in \(String(format: "%.1f", elapsed)) s (header timeout 2 s), \(told408) × 408; peak RSS \(peak / 1024) MiB; fds \(baseline) → \(after)")
    }

    func testTenThousandIdleKeepAliveConnectionsWhileOthersAreServed() throws {
        let n = 10_000 / HostileCase.quick
        try raiseFDLimit(to: n + 2_000)
        let healthy = try startMock()
        // Above the default connection cap (derived from the fd limit, about half of it).
        let ccload = try startHostileRelay(hostileURL: healthy.url, healthy: healthy, ["CCLOAD_MAX_CONNECTIONS": String(n + 100)])
        assertServed(ccload, "before")
        let baseline = socketCount(ccload.process.pid)
        let rss0 = rssKiB(ccload.process.pid)
        var conns: [RawConnection] = []
        conns.reserveCapacity(n)
        let started = Date()
        // In batches: connect and ask, then read the batch's answers (keep-alive stays open).
        var batch: [RawConnection] = []
        for i in 0..<n {
            let c = try ccload.connect()
            try c.send("GET /health HTTP/1.1\r\nHost: idle\r\n\r\n")
            batch.append(c)
            if batch.count == 500 || i == n - 1 {
                for c in batch {
                    let r = try c.readResponse(timeout: 20)
                    XCTAssertEqual(r.status, 200)
                }
                conns += batch
                batch = []
            }
        }
        let held = socketCount(ccload.process.pid)
        XCTAssertGreaterThanOrEqual(held, baseline + n - 10, "ccload dropped idle keep-alive connections early")
        assertServed(ccload, "with \(n) idle connections")
        let peak = rssKiB(ccload.process.pid)
        XCTAssertLessThan(peak, HostileCase.rssBoundKiB, "RSS \(peak) KiB")
        // Each idle connection is still usable.
        for c in [conns[0], conns[n / 2], conns[n - 1]] {
            try c.send("GET /health HTTP/1.1\r\nHost: idle\r\n\r\n")
            XCTAssertEqual(try c.readResponse(timeout: 10).status, 200)
        }
        let elapsed = Date().timeIntervalSince(started)
        conns = []
        let after = settleFDs(ccload, atMost: baseline + 2, timeout: 30)
        XCTAssertLessThanOrEqual(after, baseline + 2)
        assertServed(ccload, "after")
        print("HOSTILE idle keep-alive: \(n) connections in \(String(format: "%.1f", elapsed)) s; fds \(baseline) → \(held) → \(after); RSS \(rss0 / 1024) → \(peak / 1024) MiB (\((peak - rss0) * 1024 / max(n, 1)) B per connection)")
    }

    func testSSEClientsThatStopReadingKeepMemoryBoundedWhileOthersAreServed() throws {
        let healthy = try startMock()
        // 20 MB streams: more than the kernel buffers on both sides of ccload hold.
        let hostile = try startHostile(.init(bytes: CannedResponse.longAnthropicStream(megabytes: 20)))
        // Only the stalled clients' model goes to the long streams.
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["models": ["claude-opus-4-5"]])
        assertServed(ccload, "before")
        let baseline = socketCount(ccload.process.pid)
        let rss0 = rssKiB(ccload.process.pid)
        let n = max(2, 10 / HostileCase.quick)
        var stalled: [RawConnection] = []
        for _ in 0..<n {
            let c = try RawConnection(port: ccload.port, receiveBuffer: 4096)
            // This client reads nothing.
            try c.send(messagesRequest(headers: [authHeader], body: anthropicBody(model: "claude-opus-4-5", stream: true)))
            stalled.append(c)
        }
        Thread.sleep(forTimeInterval: 2)
        let peak = rssKiB(ccload.process.pid)
        XCTAssertLessThan(peak, HostileCase.rssBoundKiB, "RSS \(peak) KiB with \(n) stalled streams")
        XCTAssertLessThan(peak - rss0, n * 16 * 1024, "ccload buffered the stalled clients' streams: \(rss0) → \(peak) KiB")
        assertServed(ccload, "with \(n) stalled streams")
        // The streams were long: the first stalled client can still read megabytes of it.
        do {
            let probe = stalled[0]
            let until = Date().addingTimeInterval(5)
            while probe.buffer.count < 4 << 20 && Date() < until && probe.fill(until: until) == .data {}
            XCTAssertGreaterThanOrEqual(probe.buffer.count, 4 << 20, "the stalled stream was short: the test stalled nothing")
        }
        stalled = []
        let after = settleFDs(ccload, atMost: baseline + 2, timeout: 15)
        XCTAssertLessThanOrEqual(after, baseline + 2, "fds after the stalled clients left")
        assertServed(ccload, "after")
        // Every stalled client's request ends once its client is gone (bounded wait).
        var active = -1
        let activeDeadline = Date().addingTimeInterval(15)
        repeat {
            active = try ccload.adminJSON("/admin/metrics")["active_requests"] as? Int ?? -1
            if active != 0 { usleep(100_000) }
        } while active != 0 && Date() < activeDeadline
        if active != 0 {
            let inFlight = try ccload.get("/admin/active-requests", headers: ["Authorization: Bearer \(try ccload.adminToken())"])
            XCTFail("requests of clients that left are still active after 15 s: \(inFlight.bodyText)")
        }
        let settled = settleFDs(ccload, atMost: baseline + 1, timeout: 5)
        XCTAssertLessThanOrEqual(settled, baseline + 1, "fds once the stalled requests ended")
        print("HOSTILE zero-window SSE: \(n) stalled streams; RSS \(rss0 / 1024) → \(peak / 1024) MiB; fds \(baseline) → \(after)")
    }

    /// A client that pipelines thousands of requests in one write, then reads slowly: every
    /// answer arrives in order, and ccload does not buffer the backlog without bound.
    func testAPipelinedFloodIsAnsweredInFullWithBoundedMemory() throws {
        let healthy = try startMock()
        let ccload = try startHostileRelay(hostileURL: healthy.url, healthy: healthy)
        let rss0 = rssKiB(ccload.process.pid)
        let n = 20_000 / HostileCase.quick
        let c = try RawConnection(port: ccload.port, receiveBuffer: 8192)
        var requests: [UInt8] = []
        for i in 0..<n { requests += Array("GET /health?i=\(i) HTTP/1.1\r\nHost: p\r\n\r\n".utf8) }
        let flood = requests
        // Send from another thread: ccload stops reading while we are not reading.
        let sent = DispatchSemaphore(value: 0)
        let fd = c.fd
        Thread {
            var off = 0
            while off < flood.count {
                let w = flood.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if w <= 0 { break }
                off += w
            }
            sent.signal()
        }.start()
        Thread.sleep(forTimeInterval: 1)
        let stalled = rssKiB(ccload.process.pid)
        assertServed(ccload, "while a pipelining client reads nothing")
        var answered = 0
        while answered < n {
            guard let r = try? c.readResponse(timeout: 20) else { break }
            XCTAssertEqual(r.status, 200)
            answered += 1
        }
        XCTAssertEqual(sent.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(answered, n, "answers to \(n) pipelined requests")
        XCTAssertLessThan(stalled - rss0, 64 * 1024 * HostileCase.memoryScale, "ccload grew \(rss0) → \(stalled) KiB holding a pipelined backlog")
        assertUp(ccload)
        print("HOSTILE pipelined flood: \(n) requests (\(flood.count >> 10) KiB) all answered; RSS \(rss0 / 1024) → \(stalled / 1024) MiB while unread")
    }
}
