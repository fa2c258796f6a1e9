import Reactor
import XCTest

@testable import Proxy

/// A token in a group is routed only within the group's channels: priority tiers, SWRR,
/// affinity and cooldowns as for every channel, just over fewer of them.
final class RoutingGroupTests: XCTestCase {
    let now: UInt64 = 5_000 * nanosPerSecond

    func ids(_ c: [Candidate]) -> [Int] { c.map(\.channelID) }

    func pick(_ sel: Selector, _ t: ChannelTable, _ book: CooldownBook, model: String = "m", group: Int?,
              session: SessionKey? = nil) -> [Candidate] {
        sel.candidates(table: t, kind: .anthropic, model: model, group: group, session: session, now: now, cooldowns: book)
    }

    func fourChannels() -> [Channel] {
        [routingChannel(1, priority: 10, models: ["m"]), routingChannel(2, priority: 10, models: ["m"]),
         routingChannel(3, priority: 5, models: ["m"]), routingChannel(4, priority: 1, models: ["only-4"])]
    }

    func testAGroupedPickSeesOnlyTheGroupsChannelsInPriorityOrder() throws {
        let groups = [ChannelGroup(id: 7, name: "g", channelIDs: [3, 1]), ChannelGroup(id: 8, name: "h", channelIDs: [2, 4])]
        let t = try ChannelTable(fourChannels(), groups: groups, state: RoutingState())
        let sel = Selector()
        let book = CooldownBook()
        XCTAssertTrue(t.hasGroups)
        XCTAssertEqual(ids(pick(sel, t, book, group: 7)), [1, 3], "priority 10 before 5, only members")
        XCTAssertEqual(ids(pick(sel, t, book, group: 8)), [2])
        XCTAssertEqual(Set(ids(pick(sel, t, book, group: nil))), [1, 2, 3], "no group: every channel, as before")
        XCTAssertEqual(ids(pick(sel, t, book, model: "only-4", group: 8)), [4])
        XCTAssertEqual(t.servedModels(kind: .anthropic, group: 8), ["m", "only-4"])
        XCTAssertEqual(t.servedModels(kind: .anthropic, group: 7), ["m"])
        XCTAssertEqual(t.servedModels(kind: .anthropic, group: 12345), [])
        XCTAssertTrue(t.serves(kind: .anthropic, model: "only-4", group: 8))
        XCTAssertFalse(t.serves(kind: .anthropic, model: "only-4", group: 7))
    }

    func testAGroupWithoutAServingChannelIsTheUsualNoChannelAnswer() throws {
        let groups = [ChannelGroup(id: 7, name: "g", channelIDs: [4]), ChannelGroup(id: 9, name: "empty", channelIDs: [])]
        let t = try ChannelTable(fourChannels(), groups: groups, state: RoutingState())
        let sel = Selector()
        var out: [Candidate] = []
        for g in [7, 9, 12345] {
            XCTAssertEqual(sel.select(table: t, kind: .anthropic, model: "m", group: g, session: nil, now: now,
                                      cooldowns: CooldownBook(), into: &out), .noChannelForModel, "group \(g)")
            XCTAssertTrue(out.isEmpty)
        }
        XCTAssertEqual(sel.select(table: t, kind: .anthropic, model: "m", group: nil, session: nil, now: now,
                                  cooldowns: CooldownBook(), into: &out), .ok)
    }

    func testRoundRobinAndCooldownsStayWithinTheGroup() throws {
        let chans = [routingChannel(1), routingChannel(2), routingChannel(3)]
        let t = try ChannelTable(chans, groups: [ChannelGroup(id: 1, name: "g", channelIDs: [1, 3])], state: RoutingState())
        let sel = Selector()
        let book = CooldownBook()
        let firsts = (0..<6).map { _ in pick(sel, t, book, group: 1)[0].channelID }
        XCTAssertEqual(Set(firsts), [1, 3], "equal weights alternate over the members only: \(firsts)")
        XCTAssertEqual(firsts.filter { $0 == 1 }.count, 3)
        // Channel 1 cools: the group's pick is channel 3 alone.
        book.record(failure: .connection, scope: .channel(1), now: now)
        XCTAssertEqual(ids(pick(sel, t, book, group: 1)), [3])
        book.record(failure: .connection, scope: .channel(3), now: now + 1)
        var out: [Candidate] = []
        let status = sel.select(table: t, kind: .anthropic, model: "m", group: 1, session: nil, now: now, cooldowns: book, into: &out)
        XCTAssertEqual(status, .fallback, "every member cools: the soonest member, never channel 2")
        XCTAssertEqual(ids(out).count, 1)
        XCTAssertEqual(out.first?.channelID, 1, "channel 1 cooled first, so its cooldown ends first")
    }

    func testAffinityOutsideTheGroupIsIgnored() throws {
        let chans = [routingChannel(1), routingChannel(2)]
        let t = try ChannelTable(chans, groups: [ChannelGroup(id: 1, name: "g", channelIDs: [2])], state: RoutingState())
        let affinity = SessionAffinity()
        let sel = Selector(affinity: affinity)
        let session = SessionKey("s1")
        affinity.record(session: session, channel: 1, key: 0, now: now)
        let grouped = pick(sel, t, CooldownBook(), group: 1, session: session)
        XCTAssertEqual(ids(grouped), [2])
        XCTAssertFalse(grouped[0].fromAffinity)
        affinity.record(session: session, channel: 2, key: 0, now: now)
        XCTAssertTrue(pick(sel, t, CooldownBook(), group: 1, session: session)[0].fromAffinity)
    }

    func testMembersNotInTheTableAreLeftOut() throws {
        let t = try ChannelTable([routingChannel(1)], groups: [ChannelGroup(id: 1, name: "g", channelIDs: [1, 99])],
                                 state: RoutingState())
        XCTAssertEqual(t.groups.first?.channelIDs, [1])
        XCTAssertFalse(try ChannelTable([routingChannel(1)], state: RoutingState()).hasGroups)
    }
}
