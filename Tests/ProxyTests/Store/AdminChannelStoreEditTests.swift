import Foundation
import XCTest

@testable import Proxy

/// What the admin channels API stands on: `Store.editChannels` (one transaction, a
/// refused change writes nothing) and `ChannelFile`'s per-row parsing, overlay and
/// `fields(of:)`.
final class AdminChannelStoreEditTests: XCTestCase {
    var store: Store!
    var path: String!

    override func setUpWithError() throws {
        path = NSTemporaryDirectory() + "ccload-edit-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).db"
        store = try StoreTest.open(path: path)
    }

    override func tearDown() {
        store.close()
        for s in ["", "-wal", "-shm", ".key"] { try? FileManager.default.removeItem(atPath: path + s) }
        super.tearDown()
    }

    func channel(_ name: String, id: Int = 0, url: String = "https://example.com") -> Channel {
        Channel(id: id, name: name, kind: .anthropic, urls: [url], keys: [ChannelKey(index: 0, secret: "sk-\(name)-123456")])
    }

    func testEditCreatesUpdatesAndDeletesInOneGo() throws {
        let first = try store.editChannels { _ in ChannelEdit(upserts: [self.channel("a"), self.channel("b")]) }
        XCTAssertEqual(first.map(\.id), [1, 2])
        var b = first[1]
        b.priority = 4
        let second = try store.editChannels { current in
            XCTAssertEqual(current.map(\.name), ["a", "b"])
            return ChannelEdit(upserts: [b, self.channel("c")], deletions: [1])
        }
        XCTAssertEqual(second.map(\.id), [2, 3])
        XCTAssertEqual(try store.channels().map(\.name), ["b", "c"])
        XCTAssertEqual(try store.channel(id: 2)?.priority, 4)
    }

    func testARefusedEditWritesNothing() throws {
        try store.editChannels { _ in ChannelEdit(upserts: [self.channel("a"), self.channel("b")]) }
        // A duplicate name, a bad URL, a missing id: each refuses the whole edit.
        XCTAssertThrowsError(try store.editChannels { _ in ChannelEdit(upserts: [self.channel("new"), self.channel("a")]) }) {
            XCTAssertEqual($0 as? ChannelTableError, .duplicateName("a"))
        }
        XCTAssertThrowsError(try store.editChannels { _ in
            ChannelEdit(upserts: [self.channel("x")], deletions: [1, 2, 99])
        }) { XCTAssertEqual(($0 as? StoreError)?.kind, .notFound) }
        XCTAssertThrowsError(try store.editChannels { _ in
            ChannelEdit(upserts: [self.channel("y"), self.channel("bad", url: "ftp://x")], deletions: [2])
        }) { XCTAssertEqual($0 as? ChannelTableError, .badURL(channel: "bad", url: "ftp://x")) }
        struct Stop: Error {}
        XCTAssertThrowsError(try store.editChannels { _ in throw Stop() }) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(try store.channels().map(\.name), ["a", "b"])
        XCTAssertEqual(try store.channels().map(\.id), [1, 2])
    }

    func testDeletingDropsStoredCooldowns() throws {
        try store.editChannels { _ in ChannelEdit(upserts: [self.channel("a"), self.channel("b")]) }
        let book = CooldownBook()
        _ = book.record(failure: .server, scope: .channel(1), now: 1_000)
        _ = book.record(failure: .auth, scope: .key(channelID: 2, keyIndex: 0), now: 1_000)
        try store.saveCooldowns(book, nowMonotonic: 1_000, nowWallMillis: 1_000_000)
        try store.editChannels { _ in ChannelEdit(deletions: [1]) }
        XCTAssertEqual(try store.loadCooldowns(nowMonotonic: 1_000, nowWallMillis: 1_000_000).map(\.scope), [.key(channelID: 2, keyIndex: 0)])
        try store.deleteStoredCooldowns(channelIDs: [2])
        XCTAssertTrue(try store.loadCooldowns(nowMonotonic: 1_000, nowWallMillis: 1_000_000).isEmpty)
    }

    func testFieldsOfAChannelBuildTheSameChannel() throws {
        let c = fullChannel()
        assertSame(try ChannelFile.build(ChannelFile.fields(of: c), position: 1), c)
        var plain = channel("plain", id: 2)
        plain.priority = -3
        assertSame(try ChannelFile.build(ChannelFile.fields(of: plain), position: 1), plain)
    }

    func testOverlayReplacesAliasesAndNullClears() throws {
        let base = ChannelFile.fields(of: channel("a", id: 3))
        let changed = ChannelFile.overlay(base, ["url": .string("https://other.example"), "api_key": .string("n1, n2"),
                                                 "weight": .number(4), "proxy": .null])
        let c = try ChannelFile.build(changed, position: 1)
        XCTAssertEqual(c.urls, ["https://other.example"])
        XCTAssertEqual(c.keys.map(\.secret), ["n1", "n2"])
        XCTAssertEqual(c.weight, 4)
        XCTAssertNil(c.proxy)
        XCTAssertEqual(c.name, "a")
        XCTAssertEqual(try ChannelFile.build(ChannelFile.overlay(changed, ["weight": .null]), position: 1).weight, nil)
    }

    func testRowsReportEachEntryAndParseStillRefusesTheFile() throws {
        let csv = "name,api_key,url,priority,extra\n"
            + "good,k1,https://a.example,1,\n"
            + "bad,k2,https://b.example,high,\n"
            + "\n"
            + "wide,k3,https://c.example,1,,surplus\n"
        let rows = try ChannelFile.rows(Array(csv.utf8))
        XCTAssertEqual(rows.map(\.row), [1, 2, 3])
        XCTAssertEqual(rows.map(\.line), [2, 3, 5])
        XCTAssertNil(rows[0].problem)
        XCTAssertEqual(rows[0].fields["priority"], .string("1"))
        XCTAssertEqual(rows[2].problem?.reason, "6 fields, the header has 5")
        XCTAssertThrowsError(try ChannelFile.build(rows[1].fields, position: 2)) {
            XCTAssertEqual(($0 as? ChannelFile.FieldError)?.field, "priority")
        }
        XCTAssertThrowsError(try ChannelFile.parse(Array(csv.utf8))) {
            XCTAssertEqual($0 as? ChannelFileError, .csv(line: 3, field: "priority", reason: "not a number: \"high\"", channel: "bad"))
            XCTAssertTrue("\($0)".contains("line 3 (channel \"bad\"), field \"priority\""), "\($0)")
        }
        let json = #"[{"name":"j","url":"https://a.example","api_key":"k"}, 5, {"name":"u","colour":1}]"#
        let jrows = try ChannelFile.rows(Array(json.utf8))
        XCTAssertEqual(jrows.map(\.line), [nil, nil, nil])
        XCTAssertNil(jrows[0].problem)
        XCTAssertEqual(jrows[1].problem?.reason, "not an object")
        XCTAssertEqual(jrows[2].problem?.field, "colour")
        XCTAssertEqual(jrows[2].error(jrows[2].problem!), .json(index: 2, field: "colour", reason: "unknown field", channel: "u"))
        XCTAssertEqual(jrows[1].error(jrows[1].problem!), .json(index: 1, field: nil, reason: "not an object"), "no name, none named")
    }

    func testPriorityAndWeightBounds() {
        func problem(_ f: [String: FieldValue]) -> String? {
            var all: [String: FieldValue] = ["name": .string("n"), "url": .string("https://a.example"), "api_key": .string("k")]
            for (k, v) in f { all[k] = v }
            do { _ = try ChannelFile.build(all, position: 1); return nil } catch { return error.field }
        }
        XCTAssertNil(problem(["priority": .number(-5)]))
        XCTAssertEqual(problem(["priority": .number(2e9)]), "priority")
        XCTAssertEqual(problem(["weight": .number(0)]), "weight")
        XCTAssertEqual(problem(["weight": .number(2_000_000)]), "weight")
        XCTAssertNil(problem(["weight": .number(10)]))
    }
}
