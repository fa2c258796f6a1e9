import XCTest
import Glibc
import Synchronization
import Reactor
@testable import TLS

final class ResolverTests: XCTestCase {
    var client: TestLoop!

    override func setUp() { client = TestLoop() }
    override func tearDown() { client.stop() }

    func resolve(_ r: Resolver, _ host: String, _ port: Int = 443) -> (Result<[SocketAddress], TransportError>, onLoop: Bool)? {
        let h = Handoff<(Result<[SocketAddress], TransportError>, Bool)>()
        let loop = client.loop
        loop.submit {
            let me = pthread_self()
            r.resolve(host: host, port: port, on: loop) { result in
                h.put((result, pthread_equal(me, pthread_self()) != 0))
            }
        }
        return h.wait(5).map { ($0.0, $0.1) }
    }

    func testNumericAnsweredAtOnceWithoutLookup() throws {
        let calls = Atomic<Int>(0)
        let r = Resolver(lookup: { _, _ in calls.wrappingAdd(1, ordering: .relaxed); return [] })
        let (res, onLoop) = try XCTUnwrap(resolve(r, "127.0.0.1", 8443))
        XCTAssertTrue(onLoop)
        XCTAssertEqual(try res.get().map(\.description), ["127.0.0.1:8443"])
        let (res6, _) = try XCTUnwrap(resolve(r, "[::1]", 8443))
        XCTAssertEqual(try res6.get().map(\.description), ["[::1]:8443"])
        XCTAssertEqual(calls.load(ordering: .relaxed), 0)
    }

    func testLocalhostResolvesOffLoopAndAnswersOnLoop() throws {
        let r = Resolver()
        let (res, onLoop) = try XCTUnwrap(resolve(r, "localhost", 80))
        XCTAssertTrue(onLoop, "completion must run on the asking loop")
        let addrs = try res.get()
        XCTAssertFalse(addrs.isEmpty)
        XCTAssertTrue(addrs.allSatisfy { $0.isLoopback && $0.port == 80 })
        XCTAssertEqual(r.cachedCount, 1)
    }

    func testCachedWithTTLAndSharedLookups() throws {
        let calls = Atomic<Int>(0)
        let r = Resolver(ttlNanos: 200 * nanosPerMilli, lookup: { host, port in
            calls.wrappingAdd(1, ordering: .relaxed)
            usleep(50_000)
            return [SocketAddress(ip: "10.0.0.1", port: port)!, SocketAddress(ip: "fd00::1", port: port)!,
                    SocketAddress(ip: "10.0.0.2", port: port)!, SocketAddress(ip: "10.0.0.1", port: port)!]
        })
        // Three concurrent asks share one lookup.
        let hs = (0..<3).map { _ in Handoff<[String]>() }
        let loop = client.loop
        loop.submit {
            for h in hs {
                r.resolve(host: "api.example", port: 443, on: loop) { h.put((try? $0.get().map(\.description)) ?? []) }
            }
        }
        for h in hs {
            // IPv4 first (as listed), families interleaved, duplicates gone.
            XCTAssertEqual(h.wait(5), ["10.0.0.1:443", "[fd00::1]:443", "10.0.0.2:443"])
        }
        XCTAssertEqual(calls.load(ordering: .relaxed), 1)
        _ = try XCTUnwrap(resolve(r, "API.example"))
        XCTAssertEqual(calls.load(ordering: .relaxed), 1, "cache hit expected")
        usleep(250_000)
        _ = try XCTUnwrap(resolve(r, "api.example"))
        XCTAssertEqual(calls.load(ordering: .relaxed), 2, "entry should have expired")
    }

    func testFailureIsResolveError() throws {
        let r = Resolver(lookup: { _, _ in [] })
        let (res, onLoop) = try XCTUnwrap(resolve(r, "nowhere.invalid"))
        XCTAssertTrue(onLoop)
        XCTAssertThrowsError(try res.get()) { e in
            XCTAssertEqual(e as? TransportError, .resolve("cannot resolve nowhere.invalid"))
        }
        XCTAssertEqual(r.cachedCount, 0)
    }
}

final class DialTests: XCTestCase {
    var client: TestLoop!

    override func setUp() { client = TestLoop() }
    override func tearDown() { client.stop() }

    func testRefusedConnectionReportsErrno() throws {
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        sock.close()
        let r = try XCTUnwrap(dial(client, DialTarget(host: "127.0.0.1", port: port, tls: false), nil))
        XCTAssertThrowsError(try r.get()) { e in XCTAssertEqual(e as? TransportError, .errno(ECONNREFUSED)) }
    }

    func testPlainDialAndHTTPSWithoutContext() throws {
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        let r = try XCTUnwrap(dial(client, DialTarget(host: "localhost", port: port, tls: false), nil))
        let t = try r.get()
        XCTAssertTrue(t is PlainTransport)
        let box = TransportBox(t)
        _ = client.sync { box.transport.close() }
        let r2 = try XCTUnwrap(dial(client, DialTarget(host: "localhost", port: port, tls: true), nil))
        XCTAssertThrowsError(try r2.get())
        sock.close()
    }

    func testCancelSuppressesCompletion() throws {
        // Nobody accepts: the TLS handshake would stall until its timeout.
        let sock = try Listener.openSocket(SocketAddress(ip: "127.0.0.1", port: 0)!)
        let port = Socket.localAddress(sock.raw).port
        let ctx = try TLSClientContext()
        let called = Handoff<Bool>()
        let loop = client.loop
        loop.submit {
            let d = Dial(loop: loop, target: DialTarget(host: "127.0.0.1", port: port, tls: true), tls: ctx,
                         connectTimeoutNanos: nanosPerSecond, handshakeTimeoutNanos: 200 * nanosPerMilli) { _ in
                called.put(true)
            }
            let box = DialBox(d)
            let timer = CancelAfter(loop: loop) { box.dial.cancel() }
            loop.arm(timer.timer, afterNanos: 50 * nanosPerMilli)
            CancelAfter.keep.withLock { $0.append(timer) }
        }
        XCTAssertNil(called.wait(0.6), "completion ran after cancel")
        sock.close()
    }
}

struct DialBox: @unchecked Sendable {
    let dial: Dial
    init(_ d: Dial) { dial = d }
}

/// Runs a closure from a loop timer (owner: that loop).
final class CancelAfter: TimerTarget, @unchecked Sendable {
    static let keep = Lock<[CancelAfter]>([])
    lazy var timer = LoopTimer(target: self)
    let action: () -> Void
    init(loop: Loop, _ action: @escaping () -> Void) { self.action = action }
    func timerFired(_ timer: LoopTimer) { action() }
}
