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
            let (exit, output) = try child(probe)
            if traps {
                // A trap: killed by a signal (a sanitizer may turn it into a failing exit).
                XCTAssertNotEqual(exit, .exited(0), "\(probe): did not trap: \(output)")
                XCTAssertTrue(output.contains("touched off its loop (loop 0)"), "\(probe): \(output)")
                XCTAssertFalse(output.contains("probe returned"), "\(probe): \(output)")
            } else {
                XCTAssertEqual(exit, .exited(0), "\(probe): \(output)")
                XCTAssertTrue(output.contains("probe returned"), "\(probe): \(output)")
                XCTAssertFalse(output.contains("touched off its loop"), "\(probe): \(output)")
            }
        }
        #else
        throw XCTSkip("the loop-owner assertion exists in debug builds only")
        #endif
    }

    enum Exit: Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    /// Runs this test binary on `testProbe` alone with `probe` set, its output to a file.
    /// Spawned and reaped here (posix_spawn, waitpid), not by Foundation's `Process`, whose
    /// exit monitoring does not fire under the thread sanitizer.
    private func child(_ probe: String) throws -> (Exit, String) {
        let out = NSTemporaryDirectory() + "ccload-loop-owner-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        defer { unlink(out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        var env = ProcessInfo.processInfo.environment
        env[Self.probeVariable] = probe
        let argv = [CommandLine.arguments[0], "ReactorTests.LoopOwnerTests/testProbe"]
        let envp = env.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { a in withCStrings(envp) { e in posix_spawn(&pid, argv[0], &actions, nil, a, e) } }
        guard rc == 0 else { throw XCTSkip("posix_spawn failed: \(rc)") }
        var status: Int32 = 0
        let deadline = monotonicNanos() &+ 120 * nanosPerSecond
        while waitpid(pid, &status, WNOHANG) == 0 {
            if monotonicNanos() >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                XCTFail("\(probe): the child did not finish in 120 s")
                break
            }
            usleep(20_000)
        }
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let exit: Exit = status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signalled(status & 0x7F)
        return (exit, text)
    }

    private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

private final class Target: TimerTarget {
    func timerFired(_ timer: LoopTimer) {}
}

private final class NoHandler: HTTPRequestHandler {
    func handle(_ request: HTTPRequest, on connection: HTTPServerConnection) {}
}
