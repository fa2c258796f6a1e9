import Reactor
import XCTest

@testable import Proxy

/// The stored channel groups: members validated against the stored channels, unique names,
/// a group in use kept unless its tokens are detached, a deleted channel leaving its groups.
final class StoreGroupsTests: StoreTestCase {
    func addChannels(_ names: [String]) throws -> [Int] {
        try names.map { try store.createChannel(Channel(id: 0, name: $0, kind: .anthropic, urls: ["https://a"], keys: [])).id }
    }

    func testGroupRoundTripAndValidation() throws {
        let ids = try addChannels(["a", "b", "c"])
        let g = try store.createGroup(ChannelGroup(name: "team", channelIDs: [ids[2], ids[0], ids[0]], remark: "r"))
        XCTAssertGreaterThan(g.id, 0)
        XCTAssertEqual(try store.group(id: g.id)?.channelIDs, [ids[0], ids[2]], "members ascending, once each")
        XCTAssertEqual(try store.group(id: g.id)?.remark, "r")
        XCTAssertGreaterThan(try store.group(id: g.id)?.createdMillis ?? 0, 0)

        XCTAssertThrowsError(try store.createGroup(ChannelGroup(name: "team"))) {
            XCTAssertEqual(($0 as? StoreError)?.kind, .constraint)
        }
        XCTAssertThrowsError(try store.createGroup(ChannelGroup(name: "other", channelIDs: [ids[0], 4242]))) {
            XCTAssertEqual(($0 as? StoreError)?.kind, .invalid)
            XCTAssertTrue(($0 as? StoreError)?.message.contains("4242") == true, "\($0)")
        }
        XCTAssertEqual(try store.groups().count, 1, "a refused group writes nothing")

        var edited = try XCTUnwrap(try store.group(id: g.id))
        edited.channelIDs = [ids[1]]
        edited.remark = nil
        _ = try store.updateGroup(edited)
        XCTAssertEqual(try store.group(id: g.id)?.channelIDs, [ids[1]])
        XCTAssertNil(try store.group(id: g.id)?.remark)
        let second = try store.createGroup(ChannelGroup(name: "second"))
        var clash = second
        clash.name = "team"
        XCTAssertThrowsError(try store.updateGroup(clash)) { XCTAssertEqual(($0 as? StoreError)?.kind, .constraint) }
        var ghost = second
        ghost.id = 999
        XCTAssertThrowsError(try store.updateGroup(ghost)) { XCTAssertEqual(($0 as? StoreError)?.kind, .notFound) }
    }

    func testDeletingAChannelRemovesItFromItsGroups() throws {
        let ids = try addChannels(["a", "b"])
        let g1 = try store.createGroup(ChannelGroup(name: "one", channelIDs: ids))
        let g2 = try store.createGroup(ChannelGroup(name: "two", channelIDs: [ids[0]]))
        XCTAssertTrue(try store.deleteChannel(id: ids[0]))
        XCTAssertEqual(try store.group(id: g1.id)?.channelIDs, [ids[1]])
        XCTAssertEqual(try store.group(id: g2.id)?.channelIDs, [])
        try store.editChannels { _ in ChannelEdit(deletions: [ids[1]]) }
        XCTAssertEqual(try store.group(id: g1.id)?.channelIDs, [])
    }

    func testAGroupInUseIsKeptUnlessItsTokensAreDetached() throws {
        let ids = try addChannels(["a"])
        let g = try store.createGroup(ChannelGroup(name: "g", channelIDs: ids))
        var t = AuthToken(name: "member")
        t.groupID = g.id
        let created = try store.createToken(t)
        XCTAssertEqual(try store.token(id: created.token.id)?.groupID, g.id)
        XCTAssertEqual(try store.deleteGroup(id: g.id, detach: false), .inUse(tokenIDs: [created.token.id]))
        XCTAssertNotNil(try store.group(id: g.id))
        XCTAssertEqual(try store.deleteGroup(id: g.id, detach: true), .deleted(detachedTokens: 1))
        XCTAssertNil(try store.group(id: g.id))
        XCTAssertNil(try store.token(id: created.token.id)?.groupID, "detached: the token uses every channel again")
        XCTAssertEqual(try store.deleteGroup(id: g.id, detach: true), .notFound)
        let unused = try store.createGroup(ChannelGroup(name: "unused"))
        XCTAssertEqual(try store.deleteGroup(id: unused.id, detach: false), .deleted(detachedTokens: 0))
    }

    func testATokenOfAnOlderDatabaseHasNoGroupAndCanBeGivenOne() throws {
        let path = dir + "/v2.db"
        let old = try StoreTest.open(path: path, options: StoreTest.options { $0.migrations = Array(Schema.migrations.prefix(2)) })
        let made = try old.createTokenV2(name: "old")
        old.close()
        let new = try StoreTest.open(path: path, options: StoreTest.options())
        defer { new.close() }
        var t = try XCTUnwrap(try new.token(id: made))
        XCTAssertNil(t.groupID)
        let g = try new.createGroup(ChannelGroup(name: "g"))
        t.groupID = g.id
        try new.updateToken(t)
        XCTAssertEqual(try new.token(id: made)?.groupID, g.id)
    }
}

extension Store {
    /// A token written as a version-2 database holds it (no group column yet).
    fileprivate func createTokenV2(name: String) throws -> Int {
        try withConfig { db in
            Int(try db.insertReturningID("INSERT INTO auth_tokens(hash, prefix, name, created_ms) VALUES(?,?,?,?) RETURNING id",
                                         [.blob([1, 2, 3]), .text("ccl-xxxx"), .text(name), .int(1)]))
        }
    }
}
