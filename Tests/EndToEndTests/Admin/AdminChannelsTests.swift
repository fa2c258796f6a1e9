import Foundation
import Glibc
import XCTest

/// `/admin/channels` create, read, update, delete and batch changes against the real
/// binary: every change routes at once, bad input names its field, nothing bad is
/// written, and keys never show whole.
final class AdminChannelsTests: AdminChannelsCase {
    func testCreatedChannelRoutesAtOnceDisableGives503DeleteForgetsIt() throws {
        let mock = try startMock(["--require-key", keyA])
        let ccload = try startEmpty()
        XCTAssertEqual(try proxied(ccload).status, 503, "nothing routes before a channel exists")

        let created = try create(ccload, input("a", url: mock.url, ["models": [RelayCase.model]]))
        let id = try XCTUnwrap(created["id"] as? Int)
        XCTAssertEqual((created["keys"] as? [[String: Any]])?.first?["masked"] as? String, masked(keyA))
        // No restart: the very next request goes through it, with its key (the mock wants it).
        let r = try proxied(ccload)
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(try mock.requests(), 1)

        XCTAssertEqual(try adminJSON(ccload, "PUT", "/admin/channels/\(id)", ["enabled": false])["enabled"] as? Bool, false)
        XCTAssertEqual(try proxied(ccload).status, 503, "a disabled channel still routed")
        try adminJSON(ccload, "PUT", "/admin/channels/\(id)", ["enabled": true])
        XCTAssertEqual(try proxied(ccload).status, 200)

        XCTAssertEqual(try adminJSON(ccload, "DELETE", "/admin/channels/\(id)")["deleted"] as? Bool, true)
        XCTAssertEqual(try proxied(ccload).status, 503, "a deleted channel still routed")
        XCTAssertEqual(try admin(ccload, "GET", "/admin/channels/\(id)").status, 404)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/channels/\(id)").status, 404)
        XCTAssertEqual(try mock.requests(), 2)
        assertSecretsNeverShown(ccload)
    }

    func testViewListOrderAndPartialUpdateKeepsOmittedFieldsAndKeys() throws {
        let db = tempDatabase()
        let ccload = try startEmpty(db: db)
        let full = try create(ccload, input("full", url: "http://127.0.0.1:9/v1", keys: [keyA, keyB], [
            "models": ["m1", "m2"], "redirects": ["old": "m1"], "priority": 1, "weight": 3, "key_strategy": "round_robin",
            "proxy": "http://user:proxy-pass-Q7w@127.0.0.1:3128", "first_byte_timeout_seconds": 7.5,
            "cost_multiplier": 0.5, "daily_cost_limit_usd": 12, "max_concurrency": 4,
        ]))
        let high = try create(ccload, input("high", url: "https://example.com", proto: "openai", keys: [keyC], ["priority": 10]))
        let id = try XCTUnwrap(full["id"] as? Int)

        // The view, with explicit nulls and the masked secrets.
        XCTAssertEqual(full["protocol"] as? String, "anthropic")
        XCTAssertEqual(full["urls"] as? [String], ["http://127.0.0.1:9/v1"])
        XCTAssertEqual((full["keys"] as? [[String: Any]])?.map { $0["masked"] as? String }, [masked(keyA), masked(keyB)])
        XCTAssertEqual((full["keys"] as? [[String: Any]])?.first?["cooldown_remaining_ms"] as? NSNull, NSNull())
        XCTAssertEqual(full["proxy"] as? String, "http://user:****@127.0.0.1:3128")
        XCTAssertEqual(full["redirects"] as? [String: String], ["old": "m1"])
        XCTAssertEqual(full["weight"] as? Int, 3)
        XCTAssertEqual(full["first_byte_timeout_seconds"] as? Double, 7.5)
        XCTAssertEqual(full["daily_cost_limit_usd"] as? Double, 12)
        XCTAssertEqual(full["key_strategy"] as? String, "round_robin")
        XCTAssertTrue(full["cooldown"] is NSNull)
        XCTAssertEqual(full["today_cost_usd"] as? Double, 0)
        XCTAssertTrue(high["weight"] is NSNull, "\(high)")
        XCTAssertTrue(high["proxy"] is NSNull)
        XCTAssertEqual(try list(ccload).map { $0["name"] as? String }, ["high", "full"], "priority high first")

        // Partial: one key kept by index, one new; the masked proxy sent back keeps the stored one.
        let updated = try adminJSON(ccload, "PUT", "/admin/channels/\(id)", [
            "priority": 20, "api_keys": [["keep": 1], keyC], "proxy": "http://user:****@127.0.0.1:3128",
        ])
        XCTAssertEqual(updated["priority"] as? Int, 20)
        XCTAssertEqual((updated["keys"] as? [[String: Any]])?.map { $0["masked"] as? String }, [masked(keyB), masked(keyC)])
        XCTAssertEqual(updated["models"] as? [String], ["m1", "m2"], "omitted fields keep their value")
        XCTAssertEqual(updated["weight"] as? Int, 3)
        XCTAssertEqual(updated["cost_multiplier"] as? Double, 0.5)
        XCTAssertEqual(try storedKeys(db, channel: id), [keyB, keyC])
        XCTAssertEqual(try storedProxy(db, channel: id), "http://user:proxy-pass-Q7w@127.0.0.1:3128")
        XCTAssertEqual(try list(ccload).map { $0["name"] as? String }, ["full", "high"])

        // A masked key sent back keeps that key; null clears an optional field.
        let again = try adminJSON(ccload, "PUT", "/admin/channels/\(id)", [
            "api_keys": [masked(keyC)], "weight": NSNull(), "proxy": NSNull(), "models": [],
        ])
        XCTAssertTrue(again["weight"] is NSNull)
        XCTAssertTrue(again["proxy"] is NSNull)
        XCTAssertEqual(again["models"] as? [String], [])
        XCTAssertEqual(try storedKeys(db, channel: id), [keyC])
        XCTAssertEqual(try view(ccload, id)["name"] as? String, "full")
        assertSecretsNeverShown(ccload)
    }

    func testBadInputIsRefusedNamingTheFieldAndWritesNothing() throws {
        let ccload = try startEmpty()
        let existing = try create(ccload, input("taken", url: "http://127.0.0.1:9"))
        let id = try XCTUnwrap(existing["id"] as? Int)
        let good = input("new", url: "http://127.0.0.1:9")
        func with(_ changes: [String: Any?]) -> [String: Any] {
            var d = good
            for (k, v) in changes { d[k] = v }
            return d
        }
        let cases: [(String, [String: Any], Int, String?)] = [
            ("no name", with(["name": nil]), 400, "name"),
            ("no protocol", with(["protocol": nil]), 400, "protocol"),
            ("unknown protocol", with(["protocol": "smtp"]), 400, "protocol"),
            ("bad url", with(["url": "ftp://example.com"]), 400, "url"),
            ("no url", with(["url": nil]), 400, "url"),
            ("negative weight", with(["weight": -1]), 400, "weight"),
            ("zero weight", with(["weight": 0]), 400, "weight"),
            ("priority out of range", with(["priority": 5_000_000_000]), 400, "priority"),
            ("priority not a number", with(["priority": "high"]), 400, "priority"),
            ("no keys", with(["api_keys": []]), 400, "api_keys"),
            ("keys not a list", with(["api_keys": 5]), 400, "api_keys"),
            ("blank key", with(["api_keys": ["  "]]), 400, "api_keys"),
            ("keep on create", with(["api_keys": [["keep": 0]]]), 400, "api_keys[0]"),
            ("models not strings", with(["models": [1, 2]]), 400, "models"),
            ("unknown field", with(["colour": "red"]), 400, "colour"),
            ("name not a string", with(["name": 7]), 400, "name"),
            ("bad proxy", with(["proxy": "gopher://x"]), 400, "proxy"),
            ("negative cost multiplier", with(["cost_multiplier": -1]), 400, "cost_multiplier"),
            ("bad key strategy", with(["key_strategy": "random"]), 400, "key_strategy"),
            ("enabled not a boolean", with(["enabled": "maybe"]), 400, "enabled"),
            ("masked key for a new channel", with(["api_keys": [masked(keyA)]]), 400, "api_keys"),
            ("duplicate name", with(["name": "taken"]), 409, "name"),
        ]
        for (what, body, status, f) in cases {
            let r = try admin(ccload, "POST", "/admin/channels",
                              String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self))
            XCTAssertEqual(r.status, status, "\(what): \(r.bodyText)")
            XCTAssertEqual(field(r), f, "\(what): \(r.bodyText)")
            XCTAssertNotNil((r.json?["error"] as? [String: Any])?["message"] as? String, what)
        }
        for (what, body) in [("not JSON", "{nope"), ("an array", "[]"), ("empty", "")] {
            XCTAssertEqual(try admin(ccload, "POST", "/admin/channels", body).status, 400, what)
        }
        // Updates: a rename onto a taken name, a key index that is not stored, bad ids.
        _ = try create(ccload, input("other", url: "http://127.0.0.1:9"))
        let other = try XCTUnwrap(try list(ccload).first { $0["name"] as? String == "other" }?["id"] as? Int)
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/channels/\(other)", #"{"name":"taken"}"#).status, 409)
        let keep = try admin(ccload, "PUT", "/admin/channels/\(id)", #"{"api_keys":[{"keep":3}]}"#)
        XCTAssertEqual(keep.status, 400)
        XCTAssertEqual(field(keep), "api_keys[0]")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/channels/999", #"{"priority":1}"#).status, 404)
        XCTAssertEqual(field(try admin(ccload, "PUT", "/admin/channels/abc", #"{"priority":1}"#)), "id")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/channels/\(id)", #"{"url":"not a url"}"#).status, 400)

        let names = try list(ccload).compactMap { $0["name"] as? String }.sorted()
        XCTAssertEqual(names, ["other", "taken"], "a refused change wrote something")
        XCTAssertEqual(try view(ccload, id)["urls"] as? [String], ["http://127.0.0.1:9"])
        assertSecretsNeverShown(ccload)
    }

    func testSessionIsRequiredAndCookieChangesNeedSameOrigin() throws {
        let ccload = try startEmpty()
        let body = String(decoding: try JSONSerialization.data(withJSONObject: input("c", url: "http://127.0.0.1:9")), as: UTF8.self)
        for (method, path) in [("GET", "/admin/channels"), ("POST", "/admin/channels"), ("GET", "/admin/channels/1"),
                               ("PUT", "/admin/channels/1"), ("DELETE", "/admin/channels/1"), ("POST", "/admin/channels/batch"),
                               ("POST", "/admin/channels/1/clear-cooldowns"), ("POST", "/admin/channels/1/test"),
                               ("GET", "/admin/channels/export"), ("POST", "/admin/channels/import")] {
            let r = try admin(ccload, method, path, method == "GET" || method == "DELETE" ? nil : body, auth: false)
            XCTAssertEqual(r.status, 401, "\(method) \(path) without a session: \(r.bodyText)")
        }
        XCTAssertEqual(try admin(ccload, "GET", "/admin/channels", headers: ["Authorization: Bearer not-a-session"], auth: false).status, 401)

        // Log in for a cookie.
        let login = try ccload.post("/login", #"{"password":"\#(CcloadProcess.adminPassword)"}"#)
        XCTAssertEqual(login.status, 200, login.bodyText)
        let setCookie = try XCTUnwrap(login.header("set-cookie"))
        let cookie = try XCTUnwrap(setCookie.split(separator: ";").first.map(String.init))
        XCTAssertTrue(cookie.hasPrefix("ccload_session="), setCookie)

        XCTAssertEqual(try admin(ccload, "GET", "/admin/channels", headers: ["Cookie: \(cookie)"], auth: false).status, 200)
        let noOrigin = try admin(ccload, "POST", "/admin/channels", body, headers: ["Cookie: \(cookie)"], auth: false)
        XCTAssertEqual(noOrigin.status, 403, noOrigin.bodyText)
        let foreign = try admin(ccload, "POST", "/admin/channels", body, headers: ["Cookie: \(cookie)", "Origin: https://evil.example"], auth: false)
        XCTAssertEqual(foreign.status, 403)
        XCTAssertEqual(try admin(ccload, "POST", "/admin/channels/import", "name,api_key,url\nx,k-123456789,http://h\n",
                                 contentType: "text/csv", headers: ["Cookie: \(cookie)"], auth: false).status, 403)
        XCTAssertEqual(try list(ccload).count, 0, "a refused cross-site change wrote a channel")
        let same = try admin(ccload, "POST", "/admin/channels", body, headers: ["Cookie: \(cookie)", "Origin: http://ccload.test"], auth: false)
        XCTAssertEqual(same.status, 201, same.bodyText)
        let id = try XCTUnwrap(same.json?["id"] as? Int)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/channels/\(id)", headers: ["Cookie: \(cookie)"], auth: false).status, 403)
        XCTAssertEqual(try admin(ccload, "DELETE", "/admin/channels/\(id)", headers: ["Cookie: \(cookie)", "Referer: http://ccload.test/web/"],
                                 auth: false).status, 200)
        assertSecretsNeverShown(ccload)
    }

    func testBatchIsAllOrNothing() throws {
        let mock = try startMock()
        let ccload = try startEmpty()
        var ids: [Int] = []
        for name in ["a", "b", "c"] {
            ids.append(try XCTUnwrap(try create(ccload, input(name, url: mock.url))["id"] as? Int))
        }
        func state() throws -> [String: (Bool, Int)] {
            Dictionary(uniqueKeysWithValues: try list(ccload).map { ($0["name"] as! String, ($0["enabled"] as! Bool, $0["priority"] as! Int)) })
        }
        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": [ids[0], ids[1]], "action": "disable"])["updated"] as? Int, 2)
        var s = try state()
        XCTAssertEqual(s["a"]?.0, false)
        XCTAssertEqual(s["b"]?.0, false)
        XCTAssertEqual(s["c"]?.0, true)

        // An unknown id refuses the whole batch.
        let refused = try admin(ccload, "POST", "/admin/channels/batch", #"{"ids":[\#(ids[2]),999],"action":"disable"}"#)
        XCTAssertEqual(refused.status, 404, refused.bodyText)
        XCTAssertEqual(try state()["c"]?.0, true, "part of a refused batch was applied")
        for (body, f) in [(#"{"ids":[1],"action":"set_priority"}"#, "priority"), (#"{"ids":[1],"action":"explode"}"#, "action"),
                          (#"{"ids":[],"action":"enable"}"#, "ids"), (#"{"ids":[0],"action":"enable"}"#, "ids"),
                          (#"{"ids":"1","action":"enable"}"#, "ids"), (#"{"action":"enable"}"#, "ids")] {
            let r = try admin(ccload, "POST", "/admin/channels/batch", body)
            XCTAssertEqual(r.status, 400, "\(body): \(r.bodyText)")
            XCTAssertEqual(field(r), f, body)
        }

        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch",
                                     ["ids": ids, "action": "set_priority", "priority": 5])["updated"] as? Int, 3)
        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": ids, "action": "enable"])["updated"] as? Int, 3)
        s = try state()
        XCTAssertTrue(s.values.allSatisfy { $0 == (true, 5) }, "\(s)")
        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": [ids[1]], "action": "clear_cooldowns"])["updated"] as? Int, 1)

        // Disable all: nothing routes; delete two: the third routes.
        try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": ids, "action": "disable"])
        XCTAssertEqual(try proxied(ccload).status, 503)
        XCTAssertEqual(try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": [ids[0], ids[1]], "action": "delete"])["updated"] as? Int, 2)
        XCTAssertEqual(try list(ccload).map { $0["name"] as? String }, ["c"])
        try adminJSON(ccload, "POST", "/admin/channels/batch", ["ids": [ids[2]], "action": "enable"])
        XCTAssertEqual(try proxied(ccload).status, 200)
        assertSecretsNeverShown(ccload)
    }

    func testCreateIsDurableAcrossKill9() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let first = try startEmpty(db: db)
        let id = try XCTUnwrap(try create(first, input("durable", url: mock.url, keys: [keyA, keyB]))["id"] as? Int)
        first.process.signal(SIGKILL)
        XCTAssertNotNil(first.process.waitForExit(timeout: 10))
        XCTAssertTrue(first.process.endedBySignal)

        let second = try startEmpty(db: db)
        let v = try view(second, id)
        XCTAssertEqual(v["name"] as? String, "durable")
        XCTAssertEqual((v["keys"] as? [[String: Any]])?.count, 2)
        XCTAssertEqual(try proxied(second).status, 200, "the restored channel does not route")
        assertSecretsNeverShown(second)
    }
}
