import Glibc
import Reactor
import XCTest

@testable import Proxy

final class ClusterBusTests: XCTestCase {
    /// Waits (bounded) until `done` holds.
    private func eventually(_ what: String, within seconds: Double = 5, _ done: () -> Bool) {
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        while !done() {
            if monotonicNanos() > deadline { return XCTFail("timed out waiting for \(what)") }
            usleep(5_000)
        }
    }

    func testPeersHearEachOtherButNotThemselves() {
        let hub = LoopbackClusterHub()
        let a = ClusterBus(instance: "a", transport: hub.transport())
        let b = ClusterBus(instance: "b host", transport: hub.transport())
        XCTAssertEqual(b.instance, "b_host", "a space cannot be in a name")
        let heardByA = Lock<[ClusterMessage]>([])
        let heardByB = Lock<[ClusterMessage]>([])
        a.subscribe(.config) { m in heardByA.withLock { $0.append(m) } }
        b.subscribe(.config) { m in heardByB.withLock { $0.append(m) } }
        b.subscribe(.cooldown) { m in heardByB.withLock { $0.append(m) } }
        a.start(); b.start()
        defer { a.stop(); b.stop() }
        a.publish(.config, "channels")
        a.publish(.cooldown, "channel 3 until 99\nsecond line")
        eventually("b to hear both") { heardByB.withLock { $0.count } == 2 }
        XCTAssertEqual(heardByB.withLock { $0 }, [
            ClusterMessage(sender: "a", topic: .config, body: "channels"),
            ClusterMessage(sender: "a", topic: .cooldown, body: "channel 3 until 99 second line"),
        ])
        usleep(150_000)
        XCTAssertEqual(heardByA.withLock { $0 }, [], "an instance skips its own messages")
        XCTAssertEqual(a.counters.snapshot.sent, 2)
    }

    func testResyncAtStartAndAfterAnOutage() {
        let hub = LoopbackClusterHub()
        let a = ClusterBus(instance: "a", transport: hub.transport())
        let b = ClusterBus(instance: "b", transport: hub.transport())
        let resyncs = Lock(0)
        let heard = Lock<[String]>([])
        b.onResync { resyncs.withLock { $0 += 1 } }
        b.subscribe(.config) { m in heard.withLock { $0.append(m.body) } }
        a.start(); b.start()
        defer { a.stop(); b.stop() }
        eventually("the first resync") { resyncs.withLock { $0 } == 1 }
        hub.failing.withLock { $0 = true }
        a.publish(.config, "during the outage")
        eventually("a failed send") { a.counters.snapshot.sendFailures > 0 }
        XCTAssertEqual(heard.withLock { $0 }, [])
        hub.failing.withLock { $0 = false }
        eventually("the resync after the outage") { resyncs.withLock { $0 } == 2 }
        eventually("the kept message") { heard.withLock { $0 } == ["during the outage"] }
    }

    func testPackingRespectsTheLimitAndParsingRejectsJunk() {
        let lines = (0..<10).map { "a config \(String(repeating: "x", count: 30))\($0)" }
        let packed = ClusterBus.pack(lines, limit: 100)
        XCTAssertTrue(packed.allSatisfy { $0.utf8.count <= 100 }, "\(packed.map { $0.utf8.count })")
        XCTAssertEqual(packed.flatMap { $0.split(separator: "\n").map(String.init) }, lines)
        XCTAssertEqual(ClusterBus.pack([String(repeating: "y", count: 101)], limit: 100), [], "a line over the limit is dropped")
        XCTAssertNil(ClusterBus.parse("a nosuchtopic body"))
        XCTAssertNil(ClusterBus.parse("onlyone"))
        XCTAssertNil(ClusterBus.parse(" config x"))
        XCTAssertEqual(ClusterBus.parse("a config"), ClusterMessage(sender: "a", topic: .config, body: ""))
    }

    func testAFullQueueDropsAndCounts() {
        let hub = LoopbackClusterHub()
        hub.failing.withLock { $0 = true }
        let a = ClusterBus(instance: "a", transport: hub.transport())
        for i in 0..<(ClusterBus.queueCapacity + 10) { a.publish(.limits, "\(i)") }
        XCTAssertEqual(a.counters.snapshot.dropped, 10)
    }
}
