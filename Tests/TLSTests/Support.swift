import XCTest
import Foundation
import Glibc
import Synchronization
import Reactor
@testable import TLS

/// A value handed from a loop thread to the test thread, with a bounded wait.
final class Handoff<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    private let sem = DispatchSemaphore(value: 0)

    func put(_ v: T) {
        lock.lock()
        let first = value == nil
        if first { value = v }
        lock.unlock()
        if first { sem.signal() }
    }

    /// The value, or nil when `timeout` seconds pass first.
    func wait(_ timeout: Double = 5) -> T? {
        if sem.wait(timeout: .now() + timeout) == .timedOut { return nil }
        lock.lock(); defer { lock.unlock() }
        return value
    }
}

/// Certificates made at run time in a temp dir by the `openssl` command; no key is
/// ever committed.
struct TestPKI: Sendable {
    let dir: String
    var caCert: String { dir + "/ca.crt" }
    var goodCert: String { dir + "/good.crt" }
    var goodKey: String { dir + "/good.key" }
    var wrongHostCert: String { dir + "/wrong.crt" }
    var wrongHostKey: String { dir + "/wrong.key" }
    var expiredCert: String { dir + "/expired.crt" }
    var expiredKey: String { dir + "/expired.key" }

    static let shared: TestPKI = {
        let dir = NSTemporaryDirectory() + "ccload-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pki = TestPKI(dir: dir)
        pki.make()
        return pki
    }()

    private func openssl(_ args: [String]) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try! p.run()
        p.waitUntilExit()
        precondition(p.terminationStatus == 0, "openssl \(args.joined(separator: " ")) failed")
    }

    private func make() {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", "/CN=ccload test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        func leaf(_ name: String, san: String, days: String) {
            try! "subjectAltName=\(san)\nextendedKeyUsage=serverAuth\n".write(toFile: "\(dir)/\(name).ext", atomically: true, encoding: .utf8)
            openssl(["req", "-new"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                     "-set_serial", String(Int.random(in: 1000...1_000_000)), "-days", days,
                     "-extfile", "\(name).ext", "-out", "\(name).crt"])
        }
        leaf("good", san: "DNS:localhost,IP:127.0.0.1", days: "2")
        leaf("wrong", san: "DNS:wrong.example", days: "2")
        leaf("expired", san: "DNS:localhost,IP:127.0.0.1", days: "-1")
    }
}

/// One reactor thread for a test (server or client side).
final class TestLoop: @unchecked Sendable {
    let group = LoopGroup(count: 1)
    var loop: Loop { group.loops[0] }

    init() { group.start { _ in } }

    /// Runs `body` on the loop and waits for its answer.
    func sync<T>(_ timeout: Double = 5, _ body: @escaping @Sendable () -> T) -> T? {
        let h = Handoff<T>()
        loop.submit { h.put(body()) }
        return h.wait(timeout)
    }

    func stop() { group.stopAndJoin() }
}

/// Where a byte stream ended.
enum Ending: Equatable, Sendable {
    case open, closed, failed(TransportError)
}

/// A non-blocking peer driven by one loop: writes `outgoing`, reads what comes,
/// honouring wantRead/wantWrite from either call and draining `hasBufferedInput`.
/// Owner: its loop.
final class Pump: LoopHandler, @unchecked Sendable {
    struct Report: Sendable {
        var received: [UInt8]
        var ending: Ending
        var writeWantWrite: Int
        var bufferedDrains: Int
    }

    let loop: Loop
    let transport: any Transport
    private var outgoing: [UInt8]
    private var offset = 0
    private let readChunk: Int
    private let expect: Int?
    private var received: [UInt8] = []
    private var writeWantWrite = 0
    private var bufferedDrains = 0
    private var writeBlockedOnRead = false
    private var readBlockedOnWrite = false
    private var done: ((Report) -> Void)?
    private var finished = false
    /// Close the transport when finished (otherwise leave it to the test).
    private let closeWhenDone: Bool

    init(loop: Loop, transport: any Transport, send: [UInt8], readChunk: Int = 64 * 1024, expect: Int?,
         closeWhenDone: Bool = true, done: @escaping (Report) -> Void) {
        self.loop = loop
        self.transport = transport
        self.outgoing = send
        self.readChunk = min(readChunk, loop.readBuffer.count)
        self.expect = expect
        self.closeWhenDone = closeWhenDone
        self.done = done
        loop.register(transport.fd, self, Interest.readable)
        step()
    }

    func handleEvents(_ events: UInt32) { step() }

    private func step() {
        guard !finished else { return }
        // Writes.
        writeBlockedOnRead = false
        while offset < outgoing.count {
            let r = outgoing.withUnsafeBytes { transport.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch r {
            case .done(let n): offset += n; continue
            case .wantWrite: writeWantWrite += 1
            case .wantRead: writeBlockedOnRead = true
            case .closed: return finish(.closed)
            case .failed(let e): return finish(.failed(e))
            }
            break
        }
        // Reads: one chunk per event, then whatever OpenSSL already holds.
        readBlockedOnWrite = false
        var first = true
        while first || transport.hasBufferedInput {
            if !first { bufferedDrains += 1 }
            first = false
            let buf = UnsafeMutableRawBufferPointer(rebasing: loop.readBuffer[..<readChunk])
            switch transport.read(buf) {
            case .done(let n):
                received.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[..<n]))
                if let e = expect, received.count >= e { return finish(.open) }
            case .wantRead: break
            case .wantWrite: readBlockedOnWrite = true
            case .closed: return finish(.closed)
            case .failed(let e): return finish(.failed(e))
            }
        }
        let needWrite = (offset < outgoing.count && !writeBlockedOnRead) || readBlockedOnWrite
        loop.modify(transport.fd, needWrite ? Interest.readWrite : Interest.read)
    }

    private func finish(_ ending: Ending) {
        finished = true
        loop.deregister(transport.fd)
        if closeWhenDone { transport.close() }
        let report = Report(received: received, ending: ending, writeWantWrite: writeWantWrite, bufferedDrains: bufferedDrains)
        done?(report)
        done = nil
    }
}

/// Dials on `loop` and waits for the outcome.
func dial(_ client: TestLoop, _ target: DialTarget, _ ctx: TLSClientContext?,
          connectTimeout: Double = 3, handshakeTimeout: Double = 3, wait: Double = 6) -> Result<any Transport, TransportError>? {
    let h = Handoff<Result<TransportBox, TransportError>>()
    client.loop.submit {
        _ = Dial(loop: client.loop, target: target, tls: ctx,
                 connectTimeoutNanos: UInt64(connectTimeout * 1e9), handshakeTimeoutNanos: UInt64(handshakeTimeout * 1e9)) { r in
            h.put(r.map { TransportBox($0) })
        }
    }
    return h.wait(wait)?.map { $0.transport }
}

/// Carries a transport between threads in tests (it is then touched only on its loop).
struct TransportBox: @unchecked Sendable {
    let transport: any Transport
    init(_ t: any Transport) { transport = t }
}

/// Sends `request` over `transport` on its loop and collects the answer.
func exchange(_ client: TestLoop, _ transport: any Transport, send: [UInt8], expect: Int?,
              readChunk: Int = 64 * 1024, wait: Double = 8, setUp: (@Sendable (Int32) -> Void)? = nil) -> Pump.Report? {
    let h = Handoff<Pump.Report>()
    let box = TransportBox(transport)
    let payload = send
    client.loop.submit {
        setUp?(box.transport.fd)
        _ = Pump(loop: client.loop, transport: box.transport, send: payload, readChunk: readChunk, expect: expect) { h.put($0) }
    }
    return h.wait(wait)
}

/// Deterministic test bytes.
func pattern(_ n: Int, seed: UInt32 = 7) -> [UInt8] {
    var x = seed
    return (0..<n).map { _ in
        x = x &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: x >> 24)
    }
}

func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

/// A connected pair of non-blocking Unix stream sockets: (the side a connection under test
/// drives, the test's peer).
func nonblockingSocketPair() throws -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw TransportError.errno(errno) }
    for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return (fds[0], fds[1])
}

/// Writes `s` to `fd` (a test's peer side; short writes are not expected at these sizes).
func writeString(_ fd: Int32, _ s: String) {
    _ = Array(s.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
}
