import Foundation
import Glibc
import XCTest

/// Where `swift test` put the binaries under test: next to the test bundle
/// (`.build-e2e/debug/`), or `CCLOAD_BIN_DIR` when set.
enum BinaryDirectory {
    static let path: String? = {
        var candidates: [String] = []
        if let v = ProcessInfo.processInfo.environment["CCLOAD_BIN_DIR"] { candidates.append(v) }
        let bundle = URL(fileURLWithPath: Bundle.main.bundlePath)
        candidates.append(bundle.path)
        candidates.append(bundle.deletingLastPathComponent().path)
        let arg0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(arg0.deletingLastPathComponent().path)
        candidates.append(arg0.deletingLastPathComponent().deletingLastPathComponent().path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c + "/ccload")
            && FileManager.default.isExecutableFile(atPath: c + "/ccload-mock") {
            return c
        }
        return nil
    }()

    static func binary(_ name: String) throws -> String {
        guard let d = path else {
            throw TestFailure("cannot find the ccload and ccload-mock binaries next to the test bundle "
                + "(\(Bundle.main.bundlePath)); set CCLOAD_BIN_DIR")
        }
        return d + "/" + name
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A child process started by a test: standard output and error go to temp files the
/// test can search; `stop()` kills it (SIGKILL) if it still runs. Every wait is bounded.
final class ProcessUnderTest: @unchecked Sendable {
    let name: String
    let process = Process()
    let stderrPath: String
    let stdoutPath: String
    private let exited = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var exitStatus: Int32?
    /// The database a ccload started here got of its own (removed by `stop()`).
    private var ownDatabase: String?

    /// `name`: what logs and the own-database rule call it (default: the executable's name;
    /// give it when `executable` is a wrapper such as prlimit).
    init(executable: String, arguments: [String] = [], environment: [String: String] = [:], name: String? = nil) throws {
        self.name = name ?? URL(fileURLWithPath: executable).lastPathComponent
        // Foundation's Process.run reads /proc/self/fd past the end of its buffer once this
        // process holds about 1,360 descriptors (an AddressSanitizer report, nothing else), so a
        // descriptor leak in the tests is named here, in every run, instead.
        let open = Self.openDescriptorCount()
        guard open < 1_000 else {
            throw TestFailure("the test process holds \(open) open descriptors before starting \(self.name): "
                + "a test leaks them (see /proc/\(getpid())/fd)")
        }
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        stderrPath = NSTemporaryDirectory() + "ccload-e2e-\(self.name)-\(tag).stderr"
        stdoutPath = NSTemporaryDirectory() + "ccload-e2e-\(self.name)-\(tag).stdout"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // A clean environment: nothing of the test runner's (SSL_CERT_FILE, CCLOAD_*) leaks in.
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        for (k, v) in environment { env[k] = v }
        // Every ccload gets its own database unless the test names one (to restart on it).
        if self.name == "ccload" && env["SQLITE_PATH"] == nil {
            let db = NSTemporaryDirectory() + "ccload-e2e-\(tag).db"
            env["SQLITE_PATH"] = db
            ownDatabase = db
        }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        // The child gets its own copies of these two descriptors; the test process closes its
        // own once the child runs (XCTest keeps every test case, and so this object, to the end
        // of the run: an open handle here is one descriptor leaked per process started).
        let errHandle = FileHandle(forWritingAtPath: stderrPath)
        let outHandle = FileHandle(forWritingAtPath: stdoutPath)
        defer {
            try? errHandle?.close()
            try? outHandle?.close()
        }
        process.standardError = errHandle
        process.standardOutput = outHandle
        let sem = exited
        let lock = self.lock
        let box = self.box
        process.terminationHandler = { p in
            lock.lock()
            box.status = p.terminationStatus
            box.bySignal = p.terminationReason == .uncaughtSignal
            lock.unlock()
            sem.signal()
        }
        try process.run()
    }

    /// How many descriptors this (the test) process has open.
    static func openDescriptorCount() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return max(0, n - 3)  // ".", ".." and the directory's own descriptor
    }

    private final class ExitBox: @unchecked Sendable { var status: Int32?; var bySignal = false }
    private let box = ExitBox()

    var pid: Int32 { process.processIdentifier }

    var stderrText: String {
        (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    }

    var stdoutText: String {
        (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
    }

    var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        return box.status == nil
    }

    /// Waits until `text` appears in standard error (or output), or the time is up.
    @discardableResult
    func waitForOutput(_ text: String, stdout: Bool = false, timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if (stdout ? stdoutText : stderrText).contains(text) { return true }
            if !isRunning { return (stdout ? stdoutText : stderrText).contains(text) }
            usleep(5_000)
        } while Date() < deadline
        return false
    }

    /// The port in the first "listening on [https://]127.0.0.1:PORT" line.
    func waitForListeningPort(timeout: Double = 10) throws -> Int {
        guard waitForOutput("listening on ", timeout: timeout) else {
            throw TestFailure("\(name) did not report its port within \(timeout) s; stderr:\n\(stderrText)")
        }
        let text = stderrText
        guard let found = text.range(of: "listening on 127.0.0.1:") ?? text.range(of: "listening on https://127.0.0.1:") else {
            throw TestFailure("\(name): no 127.0.0.1 listening line in: \(text)")
        }
        let after = text[found.upperBound...]
        guard let port = Int(after.prefix { $0.isNumber }), port > 0 else {
            throw TestFailure("\(name): cannot parse a port in: \(text)")
        }
        return port
    }

    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// The exit status once the process ended, or nil when it still runs after `timeout`.
    func waitForExit(timeout: Double) -> Int32? {
        if exited.wait(timeout: .now() + timeout) == .timedOut { return nil }
        exited.signal()  // later waits return at once
        lock.lock(); defer { lock.unlock() }
        return box.status
    }

    /// Whether the process ended by an uncaught signal (a crash or a kill) rather than by
    /// exiting; its `waitForExit` status is then the signal number.
    var endedBySignal: Bool {
        lock.lock(); defer { lock.unlock() }
        return box.bySignal
    }

    /// Whether children end with SIGTERM before SIGKILL (set for the address-sanitizer run,
    /// so each child's leak check runs at its exit).
    static let graceful = ProcessInfo.processInfo.environment["CCLOAD_TEST_GRACEFUL"] == "1"

    /// Sends SIGTERM if the process still runs and waits up to `seconds` for it to exit.
    func terminate(within seconds: Double) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        _ = waitForExit(timeout: seconds)
    }

    /// Kills the process if it still runs, reaps it, and removes its output files.
    func stop() {
        if isRunning {
            kill(pid, SIGKILL)
            _ = waitForExit(timeout: 5)
        }
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
        if let db = ownDatabase {
            for suffix in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        }
    }
}
