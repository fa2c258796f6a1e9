import Foundation
import Glibc
import XCTest

/// The fault campaign's shared pieces: a relay whose first channel is hostile and whose
/// second is a healthy mock, and the checks every hostile case ends with (ccload up,
/// fds back, no secret in any output).
class HostileCase: RelayCase {
    /// The client token every hostile relay requires (it must never show anywhere).
    static let clientToken = "cc-client-SECRET-token-5f1e2d"
    /// The keys of the two channels (`channel()` names them after the channel).
    static let secrets = [clientToken, "sk-secret-hostile-0123456789", "sk-secret-healthy-0123456789"]

    /// Loop sizes shrink by this factor when CCLOAD_TEST_QUICK is set (e.g. under the
    /// thread sanitizer); 1 otherwise.
    static let quick: Int = {
        guard let v = ProcessInfo.processInfo.environment["CCLOAD_TEST_QUICK"], !v.isEmpty, v != "0" else { return 1 }
        return max(2, Int(v) ?? 4)
    }()

    /// Every response body a hostile case received, searched for secrets at the end.
    private(set) var seenResponses: [UInt8] = []

    /// Clears a channel's cooldowns (after a failed try), so the next request reaches it again.
    func clearCooldowns(_ ccload: CcloadProcess, channel: Int = 1) throws {
        let r = try ccload.post("/admin/channels/\(channel)/clear-cooldowns", "{}",
                                headers: ["Authorization: Bearer \(try ccload.adminToken())"])
        XCTAssertEqual(r.status, 200, r.bodyText)
    }

    func startHostile(_ plan: HostileUpstream.Plan) throws -> HostileUpstream {
        let h = try HostileUpstream(plan)
        onTearDown { h.stop() }
        return h
    }

    /// ccload with channel 1 = `hostileURL` (priority 10) and channel 2 = `healthy`
    /// (priority 5), one reactor thread, the client token required.
    func startHostileRelay(hostileURL: String, healthy: MockUpstream, hostileExtra: [String: Any] = [:],
                           _ env: [String: String] = [:], fdLimit: Int? = nil, proto: String = "anthropic") throws -> CcloadProcess {
        return try startRelay([
            channel("hostile", proto, url: hostileURL, priority: 10, hostileExtra.merging(["id": 1]) { a, _ in a }),
            channel("healthy", proto, url: healthy.url, priority: 5, ["id": 2]),
        ], auth: [HostileCase.clientToken], env, fdLimit: fdLimit).ccload
    }

    var authHeader: String { "x-api-key: \(HostileCase.clientToken)" }

    /// A Messages request with the client token; the response is kept for the secret check.
    func ask(_ ccload: CcloadProcess, stream: Bool, timeout: Double = 15) throws -> HTTPResponse {
        let r = try ccload.post("/v1/messages", anthropicBody(stream: stream), headers: [authHeader], timeout: timeout)
        seenResponses += r.raw
        return r
    }

    func keep(_ r: HTTPResponse) { seenResponses += r.raw }

    /// The id of the newest request record (0 when none).
    func newestRecordID(_ ccload: CcloadProcess) throws -> Int {
        try ccload.records(limit: 1).first?["id"] as? Int ?? 0
    }

    /// Waits (bounded) for a record newer than `after` and returns the newest.
    func recordAfter(_ ccload: CcloadProcess, _ after: Int, timeout: Double = 10) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let r = try ccload.records(limit: 1).first, (r["id"] as? Int ?? 0) > after { return r }
            if Date() > deadline { throw TestFailure("no request record after id \(after) within \(timeout) s") }
            usleep(2_000)
        }
    }

    /// Runs `body` against `ccload`. When ccload died doing it, returns where it trapped
    /// (with `context`) and replaces `ccload` with a fresh one from `restart`, so a case
    /// list goes on past a crash; nil when ccload survived.
    func survive(_ ccload: inout CcloadProcess, _ context: String, restart: () throws -> CcloadProcess,
                 _ body: (CcloadProcess) throws -> Void) throws -> String? {
        var failure: Error?
        do { try body(ccload) } catch { failure = error }
        if failure != nil { _ = ccload.process.waitForExit(timeout: 2) }
        guard !ccload.process.isRunning else {
            if let failure { XCTFail("\(context): \(failure)") }
            return nil
        }
        let log = ccload.process.stderrText.components(separatedBy: "\n")
        let trap = log.filter { $0.contains("Sources/Proxy/") || $0.contains("Sources/Reactor/") || $0.contains("Fatal error") }
            .prefix(2).map { $0.trimmingCharacters(in: .whitespaces) }
        ccload = try restart()
        return "\(context) → \(trap.joined(separator: " | "))"
    }

    /// ccload is alive and answers /health.
    func assertUp(_ ccload: CcloadProcess, _ context: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(ccload.process.isRunning, "ccload died \(context()):\n\(ccload.process.stderrText.suffix(2000))", file: file, line: line)
        guard ccload.process.isRunning else { return }
        do {
            let r = try ccload.get("/health", timeout: 10)
            XCTAssertEqual(r.status, 200, "/health \(context())", file: file, line: line)
        } catch {
            XCTFail("/health did not answer \(context()): \(error)", file: file, line: line)
        }
    }

    /// Open fds of a process (from /proc), -1 when unreadable.
    func fdCount(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// Open sockets of a process (from /proc), -1 when unreadable: the connection checks count
    /// these, not every fd, so SQLite opening its WAL or a reader connection is no noise.
    func socketCount(_ pid: Int32) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return -1 }
        return names.reduce(0) { n, name in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)")) ?? ""
            return n + (target.hasPrefix("socket:") ? 1 : 0)
        }
    }

    /// Waits (bounded) until ccload has at most `bound` open sockets (`everyFD`: fds of any
    /// kind); returns the last count.
    @discardableResult
    func settleFDs(_ ccload: CcloadProcess, atMost bound: Int, timeout: Double = 10, everyFD: Bool = false) -> Int {
        let pid = ccload.process.pid
        let count = { everyFD ? self.fdCount(pid) : self.socketCount(pid) }
        let deadline = Date().addingTimeInterval(timeout)
        var n = count()
        while n > bound && Date() < deadline {
            usleep(20_000)
            n = count()
        }
        return n
    }

    /// No secret in anything a client received, nor in ccload's own output.
    func assertNoSecrets(_ ccload: CcloadProcess, file: StaticString = #filePath, line: UInt = #line) {
        let bodies = seenResponses.text
        let log = ccload.process.stderrText + ccload.process.stdoutText
        for s in HostileCase.secrets {
            XCTAssertFalse(bodies.contains(s), "a response carried the secret \(s)", file: file, line: line)
            XCTAssertFalse(log.contains(s), "ccload's output carried the secret \(s)", file: file, line: line)
            XCTAssertFalse(log.contains(String(s.suffix(12))), "ccload's output carried part of the secret \(s)", file: file, line: line)
        }
    }

    /// How much more memory a ccload built with AddressSanitizer holds (shadow memory and
    /// the freed-memory quarantine: ≈ 550 MiB at rest, 160 MiB more after a burst).
    /// `.ci/run` sets CCLOAD_TEST_ASAN=1 for that run.
    static let memoryScale = ProcessInfo.processInfo.environment["CCLOAD_TEST_ASAN"] == "1" ? 4 : 1

    /// A generous bound on ccload's RSS against unbounded growth (not a benchmark): what
    /// 100 unread 32 MiB bodies (3.2 GiB) would break, sanitized or not.
    static let rssBoundKiB = 512 * 1024 * memoryScale

    /// A request with a deadline is answered by the healthy channel.
    func assertServed(_ ccload: CcloadProcess, _ when: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let r = try ask(ccload, stream: false, timeout: 15)
            XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(when): \(r.status) \(r.bodyText.prefix(300))", file: file, line: line)
        } catch {
            XCTFail("a well-behaved client was not served \(when): \(error)", file: file, line: line)
        }
    }

    /// Raises this process's soft fd limit (children inherit it); skips when the hard
    /// limit is too low.
    func raiseFDLimit(to wanted: Int) throws {
        var l = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
        guard l.rlim_max >= rlim_t(wanted) else {
            throw XCTSkip("the hard fd limit \(l.rlim_max) is below \(wanted)")
        }
        if l.rlim_cur < rlim_t(wanted) {
            l.rlim_cur = rlim_t(wanted)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
        }
    }

    /// The healthy channel's answer (ccload-mock): a complete stream or message.
    func isHealthyAnswer(_ r: HTTPResponse, stream: Bool) -> Bool {
        guard r.status == 200, r.complete else { return false }
        return stream ? r.bodyText.contains("\"text\":\"token0 \"") && !r.bodyText.contains("event: error")
            : r.json?["type"] as? String == "message" && r.bodyText.contains("msg_mock")
    }
}

/// One client protocol as the hostile campaigns speak it.
struct ClientDialect: Sendable {
    var proto: String
    var path: String
    var body: @Sendable (_ stream: Bool) -> String
    /// What the error event ccload appends to a broken stream starts with; nil when the
    /// protocol has none (Gemini: a broken stream ends without its last chunk).
    var errorEvent: String?

    static let anthropic = ClientDialect(proto: "anthropic", path: "/v1/messages",
                                         body: { #"{"model":"claude-sonnet-4-5","max_tokens":16,"stream":\#($0),"messages":[{"role":"user","content":"hi"}]}"# },
                                         errorEvent: "event: error\n")
    static let openai = ClientDialect(proto: "openai", path: "/v1/chat/completions",
                                      body: { #"{"model":"gpt-5","stream":\#($0),"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"# },
                                      errorEvent: "data: {\"error\"")
    static let codex = ClientDialect(proto: "codex", path: "/v1/responses",
                                     body: { #"{"model":"gpt-5","stream":\#($0),"input":"hi"}"# },
                                     errorEvent: "event: response.failed\n")
    static let gemini = ClientDialect(proto: "gemini", path: "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
                                      body: { _ in #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"# },
                                      errorEvent: nil)

    /// Whether the body carries this protocol's error event.
    func hasErrorEvent(_ r: HTTPResponse) -> Bool { errorEvent.map { r.bodyText.contains($0) } ?? false }
}

/// Resident set size of a process in KiB (from /proc), -1 when unreadable.
func rssKiB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return -1 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
    }
    return -1
}

/// A client's reading of an event stream (WHATWG: fields per line, a blank line dispatches).
enum SSEParse {
    struct Event { var name: String; var data: String }

    static func events(_ text: String) -> [Event] {
        var out: [Event] = []
        var name = "", data: [String] = []
        for line in text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !data.isEmpty { out.append(Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))) }
                name = ""; data = []
            } else if line.hasPrefix("event:") {
                name = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix("data:") {
                var d = line.dropFirst(5)
                if d.first == " " { d = d.dropFirst() }
                data.append(String(d))
            }
        }
        return out
    }
}
