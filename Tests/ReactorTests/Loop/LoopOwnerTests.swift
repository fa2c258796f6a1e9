import Foundation
import Glibc
import XCTest

@testable import Reactor

/// `Loop.assertOnLoop`: in a debug build, touching a loop-owned object from a thread that is
/// not its running loop traps. A trap ends the process, so each probe runs in a child: this
/// test binary again, running only `testProbe` with the probe named in the environment.
final class LoopOwnerTests: XCTestCase {
    static let probeVariable = "CCLOAD_LOOP_OWNER_PROBE"

    /// The child's side: one probe, then a normal return (which a trap never reaches).
    func testProbe() throws {
        guard let probe = ProcessInfo.processInfo.environment[Self.probeVariable] else {
            // The parent's side: every probe in a child of its own.
            return try runProbes()
        }
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let running = DispatchSemaphore(value: 0)
        group.start { _ in }
        loop.submit { running.signal() }
        XCTAssertEqual(running.wait(timeout: .now() + 30), .success, "the loop never ran")
        let target = Target()
        let timer = LoopTimer(target: target)
        switch probe {
        case "arm off the loop":
            loop.arm(timer, afterNanos: nanosPerSecond)
        case "server off the loop":
            _ = HTTPServer(loop: loop, config: HTTPServerConfig(), handler: NoHandler())
        case "arm on the loop":
            let done = DispatchSemaphore(value: 0)
            loop.submit {
                loop.arm(timer, afterNanos: nanosPerSecond)
                loop.disarm(timer)
                _ = HTTPServer(loop: loop, config: HTTPServerConfig(), handler: NoHandler())
                done.signal()
            }
            XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        default:
            XCTFail("unknown probe \(probe)")
        }
        group.stopAndJoin()
        // After the loop stopped, its owner is whoever holds it (tear-down): no trap.
        loop.arm(timer, afterNanos: nanosPerSecond)
        loop.disarm(timer)
        FileHandle.standardError.write(Data("probe returned\n".utf8))
    }

    private func runProbes() throws {
        #if DEBUG
        for (probe, traps) in [("arm off the loop", true), ("server off the loop", true), ("arm on the loop", false)] {
            let (status, reason, stderr) = try child(probe)
            if traps {
                XCTAssertEqual(reason, .uncaughtSignal, "\(probe): did not trap (status \(status)): \(stderr)")
                XCTAssertTrue(stderr.contains("touched off its loop (loop 0)"), "\(probe): \(stderr)")
                XCTAssertFalse(stderr.contains("probe returned"), "\(probe): \(stderr)")
            } else {
                XCTAssertEqual(reason, .exit, "\(probe): \(stderr)")
                XCTAssertEqual(status, 0, "\(probe): \(stderr)")
                XCTAssertTrue(stderr.contains("probe returned"), "\(probe): \(stderr)")
                XCTAssertFalse(stderr.contains("touched off its loop"), "\(probe): \(stderr)")
            }
        }
        #else
        throw XCTSkip("the loop-owner assertion exists in debug builds only")
        #endif
    }

    /// Runs this test binary on `testProbe` alone with `probe` set; its stderr goes to a file.
    private func child(_ probe: String) throws -> (Int32, Process.TerminationReason, String) {
        let out = NSTemporaryDirectory() + "ccload-loop-owner-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["ReactorTests.LoopOwnerTests/testProbe"]
        var env = ProcessInfo.processInfo.environment
        env[Self.probeVariable] = probe
        p.environment = env
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: out))
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        try handle.close()
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            XCTFail("\(probe): the child did not finish in 120 s")
        }
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return (p.terminationStatus, p.terminationReason, text)
    }
}

private final class Target: TimerTarget {
    func timerFired(_ timer: LoopTimer) {}
}

private final class NoHandler: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {}
}
