import Foundation
import Glibc
import XCTest

/// A running `ccload-mock`.
final class MockUpstream {
    let process: ProcessUnderTest
    let port: Int
    /// A keep-alive control connection, so counting connections does not count itself twice.
    private var control: RawConnection?

    init(threads: Int = 1) throws {
        process = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload-mock"),
                                       arguments: ["--port", "0", "--threads", String(threads), "--listen", "127.0.0.1"])
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

    func release(gate: String) throws {
        let r = try controlRequest("POST", "/mock/release?gate=\(gate)")
        guard r.status == 200 else { throw TestFailure("gate release failed: \(r.status)") }
    }
}

/// A running `ccload`.
final class CcloadProcess {
    let process: ProcessUnderTest
    let port: Int

    init(environment: [String: String]) throws {
        process = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"), environment: environment)
        port = try process.waitForListeningPort()
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
            let log = p.stderrText
            if failed { print("---- \(p.name) stderr ----\n\(log)") }
            // Under `swift test --sanitize=thread` the binaries are sanitized too: a race
            // they report fails the test that drove them.
            XCTAssertFalse(log.contains("WARNING: ThreadSanitizer"), "\(p.name) reported a data race:\n\(log)")
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

    func startMock(threads: Int = 1) throws -> MockUpstream {
        let m = try MockUpstream(threads: threads)
        processes.append(m.process)
        return m
    }

    /// Starts ccload on an ephemeral 127.0.0.1 port with one thread (unless told) and
    /// small test settings; `upstream` becomes CCLOAD_UPSTREAM.
    func startCcload(upstream: String?, threads: Int = 1, _ extra: [String: String] = [:]) throws -> CcloadProcess {
        var env = ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_THREADS": String(threads),
                   "CCLOAD_CONNECT_TIMEOUT": "3", "CCLOAD_DRAIN_SECONDS": "5"]
        if let upstream { env["CCLOAD_UPSTREAM"] = upstream }
        for (k, v) in extra { env[k] = v }
        let c = try CcloadProcess(environment: env)
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
