import Reactor
import XCTest

@testable import Proxy

func routingChannel(_ id: Int, priority: Int = 0, keys: Int = 1, weight: Int? = nil, models: [String] = [],
                    kind: ProtocolKind = .anthropic, strategy: KeyStrategy = .sequential,
                    redirects: [String: String] = [:], enabled: Bool = true, maxConcurrency: Int? = nil,
                    dailyLimit: Double? = nil) -> Channel {
    var c = Channel(id: id, name: "ch\(id)", kind: kind, urls: ["https://up\(id).example.com/v1"],
                    keys: (0..<keys).map { ChannelKey(index: $0, secret: "sk-\(id)-\($0)") })
    c.priority = priority
    c.weight = weight
    c.models = models
    c.keyStrategy = strategy
    c.redirects = redirects
    c.enabled = enabled
    c.maxConcurrency = maxConcurrency
    c.dailyCostLimitUSD = dailyLimit
    return c
}

final class RoutingSelectorTests: XCTestCase {
    let s = nanosPerSecond
    let now: UInt64 = 5_000 * nanosPerSecond

    func table(_ chs: [Channel], state: RoutingState = RoutingState()) -> ChannelTable {
        try! ChannelTable(chs, state: state)
    }

    func ids(_ c: [Candidate]) -> [Int] { c.map(\.channelID) }

    func pick(_ sel: Selector, _ t: ChannelTable, _ book: CooldownBook, model: String = "m", session: SessionKey? = nil,
              kind: ProtocolKind = .anthropic, at: UInt64? = nil) -> [Candidate] {
        sel.candidates(table: t, kind: kind, model: model, session: session, now: at ?? now, cooldowns: book)
    }

    func testPriorityTiersInOrder() {
        let t = table([routingChannel(1, priority: 5), routingChannel(2, priority: 10), routingChannel(3, priority: 1),
                       routingChannel(4, priority: 10)])
        let c = pick(Selector(), t, CooldownBook())
        XCTAssertEqual(c.count, 4)
        XCTAssertEqual(Set(ids(Array(c.prefix(2)))), [2, 4])
        XCTAssertEqual(Array(ids(c).suffix(2)), [1, 3])
    }

    func testNotServingDisabledOtherKindAndRedirects() {
        let t = table([
            routingChannel(1, models: ["a", "b"]),
            routingChannel(2, models: ["x"], redirects: ["a": "a-upstream"]),
            routingChannel(3, models: ["a"], enabled: false),
            routingChannel(4, models: ["a"], kind: .openai),
            routingChannel(5),  // any model
        ])
        let sel = Selector()
        let book = CooldownBook()
        let c = pick(sel, t, book, model: "a")
        XCTAssertEqual(Set(ids(c)), [1, 2, 5])
        XCTAssertEqual(c.first { $0.channelID == 2 }?.upstreamModel, "a-upstream")
        XCTAssertEqual(c.first { $0.channelID == 1 }?.upstreamModel, "a")
        XCTAssertEqual(ids(pick(sel, t, book, model: "zzz")), [5])
        XCTAssertEqual(Set(ids(pick(sel, t, book, model: "x"))), [2, 5])
        var out: [Candidate] = []
        XCTAssertEqual(sel.select(table: t, kind: .gemini, model: "a", session: nil, now: now, cooldowns: book, into: &out),
                       .noChannelForModel)
        let t2 = table([routingChannel(1, models: ["a"])])
        XCTAssertEqual(sel.select(table: t2, kind: .anthropic, model: "b", session: nil, now: now, cooldowns: book, into: &out),
                       .noChannelForModel)
        XCTAssertTrue(out.isEmpty)
    }

    func testSmoothWeightedRoundRobinSequenceMatchesNginx() {
        // nginx's documented sequence for weights 5, 1, 1: a a b a c a a.
        let t = table([routingChannel(1, weight: 5), routingChannel(2, weight: 1), routingChannel(3, weight: 1)])
        let sel = Selector()
        let book = CooldownBook()
        let firsts = (0..<14).map { _ in pick(sel, t, book)[0].channelID }
        XCTAssertEqual(firsts, [1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1])
    }

    func testSpreadOver1000PicksMatchesWeights() {
        let t = table([routingChannel(1, weight: 3), routingChannel(2, weight: 2), routingChannel(3, weight: 5),
                       routingChannel(4, priority: -1, weight: 100)])
        let sel = Selector()
        let book = CooldownBook()
        var counts: [Int: Int] = [:]
        for _ in 0..<1000 { counts[pick(sel, t, book)[0].channelID, default: 0] += 1 }
        XCTAssertEqual(counts, [1: 300, 2: 200, 3: 500])
        // 5, 1, 1 over 1000 picks: 142 full cycles of 7 plus a a b a c a.
        let t2 = table([routingChannel(1, weight: 5), routingChannel(2, weight: 1), routingChannel(3, weight: 1)])
        var c2: [Int: Int] = [:]
        for _ in 0..<1000 { c2[pick(sel, t2, book)[0].channelID, default: 0] += 1 }
        XCTAssertEqual(c2, [1: 714, 2: 143, 3: 143])
    }

    func testLargeTierUsesTheHeapScratchAlike() {
        // 50 channels in one tier do not fit the 1 KiB stack scratch (32 slots).
        let t = table((1...50).map { routingChannel($0, weight: $0 <= 10 ? 2 : 1) })
        let sel = Selector()
        let book = CooldownBook()
        var counts: [Int: Int] = [:]
        for _ in 0..<600 { counts[pick(sel, t, book)[0].channelID, default: 0] += 1 }
        XCTAssertEqual(counts.count, 50)
        XCTAssertTrue((1...10).allSatisfy { counts[$0] == 20 }, "\(counts)")
        XCTAssertTrue((11...50).allSatisfy { counts[$0] == 10 }, "\(counts)")
        // Fallback across 40 cooling channels in 40 tiers picks the soonest.
        let t2 = table((1...40).map { routingChannel($0, priority: $0) })
        for i in 1...40 {
            book.record(failure: .rateLimit, scope: .channel(i), now: now, explicitResetAt: now + UInt64(100 + (i * 7) % 41) * s)
        }
        let c = pick(sel, t2, book)
        XCTAssertEqual(ids(c), [6])  // (6 * 7) % 41 == 1, the smallest
        XCTAssertEqual(c[0].coolingUntil, now + 101 * s)
    }

    func testWeightDefaultsToUsableKeyCount() {
        let book = CooldownBook()
        let sel = Selector()
        let t = table([routingChannel(1, keys: 3), routingChannel(2, keys: 1)])
        var counts: [Int: Int] = [:]
        for _ in 0..<1000 { counts[pick(sel, t, book)[0].channelID, default: 0] += 1 }
        XCTAssertEqual(counts, [1: 750, 2: 250])
        // Two of channel 1's keys cool: 1 usable key each, an even split.
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 0), now: now)
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 2), now: now)
        let t2 = table([routingChannel(1, keys: 3), routingChannel(2, keys: 1)])
        counts = [:]
        for _ in 0..<1000 { counts[pick(sel, t2, book)[0].channelID, default: 0] += 1 }
        XCTAssertEqual(counts, [1: 500, 2: 500])
    }

    func testRoundRobinStateSurvivesATableSwap() {
        let state = RoutingState()
        let chs = [routingChannel(1, weight: 5), routingChannel(2, weight: 1), routingChannel(3, weight: 1)]
        let sel = Selector()
        let book = CooldownBook()
        let t1 = table(chs, state: state)
        var firsts = (0..<3).map { _ in pick(sel, t1, book)[0].channelID }
        let t2 = table(chs, state: state)
        XCTAssertTrue(t1.counters[0] === t2.counters[0])
        firsts += (0..<4).map { _ in pick(sel, t2, book)[0].channelID }
        XCTAssertEqual(firsts, [1, 1, 2, 1, 3, 1, 1])
        XCTAssertEqual(state.picks, 7)
    }

    func testCoolingChannelKeyAndModelAreSkipped() {
        let t = table([routingChannel(1, keys: 2), routingChannel(2), routingChannel(3), routingChannel(4)])
        let sel = Selector()
        let book = CooldownBook()
        book.record(failure: .connection, scope: .channel(2), now: now)
        book.record(failure: .rateLimit, scope: .model(channelID: 3, model: "m"), now: now)
        book.record(failure: .auth, scope: .key(channelID: 4, keyIndex: 0), now: now)
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 0), now: now)
        let c = pick(sel, t, book)
        XCTAssertEqual(ids(c), [1])
        XCTAssertEqual(Array(c[0].keys), [1])
        // The pair cools for "m" only.
        XCTAssertEqual(Set(ids(pick(sel, t, book, model: "other"))), [1, 3])
        // After the cooldowns end, everyone is back.
        XCTAssertEqual(Set(ids(pick(sel, t, book, at: now + 301 * s))), [1, 2, 3, 4])
    }

    func testAllCoolingFallsBackToTheSoonest() {
        let t = table([routingChannel(1, priority: 9), routingChannel(2), routingChannel(3, keys: 2)])
        let book = CooldownBook()
        book.record(failure: .server, scope: .channel(1), now: now)  // 120 s
        book.record(failure: .rateLimit, scope: .model(channelID: 2, model: "m"), now: now, explicitResetAt: now + 200 * s)
        book.record(failure: .timeout, scope: .key(channelID: 3, keyIndex: 1), now: now)  // 60 s
        book.record(failure: .server, scope: .key(channelID: 3, keyIndex: 0), now: now)  // 120 s
        var out: [Candidate] = []
        let sel = Selector()
        XCTAssertEqual(sel.select(table: t, kind: .anthropic, model: "m", session: nil, now: now, cooldowns: book, into: &out),
                       .fallback)
        XCTAssertEqual(ids(out), [3])
        XCTAssertEqual(out[0].coolingUntil, now + 60 * s)
        XCTAssertEqual(Array(out[0].keys), [1, 0])  // soonest key first
        var settings = SelectorSettings()
        settings.fallbackToSoonest = false
        XCTAssertEqual(Selector(settings: settings).select(table: t, kind: .anthropic, model: "m", session: nil, now: now,
                                                           cooldowns: book, into: &out), .unavailable)
        XCTAssertTrue(out.isEmpty)
    }

    func testMaxConcurrencyAndDailyCostSkip() {
        struct Costs: DailyCostSource {
            func todayCostUSD(channelID: Int) -> Double { channelID == 3 ? 10 : 0.5 }
        }
        let t = table([routingChannel(1, maxConcurrency: 2), routingChannel(2, dailyLimit: 1), routingChannel(3, dailyLimit: 10)])
        let sel = Selector(costs: Costs())
        let book = CooldownBook()
        XCTAssertEqual(Set(ids(pick(sel, t, book))), [1, 2])
        t.counters[0].begin()
        XCTAssertEqual(Set(ids(pick(sel, t, book))), [1, 2])
        XCTAssertTrue(t.counters[0].tryBegin(limit: 2))
        XCTAssertFalse(t.counters[0].tryBegin(limit: 2))
        XCTAssertEqual(ids(pick(sel, t, book)), [2])
        t.counters[0].end()
        XCTAssertEqual(Set(ids(pick(sel, t, book))), [1, 2])
        // All excluded this way is not "cooling": no fallback.
        t.counters[0].begin()
        let t2 = table([routingChannel(3, dailyLimit: 10)])
        var out: [Candidate] = []
        XCTAssertEqual(sel.select(table: t2, kind: .anthropic, model: "m", session: nil, now: now, cooldowns: book, into: &out),
                       .unavailable)
    }

    func testSequentialKeyOrder() {
        let t = table([routingChannel(1, keys: 5)])
        let sel = Selector()
        let book = CooldownBook()
        XCTAssertEqual(Array(pick(sel, t, book)[0].keys), [0, 1, 2])
        XCTAssertEqual(Array(pick(sel, t, book)[0].keys), [0, 1, 2])
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 1), now: now)
        XCTAssertEqual(Array(pick(sel, t, book)[0].keys), [0, 2, 3])
        var st = SelectorSettings()
        st.maxKeyRetries = 10
        XCTAssertEqual(Array(Selector(settings: st).candidates(table: t, kind: .anthropic, model: "m", session: nil, now: now,
                                                               cooldowns: book)[0].keys), [0, 2, 3, 4])
    }

    func testRoundRobinKeyOrderRotates() {
        let t = table([routingChannel(1, keys: 3, strategy: .roundRobin)])
        let sel = Selector()
        let book = CooldownBook()
        let orders = (0..<4).map { _ in Array(pick(sel, t, book)[0].keys) }
        XCTAssertEqual(orders, [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]])
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 1), now: now)
        let t2 = table([routingChannel(1, keys: 3, strategy: .roundRobin)])
        let more = (0..<3).map { _ in Array(pick(sel, t2, book)[0].keys) }
        XCTAssertEqual(more, [[0, 2], [2, 0], [0, 2]])
    }

    func testMaxChannelsBoundsTheList() {
        let t = table((1...20).map { routingChannel($0, priority: $0 % 3) })
        var st = SelectorSettings()
        st.maxChannels = 4
        let c = Selector(settings: st).candidates(table: t, kind: .anthropic, model: "m", session: nil, now: now,
                                                  cooldowns: CooldownBook())
        XCTAssertEqual(c.count, 4)
        XCTAssertTrue(c.allSatisfy { t.channels[$0.channelIndex].priority == 2 })
    }

    func testAffinitySticksWhileHealthyAndLeaves() {
        let chs = [routingChannel(1, keys: 3), routingChannel(2, keys: 3), routingChannel(3, priority: -5)]
        let t = table(chs)
        let aff = SessionAffinity()
        let sel = Selector(affinity: aff)
        let book = CooldownBook()
        let session = SessionKey("user_abc_account__session_123")
        aff.record(session: session, channel: 2, key: 2, now: now)
        for _ in 0..<10 {
            let c = pick(sel, t, book, session: session)
            XCTAssertEqual(c[0].channelID, 2)
            XCTAssertTrue(c[0].fromAffinity)
            XCTAssertEqual(Array(c[0].keys), [2, 0, 1])
            XCTAssertEqual(ids(c), [2, 1, 3])
        }
        // Without the session, SWRR alternates.
        XCTAssertNotEqual(pick(sel, t, book)[0].channelID, pick(sel, t, book)[0].channelID)
        // Its key cools: same channel, other keys.
        book.record(failure: .auth, scope: .key(channelID: 2, keyIndex: 2), now: now)
        let k = pick(sel, t, book, session: session)
        XCTAssertEqual(k[0].channelID, 2)
        XCTAssertEqual(Array(k[0].keys), [0, 1])
        // Its channel cools: it leaves.
        book.record(failure: .server, scope: .model(channelID: 2, model: "m"), now: now)
        let c = pick(sel, t, book, session: session)
        XCTAssertEqual(ids(c), [1, 3])
        XCTAssertFalse(c[0].fromAffinity)
        // Back when the cooldown ends.
        XCTAssertEqual(pick(sel, t, book, session: session, at: now + 301 * s)[0].channelID, 2)
        // A higher tier appears: affinity only holds within the top usable tier.
        let t2 = table(chs + [routingChannel(9, priority: 10)])
        let h = pick(sel, t2, book, session: session, at: now + 301 * s)
        XCTAssertEqual(h[0].channelID, 9)
        XCTAssertFalse(h.contains { $0.fromAffinity })
        // Switched off.
        var st = aff.settings
        st.enabled = false
        aff.settings = st
        let offFirsts = Set((0..<4).map { _ in pick(sel, t, book, session: session, at: now + 301 * s)[0].channelID })
        XCTAssertEqual(offFirsts, [1, 2])
    }

    func testAffinityDoesNotAdvanceRoundRobin() {
        let t = table([routingChannel(1, weight: 5), routingChannel(2, weight: 1), routingChannel(3, weight: 1)])
        let aff = SessionAffinity()
        let sel = Selector(affinity: aff)
        let book = CooldownBook()
        let session = SessionKey("s")
        aff.record(session: session, channel: 3, key: 0, now: now)
        var firsts: [Int] = []
        for i in 0..<7 {
            firsts.append(pick(sel, t, book)[0].channelID)
            if i % 2 == 0 { XCTAssertEqual(pick(sel, t, book, session: session)[0].channelID, 3) }
        }
        XCTAssertEqual(firsts, [1, 1, 2, 1, 3, 1, 1])
    }
}
