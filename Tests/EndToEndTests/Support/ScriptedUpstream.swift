import Foundation
import Glibc

/// A test-side TCP server on 127.0.0.1 for upstream behaviour the mock cannot script
/// byte by byte (hop-by-hop response fields, a pooled connection that closes, a
/// Content-Length body cut short). Each accepted connection runs `script` on its own
/// thread with a blocking socket; every read in a script has a deadline.
final class ScriptedUpstream: @unchecked Sendable {
    typealias Script = @Sendable (_ connection: RawConnection, _ index: Int, _ upstream: ScriptedUpstream) -> Void

    let port: Int
    private let listenFD: Int32
    private let lock = NSLock()
    private var stopping = false
    private var accepted = 0
    private var notes: [String] = []
    private let acceptLoopDone = DispatchSemaphore(value: 0)
    private let scriptsDone = DispatchGroup()

    init(script: @escaping Script) throws {
        listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let fd = listenFD
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listenFD, 64) == 0 else {
            Glibc.close(listenFD)
            throw TestFailure("scripted upstream: bind/listen failed: errno \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let t = Thread { [self] in acceptLoop(script) }
        t.start()
    }

    private func acceptLoop(_ script: @escaping Script) {
        defer { acceptLoopDone.signal() }
        while true {
            lock.lock(); let stop = stopping; lock.unlock()
            if stop { return }
            var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let c = accept(listenFD, nil, nil)
            guard c >= 0 else { continue }
            lock.lock(); let index = accepted; accepted += 1; lock.unlock()
            scriptsDone.enter()
            let t = Thread { [self] in
                let conn = RawConnection(accepted: c)
                script(conn, index, self)
                scriptsDone.leave()
            }
            t.start()
        }
    }

    /// Connections accepted so far.
    var acceptedCount: Int {
        lock.lock(); defer { lock.unlock() }
        return accepted
    }

    /// Records something a script observed, for the test to check.
    func note(_ s: String) {
        lock.lock(); notes.append(s); lock.unlock()
    }

    var observations: [String] {
        lock.lock(); defer { lock.unlock() }
        return notes
    }

    /// Waits until a note equal to `s` exists.
    func waitForNote(_ s: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if observations.contains(s) { return true }
            usleep(5_000)
        }
        return observations.contains(s)
    }

    /// Stops accepting and waits (bounded) for running scripts.
    func stop() {
        lock.lock(); stopping = true; lock.unlock()
        _ = acceptLoopDone.wait(timeout: .now() + 2)
        Glibc.close(listenFD)
        _ = scriptsDone.wait(timeout: .now() + 6)
    }
}
