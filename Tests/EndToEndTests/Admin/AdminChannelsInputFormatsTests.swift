import Foundation
import XCTest

/// One channel document, every way a channel comes in: the channels file, `POST` and `PUT
/// /admin/channels`, and an import (a JSON array, and CSV with the document's field names as
/// columns). Each spelling one of them accepts (`api_key`/`api_keys`, `url`/`urls`,
/// `channel_type`/`protocol`, `model_redirects`/`redirects`, …) the others accept, and the
/// channel comes out the same.
final class AdminChannelsInputFormatsTests: AdminChannelsCase {
    /// ccLoad's and the README's spelling: one string of keys, one string of URLs.
    var fileStyle: [String: Any] {
        ["name": "same", "channel_type": "openai", "url": "http://127.0.0.1:9/v1, http://127.0.0.1:9/v2",
         "api_key": "\(keyA),\(keyB)", "model_redirects": ["old": "m1"], "models": "m1,m2", "priority": 3, "weight": 2,
         "key_strategy": "round_robin", "enabled": false, "proxy": "http://u:proxy-pass-Q7w@127.0.0.1:3128",
         "first_byte_timeout": 7.5, "cost_multiplier": 0.5, "daily_cost_limit": 12, "max_concurrency": 4,
         "insecure_skip_verify": true]
    }

    /// The admin API's spelling (API.md): lists, and the API's own names.
    var apiStyle: [String: Any] {
        ["name": "same", "protocol": "openai", "urls": ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v2"],
         "api_keys": [keyA, keyB], "redirects": ["old": "m1"], "models": ["m1", "m2"], "priority": 3, "weight": 2,
         "key_strategy": "round_robin", "enabled": false, "proxy": "http://u:proxy-pass-Q7w@127.0.0.1:3128",
         "first_byte_timeout_seconds": 7.5, "cost_multiplier": 0.5, "daily_cost_limit_usd": 12, "max_concurrency": 4,
         "insecure_skip_verify": true]
    }

    /// A view without what differs between stores (the id).
    func comparable(_ view: [String: Any]) throws -> String {
        var v = view
        v["id"] = nil
        return String(decoding: try JSONSerialization.data(withJSONObject: v, options: .sortedKeys), as: UTF8.self)
    }

    /// `doc` as a CSV file whose header is the document's own field names.
    func csv(_ doc: [String: Any]) throws -> String {
        let names = doc.keys.sorted()
        func cell(_ v: Any) throws -> String {
            let s: String
            switch v {
            case let a as [String]: s = a.joined(separator: ",")
            case let d as [String: String]:
                s = String(decoding: try JSONSerialization.data(withJSONObject: d, options: .sortedKeys), as: UTF8.self)
            case let b as Bool: s = b ? "true" : "false"
            default: s = "\(v)"
            }
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return names.joined(separator: ",") + "\r\n" + (try names.map { try cell(doc[$0]!) }).joined(separator: ",") + "\r\n"
    }

    /// The channel `doc` makes through each way in, as its view (the id left out).
    func views(_ doc: [String: Any]) throws -> [(String, String)] {
        var out: [(String, String)] = []
        let fromFile = try startRelay([doc], ["SQLITE_PATH": tempDatabase()]).ccload
        let filed = try list(fromFile)
        XCTAssertEqual(filed.count, 1, "\(filed)")
        out.append(("channels file", try comparable(try XCTUnwrap(filed.first))))

        let ccload = try startEmpty()
        let posted = try create(ccload, doc)
        out.append(("POST", try comparable(posted)))
        let id = try XCTUnwrap(posted["id"] as? Int)
        XCTAssertEqual(try adminJSON(ccload, "DELETE", "/admin/channels/\(id)")["deleted"] as? Bool, true)

        let other = try create(ccload, input("other", url: "http://127.0.0.1:9", keys: [keyC], ["models": ["x"], "weight": 9]))
        let put = try adminJSON(ccload, "PUT", "/admin/channels/\(try XCTUnwrap(other["id"] as? Int))", doc)
        out.append(("PUT", try comparable(put)))

        for (what, body, type) in [("import (JSON)", String(decoding: try JSONSerialization.data(withJSONObject: [doc]), as: UTF8.self),
                                    "application/json"),
                                   ("import (CSV)", try csv(doc), "text/csv")] {
            let fresh = try startEmpty()
            let r = try admin(fresh, "POST", "/admin/channels/import", body, contentType: type)
            XCTAssertEqual(r.status, 200, "\(what): \(r.bodyText)")
            XCTAssertEqual(r.json?["created"] as? Int, 1, "\(what): \(r.bodyText)")
            let imported = try list(fresh)
            XCTAssertEqual(imported.count, 1, "\(what): \(imported)")
            out.append((what, try comparable(try XCTUnwrap(imported.first))))
            assertSecretsNeverShown(fresh)
        }
        assertSecretsNeverShown(ccload)
        assertSecretsNeverShown(fromFile)
        return out
    }

    func testTheSameDocumentIsTheSameChannelThroughFileAPIAndImport() throws {
        let fromFileStyle = try views(fileStyle)
        let fromAPIStyle = try views(apiStyle)
        let reference = try XCTUnwrap(fromAPIStyle.first?.1)
        XCTAssertTrue(reference.contains("\"urls\":[\"http:\\/\\/127.0.0.1:9\\/v1\",\"http:\\/\\/127.0.0.1:9\\/v2\"]")
                      || reference.contains("\"urls\":[\"http://127.0.0.1:9/v1\",\"http://127.0.0.1:9/v2\"]"), reference)
        XCTAssertTrue(reference.contains("\"redirects\":{\"old\":\"m1\"}"), reference)
        XCTAssertTrue(reference.contains("\"daily_cost_limit_usd\":12"), reference)
        XCTAssertTrue(reference.contains("\"first_byte_timeout_seconds\":7.5"), reference)
        for (what, view) in fromFileStyle {
            XCTAssertEqual(view, reference, "file-style document through \(what)")
        }
        for (what, view) in fromAPIStyle {
            XCTAssertEqual(view, reference, "API-style document through \(what)")
        }
    }

    func testErrorsNameTheFieldAsTheInputSpelledIt() throws {
        let ccload = try startEmpty()
        let cases: [(String, Any, String)] = [
            ("api_key", "", "api_key"), ("keys", [] as [String], "keys"), ("urls", ["ftp://x"], "urls"),
            ("channel_type", "smtp", "channel_type"), ("first_byte_timeout_seconds", -1, "first_byte_timeout_seconds"),
            ("first_byte_timeout", -1, "first_byte_timeout"), ("daily_cost_limit", -1, "daily_cost_limit"),
            ("model_redirects", 5, "model_redirects"), ("redirects", 5, "redirects"),
        ]
        for (name, value, expected) in cases {
            var doc = apiStyle
            for group in [["api_keys", "api_key", "keys"], ["urls", "url"], ["protocol", "channel_type"],
                          ["first_byte_timeout_seconds", "first_byte_timeout"], ["daily_cost_limit_usd", "daily_cost_limit"],
                          ["redirects", "model_redirects"]] where group.contains(name) {
                for g in group { doc[g] = nil }
            }
            doc[name] = value
            let body = String(decoding: try JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
            let r = try admin(ccload, "POST", "/admin/channels", body)
            XCTAssertEqual(r.status, 400, "\(name): \(r.bodyText)")
            XCTAssertEqual(field(r), expected, "POST \(name): \(r.bodyText)")
            let imported = try adminJSON(ccload, "POST", "/admin/channels/import", "[\(body)]")
            XCTAssertEqual((imported["rows"] as? [[String: Any]])?.first?["field"] as? String, expected, "import \(name): \(imported)")
        }
        // Two spellings of one field at once, and the store's own field.
        var both = apiStyle
        both["api_key"] = keyC
        let r = try admin(ccload, "POST", "/admin/channels",
                          String(decoding: try JSONSerialization.data(withJSONObject: both), as: UTF8.self))
        XCTAssertEqual(r.status, 400, r.bodyText)
        XCTAssertTrue(["api_key", "api_keys"].contains(field(r) ?? ""), r.bodyText)
        XCTAssertTrue(r.bodyText.contains("given together with"), r.bodyText)
        var withID = apiStyle
        withID["id"] = 5
        let idr = try admin(ccload, "POST", "/admin/channels",
                            String(decoding: try JSONSerialization.data(withJSONObject: withID), as: UTF8.self))
        XCTAssertEqual(idr.status, 400, idr.bodyText)
        XCTAssertEqual(field(idr), "id", idr.bodyText)
        XCTAssertEqual(try list(ccload).count, 0, "a refused input wrote a channel")
        assertSecretsNeverShown(ccload)
    }
}
