import Foundation
import Glibc
import XCTest

/// `kill -9` under load: the file stays intact, at most the unflushed batch is lost, and
/// ccload starts again on it.
final class StoreE2ECrashTests: StoreE2ECase {
    private final class LoadCounters: @unchecked Sendable {
        let lock = NSLock()
        var sent = 0
        var completions: [Date] = []
        var stop = false
        var unexpected: [String] = []
    }

    func testKill9UnderLoadKeepsTheDatabaseIntact() throws {
        let mock = try startMock(threads: 2)
        let db = tempDatabase()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: channels, threads: 2)
        let port = ccload.port
        let body = anthropicBody(stream: false)
        let request = "POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"

        let load = LoadCounters()
        let clients = 4
        let done = DispatchGroup()
        for _ in 0..<clients {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                var conn: RawConnection?
                while true {
                    load.lock.lock(); let stop = load.stop; load.lock.unlock()
                    if stop { return }
                    do {
                        if conn == nil || conn!.peerClosed { conn = try RawConnection(port: port) }
                        load.lock.lock(); load.sent += 1; load.lock.unlock()
                        try conn!.send(request)
                        let r = try conn!.readResponse(timeout: 5)
                        load.lock.lock()
                        if r.status == 200 { load.completions.append(Date()) } else { load.unexpected.append("\(r.status)") }
                        load.lock.unlock()
                    } catch {
                        conn = nil  // the kill (or a closed keep-alive): try again until told to stop
                        usleep(1_000)
                    }
                }
            }
        }
        // Load for a while (bounded), with a few hundred records completed.
        let loadDeadline = Date().addingTimeInterval(8)
        var loadStart: Date?
        while Date() < loadDeadline {
            load.lock.lock(); let n = load.completions.count; load.lock.unlock()
            if n > 0 && loadStart == nil { loadStart = Date() }
            if n >= 300, let s = loadStart, Date().timeIntervalSince(s) >= 1.5 { break }
            usleep(20_000)
        }
        kill(ccload.process.pid, SIGKILL)
        let killedAt = Date()
        XCTAssertNotNil(ccload.process.waitForExit(timeout: 5), "ccload still runs after SIGKILL")
        XCTAssertTrue(ccload.process.endedBySignal)
        load.lock.lock(); load.stop = true; load.lock.unlock()
        XCTAssertEqual(done.wait(timeout: .now() + 15), .success, "the load threads did not stop")

        load.lock.lock()
        let sent = load.sent
        let completed = load.completions.filter { $0 <= killedAt }.count
        let recent = load.completions.filter { $0 > killedAt.addingTimeInterval(-0.35) && $0 <= killedAt }.count
        let unexpected = load.unexpected
        load.lock.unlock()
        XCTAssertEqual(unexpected, [], "non-200 answers under load")
        XCTAssertGreaterThan(completed, 50, "too little load to mean anything")

        // The file after the crash: intact, and holding what the writer committed.
        let check = try rows(db, "PRAGMA integrity_check")
        XCTAssertEqual(check.compactMap { $0.first as? String }, ["ok"])
        let logged = try int(db, Self.loggedRowsSQL)
        let statRequests = try int(db, "SELECT sum(requests) FROM stats_hourly")
        print("kill -9: sent \(sent), completed \(completed) (\(recent) in the last 0.35 s), rows \(logged)")
        XCTAssertGreaterThan(logged, 0, "nothing was committed before the kill")
        XCTAssertLessThanOrEqual(logged, sent, "more rows than requests sent")
        XCTAssertEqual(statRequests, logged, "hourly statistics and rows are committed together")
        // At most the unflushed batch is lost: records of answers the client had 0.35 s
        // before the kill (over three 100 ms batch intervals earlier) must all be there.
        let lost = completed - logged
        XCTAssertLessThanOrEqual(lost, recent + 5,
                                 "lost \(lost) records of \(completed) answered; only \(recent) were answered in the last 0.35 s")
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs WHERE status != 200"), 0)

        // ccload starts again on the same file and serves; the new request is logged on top.
        let again = try startOn(db: db, channelsFile: channels)
        XCTAssertEqual(try again.post("/v1/messages", anthropicBody(stream: true)).status, 200)
        _ = try again.waitForRecords(1)
        stopGracefully(again)
        // A clean stop moved any pending segment into request_logs.
        XCTAssertEqual(try int(db, "SELECT count(*) FROM request_logs"), logged + 1)
        XCTAssertEqual(try rows(db, "PRAGMA integrity_check").compactMap { $0.first as? String }, ["ok"])
    }
}
