import Foundation
import XCTest

/// `GET /admin/channels/export` and `POST /admin/channels/import`: ccLoad's CSV, masked
/// keys that round-trip, BOM and Chinese headers, per-row results, multipart, limits.
final class AdminChannelsCSVTests: AdminChannelsCase {
    func testExportThenImportRoundTripsWithMaskedKeys() throws {
        let mock = try startMock(["--require-key", keyA])
        let db = tempDatabase()
        let ccload = try startEmpty(db: db)
        try create(ccload, input("main, \"quoted\"", url: mock.url, keys: [keyA, keyB], [
            "models": [RelayCase.model, "other"], "redirects": ["alias": RelayCase.model], "priority": 5, "weight": 2,
            "proxy": "http://u:proxy-pass-Q7w@127.0.0.1:3128", "cost_multiplier": 1.5, "max_concurrency": 3,
            "key_strategy": "round_robin", "enabled": false,
        ]))
        try create(ccload, input("second", url: mock.url, proto: "openai", keys: [keyC], ["first_byte_timeout_seconds": 2.5]))
        let before = try list(ccload)

        let export = try admin(ccload, "GET", "/admin/channels/export")
        XCTAssertEqual(export.status, 200)
        XCTAssertTrue(export.header("content-type")?.hasPrefix("text/csv") ?? false, "\(export.headers)")
        XCTAssertTrue(export.header("content-disposition")?.contains("attachment") ?? false)
        let csv = export.bodyText
        let header = csv.drop { $0 == "\u{FEFF}" }.prefix { $0 != "\r" && $0 != "\n" }
        XCTAssertTrue(header.hasPrefix("name,api_key,url,priority,models,enabled,protocol,key_strategy,weight"), String(header))
        XCTAssertTrue(csv.contains(masked(keyA) + "," + masked(keyB)), csv)
        XCTAssertTrue(csv.contains("\"main, \"\"quoted\"\"\""), "RFC 4180 quoting: \(csv)")
        XCTAssertTrue(csv.contains("http://u:****@127.0.0.1:3128"), csv)

        // Import what was exported: both update in place, keys and proxy kept.
        let report = try adminJSON(ccload, "POST", "/admin/channels/import", csv)
        XCTAssertEqual(report["updated"] as? Int, 2, "\(report)")
        XCTAssertEqual(report["created"] as? Int, 0)
        XCTAssertEqual(report["failed"] as? Int, 0)
        XCTAssertEqual(try storedKeys(db, channel: 1), [keyA, keyB])
        XCTAssertEqual(try storedKeys(db, channel: 2), [keyC])
        XCTAssertEqual(try storedProxy(db, channel: 1), "http://u:proxy-pass-Q7w@127.0.0.1:3128")
        let after = try list(ccload)
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: after, options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: before, options: .sortedKeys), "the round trip changed a channel")

        // Into a fresh ccload: the masked keys match nothing there, so those rows are refused.
        let other = try startEmpty()
        let refused = try adminJSON(other, "POST", "/admin/channels/import", csv)
        XCTAssertEqual(refused["failed"] as? Int, 2, "\(refused)")
        XCTAssertEqual((refused["rows"] as? [[String: Any]])?.first?["field"] as? String, "api_key")
        XCTAssertEqual(try list(other).count, 0)

        // The kept key still reaches the upstream (the mock wants keyA; the proxy goes, it is not there).
        try adminJSON(ccload, "PUT", "/admin/channels/1", ["enabled": true, "key_strategy": "sequential", "proxy": NSNull()])
        XCTAssertEqual(try proxied(ccload).status, 200)
        assertSecretsNeverShown(ccload)
    }

    func testImportWithBOMChineseHeadersAndABadRow() throws {
        let mock = try startMock()
        let db = tempDatabase()
        let ccload = try startEmpty(db: db)
        let existing = try create(ccload, input("已有", url: mock.url, keys: [keyA], ["priority": 1, "weight": 7]))
        let csv = "\u{FEFF}名称,密钥,地址,优先级,模型,状态\r\n"
            + "新渠道,\(keyB),\(mock.url),3,\"\(RelayCase.model),m2\",启用\r\n"
            + "坏的,\(keyC),ftp://nowhere,1,,启用\r\n"
            + "\r\n"
            + "已有,\(masked(keyA)),\(mock.url),9,,禁用\r\n"
        let r = try admin(ccload, "POST", "/admin/channels/import", csv, contentType: "text/csv; charset=utf-8")
        XCTAssertEqual(r.status, 200, r.bodyText)
        let j = try XCTUnwrap(r.json)
        XCTAssertEqual(j["created"] as? Int, 1, r.bodyText)
        XCTAssertEqual(j["updated"] as? Int, 1)
        XCTAssertEqual(j["failed"] as? Int, 1)
        let rows = try XCTUnwrap(j["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["result"] as? String }, ["created", "error", "updated"])
        XCTAssertEqual(rows.map { $0["row"] as? Int }, [1, 2, 3])
        XCTAssertEqual(rows[1]["name"] as? String, "坏的")
        XCTAssertEqual(rows[1]["field"] as? String, "url")
        XCTAssertEqual(rows[1]["line"] as? Int, 3)
        XCTAssertNotNil(rows[1]["error"] as? String)

        let channels = try list(ccload)
        XCTAssertEqual(Set(channels.compactMap { $0["name"] as? String }), ["新渠道", "已有"], "the bad row was written")
        let new = try XCTUnwrap(channels.first { $0["name"] as? String == "新渠道" })
        XCTAssertEqual(new["models"] as? [String], [RelayCase.model, "m2"])
        XCTAssertEqual(new["priority"] as? Int, 3)
        let old = try XCTUnwrap(channels.first { $0["name"] as? String == "已有" })
        XCTAssertEqual(old["id"] as? Int, existing["id"] as? Int, "a known name updates that channel")
        XCTAssertEqual(old["priority"] as? Int, 9)
        XCTAssertEqual(old["enabled"] as? Bool, false)
        XCTAssertEqual(old["weight"] as? Int, 7, "a column the file lacks keeps its value")
        XCTAssertEqual(try storedKeys(db, channel: old["id"] as! Int), [keyA])
        // Applied at once: the new channel routes the model.
        XCTAssertEqual(try proxied(ccload).status, 200)
        assertSecretsNeverShown(ccload)
    }

    func testMultipartImport() throws {
        let ccload = try startEmpty()
        let boundary = "----ccloadTestBoundary7MA4YWxk"
        let csv = "name,api_key,url,priority,models,enabled,protocol\nup,\(keyA),http://127.0.0.1:9,2,,true,gemini\n"
        let body = "--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot the file\r\n"
            + "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"channels.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            + csv + "\r\n--\(boundary)--\r\n"
        let r = try admin(ccload, "POST", "/admin/channels/import", body, contentType: "multipart/form-data; boundary=\(boundary)")
        XCTAssertEqual(r.status, 200, r.bodyText)
        XCTAssertEqual(r.json?["created"] as? Int, 1, r.bodyText)
        let c = try XCTUnwrap(try list(ccload).first)
        XCTAssertEqual(c["name"] as? String, "up")
        XCTAssertEqual(c["protocol"] as? String, "gemini")

        let noBoundary = try admin(ccload, "POST", "/admin/channels/import", body, contentType: "multipart/form-data")
        XCTAssertEqual(noBoundary.status, 400, noBoundary.bodyText)
        assertSecretsNeverShown(ccload)
    }

    func testImportLimitsAndUnreadableFiles() throws {
        let ccload = try startEmpty()
        let big = String(repeating: "x", count: 10 * 1024 * 1024 + 1)
        let tooBig = try admin(ccload, "POST", "/admin/channels/import", big, contentType: "text/csv", timeout: 30)
        XCTAssertEqual(tooBig.status, 413, tooBig.bodyText.prefix(300).description)

        var many = "name,api_key,url\n"
        for i in 0...10_000 { many += "c\(i),key-\(i)-abcdefgh,http://127.0.0.1:9\n" }
        let tooMany = try admin(ccload, "POST", "/admin/channels/import", many, contentType: "text/csv", timeout: 30)
        XCTAssertEqual(tooMany.status, 400)
        XCTAssertTrue(tooMany.bodyText.contains("10000"), tooMany.bodyText)

        for (what, body) in [("no url column", "name,api_key\na,b\n"), ("empty", ""), ("open quote", "name,api_key,url\n\"a,b,c\n"),
                             ("header only", "name,api_key,url\n")] {
            let r = try admin(ccload, "POST", "/admin/channels/import", body, contentType: "text/csv")
            XCTAssertEqual(r.status, 400, "\(what): \(r.bodyText)")
        }
        // A duplicate name inside the file: the second row is refused, the first applies.
        let dup = try adminJSON(ccload, "POST", "/admin/channels/import",
                                "name,api_key,url\nd,\(keyA),http://127.0.0.1:9\nd,\(keyB),http://127.0.0.1:9\n")
        XCTAssertEqual(dup["created"] as? Int, 1, "\(dup)")
        XCTAssertEqual(dup["failed"] as? Int, 1)
        XCTAssertEqual(try list(ccload).count, 1)
        assertSecretsNeverShown(ccload)
    }
}
