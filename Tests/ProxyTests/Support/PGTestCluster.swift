import Foundation
import XCTest
@testable import Proxy

/// The PostgreSQL server the tests use: with `CCLOAD_TEST_PG_URL` set, that server;
/// else one throwaway cluster per test process, started on first use by
/// Tests/Support/pg-cluster.sh in a temporary directory and stopped (and the directory
/// removed) when the process exits. Every test takes an empty database of its own from
/// `freshDatabase()`. Throws `XCTSkip` when PostgreSQL is not installed.
final class PGTestCluster: @unchecked Sendable {
    static let shared = PGTestCluster()

    private let lock = NSLock()
    private var url: String?
    private var dir: String?
    private var startError: String?
    private var databases = 0
    private var created: [String] = []
    /// Set from `CCLOAD_TEST_PG_URL`: a server the tests do not own (no restart or stop).
    private let external: String? = {
        let v = ProcessInfo.processInfo.environment["CCLOAD_TEST_PG_URL"] ?? ""
        return v.isEmpty ? nil : v
    }()

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support/pg-cluster.sh").path

    /// Whether initdb can be found where the script looks for it.
    static var installed: Bool {
        let fm = FileManager.default
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fm.isExecutableFile(atPath: "\(d)/initdb") {
            return true
        }
        let versions = (try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.contains { fm.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") }
    }

    /// The URL of the cluster's `ccload` database (or `CCLOAD_TEST_PG_URL`), starting the
    /// cluster on first use.
    func baseURL() throws -> String {
        if let external { return external }
        lock.lock()
        defer { lock.unlock() }
        if let url { return url }
        // A cluster that failed to start fails every later test with the same reason (not
        // a skip: PostgreSQL is installed, so it is a failure).
        if let startError { throw ClusterError(startError) }
        guard PGTestCluster.installed else {
            throw XCTSkip("PostgreSQL is not installed (apt-get install postgresql): no initdb on PATH or in /usr/lib/postgresql/*/bin")
        }
        let d = NSTemporaryDirectory() + "ccload-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        dir = d
        atexit { PGTestCluster.shared.stopAtExit() }
        do {
            let out = try PGTestCluster.run(["start", d], owner: true)
            guard out.hasPrefix("postgres://") else { throw ClusterError("pg-cluster.sh start printed no URL") }
            url = out
            return out
        } catch {
            startError = "the test PostgreSQL cluster did not start: \(error)"
            throw error
        }
    }

    /// A new, empty database on the server, and its URL.
    func freshDatabase() throws -> String {
        let base = try baseURL()
        lock.lock()
        databases += 1
        let name = "t\(getpid())_\(databases)_\(UInt16.random(in: 0...UInt16.max))"
        lock.unlock()
        let admin = try PGConnection.connect(url: base, applicationName: "ccload-tests")
        defer { admin.close() }
        try admin.exec("CREATE DATABASE \(name)")
        lock.lock()
        if external != nil && created.isEmpty { atexit { PGTestCluster.shared.stopAtExit() } }
        created.append(name)
        lock.unlock()
        return PGTestCluster.url(base, database: name)
    }

    /// `url` naming `database` instead of its own.
    static func url(_ url: String, database: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authorityEnd = rest[..<end].firstIndex(of: "/") ?? end
        return String(url[..<authorityEnd]) + "/" + database + String(url[end...])
    }

    /// Stops and starts the server again on the same port (a fast shutdown: every
    /// connection is cut).
    func restart() throws { try control("restart") }

    /// Stops the server (fast shutdown); `start()` brings it back on the same port.
    func stop() throws { try control("stop") }

    /// Starts the server after `stop()` or `kill()`.
    func start() throws {
        try control("start")
    }

    /// SIGKILLs the postmaster (a crash); `start()` recovers it.
    func kill() throws { try control("kill") }

    private func control(_ command: String) throws {
        if external != nil {
            throw XCTSkip("needs a PostgreSQL cluster of its own (unset CCLOAD_TEST_PG_URL)")
        }
        _ = try baseURL()
        lock.lock()
        let dir = self.dir
        lock.unlock()
        guard let dir else { return }
        _ = try PGTestCluster.run([command, dir], owner: true)
    }

    private func stopAtExit() {
        lock.lock()
        let (dir, created) = (self.dir, self.created)
        lock.unlock()
        if let external {
            // Databases this process made on a server it does not own.
            if let admin = try? PGConnection.connect(url: external, applicationName: "ccload-tests") {
                for name in created { try? admin.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
                admin.close()
            }
            return
        }
        guard let dir else { return }
        _ = try? PGTestCluster.run(["stop", dir], owner: false)
        try? FileManager.default.removeItem(atPath: dir)
    }

    struct ClusterError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Runs the script with a bounded wait; its stdout, trimmed. `owner`: the script's
    /// watcher stops the cluster if this process dies without its atexit.
    @discardableResult
    static func run(_ args: [String], owner: Bool, timeout: TimeInterval = 90) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script] + args
        var env = ProcessInfo.processInfo.environment
        if owner { env["PG_CLUSTER_OWNER_PID"] = String(getpid()) }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            throw ClusterError("pg-cluster.sh \(args.joined(separator: " ")) did not finish within \(Int(timeout)) s")
        }
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw ClusterError("pg-cluster.sh \(args.first ?? "") failed (\(p.terminationStatus)): \(stderr.suffix(2000))")
        }
        return stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
