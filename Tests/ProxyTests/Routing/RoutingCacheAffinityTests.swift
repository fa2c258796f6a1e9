import Reactor
import XCTest

@testable import Proxy

/// Issue 16: affinity that follows the upstream's prompt cache, on an injected clock.
final class RoutingCacheAffinityTests: XCTestCase {
    let s = nanosPerSecond
    let t0: UInt64 = 10_000 * nanosPerSecond

    func table(_ chs: [Channel]) -> ChannelTable { try! ChannelTable(chs, state: RoutingState()) }

    func pick(_ sel: Selector, _ t: ChannelTable, _ book: CooldownBook, _ session: SessionKey?, at: UInt64) -> [Candidate] {
        sel.candidates(table: t, kind: .anthropic, model: "m", session: session, now: at, cooldowns: book)
    }

    /// One turn: the first candidate serves it (its first key), as the relay records a success.
    func turn(_ sel: Selector, _ t: ChannelTable, _ book: CooldownBook, _ session: SessionKey, at: UInt64,
              lifetime: UInt64? = nil) -> Candidate {
        let c = pick(sel, t, book, session, at: at)[0]
        sel.affinity!.record(session: session, channel: c.channelID, key: c.keys[0], now: at, cacheLifetime: lifetime)
        book.recordSuccess(channelID: c.channelID, keyIndex: c.keys[0], model: "m")
        return c
    }

    /// The scenario: A priority 10, B priority 5, one session.
    func testRecoveredHigherPriorityDoesNotTakeAWarmSession() {
        let t = table([routingChannel(1, priority: 10), routingChannel(2, priority: 5)])
        let sel = Selector(affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("user_x_account__session_abc")
        XCTAssertEqual(turn(sel, t, book, session, at: t0).channelID, 1)  // turn 1 → A
        let aBack = book.record(failure: .server, scope: .channel(1), now: t0 + s)  // A fails (120 s)
        XCTAssertEqual(turn(sel, t, book, session, at: t0 + 2 * s).channelID, 2)  // turn 2 → B
        XCTAssertEqual(turn(sel, t, book, session, at: t0 + 60 * s).channelID, 2)  // turn 3 → B, A cooling
        // Turn 4: A's cooldown is over, B's cache is warm (turn 3 + 300 s): still B, A next.
        let t4 = aBack + 10 * s
        XCTAssertNil(book.remaining(.channel(1), now: t4))
        let c4 = pick(sel, t, book, session, at: t4)
        XCTAssertEqual(c4.map(\.channelID), [2, 1])
        XCTAssertTrue(c4[0].fromAffinity)
        _ = turn(sel, t, book, session, at: t4)
        // Idle past its lifetime (turn 4 + 300 s): priority decides again.
        XCTAssertEqual(pick(sel, t, book, session, at: t4 + 300 * s)[0].channelID, 2)
        let idle = pick(sel, t, book, session, at: t4 + 301 * s)
        XCTAssertEqual(idle.map(\.channelID), [1, 2])
        XCTAssertFalse(idle[0].fromAffinity)
        // Another session never saw B: A.
        XCTAssertEqual(pick(sel, t, book, SessionKey("other"), at: t4)[0].channelID, 1)
    }

    /// The scan stops early once enough channels are usable, but not before a warm
    /// session's channel in a lower tier is found.
    func testWarmChannelInALowerTierIsFoundWithOneChannelPerRequest() {
        let t = table([routingChannel(1, priority: 10), routingChannel(2, priority: 10), routingChannel(3, priority: 5),
                       routingChannel(4, priority: 1)])
        var st = SelectorSettings()
        st.maxChannels = 1
        let sel = Selector(settings: st, affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("low")
        sel.affinity!.record(session: session, channel: 4, key: 0, now: t0)
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + s).map(\.channelID), [4])
        // Cold: the top tier, one channel.
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 301 * s).count, 1)
        XCTAssertNotEqual(pick(sel, t, book, session, at: t0 + 301 * s)[0].channelID, 4)
        // History in a lower tier: used 3 then 4; 4 cools → 3, still one channel.
        let moved = SessionKey("moved")
        sel.affinity!.record(session: moved, channel: 3, key: 0, now: t0)
        sel.affinity!.record(session: moved, channel: 4, key: 0, now: t0 + s)
        book.record(failure: .server, scope: .channel(4), now: t0 + s)
        XCTAssertEqual(pick(sel, t, book, moved, at: t0 + 2 * s).map(\.channelID), [3])
        // With two per request: the warm one first, then the top tier's winner.
        st.maxChannels = 2
        sel.settings = st
        let two = pick(sel, t, book, moved, at: t0 + 2 * s)
        XCTAssertEqual(two.count, 2)
        XCTAssertEqual(two[0].channelID, 3)
        XCTAssertTrue([1, 2].contains(two[1].channelID))
    }

    func testOneHourCacheKeepsTheSessionForAnHour() {
        let t = table([routingChannel(1, priority: 10), routingChannel(2, priority: 5)])
        let sel = Selector(affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("s1h")
        book.record(failure: .server, scope: .channel(1), now: t0)
        XCTAssertEqual(turn(sel, t, book, session, at: t0 + s, lifetime: affinityHourNanos).channelID, 2)
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 1800 * s)[0].channelID, 2)
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 3601 * s)[0].channelID, 2)
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 3602 * s)[0].channelID, 1)
        // A 5 min turn after it keeps the later of the two warm-until times.
        let sel2 = Selector(affinity: SessionAffinity())
        book.record(failure: .server, scope: .channel(1), now: t0 + 4000 * s)
        XCTAssertEqual(turn(sel2, t, book, session, at: t0 + 4001 * s, lifetime: affinityHourNanos).channelID, 2)
        book.record(failure: .server, scope: .channel(1), now: t0 + 4500 * s)
        XCTAssertEqual(turn(sel2, t, book, session, at: t0 + 4600 * s).channelID, 2)
        XCTAssertEqual(pick(sel2, t, book, session, at: t0 + 7000 * s)[0].channelID, 2)
        XCTAssertEqual(pick(sel2, t, book, session, at: t0 + 7602 * s)[0].channelID, 1)
    }

    func testMultiKeyChannelKeepsTheSessionsKey() {
        let t = table([routingChannel(1, keys: 4, strategy: .roundRobin), routingChannel(2, keys: 2)])
        let sel = Selector(affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("keys")
        sel.affinity!.record(session: session, channel: 1, key: 2, now: t0)
        for i in 0..<12 {
            let c = pick(sel, t, book, session, at: t0 + UInt64(i) * s)
            XCTAssertEqual(c[0].channelID, 1)
            XCTAssertEqual(c[0].keys[0], 2)
        }
        // Without the session the key rotates.
        let firsts = Set((0..<4).map { _ in pick(sel, t, book, nil, at: t0).first { $0.channelID == 1 }!.keys[0] })
        XCTAssertEqual(firsts.count, 4)
    }

    func testFailedKeyMovesTheSessionAndItsCooldownEndDoesNotBringItBack() {
        let t = table([routingChannel(1, keys: 3)])
        let sel = Selector(affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("keyfail")
        XCTAssertEqual(turn(sel, t, book, session, at: t0).keys[0], 0)
        let back = book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 0), now: t0 + s)
        let moved = turn(sel, t, book, session, at: t0 + 2 * s)
        XCTAssertEqual(moved.channelID, 1)
        XCTAssertEqual(Array(moved.keys), [1, 2])
        // Turns every minute keep key 1 warm; key 0's cooldown ends on the way.
        var at = t0 + 60 * s
        while at < back + 120 * s {
            XCTAssertEqual(turn(sel, t, book, session, at: at).keys[0], 1, "at \((at - t0) / s) s")
            at += 60 * s
        }
        XCTAssertNil(book.remaining(.key(channelID: 1, keyIndex: 0), now: at))
        // A session with no history starts on key 0 again.
        XCTAssertEqual(pick(sel, t, book, SessionKey("fresh"), at: at)[0].keys[0], 0)
    }

    func testMovingPrefersAnEarlierWarmChannelOverPriority() {
        // A 10, B 5, C 1: the session was on C, moved to B; B fails, C is back: C (warm), not A.
        let t = table([routingChannel(1, priority: 10), routingChannel(2, priority: 5), routingChannel(3, priority: 1)])
        let sel = Selector(affinity: SessionAffinity())
        let book = CooldownBook()
        let session = SessionKey("history")
        sel.affinity!.record(session: session, channel: 3, key: 0, now: t0)
        sel.affinity!.record(session: session, channel: 2, key: 0, now: t0 + 10 * s)
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 20 * s)[0].channelID, 2)
        book.record(failure: .server, scope: .channel(2), now: t0 + 20 * s)
        let c = pick(sel, t, book, session, at: t0 + 30 * s)
        XCTAssertEqual(c.map(\.channelID), [3, 1])
        XCTAssertTrue(c[0].fromAffinity)
        // B back (its cooldown ended at t0 + 140 s) and still warm: B.
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 301 * s)[0].channelID, 2)
        // Once both caches are cold (C at t0 + 300 s, B at t0 + 310 s), priority: A.
        XCTAssertEqual(pick(sel, t, book, session, at: t0 + 311 * s)[0].channelID, 1)
        let m = sel.affinity!.memory(session, now: t0 + 30 * s)!
        XCTAssertEqual(m.count, 2)
        XCTAssertEqual(m[0].target, AffinityTarget(channelID: 2, keyIndex: 0))
        XCTAssertEqual(m[1].target, AffinityTarget(channelID: 3, keyIndex: 0))
    }

    func testMemoryKeepsTheLastThreeDistinctUses() {
        var m = AffinityMemory()
        let a = AffinityTarget(channelID: 1, keyIndex: 0), b = AffinityTarget(channelID: 2, keyIndex: 0)
        let c = AffinityTarget(channelID: 2, keyIndex: 1), d = AffinityTarget(channelID: 3, keyIndex: 0)
        m.record(a, now: 1, lifetime: 10)
        m.record(a, now: 2, lifetime: 10)
        XCTAssertEqual(m.count, 1)
        XCTAssertEqual(m[0].warmUntil, 12)
        m.record(b, now: 3, lifetime: 10)
        m.record(a, now: 4, lifetime: 10)  // a again: back on top, b below, no duplicate
        XCTAssertEqual(m.count, 2)
        XCTAssertEqual([m[0].target, m[1].target], [a, b])
        m.record(c, now: 5, lifetime: 10)
        m.record(d, now: 6, lifetime: 10)
        XCTAssertEqual(m.count, AffinityMemory.depth)
        XCTAssertEqual([m[0].target, m[1].target, m[2].target], [d, c, a])
        XCTAssertEqual(m.lastUsed, 6)
    }

    func testHundredThousandSessionsStayWithinTheCap() {
        var st = SessionAffinitySettings()
        st.capacity = 100_000
        let aff = SessionAffinity(settings: st)
        for i in 0..<150_000 { aff.record(session: SessionKey(hash: UInt64(i)), channel: i % 7, key: 0, now: t0) }
        XCTAssertEqual(aff.count, 100_000)
        XCTAssertNil(aff.lookup(SessionKey(hash: 49_999), now: t0))
        XCTAssertEqual(aff.lookup(SessionKey(hash: 50_000), now: t0)?.channelID, 50_000 % 7)
        // Entries past their lifetime leave as new ones come (two per record), and on a sweep.
        let later = t0 + st.ttlNanos + st.cacheNanos + s
        for i in 0..<10 { aff.record(session: SessionKey(hash: UInt64(1_000_000 + i)), channel: 1, key: 0, now: later) }
        XCTAssertEqual(aff.count, 100_000 - 20 + 10)
        aff.sweep(now: later)
        XCTAssertEqual(aff.count, 10)
    }

    func testCapacityOneAndLoweredCap() {
        var st = SessionAffinitySettings()
        st.capacity = 1
        let aff = SessionAffinity(settings: st)
        aff.record(session: SessionKey("a"), channel: 1, key: 0, now: t0)
        aff.record(session: SessionKey("b"), channel: 2, key: 0, now: t0)
        XCTAssertEqual(aff.count, 1)
        XCTAssertNil(aff.lookup(SessionKey("a"), now: t0))
        XCTAssertEqual(aff.lookup(SessionKey("b"), now: t0)?.channelID, 2)
    }

    func testSettingsDefaultsAndDigestSwitch() {
        let st = SessionAffinitySettings()
        XCTAssertEqual(st.cacheNanos, 300 * s)
        XCTAssertEqual(st.capacity, 100_000)
        XCTAssertFalse(st.promptDigest)
        let aff = SessionAffinity()
        XCTAssertFalse(aff.digestsPrompts)
        var on = st
        on.promptDigest = true
        aff.settings = on
        XCTAssertTrue(aff.digestsPrompts)
        on.enabled = false
        aff.settings = on
        XCTAssertFalse(aff.digestsPrompts)
    }
}
