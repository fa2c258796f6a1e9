import Foundation
import XCTest

/// `GET /admin/session` tells a user what their own keys may use (the web UI's key form
/// reads it: a user may not list groups or users): the groups the admin allows them, by id
/// and name, and the admin's limits for their keys; the `CCLOAD_PASS` admin gets `null`s.
extension AdminUsersTests {
    func testSessionNamesAUsersAllowedGroupsAndKeyLimits() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let channelID = try XCTUnwrap((try adminOK(ccload, "GET", "/admin/channels")["data"] as? [[String: Any]])?.first?["id"] as? Int)
        let allowed = try XCTUnwrap(try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-one","channel_ids":[\#(channelID)]}"#,
                                                status: 201)["id"] as? Int)
        _ = try adminOK(ccload, "POST", "/admin/groups", #"{"name":"team-two","channel_ids":[\#(channelID)]}"#, status: 201)
        try createUser(ccload, #"{"username":"alice","password":"alice-pass-1","allowed_group_ids":[\#(allowed)],"#
            + #""token_limits":{"daily_cost_cap_usd":5,"requests_per_minute":60}}"#)
        try createUser(ccload, #"{"username":"bob","password":"bob-pass-12"}"#)

        let alice = try call(ccload, try session(ccload, "alice", "alice-pass-1"), "GET", "/admin/session")
        XCTAssertEqual(alice.status, 200, alice.bodyText)
        let groups = try XCTUnwrap(alice.json?["allowed_groups"] as? [[String: Any]], alice.bodyText)
        XCTAssertEqual(groups.map { $0["id"] as? Int }, [allowed], "only the allowed group: \(alice.bodyText)")
        XCTAssertEqual(groups.map { $0["name"] as? String }, ["team-one"])
        let limits = try XCTUnwrap(alice.json?["token_limits"] as? [String: Any], alice.bodyText)
        XCTAssertEqual(limits["daily_cost_cap_usd"] as? Double, 5)
        XCTAssertEqual(limits["requests_per_minute"] as? Int, 60)
        XCTAssertTrue(limits["weekly_cost_cap_usd"] is NSNull, "no weekly limit: \(limits)")

        let bob = try call(ccload, try session(ccload, "bob", "bob-pass-12"), "GET", "/admin/session")
        XCTAssertEqual((bob.json?["allowed_groups"] as? [Any])?.count, 0, "no groups allowed: \(bob.bodyText)")

        let admin = try adminOK(ccload, "GET", "/admin/session")
        XCTAssertTrue(admin["allowed_groups"] is NSNull, "\(admin)")
        XCTAssertTrue(admin["token_limits"] is NSNull, "\(admin)")
    }
}
