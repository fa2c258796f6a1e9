import Foundation
import Glibc
import XCTest

/// A running `ccload-mock`.
final class MockUpstream {
    let process: ProcessUnderTest
    let port: Int
    /// A keep-alive control connection, so counting connections does not count itself twice.
    private var control: RawConnection?

    /// `arguments`: behaviour flags (`--status 500`, `--require-key K`, …; see `ccload-mock --help`).
    init(threads: Int = 1, arguments: [String] = []) throws {
        process = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload-mock"),
                                       arguments: ["--port", "0", "--threads", String(threads), "--listen", "127.0.0.1"] + arguments)
        port = try process.waitForListeningPort()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    private func controlRequest(_ method: String, _ path: String) throws -> HTTPResponse {
        if control == nil || control!.peerClosed { control = try RawConnection(port: port) }
        try control!.send("\(method) \(path) HTTP/1.1\r\nHost: mock\r\nContent-Length: 0\r\n\r\n")
        return try control!.readResponse(timeout: 5)
    }

    /// Connections the mock accepted so far (the control connection counts once).
    func acceptedConnections() throws -> Int {
        let r = try controlRequest("GET", "/mock/connections")
        guard let n = r.json?["accepted"] as? Int else { throw TestFailure("bad /mock/connections answer: \(r.bodyText)") }
        return n
    }

    /// The raw head of the last request the mock answered under /v1, and its body length.
    func lastRequest() throws -> (head: String, bodyLength: Int) {
        let r = try controlRequest("GET", "/mock/last")
        return (r.bodyText, Int(r.header("x-mock-body-length") ?? "") ?? -1)
    }

    /// `GET /mock/stats`: requests answered, the last request's credential headers, path and model.
    func stats() throws -> [String: Any] {
        let r = try controlRequest("GET", "/mock/stats")
        guard let j = r.json else { throw TestFailure("bad /mock/stats answer: \(r.bodyText)") }
        return j
    }

    /// Requests this mock answered outside /mock/.
    func requests() throws -> Int {
        guard let n = try stats()["requests"] as? Int else { throw TestFailure("no requests count in /mock/stats") }
        return n
    }

    func release(gate: String) throws {
        let r = try controlRequest("POST", "/mock/release?gate=\(gate)")
        guard r.status == 200 else { throw TestFailure("gate release failed: \(r.status)") }
    }
}

/// A running `ccload`.
final class CcloadProcess {
    let process: ProcessUnderTest
    let port: Int

    /// The admin password every ccload started by a test gets (unless the test sets CCLOAD_PASS).
    static let adminPassword = "e2e-admin-password-7Hq2"
    private var session: String?

    /// `fdLimit`: run under that RLIMIT_NOFILE (soft and hard), through prlimit.
    init(environment: [String: String], fdLimit: Int? = nil) throws {
        var env = environment
        if env["CCLOAD_PASS"] == nil { env["CCLOAD_PASS"] = CcloadProcess.adminPassword }
        let binary = try BinaryDirectory.binary("ccload")
        if let n = fdLimit {
            process = try ProcessUnderTest(executable: "/usr/bin/prlimit", arguments: ["--nofile=\(n):\(n)", "--", binary],
                                           environment: env, name: "ccload")
        } else {
            process = try ProcessUnderTest(executable: binary, environment: env)
        }
        port = try process.waitForListeningPort()
    }

    /// A ccload the test started itself (for example under a wrapper shell); the test tracks it.
    init(started process: ProcessUnderTest) throws {
        self.process = process
        port = try process.waitForListeningPort()
    }

    /// Another HTTP server the test started on a known `port` (a load balancer in front of
    /// ccloads), driven with the same helpers.
    init(started process: ProcessUnderTest, port: Int) {
        self.process = process
        self.port = port
    }

    /// An admin session token (logs in on first use with `POST /login`).
    func adminToken(password: String = CcloadProcess.adminPassword) throws -> String {
        if let session { return session }
        let body = #"{"password":"\#(password)"}"#
        let r = try request("POST /login HTTP/1.1\r\nHost: ccload.test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        guard r.status == 200, let t = r.json?["token"] as? String else {
            throw TestFailure("POST /login: \(r.status) \(r.bodyText)")
        }
        session = t
        return t
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func connect() throws -> RawConnection { try RawConnection(port: port) }

    /// One request on a fresh connection; returns the response.
    func request(_ raw: String, timeout: Double = 5) throws -> HTTPResponse {
        let c = try connect()
        try c.send(raw)
        return try c.readResponse(timeout: timeout)
    }
}

/// The base of every end-to-end case: starts the real binaries, and always stops what
/// it started (and prints their logs when a test failed).
class EndToEndCase: XCTestCase {
    private var processes: [ProcessUnderTest] = []
    private var cleanups: [() -> Void] = []

    override func tearDown() {
        let failed = (testRun?.failureCount ?? 0) + (testRun?.unexpectedExceptionCount ?? 0) > 0
        // Processes first: their sockets close, so test-side servers see their peers go.
        for p in processes {
            // Under `swift test --sanitize=address` (CCLOAD_TEST_GRACEFUL=1 in .ci/run) each
            // child is asked to exit cleanly first, so LeakSanitizer gets to check it at exit.
            if ProcessUnderTest.graceful { p.terminate(within: 5) }
            let log = p.stderrText
            if failed { print("---- \(p.name) stderr ----\n\(log)") }
            // Under `swift test --sanitize=thread|address` the binaries are sanitized too: a
            // race, a memory error or a leak they report fails the test that drove them.
            XCTAssertFalse(log.contains("WARNING: ThreadSanitizer"), "\(p.name) reported a data race:\n\(log)")
            XCTAssertFalse(log.contains("ERROR: AddressSanitizer"), "\(p.name) reported a memory error:\n\(log)")
            XCTAssertFalse(log.contains("ERROR: LeakSanitizer"), "\(p.name) reported a leak:\n\(log)")
            p.stop()
        }
        processes = []
        for c in cleanups.reversed() { c() }
        cleanups = []
        super.tearDown()
    }

    func onTearDown(_ body: @escaping () -> Void) { cleanups.append(body) }

    /// Stops `p` (and shows its log on failure) when the test ends.
    func track(_ p: ProcessUnderTest) { processes.append(p) }

    func startMock(threads: Int = 1, _ arguments: [String] = []) throws -> MockUpstream {
        let m = try MockUpstream(threads: threads, arguments: arguments)
        processes.append(m.process)
        return m
    }

    /// Starts ccload on an ephemeral 127.0.0.1 port with one thread (unless told) and
    /// small test settings; `upstream` becomes CCLOAD_UPSTREAM.
    func startCcload(upstream: String?, threads: Int = 1, _ extra: [String: String] = [:], fdLimit: Int? = nil) throws -> CcloadProcess {
        var env = ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": String(threads),
                   "CCLOAD_CONNECT_TIMEOUT": "3", "CCLOAD_DRAIN_SECONDS": "5"]
        if let upstream { env["CCLOAD_UPSTREAM"] = upstream }
        for (k, v) in extra { env[k] = v }
        let c = try CcloadProcess(environment: env, fdLimit: fdLimit)
        processes.append(c.process)
        return c
    }

    func startScripted(_ script: @escaping ScriptedUpstream.Script) throws -> ScriptedUpstream {
        let s = try ScriptedUpstream(script: script)
        onTearDown { s.stop() }
        return s
    }

    /// A unique gate name per use.
    func gateName() -> String { "g\(UInt32.random(in: 0...UInt32.max))" }

    /// Asserts the body is the Anthropic error shape with the given error type.
    func assertErrorShape(_ r: HTTPResponse, status: Int, type: String? = nil,
                          file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, "status; body: \(r.bodyText)", file: file, line: line)
        XCTAssertEqual(r.header("content-type"), "application/json", file: file, line: line)
        guard let j = r.json else {
            return XCTFail("error body is not JSON: \(r.bodyText)", file: file, line: line)
        }
        XCTAssertEqual(j["type"] as? String, "error", file: file, line: line)
        let e = j["error"] as? [String: Any]
        XCTAssertNotNil(e?["message"] as? String, "error.message missing: \(r.bodyText)", file: file, line: line)
        if let type {
            XCTAssertEqual(e?["type"] as? String, type, "error.type; body: \(r.bodyText)", file: file, line: line)
        } else {
            XCTAssertNotNil(e?["type"] as? String, file: file, line: line)
        }
    }

    /// The request the mock's /v1/messages answers (POST with a small JSON body).
    func messagesRequest(query: String = "", headers: [String] = [], body: String = #"{"model":"m"}"#,
                         version: String = "HTTP/1.1") -> String {
        var s = "POST /v1/messages\(query.isEmpty ? "" : "?" + query) \(version)\r\n"
        if version == "HTTP/1.1" { s += "Host: client.example\r\n" }
        for h in headers { s += h + "\r\n" }
        s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        return s
    }
}

// MARK: - Relay (channel table) helpers

extension EndToEndCase {
    /// One channel of a channels file. The key is a recognisable secret that tests look
    /// for in logs and bodies (it must never show).
    func channel(_ name: String, _ proto: String = "anthropic", url: String, key: Any? = nil, priority: Int = 0,
                 _ extra: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = ["name": name, "protocol": proto, "url": url, "api_key": key ?? "sk-secret-\(name)-0123456789",
                                "priority": priority]
        for (k, v) in extra { c[k] = v }
        if extra["api_keys"] != nil { c["api_key"] = nil }
        return c
    }

    /// Writes a channels file (JSON) to `path`, or to a new temp file removed at tear-down.
    @discardableResult
    func writeChannelsFile(_ channels: [[String: Any]], path: String? = nil) throws -> String {
        let p = path ?? NSTemporaryDirectory() + "ccload-channels-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        let data = try JSONSerialization.data(withJSONObject: channels, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: p))
        if path == nil { onTearDown { try? FileManager.default.removeItem(atPath: p) } }
        return p
    }

    /// ccload routing by a channels file (no CCLOAD_UPSTREAM); `auth` becomes CCLOAD_AUTH.
    func startRelay(_ channels: [[String: Any]], auth: [String] = [], _ extra: [String: String] = [:],
                    fdLimit: Int? = nil) throws -> (ccload: CcloadProcess, channelsFile: String) {
        let path = try writeChannelsFile(channels)
        var env = ["CCLOAD_CHANNELS_FILE": path]
        if !auth.isEmpty { env["CCLOAD_AUTH"] = auth.joined(separator: ",") }
        for (k, v) in extra { env[k] = v }
        return (try startCcload(upstream: nil, env, fdLimit: fdLimit), path)
    }
}

extension CcloadProcess {
    /// One request with a JSON body on a fresh connection.
    func post(_ target: String, _ body: String, headers: [String] = [], timeout: Double = 10) throws -> HTTPResponse {
        var s = "POST \(target) HTTP/1.1\r\nHost: ccload.test\r\n"
        for h in headers { s += h + "\r\n" }
        s += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
        return try request(s, timeout: timeout)
    }

    func get(_ target: String, headers: [String] = [], timeout: Double = 5) throws -> HTTPResponse {
        var s = "GET \(target) HTTP/1.1\r\nHost: ccload.test\r\n"
        for h in headers { s += h + "\r\n" }
        return try request(s + "\r\n", timeout: timeout)
    }

    /// An admin GET with the session token; the JSON object it answers.
    func adminJSON(_ target: String) throws -> [String: Any] {
        let r = try get(target, headers: ["Authorization: Bearer \(try adminToken())"])
        guard r.status == 200, let j = r.json else { throw TestFailure("\(target): \(r.status) \(r.bodyText)") }
        return j
    }

    /// `/admin/requests` records, newest first.
    func records(limit: Int = 100) throws -> [[String: Any]] {
        guard let d = try adminJSON("/admin/requests?limit=\(limit)")["data"] as? [[String: Any]] else {
            throw TestFailure("/admin/requests has no data array")
        }
        return d
    }

    /// Waits (bounded) until at least `count` records exist (a record is written just after
    /// the response ends, so a client can see its answer before the record is there).
    func waitForRecords(_ count: Int, timeout: Double = 5) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try records()
            if r.count >= count { return r }
            if Date() > deadline { throw TestFailure("only \(r.count) request records after \(timeout) s, wanted \(count): \(r)") }
            usleep(10_000)
        }
    }

    /// `/admin/cooldowns` entries (scope, remaining_ms, failures, failure_class).
    func cooldowns() throws -> [[String: Any]] {
        guard let d = try adminJSON("/admin/cooldowns")["data"] as? [[String: Any]] else {
            throw TestFailure("/admin/cooldowns has no data array")
        }
        return d
    }
}
