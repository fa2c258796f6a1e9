import Reactor
import XCTest

@testable import Proxy

final class RoutingChannelTableTests: XCTestCase {
    func build(_ chs: [Channel]) -> ChannelTableError? {
        do {
            _ = try ChannelTable(chs, state: RoutingState())
            return nil
        } catch {
            return error
        }
    }

    func testValidation() {
        let ok = routingChannel(1)
        XCTAssertNil(build([ok, routingChannel(2)]))
        var dupName = routingChannel(2)
        dupName.name = ok.name
        XCTAssertEqual(build([ok, dupName]), .duplicateName("ch1"))
        var dupID = routingChannel(1)
        dupID.name = "other"
        XCTAssertEqual(build([ok, dupID]), .duplicateID(1))
        var noURL = ok
        noURL.urls = []
        XCTAssertEqual(build([noURL]), .noURL(channel: "ch1"))
        var noKey = ok
        noKey.keys = []
        XCTAssertEqual(build([noKey]), .noKey(channel: "ch1"))
        var badURL = ok
        badURL.urls = ["https://fine.example", "ftp://nope"]
        XCTAssertEqual(build([badURL]), .badURL(channel: "ch1", url: "ftp://nope"))
        var query = ok
        query.urls = ["https://x.example/v1?x=1"]
        XCTAssertEqual(build([query]), .badURL(channel: "ch1", url: "https://x.example/v1?x=1"))
        var badProxy = ok
        badProxy.proxy = "ftp://p:1"
        XCTAssertEqual(build([badProxy]), .badProxy(channel: "ch1", proxy: "ftp://p:1"))
        var badIndex = ok
        badIndex.keys = [ChannelKey(index: 1, secret: "k")]
        XCTAssertEqual(build([badIndex]), .keyIndexMismatch(channel: "ch1", position: 0, index: 1))
        var zeroWeight = ok
        zeroWeight.weight = 0
        XCTAssertEqual(build([zeroWeight]), .badValue(channel: "ch1", field: "weight", reason: "must be at least 1"))
        XCTAssertTrue("\(ChannelTableError.badURL(channel: "a", url: "u"))".contains("\"a\""))
    }

    func testPrecomputedTargetsAndModels() throws {
        var a = routingChannel(1, models: ["m2", "m1"], redirects: ["alias": "m1"])
        a.urls = ["https://relay.example:8443/api/", "http://10.0.0.1"]
        a.proxy = "socks5://127.0.0.1:1080"
        let t = try ChannelTable([a, routingChannel(2, models: ["o"], kind: .openai), routingChannel(3, models: ["zz"], enabled: false)],
                                 state: RoutingState())
        XCTAssertEqual(t.targets[0].count, 2)
        XCTAssertEqual(t.targets[0][0].pathPrefix, Array("/api".utf8))
        XCTAssertEqual(t.targets[0][0].hostHeader, Array("relay.example:8443".utf8))
        XCTAssertEqual(t.targets[0][0].dial.proxy?.kind, .socks5)
        XCTAssertFalse(t.targets[0][1].dial.tls)
        XCTAssertEqual(t.servedModels(kind: .anthropic), ["alias", "m1", "m2"])
        XCTAssertEqual(t.servedModels(kind: .openai), ["o"])
        XCTAssertTrue(t.serves(kind: .anthropic, model: "alias"))
        XCTAssertFalse(t.serves(kind: .anthropic, model: "zz"))
        XCTAssertFalse(t.hasChannels(kind: .gemini))
        XCTAssertEqual(t.index(ofChannelID: 2), 1)
        XCTAssertEqual(t.channel(id: 3)?.name, "ch3")
        XCTAssertNil(t.channel(id: 4))
        XCTAssertEqual(ChannelTable.empty(state: RoutingState()).count, 0)
    }

    func testCountersLiveOutsideTheSnapshot() throws {
        let state = RoutingState()
        let t1 = try ChannelTable([routingChannel(1), routingChannel(2)], state: state)
        t1.counters[1].begin()
        let t2 = try ChannelTable([routingChannel(2), routingChannel(3)], state: state)
        XCTAssertTrue(t1.counters[1] === t2.counters[0])
        XCTAssertEqual(t2.counters[0].inFlight, 1)
        XCTAssertTrue(state.counters(channelID: 3) === t2.counters[1])
        // Channel 1 left the table: a new channel 1 starts fresh.
        t1.counters[0].begin()
        let t3 = try ChannelTable([routingChannel(1)], state: state)
        XCTAssertEqual(t3.counters[0].inFlight, 0)
    }

    func testConcurrentSelectionIsSafe() throws {
        // Several threads pick and record at once (run under --sanitize=thread in CI).
        let state = RoutingState()
        let t = try ChannelTable((1...6).map { routingChannel($0, priority: $0 % 2, keys: 3, strategy: .roundRobin) }, state: state)
        let book = CooldownBook()
        let aff = SessionAffinity()
        let sel = Selector(affinity: aff)
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            var out: [Candidate] = []
            for i in 0..<2000 {
                let now = UInt64(i) * 1_000_000
                let session = SessionKey("s\(i % 50)")
                _ = sel.select(table: t, kind: .anthropic, model: "m", session: session, now: now, cooldowns: book, into: &out)
                guard let c = out.first else { continue }
                t.counters[c.channelIndex].begin()
                if (i + w) % 7 == 0 {
                    book.record(failure: .server, scope: .key(channelID: c.channelID, keyIndex: c.keys[0]), now: now)
                } else {
                    book.recordSuccess(channelID: c.channelID, keyIndex: c.keys[0], model: "m")
                    aff.record(session: session, channel: c.channelID, key: c.keys[0], now: now)
                }
                t.counters[c.channelIndex].end()
            }
        }
        XCTAssertTrue(t.counters.allSatisfy { $0.inFlight == 0 })
    }
}
