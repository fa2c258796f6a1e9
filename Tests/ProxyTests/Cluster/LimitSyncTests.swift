import Glibc
import Reactor
import XCTest

@testable import Proxy

/// Two "instances": two `TokenMeters`, each with its `LimitSync` on its own bus, the buses on
/// one `LoopbackClusterHub`. The wall clock is fixed (one minute, one day), so a test never
/// straddles a window.
final class LimitSyncTests: XCTestCase {
    private static let wall: UInt64 = 1_800_000_000_000 + 5_000
    private let clock: @Sendable () -> UInt64 = { LimitSyncTests.wall }

    private struct Instance {
        let bus: ClusterBus
        let meters: TokenMeters
        let sync: LimitSync
    }

    private var started: [Instance] = []

    override func tearDown() {
        for i in started { i.sync.stop(); i.bus.stop() }
        started = []
    }

    private func instance(_ name: String, on hub: LoopbackClusterHub, timing: LimitSync.Timing = LimitSync.Timing(),
                          meters: TokenMeters = TokenMeters(), reseed: (@Sendable () -> Void)? = nil) -> Instance {
        let bus = ClusterBus(instance: name, transport: hub.transport())
        let sync = LimitSync(meters: meters, bus: bus, timing: timing, reseed: reseed, wallMillis: clock)
        let i = Instance(bus: bus, meters: meters, sync: sync)
        bus.start()
        sync.start()
        started.append(i)
        return i
    }

    /// Instances `a` and `b` on one hub, with `change` applied to the default timing.
    private func pair(_ change: (inout LimitSync.Timing) -> Void = { _ in }) -> (Instance, Instance) {
        var timing = LimitSync.Timing()
        change(&timing)
        let hub = LoopbackClusterHub()
        return (instance("a", on: hub, timing: timing), instance("b", on: hub, timing: timing))
    }

    private func token(_ change: (inout ClientToken) -> Void) -> ClientToken {
        var t = ClientToken(id: 7, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        change(&t)
        return t
    }


    func testLimitSyncSharesRequestsPerMinute() {
        let (a, b) = pair()
        let t = token { $0.requestsPerMinute = 10 }
        for _ in 0..<6 {
            XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
            a.meters.finish(tokenID: 7, costMicroUSD: 0, nowMillis: Self.wall)
        }
        waitUntil("b to count a's 6") { b.meters.peerFigures(tokenID: 7).requests == 6 }
        var admittedOnB = 0
        for _ in 0..<10 where b.meters.admit(t, model: "m", nowMillis: Self.wall) == nil { admittedOnB += 1 }
        XCTAssertEqual(admittedOnB, 4, "10 in all across both")
        XCTAssertEqual(b.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429)
        waitUntil("a to count b's 4") { a.meters.peerFigures(tokenID: 7).requests == 4 }
        XCTAssertEqual(a.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429, "a is at the limit too")
        // Another minute: the peer's figure of the last one counts 0.
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall + 60_000))
    }

    func testLimitSyncHoldsConcurrencyAcrossBoth() {
        let (a, b) = pair()
        let t = token { $0.maxConcurrency = 2 }
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        waitUntil("b to count a's request in flight") { b.meters.peerFigures(tokenID: 7).inFlight == 1 }
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall))
        XCTAssertEqual(b.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429, "1 on a + 1 on b")
        waitUntil("a to count b's") { a.meters.peerFigures(tokenID: 7).inFlight == 1 }
        XCTAssertEqual(a.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429)
        a.meters.finish(tokenID: 7, costMicroUSD: 0, nowMillis: Self.wall)
        waitUntil("b to see a's finish") { b.meters.peerFigures(tokenID: 7).inFlight == 0 }
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall))
    }

    func testLimitSyncSilentInstanceFreesItsSlots() {
        let (a, b) = pair { $0.inFlightExpiryNanos = 600_000_000 }
        let t = token { $0.maxConcurrency = 2 }
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        waitUntil("b to count a's 2") { b.meters.peerFigures(tokenID: 7).inFlight == 2 }
        XCTAssertEqual(b.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429)
        // A stops publishing (as if killed): its leases lapse after the expiry, not before.
        let stopped = monotonicNanos()
        a.sync.stop()
        waitUntil("a's slots to lapse", within: 3) { b.meters.peerFigures(tokenID: 7).inFlight == 0 }
        XCTAssertGreaterThanOrEqual(monotonicNanos() - stopped, 400_000_000, "not before the expiry")
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall))
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall))
    }

    func testLimitSyncCostCapReachedOnARefusesOnB() {
        let (a, b) = pair()
        let t = token { $0.dailyCostCapMicroUSD = 1_000 }
        waitUntil("b to have a's figures' base") { b.sync.settled }
        XCTAssertNil(b.meters.admit(t, model: "m", nowMillis: Self.wall))
        b.meters.finish(tokenID: 7, costMicroUSD: 0, nowMillis: Self.wall)
        XCTAssertNil(a.meters.admit(t, model: "m", reserveMicroUSD: 100, nowMillis: Self.wall))
        waitUntil("b to count a's reservation") { b.meters.peerFigures(tokenID: 7).reserved == 100 }
        a.meters.finish(tokenID: 7, costMicroUSD: 1_500, reservedMicroUSD: 100, nowMillis: Self.wall)
        waitUntil("b to count a's spend") { b.meters.peerFigures(tokenID: 7).today == 1_500 }
        XCTAssertEqual(b.meters.peerFigures(tokenID: 7).reserved, 0)
        let no = b.meters.admit(t, model: "m", nowMillis: Self.wall)
        XCTAssertEqual(no?.status, 429)
        XCTAssertTrue(no?.message.contains("daily cost cap") ?? false, "\(String(describing: no))")
    }

    /// A re-seed reads a peer's spend from the store; the bus then adds only what it spends after.
    func testLimitSyncReseedDoesNotCountAPeersSpendTwice() {
        let hub = LoopbackClusterHub()
        let a = instance("a", on: hub)
        let t = token { $0.totalCostCapMicroUSD = 1_000_000 }
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        a.meters.finish(tokenID: 7, costMicroUSD: 600, nowMillis: Self.wall)
        usleep(20_000)
        // B starts later; its store already holds a's 600.
        let bMeters = TokenMeters()
        let seeds = Lock(0)
        let b = instance("b", on: hub, meters: bMeters) {
            bMeters.seed(today: [7: 600], total: [7: 600], nowMillis: LimitSyncTests.wall)
            seeds.withLock { $0 += 1 }
        }
        waitUntil("b to read the store and have a's base") { b.sync.settled }
        XCTAssertEqual(seeds.withLock { $0 }, 1)
        XCTAssertEqual(b.meters.peerFigures(tokenID: 7).total, 0, "a's 600 are in b's seed already")
        XCTAssertEqual(b.meters.spend(tokenID: 7, nowMillis: Self.wall).total, 600)
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        a.meters.finish(tokenID: 7, costMicroUSD: 300, nowMillis: Self.wall)
        waitUntil("b to count a's new 300") { b.meters.peerFigures(tokenID: 7).total == 300 }
        XCTAssertEqual(b.meters.spend(tokenID: 7, nowMillis: Self.wall).total, 600)
        XCTAssertEqual(b.meters.peerFigures(tokenID: 7).today, 300)
    }

    /// A peer gone for good (silent past `departNanos`) leaves its spend in the meters.
    func testLimitSyncAGonePeersSpendStaysCounted() {
        let (a, b) = pair { $0.departNanos = 500_000_000 }
        let t = token { $0.dailyCostCapMicroUSD = 1_000 }
        waitUntil("b to have a's figures' base") { b.sync.settled }
        XCTAssertNil(a.meters.admit(t, model: "m", nowMillis: Self.wall))
        a.meters.finish(tokenID: 7, costMicroUSD: 1_200, nowMillis: Self.wall)
        waitUntil("b to count a's spend") { b.meters.peerFigures(tokenID: 7).today == 1_200 }
        a.sync.stop()
        waitUntil("a to be gone") { b.sync.counts.peersGone == 1 }
        XCTAssertEqual(b.meters.peerFigures(tokenID: 7).today, 0)
        XCTAssertEqual(b.meters.spend(tokenID: 7, nowMillis: Self.wall).today, 1_200, "folded into b's own counts")
        XCTAssertEqual(b.meters.admit(t, model: "m", nowMillis: Self.wall)?.status, 429)
    }

    /// The ticker reads its clock, then the bus's thread notes a peer's body: that peer was
    /// heard 0 ns before the tick, not 2^64 ns (a wrapped difference made it "departed", its
    /// figures dropped and its spend folded into this instance's own counts).
    func testLimitSyncAPeerHeardAfterTheTicksClockIsNotGone() {
        let hub = LoopbackClusterHub()
        var timing = LimitSync.Timing()
        timing.departNanos = 1_000_000_000
        let meters = TokenMeters()
        let sync = LimitSync(meters: meters, bus: ClusterBus(instance: "b", transport: hub.transport()), timing: timing, wallMillis: clock)
        let before = monotonicNanos()
        var f = LocalFigures()
        f.requests = 3
        for body in LimitBatch.bodies(startMillis: 1, minute: Self.wall / 60_000, day: meters.calendar.day(Self.wall),
                                      records: [LimitBatch.Record(tokenID: 7, figures: f)], kind: .update) {
            sync.receive(ClusterMessage(sender: "a", topic: .limits, body: body))
        }
        sync.tick(now: before)
        XCTAssertEqual(sync.counts.peersGone, 0, "heard after the tick's clock: not gone")
        XCTAssertEqual(meters.peerFigures(tokenID: 7).requests, 3)
        sync.tick(now: monotonicNanos() + 2_000_000_000)
        XCTAssertEqual(sync.counts.peersGone, 1, "silent past departNanos: gone")
    }

    func testLimitSyncMalformedBodiesAreCountedAndIgnored() {
        let hub = LoopbackClusterHub()
        let b = instance("b", on: hub)
        let x = ClusterBus(instance: "x", transport: hub.transport())
        x.start()
        defer { x.stop() }
        let minute = Self.wall / 60_000, day = Self.wall / 86_400_000
        let junk = [
            "L1 junk", "L2 1 \(minute) \(day) u 7:1:0:0:0:0:0:0", "L1 1 \(minute) \(day) u 7:1:0",
            "L1 1 \(minute) \(day) u 7:9999999999999999:0:0:0:0:0:0", "L1 1 \(minute) \(day) u 7:1:0:0:0:0:0:0 7:2:0:0:0:0:0:0",
            "L1 1 \(minute + 10) \(day) u 7:5:0:0:0:0:0:0", "L1 1 \(minute) \(day) u 7:-1:0:0:0:0:0:0",
            "L1 1 \(minute) \(day) x 7:1:0:0:0:0:0:0", "L1 1 \(minute) \(day) u  7:1:0:0:0:0:0:0", "L1 01 \(minute) \(day) u", "R1 x",
        ]
        for j in junk { x.publish(.limits, j) }
        x.publish(.limits, "L1 1 \(minute) \(day) u 7:3:1:0:0:0:0:0")
        waitUntil("b to hear them all") { b.sync.counts.malformed + b.sync.counts.received >= junk.count + 1 }
        XCTAssertEqual(b.sync.counts.malformed, junk.count)
        waitUntil("the good body to count") { b.meters.peerFigures(tokenID: 7).requests == 3 }
        XCTAssertEqual(b.meters.peerFigures(tokenID: 7).inFlight, 1)
    }

    func testLimitBatchRoundTripsAndSplits() {
        let f = LocalFigures(requests: 3, inFlight: 1, reserved: 20, today: 5, thisWeek: 6, thisMonth: 7, total: 8)
        let batch = LimitBatch(startMillis: 1, minute: 2, day: 3, records: [.init(tokenID: 7, figures: f)])
        XCTAssertEqual(batch.encoded(), "L1 1 2 3 u 7:3:1:20:5:6:7:8")
        XCTAssertEqual(LimitBatch.parse(batch.encoded()[...]), batch)
        let many = (0..<600).map { LimitBatch.Record(tokenID: $0, figures: f) }
        let bodies = LimitBatch.bodies(startMillis: 1, minute: 2, day: 3, records: many, kind: .dump)
        XCTAssertTrue(bodies.allSatisfy { $0.utf8.count <= LimitBatch.maxBodyBytes })
        let parsed = bodies.compactMap { LimitBatch.parse($0[...]) }
        XCTAssertEqual(parsed.count, bodies.count)
        XCTAssertEqual(parsed.flatMap(\.records), many)
        XCTAssertEqual(parsed.map(\.kind), Array(repeating: .dump, count: bodies.count - 1) + [.dumpEnd])
        XCTAssertEqual(LimitBatch.bodies(startMillis: 1, minute: 2, day: 3, records: [], kind: .dump), ["L1 1 2 3 D"])
        let absurd = LocalFigures(requests: -4, inFlight: 1, reserved: .max, today: 0, thisWeek: 0, thisMonth: 0, total: 0)
        XCTAssertEqual(LimitBatch.bodies(startMillis: 1, minute: 2, day: 3, records: [.init(tokenID: 7, figures: absurd)]),
                       ["L1 1 2 3 u 7:0:1:\(ClusterText.maxNumber):0:0:0:0"], "clamped to what the wire takes")
    }
}
