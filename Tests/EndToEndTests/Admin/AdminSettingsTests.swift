import Foundation
import XCTest

/// `/admin/settings`: applied live, all or nothing, kept across a restart, reset to the
/// default; a configuration write on a full disk is a clear 500 and the proxy goes on.
final class AdminSettingsTests: AdminDataCase {
    func setting(_ ccload: CcloadProcess, _ key: String) throws -> [String: Any]? {
        (try adminOK(ccload, "GET", "/admin/settings")["data"] as? [[String: Any]])?.first { $0["key"] as? String == key }
    }

    func testFirstByteTimeoutAppliesWithoutRestart() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let stalling = "head_delay_ms=3000"
        // The default (300 s) waits for a slow head.
        let t0 = Date()
        XCTAssertEqual(try proxy(ccload, token: nil, query: stalling).status, 200)
        XCTAssertGreaterThan(Date().timeIntervalSince(t0), 2.5)

        let changed = try adminOK(ccload, "PUT", "/admin/settings", #"{"first_byte_timeout_seconds":0.3}"#)
        let row = (changed["data"] as? [[String: Any]])?.first { $0["key"] as? String == "first_byte_timeout_seconds" }
        XCTAssertEqual(row?["value"] as? Double, 0.3, "\(String(describing: row))")
        let t1 = Date()
        let r = try proxy(ccload, token: nil, query: stalling)
        XCTAssertEqual(r.status, 504, r.bodyText)
        XCTAssertLessThan(Date().timeIntervalSince(t1), 2.0, "the new timeout did not apply")

        // Reset: the default applies again.
        let reset = try adminOK(ccload, "DELETE", "/admin/settings/first_byte_timeout_seconds")
        XCTAssertEqual(reset["value"] as? Int, 300, "\(reset)")
        XCTAssertEqual(try proxy(ccload, token: nil, query: "head_delay_ms=1000").status, 200)
        assertNoSecrets(ccload, [])
    }

    func testListShowsTypesDefaultsAndBounds() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let retries = try XCTUnwrap(try setting(ccload, "max_key_retries"))
        XCTAssertEqual(retries["type"] as? String, "int")
        XCTAssertEqual(retries["value"] as? Int, 3)
        XCTAssertEqual(retries["default"] as? Int, 3)
        XCTAssertEqual(retries["min"] as? Int, 1)
        XCTAssertEqual(retries["max"] as? Int, 8)
        XCTAssertNotNil(retries["summary"] as? String)
        // Unit, liveness and the start-up names come from the catalog too.
        XCTAssertEqual(retries["unit"] as? String, "")
        XCTAssertEqual(retries["live"] as? Bool, true)
        XCTAssertEqual(retries["env"] as? String, "CCLOAD_MAX_KEY_RETRIES")
        XCTAssertEqual(retries["flag"] as? String, "--max-key-retries")
        let timeout = try XCTUnwrap(try setting(ccload, "first_byte_timeout_seconds"))
        XCTAssertEqual(timeout["unit"] as? String, "seconds")
        XCTAssertFalse((timeout["summary"] as? String ?? "`").contains("`"), "Markdown in a summary")
        let channels = try XCTUnwrap(try setting(ccload, "max_channels_per_request"))
        XCTAssertTrue(channels["env"] is NSNull, "\(channels)")
        XCTAssertTrue(channels["flag"] is NSNull, "\(channels)")
        XCTAssertEqual(try setting(ccload, "admin_session_hours")?["unit"] as? String, "hours")
        let flag = try XCTUnwrap(try setting(ccload, "fallback_to_soonest"))
        XCTAssertEqual(flag["value"] as? Bool, true)
        XCTAssertTrue(flag["min"] is NSNull)
        let all = try adminOK(ccload, "GET", "/admin/settings")["data"] as? [[String: Any]] ?? []
        XCTAssertFalse(all.contains { ($0["key"] as? String)?.hasPrefix("_") ?? true }, "an internal key is listed")
    }

    func testBadChangesAreRefusedWholeAndNameTheField() throws {
        let mock = try startMock()
        let (ccload, _) = try startRelay([channel("a", url: mock.url)])
        let put = { (body: String, field: String) in
            try self.assertBadField(ccload, "PUT", "/admin/settings", body, field: field)
        }
        try put(#"{"max_key_retries":2,"no_such_setting":1}"#, "no_such_setting")
        try put(#"{"max_key_retries":"two"}"#, "max_key_retries")
        try put(#"{"max_key_retries":2.5}"#, "max_key_retries")
        try put(#"{"max_key_retries":99}"#, "max_key_retries")
        try put(#"{"max_key_retries":null}"#, "max_key_retries")
        try put(#"{"fallback_to_soonest":1}"#, "fallback_to_soonest")
        try put(#"{"cooldown_min_seconds":5000}"#, "cooldown_min_seconds")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/settings", "[1,2]").status, 400)
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/settings", "{}").status, 400)
        XCTAssertEqual(try setting(ccload, "max_key_retries")?["value"] as? Int, 3, "a refused change changed something")
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/settings/no_such_setting").status, 404)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/settings/_admin_password").status, 404)
        // A reset that would break the rules between settings is refused too.
        try adminOK(ccload, "PUT", "/admin/settings", #"{"cooldown_min_seconds":1,"cooldown_max_seconds":5}"#)
        try assertBadField(ccload, "DELETE", "/admin/settings/cooldown_min_seconds", field: "cooldown_min_seconds")

        try assertGuarded(ccload, "GET", "/admin/settings")
        try assertGuarded(ccload, "PUT", "/admin/settings", #"{"max_key_retries":2}"#)
        try assertGuarded(ccload, "DELETE", "/admin/settings/max_key_retries")
        XCTAssertEqual(try setting(ccload, "max_key_retries")?["value"] as? Int, 3, "a refused call changed something")
        let byCookie = try admin(ccload, "PUT", "/admin/settings", #"{"max_key_retries":2}"#, auth: .cookie(sameOrigin: true))
        XCTAssertEqual(byCookie.status, 200, byCookie.bodyText)
    }

    func testSettingsSurviveARestart() throws {
        let db = tempDatabase()
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("a", url: mock.url)])
        let first = try startOn(db: db, channelsFile: channels)
        try adminOK(first, "PUT", "/admin/settings", #"{"max_channels_per_request":3,"session_affinity":false,"affinity_ttl_seconds":90.5}"#)
        stopGracefully(first)
        let second = try startOn(db: db, channelsFile: channels)
        XCTAssertEqual(try setting(second, "max_channels_per_request")?["value"] as? Int, 3)
        XCTAssertEqual(try setting(second, "session_affinity")?["value"] as? Bool, false)
        XCTAssertEqual(try setting(second, "affinity_ttl_seconds")?["value"] as? Double, 90.5)
    }

    func testConfigurationWriteOnAFullDiskIsAClear500() throws {
        let dir = try mountSmallDisk()
        let db = dir + "/ccload.db"
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("main", url: mock.url)])
        let ccload = try startOn(db: db, channelsFile: channels)
        _ = try ccload.adminToken()  // log in while there is room
        XCTAssertEqual(try proxy(ccload, token: nil).status, 200)
        let filler = fillDisk(dir)

        // The WAL may still have room for a few small commits: write until one fails.
        var failure: HTTPResponse?
        for i in 0..<400 {
            let r = try admin(ccload, "PUT", "/admin/settings", #"{"affinity_ttl_seconds":\#(100 + i)}"#)
            if r.status != 200 { failure = r; break }
        }
        let r = try XCTUnwrap(failure, "400 settings writes on a full disk all succeeded")
        XCTAssertEqual(r.status, 500, r.bodyText)
        let e = r.json?["error"] as? [String: Any]
        let message = e?["message"] as? String ?? ""
        XCTAssertTrue(message.hasPrefix("the database could not be written"), message)
        XCTAssertTrue(message.contains("full"), message)
        XCTAssertEqual(e?["type"] as? String, "storage_error")
        let token = try admin(ccload, "POST", "/admin/tokens", #"{"name":"no-room"}"#)
        XCTAssertEqual(token.status, 500, token.bodyText)
        XCTAssertTrue(token.bodyText.contains("full"), token.bodyText)

        // The proxy keeps serving, and reading still works.
        for _ in 0..<5 { XCTAssertEqual(try proxy(ccload, token: nil).status, 200) }
        XCTAssertEqual(try admin(ccload, "GET", "/admin/settings").status, 200)
        XCTAssertTrue(ccload.process.isRunning)

        // Room again: writes succeed without a restart.
        try FileManager.default.removeItem(atPath: filler)
        try adminOK(ccload, "PUT", "/admin/settings", #"{"affinity_ttl_seconds":77}"#)
        XCTAssertEqual(try setting(ccload, "affinity_ttl_seconds")?["value"] as? Int, 77)
        assertNoSecrets(ccload, [])
    }
}
