import Foundation
import XCTest

/// `/admin/groups` and a token's `group_id` against the real binary: a grouped token
/// reaches only its group's channels (checked at the mock upstreams), membership changes
/// route at once, bad input is refused naming the field, a group in use is kept unless
/// its tokens are detached.
final class AdminGroupsTests: AdminDataCase {
    /// Channel ids by name, from the live table.
    func channelIDs(_ ccload: CcloadProcess) throws -> [String: Int] {
        let list = try adminOK(ccload, "GET", "/admin/channels")["data"] as? [[String: Any]] ?? []
        var out: [String: Int] = [:]
        for c in list { if let n = c["name"] as? String, let id = c["id"] as? Int { out[n] = id } }
        return out
    }

    /// Requests each mock answered since `before`.
    func delta(_ mocks: [MockUpstream], _ before: [Int]) throws -> [Int] {
        try zip(mocks, before).map { try $0.requests() - $1 }
    }

    func counts(_ mocks: [MockUpstream]) throws -> [Int] { try mocks.map { try $0.requests() } }

    func testGroupedTokensReachOnlyTheirGroupsChannels() throws {
        let mocks = try (0..<3).map { _ in try startMock() }
        let (ccload, _) = try startRelay([channel("a", url: mocks[0].url), channel("b", url: mocks[1].url),
                                          channel("c", url: mocks[2].url)])
        let ids = try channelIDs(ccload)
        let (a, b, c) = (ids["a"]!, ids["b"]!, ids["c"]!)
        let g1 = try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-one","channel_ids":[\#(a)],"remark":"first"}"#,
                             status: 201)
        let g1id = try XCTUnwrap(g1["id"] as? Int)
        XCTAssertEqual(g1["channel_ids"] as? [Int], [a])
        XCTAssertEqual(g1["remark"] as? String, "first")
        XCTAssertEqual(g1["token_count"] as? Int, 0)
        let g2id = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-two","channel_ids":[\#(c),\#(b)]}"#,
                                             status: 201)["id"] as? Int)
        let (t1id, t1) = try createToken(ccload, #"{"name":"one","group_id":\#(g1id)}"#)
        let (_, t2) = try createToken(ccload, #"{"name":"two","group_id":\#(g2id)}"#)
        let (_, t0) = try createToken(ccload, #"{"name":"everyone"}"#)
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/tokens/\(t1id)")["group_id"] as? Int, g1id)

        var before = try counts(mocks)
        for _ in 0..<4 { XCTAssertEqual(try proxy(ccload, token: t1).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [4, 0, 0], "team-one's token reached a channel outside its group")
        before = try counts(mocks)
        for _ in 0..<4 { XCTAssertEqual(try proxy(ccload, token: t2).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [0, 2, 2], "team-two's token: round robin over b and c only")
        before = try counts(mocks)
        for _ in 0..<6 { XCTAssertEqual(try proxy(ccload, token: t0).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [2, 2, 2], "an ungrouped token uses every channel, as before")

        // A membership change routes at once.
        let moved = try adminOK(ccload, "PUT", "/admin/groups/\(g1id)", #"{"channel_ids":[\#(c)]}"#)
        XCTAssertEqual(moved["channel_ids"] as? [Int], [c])
        XCTAssertEqual(moved["name"] as? String, "team-one", "a field left out keeps its value")
        XCTAssertEqual(moved["token_count"] as? Int, 1)
        before = try counts(mocks)
        for _ in 0..<2 { XCTAssertEqual(try proxy(ccload, token: t1).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [0, 0, 2])

        // A group with no channel serving the model: the usual "no channel" answer.
        let empty = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"empty","channel_ids":[]}"#,
                                              status: 201)["id"] as? Int)
        let (_, te) = try createToken(ccload, #"{"name":"stranded","group_id":\#(empty)}"#)
        let refused = try proxy(ccload, token: te)
        XCTAssertEqual(refused.status, 503, refused.bodyText)
        XCTAssertTrue(refused.bodyText.contains("no channel serves model \(RelayCase.model)"), refused.bodyText)

        // A token moved out of its group (null) uses every channel again.
        try adminOK(ccload, "PUT", "/admin/tokens/\(t1id)", #"{"group_id":null}"#)
        before = try counts(mocks)
        for _ in 0..<3 { XCTAssertEqual(try proxy(ccload, token: t1).status, 200) }
        XCTAssertEqual(try delta(mocks, before).reduce(0, +), 3)
        XCTAssertEqual(try delta(mocks, before).filter { $0 > 0 }.count, 3, "every channel again")

        // Deleting a channel removes it from its groups.
        XCTAssertEqual(try adminOK(ccload, "DELETE", "/admin/channels/\(c)")["deleted"] as? Bool, true)
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/groups/\(g2id)")["channel_ids"] as? [Int], [b])
        before = try counts(mocks)
        for _ in 0..<2 { XCTAssertEqual(try proxy(ccload, token: t2).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [0, 2, 0])

        // In use: 409 naming the tokens; detached: deleted, its token uses every channel.
        let inUse = try admin(ccload, "DELETE", "/admin/groups/\(g2id)")
        XCTAssertEqual(inUse.status, 409, inUse.bodyText)
        XCTAssertTrue(inUse.bodyText.contains("detach"), inUse.bodyText)
        XCTAssertEqual(try proxy(ccload, token: t2).status, 200)
        let gone = try adminOK(ccload, "DELETE", "/admin/groups/\(g2id)?detach=1")
        XCTAssertEqual(gone["deleted"] as? Bool, true)
        XCTAssertEqual(gone["detached_tokens"] as? Int, 1)
        XCTAssertEqual(try admin(ccload, "GET", "/admin/groups/\(g2id)").status, 404)
        before = try counts(mocks)
        for _ in 0..<2 { XCTAssertEqual(try proxy(ccload, token: t2).status, 200) }
        XCTAssertEqual(try delta(mocks, before), [1, 1, 0])
        let listed = try adminOK(ccload, "GET", "/admin/groups")["data"] as? [[String: Any]] ?? []
        XCTAssertEqual(listed.compactMap { $0["name"] as? String }, ["team-one", "empty"])
        assertNoSecrets(ccload, [t0, t1, t2, te])
    }

    func testBadGroupInputIsRefusedNamingTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let a = try XCTUnwrap(try channelIDs(ccload)["a"])
        try assertGuarded(ccload, "GET", "/admin/groups")
        try assertGuarded(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[]}"#)
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[],"colour":"red"}"#, field: "colour")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"channel_ids":[]}"#, field: "name")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"x"}"#, field: "channel_ids")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"  ","channel_ids":[]}"#, field: "name")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[0]}"#, field: "channel_ids")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":"1"}"#, field: "channel_ids")
        let name100 = String(repeating: "n", count: 100)
        XCTAssertEqual(try admin(ccload, "POST", "/admin/groups", #"{"name":"\#(name100)","channel_ids":[]}"#).status, 201)
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"\#(name100)x","channel_ids":[]}"#, field: "name")
        // At most 10000 ids (repeats count: the limit is on the input), a remark of at most 1000 characters.
        let ids10000 = Array(repeating: String(a), count: 10_000).joined(separator: ",")
        let many = try adminOK(ccload, "POST", "/admin/groups", #"{"name":"many","channel_ids":[\#(ids10000)]}"#, status: 201)
        XCTAssertEqual(many["channel_ids"] as? [Int], [a], "repeats dropped")
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"more","channel_ids":[\#(ids10000),\#(a)]}"#, field: "channel_ids")
        let remark1000 = String(repeating: "r", count: 1000)
        XCTAssertEqual(try admin(ccload, "POST", "/admin/groups", #"{"name":"r1","channel_ids":[],"remark":"\#(remark1000)"}"#).status, 201)
        try assertBadField(ccload, "POST", "/admin/groups", #"{"name":"r2","channel_ids":[],"remark":"\#(remark1000)r"}"#, field: "remark")
        let unknown = try admin(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[\#(a),4242]}"#)
        XCTAssertEqual(unknown.status, 400, unknown.bodyText)
        XCTAssertEqual((unknown.json?["error"] as? [String: Any])?["field"] as? String, "channel_ids")
        XCTAssertTrue(unknown.bodyText.contains("4242"), "the error names the unknown channel: \(unknown.bodyText)")
        let g = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[\#(a)]}"#, status: 201)["id"] as? Int)
        let dup = try admin(ccload, "POST", "/admin/groups", #"{"name":"x","channel_ids":[]}"#)
        XCTAssertEqual(dup.status, 409, dup.bodyText)
        try assertBadField(ccload, "PUT", "/admin/groups/\(g)", #"{"channel_ids":[4242]}"#, field: "channel_ids")
        XCTAssertEqual(try adminOK(ccload, "GET", "/admin/groups/\(g)")["channel_ids"] as? [Int], [a], "a refused change writes nothing")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/groups/999", #"{"name":"y"}"#).status, 404)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/groups/999").status, 404)
        try assertBadField(ccload, "DELETE", "/admin/groups/\(g)?detach=maybe", field: "detach")
        // A token naming a group that does not exist.
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"t","group_id":4242}"#, field: "group_id")
        try assertBadField(ccload, "POST", "/admin/tokens", #"{"name":"t","group_id":"x"}"#, field: "group_id")
        XCTAssertEqual((try adminOK(ccload, "GET", "/admin/tokens")["data"] as? [Any])?.count, 0, "a refused token is not created")
    }
}

extension AdminGroupsTests {
    func testModelsListOfAGroupedTokenNamesItsGroupsModels() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url, ["models": ["model-a"]]),
                                          channel("b", url: mock.url, ["models": ["model-b"]])])
        let a = try XCTUnwrap(try channelIDs(ccload)["a"])
        let g = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"g","channel_ids":[\#(a)]}"#, status: 201)["id"] as? Int)
        let (_, grouped) = try createToken(ccload, #"{"name":"g","group_id":\#(g)}"#)
        let (_, everyone) = try createToken(ccload, #"{"name":"all"}"#)
        let mine = try ccload.get("/v1/models", headers: ["x-api-key: \(grouped)"])
        XCTAssertEqual(mine.status, 200, mine.bodyText)
        XCTAssertTrue(mine.bodyText.contains("model-a"), mine.bodyText)
        XCTAssertFalse(mine.bodyText.contains("model-b"), "a grouped token lists only its group's models: \(mine.bodyText)")
        let all = try ccload.get("/v1/models", headers: ["x-api-key: \(everyone)"])
        XCTAssertTrue(all.bodyText.contains("model-a") && all.bodyText.contains("model-b"), all.bodyText)
        XCTAssertEqual(try proxy(ccload, token: grouped, model: "model-b").status, 503, "model-b is outside the group")
        XCTAssertEqual(try proxy(ccload, token: grouped, model: "model-a").status, 200)
    }
}
