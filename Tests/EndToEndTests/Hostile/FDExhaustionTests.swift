import Foundation
import Glibc
import XCTest

/// ccload under a low descriptor limit (`ulimit -n 64`): running out must not spin the
/// loop, a connection it cannot take gets a clean 503, a local `EMFILE` on the upstream
/// side is answered 503 without cooling any channel, and once descriptors free up a
/// normal request succeeds.
final class FDExhaustionTests: RelayCase {
    /// user + system CPU time of `pid`, in seconds.
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return -1 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return -1 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func testRunningOutOfDescriptorsNeitherSpinsNorCoolsAChannel() throws {
        let mock = try startMock()
        // One by name (its first request needs a lookup, which needs descriptors too), one by
        // address (the upstream socket() itself fails).
        let channels = try writeChannelsFile([
            channel("byname", url: "http://localhost:\(mock.port)", ["id": 1, "models": [RelayCase.model]]),
            channel("byip", url: mock.url, ["id": 2, "models": ["claude-haiku-4-5"]]),
        ])
        let db = NSTemporaryDirectory() + "ccload-e2e-fd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        onTearDown { for s in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: db + s) } }
        let binary = try BinaryDirectory.binary("ccload")
        let p = try ProcessUnderTest(executable: "/bin/sh", arguments: ["-c", "ulimit -n 64 && exec '\(binary)'"],
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": "1",
                                                   "CCLOAD_CHANNELS_FILE": channels, "SQLITE_PATH": db,
                                                   "CCLOAD_PASS": CcloadProcess.adminPassword,
                                                   // Past the descriptors: this test is about EMFILE, not the cap.
                                                   "CCLOAD_MAX_CONNECTIONS": "1000", "CCLOAD_DRAIN_SECONDS": "2"])
        track(p)
        let ccload = try CcloadProcess(started: p)
        let port = ccload.port
        let pid = p.pid

        // Fill every descriptor with idle connections; more wait in the backlog.
        var idle: [RawConnection] = []
        for _ in 0..<90 { idle.append(try RawConnection(port: port)) }
        usleep(300_000)
        // Some were turned away with a clean 503 (the spare descriptor), none hangs half-open.
        var shed = 0
        for c in idle where c.readUntil(contains: "\r\n\r\n", timeout: 0.05) {
            let r = try c.readResponse(timeout: 2)
            XCTAssertEqual(r.status, 503)
            XCTAssertTrue(r.bodyText.contains("out of file descriptors"), r.bodyText)
            shed += 1
        }
        XCTAssertGreaterThan(shed, 0, "no connection was turned away: the limit was not reached")
        var kept = idle.filter { !$0.peerClosed }
        XCTAssertGreaterThan(kept.count, 0)

        // While nothing is free the loop must sleep, not spin on the listener.
        let newcomers = (0..<8).compactMap { _ in try? RawConnection(port: port) }
        let cpu0 = cpuSeconds(pid), wall0 = Date()
        usleep(2_000_000)
        let cpu = cpuSeconds(pid) - cpu0, wall = Date().timeIntervalSince(wall0)
        print("ccload CPU while out of descriptors: \(cpu) s in \(wall) s")
        XCTAssertGreaterThanOrEqual(cpu0, 0)
        XCTAssertLessThan(cpu, wall * 0.5, "ccload used \(cpu) s of CPU in \(wall) s while out of descriptors")
        for c in newcomers {
            // Each newcomer got the refusal when the paused listener looked again.
            XCTAssertTrue(c.readUntilClose(timeout: 5), "a connection waiting in the backlog was never answered")
            XCTAssertTrue(c.buffer.text.hasPrefix("HTTP/1.1 503 "), c.buffer.text)
        }

        // A request on an accepted connection needs an upstream socket it cannot get: 503 in
        // the protocol's shape, and no channel is blamed.
        XCTAssertGreaterThan(kept.count, 1)
        for (i, model) in [RelayCase.model, "claude-haiku-4-5"].enumerated() {
            let body = anthropicBody(model: model, stream: false)
            try kept[i].send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            let r = try kept[i].readResponse(timeout: 10)
            assertErrorShape(r, status: 503)
            XCTAssertTrue(r.bodyText.contains("ccload is out of file descriptors"), "\(model): \(r.bodyText)")
        }

        // Descriptors come back: a normal request succeeds and nothing is cooling.
        kept = []
        idle = []
        usleep(300_000)
        // (Cooldowns first: a success would clear one.)
        let cools = try ccload.cooldowns()
        XCTAssertEqual(cools.count, 0, "a local EMFILE cooled a channel: \(cools)")
        let ok = try ccload.post("/v1/messages", anthropicBody(stream: false))
        XCTAssertEqual(ok.status, 200, ok.bodyText)
        let records = try ccload.waitForRecords(3)
        let refused = records.filter { $0["status"] as? Int == 503 }
        XCTAssertEqual(refused.count, 2, "\(records)")
        for rec in refused {
            XCTAssertTrue((rec["error"] as? String ?? "").contains("out of file descriptors"), "\(rec)")
            XCTAssertEqual((rec["attempts"] as? [Any])?.count ?? 0, 0, "a local failure is no channel's attempt: \(rec)")
        }
        // The metrics count what was shed and the times the listener ran out.
        let conns = try XCTUnwrap(try ccload.adminJSON("/admin/metrics")["client_connections"] as? [String: Any])
        XCTAssertGreaterThanOrEqual(conns["shed_out_of_descriptors"] as? Int ?? 0, shed + newcomers.count, "\(conns)")
        XCTAssertGreaterThanOrEqual(conns["descriptor_exhaustions"] as? Int ?? 0, 1, "\(conns)")
        XCTAssertEqual(conns["refused_at_limit"] as? Int, 0, "\(conns)")
        XCTAssertTrue(p.isRunning)
    }
}
