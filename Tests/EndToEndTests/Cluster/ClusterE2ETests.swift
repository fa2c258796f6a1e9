import Foundation
import Glibc
import XCTest

/// A throwaway PostgreSQL cluster for one test case (Tests/Support/pg-cluster.sh), in a
/// temp folder, stopped and removed at tear-down.
final class PGFixture {
    let dir: String
    let url: String
    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Support/pg-cluster.sh").path

    /// Starts a cluster, or throws XCTSkip when PostgreSQL is not installed.
    init() throws {
        guard PGFixture.installed else {
            throw XCTSkip("PostgreSQL is not installed (apt-get install postgresql): the several-instances tests need a real server")
        }
        var template = Array("/tmp/ccload-pg-e2e-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestFailure("mkdtemp failed") }
        dir = String(cString: p)
        let (status, out, err) = PGFixture.run(["start", dir], timeout: 60)
        guard status == 0, let line = out.split(separator: "\n").last, line.hasPrefix("postgres") else {
            PGFixture.run(["stop", dir], timeout: 60)
            try? FileManager.default.removeItem(atPath: dir)
            throw TestFailure("pg-cluster.sh start failed (\(status)): \(err)")
        }
        url = String(line)
    }

    static var installed: Bool {
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/initdb") { return true }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.contains { FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") }
    }

    func restart() throws {
        let (status, _, err) = PGFixture.run(["restart", dir], timeout: 60)
        if status != 0 { throw TestFailure("pg-cluster.sh restart failed (\(status)): \(err)") }
    }

    func stop() throws {
        let (status, _, err) = PGFixture.run(["stop", dir], timeout: 60)
        if status != 0 { throw TestFailure("pg-cluster.sh stop failed (\(status)): \(err)") }
    }

    func start() throws {
        let (status, _, err) = PGFixture.run(["start", dir], timeout: 60)
        if status != 0 { throw TestFailure("pg-cluster.sh start failed (\(status)): \(err)") }
    }

    func remove() {
        _ = PGFixture.run(["stop", dir], timeout: 60)
        _ = try? FileManager.default.removeItem(atPath: dir)
    }

    /// Runs the script with a bound on its time; (status, stdout, stderr).
    @discardableResult
    static func run(_ args: [String], timeout: Double) -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return (-1, "", "\(error)") }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); return (-1, "", "pg-cluster.sh \(args) took longer than \(timeout) s") }
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (p.terminationStatus, o, e)
    }
}

/// Issue 15 with real binaries: two ccload instances on one PostgreSQL database, behind
/// haproxy where the test needs a balancer. An admin edit on A routes on B within a second; a
/// cooldown caused on A is honoured by B; a token's rpm limit holds across both; a session's
/// turns stay on one channel whichever instance serves them; A killed with SIGKILL mid-load
/// while B keeps serving (and A's concurrency leases lapse); PostgreSQL restarted mid-load
/// and both instances recovering by themselves.
final class ClusterE2ETests: AdminDataCase {
    static let secretKey = String(repeating: "c1", count: 32)
    /// Waits and bounds stretch by this under the sanitizers (`.ci/run` sets
    /// CCLOAD_TEST_SLOW=1 there: every ccload runs several times slower).
    static let slow: Double = ProcessInfo.processInfo.environment["CCLOAD_TEST_SLOW"] == "1" ? 4 : 1
    var pg: PGFixture!

    override func setUpWithError() throws {
        try super.setUpWithError()
        pg = try PGFixture()
        let fixture = pg!
        onTearDown { fixture.remove() }
    }

    /// One instance on the test's database, routing by `channels` (seeded on its start).
    func startInstance(_ name: String, channels: [[String: Any]]? = nil, auth: [String] = [],
                       _ extra: [String: String] = [:]) throws -> CcloadProcess {
        var env = ["CCLOAD_DATABASE_URL": pg.url, "CCLOAD_SECRET_KEY": Self.secretKey, "CCLOAD_INSTANCE_NAME": name]
        if let channels { env["CCLOAD_CHANNELS_FILE"] = try writeChannelsFile(channels) }
        if !auth.isEmpty { env["CCLOAD_AUTH"] = auth.joined(separator: ",") }
        for (k, v) in extra { env[k] = v }
        return try startCcload(upstream: nil, env)
    }

    /// Waits (bounded) until `body` holds; returns the seconds it took.
    @discardableResult
    func eventually(_ what: String, within seconds: Double, _ body: () throws -> Bool) throws -> Double {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try body() { return Date().timeIntervalSince(start) }
            usleep(20_000)
        }
        throw TestFailure("\(what): not within \(seconds) s")
    }

    func turn(_ session: String, _ n: Int) -> String {
        #"{"model":"m","max_tokens":8,"turn":\#(n),"metadata":{"user_id":"user_e2e_account__session_\#(session)"},"messages":[{"role":"user","content":"hi"}]}"#
    }

    let token = "cluster-e2e-token-0123456789"
    var auth: [String] { ["x-api-key: \(token)"] }

    /// One instance on PostgreSQL: it relays (curl as the client, streamed and not), its
    /// records and statistics are rows of the PostgreSQL database (read back with psql, not
    /// through ccload), its channel key is sealed there, and no SQLite file is made.
    func testOneInstanceOnPostgreSQLRelaysAndKeepsItsRecordsThere() throws {
        let up = try startMock(["--events", "3"])
        let a = try startInstance("solo", channels: [channel("up", url: up.url, key: "sk-pg-solo-secret-0123456789", ["models": ["m"]])],
                                  auth: [token], ["SQLITE_PATH": "/nonexistent-dir/never.db"])
        for stream in [false, true] {
            let body = #"{"model":"m","max_tokens":8,"stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#
            let r = try curl(["-X", "POST", a.url + "/v1/messages", "-H", "x-api-key: \(token)", "-H", "content-type: application/json", "-d", body])
            XCTAssertEqual(r.status, 200, r.bodyText + r.stderr)
            XCTAssertTrue(r.bodyText.contains(stream ? "message_stop" : "\"type\":\"message\""), r.bodyText)
        }
        _ = try a.waitForRecords(2)
        let psql = { (sql: String) throws -> String in
            let p = try ProcessUnderTest(executable: "/usr/bin/psql", arguments: [self.pg.url, "-Atc", sql])
            guard p.waitForExit(timeout: 20) == 0 else { throw TestFailure("psql \(sql): \(p.stderrText)") }
            return p.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try psql("SELECT count(*) FROM request_logs WHERE status = 200 AND channel_name = 'up'"), "2")
        try eventually("the hourly statistics", within: 5 * Self.slow) { try psql("SELECT COALESCE(SUM(requests), 0) FROM stats_hourly") == "2" }
        let stored = try psql("SELECT secret FROM channel_keys")
        XCTAssertTrue(stored.hasPrefix("enc1:"), "the channel key is sealed in PostgreSQL: \(stored.prefix(12))")
        XCTAssertFalse(stored.contains("sk-pg-solo-secret"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-dir"), "no SQLite file was made")
        XCTAssertFalse(a.process.stderrText.contains(pg.url), "the database URL (with its password) is not logged")
    }

    /// Two instances started at the same moment on an empty database, with the same seeds
    /// (channels file, CCLOAD_AUTH, admin password): both come up (one migrates while the
    /// other waits; the one that loses a seed's race finds the row there), and both route.
    func testTwoInstancesStartingAtOnceOnAnEmptyDatabase() throws {
        let up = try startMock()
        let file = try writeChannelsFile([channel("up", url: up.url, ["models": ["m"]])])
        var started: [ProcessUnderTest] = []
        for name in ["a", "b"] {
            let env = ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": "1", "CCLOAD_DRAIN_SECONDS": "5",
                       "CCLOAD_DATABASE_URL": pg.url, "CCLOAD_SECRET_KEY": Self.secretKey, "CCLOAD_INSTANCE_NAME": name,
                       "CCLOAD_CHANNELS_FILE": file, "CCLOAD_AUTH": token, "CCLOAD_PASS": CcloadProcess.adminPassword]
            let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"), environment: env)
            track(p)
            started.append(p)
        }
        let instances = try started.map { try CcloadProcess(started: $0) }
        for c in instances {
            XCTAssertEqual(try c.post("/v1/messages", turn("both", 1), headers: auth).status, 200, c.process.stderrText)
        }
        XCTAssertEqual(try adminOK(instances[1], "GET", "/admin/channels")["data"].map { ($0 as? [Any])?.count ?? -1 }, 1,
                       "one channel, not one per instance")
    }

    func testAnAdminEditOnARoutesOnBWithinASecond() throws {
        let x = try startMock(), y = try startMock()
        let a = try startInstance("a", channels: [channel("x", url: x.url, ["models": ["m"]])], auth: [token])
        let b = try startInstance("b", ["CCLOAD_METRICS": "1"])
        XCTAssertEqual(try b.post("/v1/messages", #"{"model":"m","max_tokens":8,"messages":[]}"#, headers: auth).status, 200)
        XCTAssertEqual(try x.requests(), 1)
        // B's metrics see its bus: one peer (A's heartbeats, every second), messages both ways.
        try eventually("B hears A", within: 5 * Self.slow) {
            let c = try adminOK(b, "GET", "/admin/metrics")["cluster"] as? [String: Any]
            return (c?["peers"] as? Int) == 1 && (c?["received"] as? Int ?? 0) > 0 && (c?["sent"] as? Int ?? 0) > 0
        }
        let cluster = try XCTUnwrap(try adminOK(b, "GET", "/admin/metrics")["cluster"] as? [String: Any])
        XCTAssertEqual(cluster["malformed"] as? Int, 0, "\(cluster)")
        XCTAssertEqual(cluster["dropped"] as? Int, 0, "\(cluster)")
        let text = try b.get("/metrics").bodyText
        XCTAssertTrue(text.contains("\nccload_cluster_peers 1\n"), text)
        XCTAssertTrue(text.contains("ccload_cluster_messages_total{direction=\"received\"}"), text)
        // On A: a channel y with a higher priority, and x disabled.
        let body = #"{"name":"y","protocol":"anthropic","url":"\#(y.url)","api_key":"sk-y-0123456789","models":["m"],"priority":50}"#
        try adminOK(a, "POST", "/admin/channels", body, status: 201)
        let took = try eventually("B routes to y", within: 1.0 * Self.slow) {
            _ = try b.post("/v1/messages", #"{"model":"m","max_tokens":8,"messages":[]}"#, headers: auth)
            return try y.requests() >= 1
        }
        XCTAssertLessThan(took, 1.0 * Self.slow)
    }

    func testACooldownCausedOnAIsHonouredByB() throws {
        let good = try startMock()
        let dead = try startScripted { conn, _, up in
            guard conn.readRequest(timeout: 5) != nil else { return }
            up.note("tried")
            let body = #"{"type":"error","error":{"type":"overloaded_error","message":"down"}}"#
            try? conn.send("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        }
        let channels = [channel("dead", url: "http://127.0.0.1:\(dead.port)", priority: 10, ["models": ["m"]]),
                        channel("good", url: good.url, priority: 0, ["models": ["m"]])]
        let a = try startInstance("a", channels: channels, auth: [token])
        let b = try startInstance("b")
        XCTAssertEqual(try a.post("/v1/messages", turn("c", 1), headers: auth).status, 200, "A fails over to good")
        let deadTries = dead.observations.count
        XCTAssertGreaterThan(deadTries, 0)
        var seen: [[String: Any]] = []
        do {
            try eventually("B knows dead is cooling", within: 1.0 * Self.slow) {
                seen = try b.cooldowns()
                return seen.contains { ($0["scope"] as? String)?.hasPrefix("channel 1") == true }
            }
        } catch {
            XCTFail("\(error); B's cooldowns: \(seen); A's: \(try a.cooldowns())")
        }
        for n in 0..<5 { XCTAssertEqual(try b.post("/v1/messages", turn("c\(n)", 1), headers: auth).status, 200) }
        XCTAssertEqual(dead.observations.count, deadTries, "B sent nothing to the cooling channel")
        XCTAssertEqual(try good.requests(), 6)
    }

    func testATokensRequestsPerMinuteHoldAcrossBoth() throws {
        let up = try startMock()
        let a = try startInstance("a", channels: [channel("up", url: up.url, ["models": ["m"]])])
        let b = try startInstance("b")
        let (_, secret) = try createToken(a, #"{"name":"shared","requests_per_minute":10}"#)
        let h = ["x-api-key: \(secret)"]
        var ok = 0, limited = 0
        // rpm counts in wall-clock minutes: all twelve requests fall in one (CI, 2026-12-02: a
        // minute that ended between A's six and B's gave B a fresh one, and 12 were admitted).
        avoidMinuteBoundary(margin: 3 + 4 * Self.slow)
        for _ in 0..<6 {
            let s = try a.post("/v1/messages", turn("r", 1), headers: h).status
            if s == 200 { ok += 1 } else if s == 429 { limited += 1 }
        }
        usleep(UInt32(1_200_000 * Self.slow))  // the publish interval and the bus's latency
        for _ in 0..<6 {
            let s = try b.post("/v1/messages", turn("r", 1), headers: h).status
            if s == 200 { ok += 1 } else if s == 429 { limited += 1 }
        }
        XCTAssertEqual(ok, 10, "10 admitted in all, across both instances")
        XCTAssertEqual(limited, 2)
    }

    func testASessionStaysOnOneChannelAcrossBoth() throws {
        let u1 = try startMock(), u2 = try startMock()
        let channels = [channel("u1", url: u1.url, ["models": ["m"]]), channel("u2", url: u2.url, ["models": ["m"]])]
        let a = try startInstance("a", channels: channels, auth: [token])
        let b = try startInstance("b")
        usleep(300_000)
        for s in 0..<6 {
            let before = (try u1.requests(), try u2.requests())
            XCTAssertEqual(try a.post("/v1/messages", turn("s\(s)", 1), headers: auth).status, 200)
            let onU1 = try u1.requests() > before.0
            usleep(UInt32(300_000 * Self.slow))  // the placement reaches B
            for n in 2...3 {
                let instance = n % 2 == 0 ? b : a
                XCTAssertEqual(try instance.post("/v1/messages", turn("s\(s)", n), headers: auth).status, 200)
            }
            let after = (try u1.requests(), try u2.requests())
            XCTAssertEqual(onU1 ? after.0 - before.0 : after.1 - before.1, 3, "session s\(s)'s turns changed channel across instances")
        }
    }

    /// A killed mid-load: haproxy moves the clients to B, which keeps serving; a token's
    /// concurrency slot that A held lapses within seconds.
    func testAKilledWhileBKeepsServing() throws {
        let up = try startMock()
        let slow = try startScripted { conn, _, _ in
            guard conn.readRequest(timeout: 5) != nil else { return }
            _ = conn.readUntilClose(timeout: 20)  // never answers
        }
        let channels = [channel("up", url: up.url, ["models": ["m"]]), channel("slow", url: "http://127.0.0.1:\(slow.port)", ["models": ["slow"]])]
        let a = try startInstance("a", channels: channels, auth: [token])
        let b = try startInstance("b")
        let (_, secret) = try createToken(a, #"{"name":"one-at-a-time","max_concurrency":1}"#)
        // A holds the token's one slot with a request that will not finish.
        let held = try a.connect()
        let slowBody = #"{"model":"slow","max_tokens":8,"messages":[]}"#
        try held.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: \(secret)\r\nContent-Type: application/json\r\nContent-Length: \(slowBody.utf8.count)\r\n\r\n" + slowBody)
        try eventually("B sees the slot taken", within: 2.0 * Self.slow) {
            try b.post("/v1/messages", turn("k", 1), headers: ["x-api-key: \(secret)"]).status == 429
        }
        // The fleet view on B: both instances, and A's request in flight, named as A's.
        let names = { (c: CcloadProcess) throws -> [String] in
            ((try c.adminJSON("/admin/instances")["data"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
        }
        try eventually("B lists both instances", within: 3 * Self.slow) { try names(b).sorted() == ["a", "b"] }
        try eventually("B shows A's request in flight", within: 3 * Self.slow) {
            ((try b.adminJSON("/admin/active-requests")["data"] as? [[String: Any]]) ?? []).contains {
                $0["instance"] as? String == "a" && $0["model"] as? String == "slow"
            }
        }
        let lb = try startBalancer([a.port, b.port])
        kill(a.process.pid, SIGKILL)
        var served = 0, failed = 0
        let end = Date().addingTimeInterval(4 * Self.slow)
        while Date() < end {
            let s = (try? lb.post("/v1/messages", turn("lb", 1), headers: auth, timeout: 5).status) ?? 0
            if s == 200 { served += 1 } else { failed += 1 }
        }
        XCTAssertGreaterThan(served, 20, "B kept serving through the balancer (\(failed) failed)")
        XCTAssertLessThanOrEqual(failed, 3, "haproxy retries on B: at most a few failures while it notices A is gone")
        try eventually("B's fleet view drops A", within: 6 * Self.slow) { try names(b) == ["b"] }
        try eventually("A's concurrency lease lapses", within: 8.0 * Self.slow) {
            try b.post("/v1/messages", turn("k", 2), headers: ["x-api-key: \(secret)"]).status == 200
        }
    }

    /// PostgreSQL restarted mid-load: both instances keep serving, records made meanwhile are
    /// written once it is back, an admin change during the outage answers 503, and a change
    /// after it reaches the other instance again.
    func testPostgreSQLRestartedMidLoadAndBothRecover() throws {
        let up = try startMock(), later = try startMock()
        let a = try startInstance("a", channels: [channel("up", url: up.url, ["models": ["m"]])], auth: [token])
        let b = try startInstance("b")
        try pg.stop()
        var okA = 0, okB = 0
        for n in 0..<20 {
            if (try? a.post("/v1/messages", turn("o", n), headers: auth).status) == 200 { okA += 1 }
            if (try? b.post("/v1/messages", turn("o", n), headers: auth).status) == 200 { okB += 1 }
        }
        XCTAssertEqual(okA, 20, "A serves from the configuration it has")
        XCTAssertEqual(okB, 20, "B serves from the configuration it has")
        // A model only the new channel serves: B routes it once B knows the channel.
        let body = #"{"name":"later","protocol":"anthropic","url":"\#(later.url)","api_key":"sk-later-0123456789","models":["late"],"priority":50}"#
        let refused = try admin(a, "POST", "/admin/channels", body)
        XCTAssertEqual(refused.status, 503, refused.bodyText)
        try pg.start()
        try eventually("A's records written after the outage", within: 15 * Self.slow) {
            ((try? self.logCount(a)) ?? 0) >= 20
        }
        try eventually("the admin change is accepted again", within: 10 * Self.slow) {
            try admin(a, "POST", "/admin/channels", body).status == 201
        }
        do {
            try eventually("B routes to the channel made after the outage", within: 5 * Self.slow) {
                _ = try b.post("/v1/messages", #"{"model":"late","max_tokens":8,"messages":[{"role":"user","content":"after"}]}"#, headers: auth)
                return try later.requests() >= 1
            }
        } catch {
            let names = { (c: CcloadProcess) in ((try? self.adminOK(c, "GET", "/admin/channels"))?["data"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?")" } }
            let recent = ((try? b.records(limit: 3)) ?? []).map { "\($0["channel_name"] ?? "-") \($0["status"] ?? "-") \($0["error"] ?? "")" }
            XCTFail("\(error); A's channels \(names(a)), B's \(names(b)); B's last records \(recent); B's cooldowns \((try? b.cooldowns()) ?? [])")
        }
        // B's writer retries with a growing wait (up to 5 s): its outage records follow.
        do {
            try eventually("both instances' records from the outage in the one database", within: 15 * Self.slow) {
                ((try? self.logCount(b)) ?? 0) >= 41
            }
        } catch {
            let wa = try adminOK(a, "GET", "/admin/metrics")["request_log_writer"] ?? "-"
            let wb = try adminOK(b, "GET", "/admin/metrics")["request_log_writer"] ?? "-"
            XCTFail("\(error): \((try? logCount(b)) ?? -1) records; A's writer \(wa); B's writer \(wb)")
        }
    }

    /// Rows of the request log (`GET /admin/logs`: the database, so every instance's).
    func logCount(_ c: CcloadProcess) throws -> Int {
        (try c.adminJSON("/admin/logs?limit=500")["data"] as? [[String: Any]])?.count ?? 0
    }

    /// haproxy in front of `ports`, round robin, health checked; returns a client of it.
    func startBalancer(_ ports: [Int]) throws -> CcloadProcess {
        let port = try freePort()
        var cfg = """
            global
                maxconn 2000
            defaults
                mode http
                option http-keep-alive
                option redispatch
                retries 3
                timeout connect 1s
                timeout client 30s
                timeout server 30s
            frontend f
                bind 127.0.0.1:\(port)
                default_backend b
            backend b
                balance roundrobin
                option httpchk GET /health
                default-server check inter 300ms fall 1 rise 1

            """
        for (i, p) in ports.enumerated() { cfg += "    server s\(i) 127.0.0.1:\(p)\n" }
        let path = NSTemporaryDirectory() + "ccload-haproxy-\(getpid())-\(port).cfg"
        try cfg.write(toFile: path, atomically: true, encoding: .utf8)
        onTearDown { try? FileManager.default.removeItem(atPath: path) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            throw XCTSkip("haproxy is not installed (apt-get install haproxy)")
        }
        let p = try ProcessUnderTest(executable: "/usr/sbin/haproxy", arguments: ["-db", "-f", path])
        track(p)
        try eventually("haproxy listens", within: 5 * Self.slow) { (try? RawConnection(port: port)) != nil }
        return try CcloadProcess(started: p, port: port)
    }

    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
