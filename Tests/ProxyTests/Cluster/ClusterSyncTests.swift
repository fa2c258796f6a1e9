import Glibc
import Reactor
import XCTest

@testable import Proxy

/// One ccload "instance" in the test process: its own `Store` on the shared database file,
/// its own `ProxyShared` and `ControlPlane`, and a bus on the shared hub.
private final class Instance {
    let store: Store
    let shared: ProxyShared
    let control: ControlPlane
    let bus: ClusterBus
    let config: ConfigSync
    let cooldowns: CooldownSync
    let affinity: AffinitySync

    init(_ name: String, path: String, hub: LoopbackClusterHub, rereadNanos: UInt64 = 30 * nanosPerSecond) throws {
        store = try StoreTest.open(path: path)
        shared = ProxyShared(store: store)
        control = try ControlPlane(store: store, shared: shared)
        bus = ClusterBus(instance: name, transport: hub.transport())
        config = ConfigSync(control: control, bus: bus, rereadNanos: rereadNanos)
        cooldowns = CooldownSync(book: shared.cooldowns, bus: bus, store: store)
        affinity = AffinitySync(affinity: shared.selector.affinity!, bus: bus)
    }

    func start() {
        config.start()
        cooldowns.start()
        bus.start()
    }

    func stop() {
        bus.stop()
        config.stop()
        cooldowns.stop()
        affinity.stop()
        store.close()
    }

    var channelNames: [String] { control.live.table?.channels.map(\.name) ?? [] }
}

final class ClusterSyncTests: XCTestCase {
    private var dir = ""
    private var path: String { dir + "/ccload.db" }
    private var running: [Instance] = []

    override func setUp() {
        dir = StoreTest.tempDir()
    }

    override func tearDown() {
        for i in running { i.stop() }
        running = []
        StoreTest.remove(dir)
    }

    private func instance(_ name: String, _ hub: LoopbackClusterHub, rereadNanos: UInt64 = 30 * nanosPerSecond,
                          start: Bool = true) throws -> Instance {
        let i = try Instance(name, path: path, hub: hub, rereadNanos: rereadNanos)
        running.append(i)
        if start { i.start() }
        return i
    }

    private func pair(rereadNanos: UInt64 = 30 * nanosPerSecond) throws -> (Instance, Instance, LoopbackClusterHub) {
        let hub = LoopbackClusterHub()
        let a = try instance("a", hub, rereadNanos: rereadNanos)
        let b = try instance("b", hub, rereadNanos: rereadNanos)
        eventually("both first resyncs") { a.bus.counters.snapshot.resyncs == 1 && b.bus.counters.snapshot.resyncs == 1 }
        eventually("both first full reloads") { a.config.counters.withLock { $0.fullReloads } == 1 && b.config.counters.withLock { $0.fullReloads } == 1 }
        return (a, b, hub)
    }

    /// Waits (bounded) until `done` holds; fails the test when it does not.
    private func eventually(_ what: String, within seconds: Double = 5, _ done: () -> Bool) {
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        while !done() {
            if monotonicNanos() > deadline { return XCTFail("timed out waiting for \(what)") }
            usleep(2_000)
        }
    }

    private func channel(_ name: String) -> Channel {
        Channel(id: 0, name: name, kind: .anthropic, urls: ["http://127.0.0.1:9"], keys: [ChannelKey(index: 0, secret: "sk-\(name)-0123456789")])
    }

    // MARK: configuration

    func testAChannelAddedOnAReachesBsLiveTableWithinASecond() throws {
        let (a, b, _) = try pair()
        XCTAssertEqual(b.channelNames, [])
        _ = try a.store.createChannel(channel("one"))
        let start = monotonicNanos()
        try a.control.reloadChannels()
        eventually("b to route the new channel", within: 1) { b.channelNames == ["one"] }
        let took = Double(monotonicNanos() - start) / 1e9
        XCTAssertLessThan(took, 1, "took \(took) s")
        // Settings and tokens travel the same way.
        try a.store.setSettings(["max_key_retries": "2"])
        try a.control.reloadSettings()
        eventually("b to apply the setting", within: 1) { b.shared.selector.settings.maxKeyRetries == 2 }
        _ = try a.store.createToken(AuthToken(name: "t"))
        try a.control.reloadTokens()
        eventually("b to know the token", within: 1) { b.shared.auth.tokenCount == 1 }
        // B's reloads were not sent back to A (no ping-pong).
        usleep(200_000)
        XCTAssertEqual(a.config.counters.withLock { $0.received }, 0)
        XCTAssertEqual(b.config.counters.withLock { $0.received }, 3)
        XCTAssertEqual(b.config.counters.withLock { $0.reloadFailures }, 0)
    }

    func testTenChangesInABurstBecomeOneReload() throws {
        let (a, b, _) = try pair()
        let before = b.config.counters.withLock { $0 }
        _ = try a.store.createChannel(channel("one"))
        for _ in 0..<10 { a.bus.publish(.config, ConfigWire.encode(.channels)) }
        eventually("b to hear all ten") { b.config.counters.withLock { $0.received } == before.received + 10 }
        eventually("b to route the channel") { b.channelNames == ["one"] }
        usleep(200_000)
        let after = b.config.counters.withLock { $0 }
        XCTAssertEqual(after.reloads - before.reloads, 1, "ten messages within 50 ms: one reload")
        XCTAssertEqual(after.fullReloads, before.fullReloads)
    }

    func testAnOutageThenRecoveryMakesBReloadEverything() throws {
        let (a, b, hub) = try pair()
        hub.failing.withLock { $0 = true }
        eventually("b to notice the outage") { b.bus.counters.snapshot.receiveFailures + b.bus.counters.snapshot.sendFailures > 0 }
        // Made while B is cut off, and never announced: only B's resync can find it.
        _ = try a.store.createChannel(channel("while-down"))
        usleep(300_000)
        XCTAssertEqual(b.channelNames, [], "nothing reached b during the outage")
        hub.failing.withLock { $0 = false }
        eventually("b's resync") { b.bus.counters.snapshot.resyncs == 2 }
        eventually("b's full reload to pick up the change") { b.channelNames == ["while-down"] }
        // The reload publishes the table before it counts itself: wait for the count too.
        eventually("the full reload counted") { b.config.counters.withLock { $0.fullReloads } >= 2 }
        usleep(100_000)
        XCTAssertEqual(b.config.counters.withLock { $0.fullReloads }, 2, "one full reload for the resync, no more")
    }

    func testThePeriodicReReadIsASafetyNet() throws {
        let hub = LoopbackClusterHub()
        let b = try instance("b", hub, rereadNanos: 200 * nanosPerMilli)
        eventually("the resync's full reload") { b.config.counters.withLock { $0.fullReloads } == 1 }
        // Written by another instance that announces nothing (a lost message).
        let other = try StoreTest.open(path: path)
        defer { other.close() }
        _ = try other.createChannel(channel("quiet"))
        eventually("the periodic re-read", within: 2) { b.channelNames == ["quiet"] }
        // The re-read publishes the table before it counts itself: the count is waited for.
        eventually("the periodic re-read counted") { b.config.counters.withLock { $0.fullReloads } >= 2 }
        XCTAssertEqual(b.bus.counters.snapshot.resyncs, 1, "no resync did it")
    }

    // MARK: cooldowns

    func testACooldownOnAAppearsOnBAndAClearOnAClearsB() throws {
        let (a, b, _) = try pair()
        let now = monotonicNanos()
        let until = a.shared.cooldowns.record(failure: .server, scope: .channel(5), now: now)
        a.shared.cooldowns.record(failure: .auth, scope: .key(channelID: 6, keyIndex: 2), now: now)
        let model = "claude sonnet ✓ 100%"
        a.shared.cooldowns.record(failure: .notFound, scope: .model(channelID: 6, model: model), now: now)
        eventually("b to hold the three") { b.shared.cooldowns.count == 3 }
        let remainingB = try XCTUnwrap(b.shared.cooldowns.remaining(.channel(5), now: now))
        let remainingA = until - now
        XCTAssertLessThan(remainingA > remainingB ? remainingA - remainingB : remainingB - remainingA, 50 * nanosPerMilli,
                          "the same wall-clock end on both")
        XCTAssertNotNil(b.shared.cooldowns.remaining(.key(channelID: 6, keyIndex: 2), now: now))
        XCTAssertNotNil(b.shared.cooldowns.remaining(.model(channelID: 6, model: model), now: now))
        let entry = try XCTUnwrap(b.shared.cooldowns.snapshot(now: now).first { $0.scope == .channel(5) })
        XCTAssertEqual(entry.lastClass, .server)
        XCTAssertEqual(entry.consecutiveFailures, 1)

        // A success on A clears it on B; a failure while cooling publishes nothing new.
        let published = a.cooldowns.counters.withLock { $0.published }
        a.shared.cooldowns.record(failure: .server, scope: .channel(5), now: now + 1)
        XCTAssertEqual(a.cooldowns.counters.withLock { $0.published }, published, "no news while it cools")
        a.shared.cooldowns.recordSuccess(channelID: 5, keyIndex: 0, model: "m")
        a.shared.cooldowns.clear(.model(channelID: 6, model: model))
        eventually("b to clear both") { b.shared.cooldowns.count == 1 }
        XCTAssertNil(b.shared.cooldowns.remaining(.channel(5), now: monotonicNanos()))
        XCTAssertNotNil(b.shared.cooldowns.remaining(.key(channelID: 6, keyIndex: 2), now: monotonicNanos()))
        XCTAssertEqual(b.cooldowns.counters.withLock { $0.rejected }, 0)
    }

    func testBKeepsALongerLocalCooldown() throws {
        let (a, b, hub) = try pair()
        let peer = ClusterBus(instance: "peer", transport: hub.transport())
        peer.start()
        defer { peer.stop() }
        let now = monotonicNanos()
        // B was told by its upstream to stay away for an hour; a peer says a minute.
        b.shared.cooldowns.record(failure: .rateLimit, scope: .channel(7), now: now, explicitResetAt: now + 3600 * nanosPerSecond)
        let unchanged = b.cooldowns.counters.withLock { $0.unchanged }
        peer.publish(.cooldown, "1 s c 7 - \(wallClockMillis() + 60_000) 60000 1 server 0")
        eventually("b to weigh a's shorter cooldown") { b.cooldowns.counters.withLock { $0.unchanged } > unchanged }
        let left = try XCTUnwrap(b.shared.cooldowns.remaining(.channel(7), now: now))
        XCTAssertGreaterThan(left, 3000 * nanosPerSecond, "the longer local cooldown stands")
        // A's longer one replaces B's shorter one.
        a.shared.cooldowns.record(failure: .rateLimit, scope: .key(channelID: 7, keyIndex: 1), now: now,
                                  explicitResetAt: now + 2 * 3600 * nanosPerSecond)
        b.shared.cooldowns.record(failure: .server, scope: .key(channelID: 7, keyIndex: 1), now: now)
        eventually("b to take a's longer cooldown") {
            (b.shared.cooldowns.remaining(.key(channelID: 7, keyIndex: 1), now: now) ?? 0) > 7000 * nanosPerSecond
        }
    }

    func testAClearDoesNotForgetALaterLocalFailure() {
        let book = CooldownBook()
        book.record(failure: .server, scope: .channel(1), now: 10 * nanosPerSecond)
        XCTAssertFalse(book.forget(.channel(1), startedBefore: 9 * nanosPerSecond), "the failure came after the clear")
        XCTAssertNotNil(book.remaining(.channel(1), now: 10 * nanosPerSecond))
        XCTAssertTrue(book.forget(.channel(1), startedBefore: 11 * nanosPerSecond))
        XCTAssertNil(book.remaining(.channel(1), now: 10 * nanosPerSecond))
        XCTAssertEqual(book.count, 0)
    }

    func testAFlappingScopeIsRateLimitedAndEndsInTheSameState() throws {
        let (a, b, _) = try pair()
        var now = monotonicNanos()
        let began = now
        for _ in 0..<50 {
            now += 1
            a.shared.cooldowns.record(failure: .server, scope: .channel(9), now: now)
            a.shared.cooldowns.recordSuccess(channelID: 9, keyIndex: 0, model: "m")
        }
        // One message per 100 ms window the loop spanned, plus the last state when its window ends.
        let windows = Int((monotonicNanos() - began) / (100 * nanosPerMilli)) + 1
        let c = a.cooldowns.counters.withLock { $0 }
        XCTAssertLessThanOrEqual(c.published, windows, "at most one message per scope per 100 ms: \(c)")
        XCTAssertGreaterThanOrEqual(c.deferred, 100 - windows)
        // The last state (cleared) goes out when the interval ends.
        eventually("a to send the last state") { a.cooldowns.counters.withLock { $0.published } == c.published + 1 }
        eventually("b to end as a does, not cooling") { b.shared.cooldowns.count == 0 }
        usleep(200_000)
        XCTAssertEqual(a.cooldowns.counters.withLock { $0.published }, c.published + 1, "nothing more")
    }

    func testAPeerThatStartsLateLearnsWhatCools() throws {
        let hub = LoopbackClusterHub()
        let a = try instance("a", hub)
        eventually("a's first resync") { a.bus.counters.snapshot.resyncs == 1 }
        let now = monotonicNanos()
        a.shared.cooldowns.record(failure: .server, scope: .channel(3), now: now)
        // Stored (as Server's periodic save does) for a peer that starts while a is gone…
        try a.store.saveCooldowns(a.shared.cooldowns, nowMonotonic: now, nowWallMillis: wallClockMillis())
        a.shared.cooldowns.record(failure: .auth, scope: .channel(4), now: now)
        // …and the unsaved one comes from a's answer to b's request.
        let b = try instance("b", hub)
        eventually("b to learn both") {
            b.shared.cooldowns.remaining(.channel(3), now: now) != nil && b.shared.cooldowns.remaining(.channel(4), now: now) != nil
        }
        XCTAssertEqual(b.cooldowns.counters.withLock { $0.restored }, 1, "channel 3 from the store")
        eventually("a's answer to be counted") { a.cooldowns.counters.withLock { $0.answered } >= 2 }
    }

    func testMalformedAndAbsurdMessagesAreCountedAndIgnored() throws {
        let (_, b, hub) = try pair()
        let rogue = ClusterBus(instance: "rogue", transport: hub.transport())
        rogue.start()
        defer { rogue.stop() }
        let wall = wallClockMillis()
        let cooldownJunk = [
            "", "1", "2 s c 1 - \(wall + 60_000) 60000 1 server 0", "1 s c 1 - \(wall + 60_000) 60000 1 server",
            "1 s c 1 x \(wall + 60_000) 60000 1 server 0", "1 s c -1 - \(wall + 60_000) 60000 1 server 0",
            "1 s c 1 - 99999999999999999999 60000 1 server 0", "1 s c 1 - \(wall + 60_000) 60000 0 server 0",
            "1 s c 1 - \(wall + 60_000) 60000 1 meltdown 0", "1 s c 1 - \(wall + 60_000) 60000 1 server 2",
            "1 s c 1  - \(wall + 60_000) 60000 1 server 0", "1 s m 1 a%2 \(wall + 60_000) 60000 1 server 0",
            "1 s m 1 a%41 \(wall + 60_000) 60000 1 server 0", "1 s m 1 %FF \(wall + 60_000) 60000 1 server 0",
            "1 s k 1 01 \(wall + 60_000) 60000 1 server 0", "1 x c 1", "1 ? extra",
            // Well formed but absurd: a year ahead, a clear from 1970.
            "1 s c 1 - \(wall + 365 * 86_400_000) 60000 1 server 0", "1 s c 1 - \(wall + 60_000) \(365 * 86_400_000) 1 server 0",
            "1 x c 1 - 0",
        ]
        for j in cooldownJunk { rogue.publish(.cooldown, j) }
        let affinityJunk = ["1 00000000000000zz 1 0 \(wall)", "1 0123 1 0 \(wall)", "1 0123456789ABCDEF 1 0 \(wall)",
                            "1 0123456789abcdef 1 0 \(wall + 30 * 86_400_000)", "1 0123456789abcdef 1 0"]
        for j in affinityJunk { rogue.publish(.affinity, j) }
        for j in ["1 everything", "channels", "1 channels extra"] { rogue.publish(.config, j) }
        eventually("b to reject every cooldown message") { b.cooldowns.counters.withLock { $0.rejected } == cooldownJunk.count }
        eventually("b to reject every affinity message") { b.affinity.counters.withLock { $0.rejected } == affinityJunk.count }
        eventually("b to reject every config message") { b.config.counters.withLock { $0.malformed } == 3 }
        XCTAssertEqual(b.shared.cooldowns.count, 0)
        XCTAssertEqual(b.shared.selector.affinity?.count, 0)
        XCTAssertEqual(b.cooldowns.counters.withLock { $0.applied }, 0)
        // Still listening: a good message after the junk applies.
        rogue.publish(.cooldown, "1 s c 1 - \(wall + 60_000) 60000 1 server 0")
        eventually("b to apply the good one") { b.shared.cooldowns.remaining(.channel(1), now: monotonicNanos()) != nil }
    }

    // MARK: affinity

    func testAnAffinityPlacedOnAIsFoundByB() throws {
        let (a, b, _) = try pair()
        let session = SessionKey("conversation-1")
        let now = monotonicNanos()
        a.shared.selector.affinity!.record(session: session, channel: 3, key: 1, now: now)
        eventually("b to know the session") { b.shared.selector.affinity!.lookup(session, now: monotonicNanos()) != nil }
        XCTAssertEqual(b.shared.selector.affinity!.lookup(session, now: monotonicNanos()), AffinityTarget(channelID: 3, keyIndex: 1))
        // The same target again within a second is not sent again; a new target is.
        for i in 1...20 { a.shared.selector.affinity!.record(session: session, channel: 3, key: 1, now: now + UInt64(i) * 1_000) }
        XCTAssertEqual(a.affinity.counters.withLock { $0.published }, 1)
        a.shared.selector.affinity!.record(session: session, channel: 4, key: 0, now: now + 50_000)
        XCTAssertEqual(a.affinity.counters.withLock { $0.published }, 2)
        eventually("b to follow the move") {
            b.shared.selector.affinity!.lookup(session, now: monotonicNanos()) == AffinityTarget(channelID: 4, keyIndex: 0)
        }
        a.shared.selector.affinity!.record(session: session, channel: 4, key: 0, now: now + 2 * nanosPerSecond)
        XCTAssertEqual(a.affinity.counters.withLock { $0.published }, 3, "a second later it is sent again")
        // B's adoption was not sent back.
        usleep(150_000)
        XCTAssertEqual(b.affinity.counters.withLock { $0.published }, 0)
        XCTAssertEqual(a.affinity.counters.withLock { $0.adopted }, 0)
    }

    // MARK: routing on B by what A learned

    func testBRoutesTheSessionAsAPlacedItAndAvoidsWhatACooled() throws {
        let (a, b, _) = try pair()
        let one = try a.store.createChannel(channel("one"))
        let two = try a.store.createChannel(channel("two"))
        try a.control.reloadChannels()
        eventually("b to route both") { b.channelNames.sorted() == ["one", "two"] }
        let table = try XCTUnwrap(b.control.live.table)
        let session = SessionKey("conversation-2")
        func onB() -> [Candidate] {
            b.shared.selector.candidates(table: table, kind: .anthropic, model: "claude-sonnet-4", session: session,
                                         now: monotonicNanos(), cooldowns: b.shared.cooldowns)
        }
        a.shared.selector.affinity!.record(session: session, channel: two.id, key: 0, now: monotonicNanos())
        eventually("b to send the session's next turn where a did") { onB().first?.channelID == two.id }
        a.shared.cooldowns.record(failure: .server, scope: .channel(two.id), now: monotonicNanos())
        eventually("b to stop sending to the channel a found dead") {
            let c = onB()
            return c.first?.channelID == one.id && !c.contains { $0.channelID == two.id && $0.coolingUntil == nil }
        }
    }

    // MARK: encodings

    func testTheEncodingsRoundTrip() {
        let messages: [CooldownWire] = [
            .cooling(scope: .channel(1), untilMs: 1_700_000_000_000, durationMs: 120_000, failures: 3, failure: .server, explicit: false),
            .cooling(scope: .key(channelID: 2, keyIndex: 7), untilMs: 1, durationMs: 0, failures: 1, failure: .rateLimit, explicit: true),
            .cooling(scope: .model(channelID: 3, model: "a b%c\u{7F}é"), untilMs: 5, durationMs: 5, failures: 9, failure: .notFound, explicit: false),
            .cleared(scope: .model(channelID: 3, model: "gpt-5"), atMs: 0),
            .request,
        ]
        for m in messages {
            let text = m.encode()
            XCTAssertTrue(text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, text)
            XCTAssertEqual(CooldownWire.parse(text[...]), m, text)
        }
        XCTAssertEqual(CooldownWire.encode(.model(channelID: 3, model: "a b%")), "m 3 a%20b%25")
        let aff = AffinityWire(session: 0xDEAD_BEEF_0000_0001, channelID: 12, keyIndex: 3, warmUntilMs: 1_700_000_000_000)
        XCTAssertEqual(aff.encode(), "1 deadbeef00000001 12 3 1700000000000")
        XCTAssertEqual(AffinityWire.parse(aff.encode()[...]), aff)
        for p in ConfigPart.allCases { XCTAssertEqual(ConfigWire.parse(ConfigWire.encode(p)[...]), p) }
        XCTAssertNil(ConfigWire.parse(" 1 channels"))
        XCTAssertNil(ConfigWire.parse("1 channels "))
    }
}
