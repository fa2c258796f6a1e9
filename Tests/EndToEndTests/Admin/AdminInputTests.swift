import Foundation
import Glibc
import XCTest

/// Hostile admin input, end to end, on both sides of each rule: a channel key, URL host or
/// path prefix with a space, a control byte or CR/LF is refused with 400 naming the field
/// (admin API), with an error naming the channel and field (channels file, at start-up and
/// on SIGHUP), and as that row's error (CSV import). Before this fix those bytes reached the
/// upstream's request line and headers. Also: models, names, proxies, numbers, token fields,
/// and the CSV export's guard against formula injection.
final class AdminInputTests: AdminChannelsCase {
    func json(_ v: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self) }

    func testChannelFieldsWithControlBytesAreRefusedNamingTheFieldAndGoodOnesPass() throws {
        let dashed = "sk-ant-api03-with-dashes-in-the-middle"
        let mock = try startMock(["--require-key", dashed])
        let db = tempDatabase()
        let ccload = try startEmpty(db: db)
        let good = input("good", url: mock.url + "/prefix-ok", keys: [dashed], ["models": [RelayCase.model]])
        let cases: [(String, [String: Any], String)] = [
            ("CR/LF in a key", ["api_keys": ["sk-a\r\nX-Evil: 1"]], "api_keys"),
            ("space in a key", ["api_keys": ["sk a"]], "api_keys"),
            ("NUL in a key", ["api_keys": ["sk\u{0}a"]], "api_keys"),
            ("CR/LF in a URL host", ["url": ["http://127.0.0.1\r\nX-Evil: 1"]], "url"),
            ("space in a URL host", ["url": ["http://relay .example"]], "url"),
            ("CR/LF in a path prefix", ["url": [mock.url + "/api\r\nX-Evil: 1"]], "url"),
            ("space in a path prefix", ["url": [mock.url + "/a b"]], "url"),
            ("CR/LF in a proxy", ["proxy": "http://u\r\nX:1@127.0.0.1:3128"], "proxy"),
            ("encoded CR/LF in a proxy password", ["proxy": "http://u:p%0d%0aX:1@127.0.0.1:3128"], "proxy"),
            ("quote in a model", ["models": ["claude\"x"]], "models"),
            ("CR/LF in a model", ["models": ["claude\r\nX-Evil: 1"]], "models"),
            ("CR/LF in a redirect", ["redirects": ["a": "b\r\nc"]], "redirects"),
            ("slash in a Gemini model", ["protocol": "gemini", "models": ["models/gemini-2.5-pro"]], "models"),
            ("query in a Gemini redirect", ["protocol": "gemini", "redirects": ["g": "gemini?alt=sse"]], "redirects"),
            ("CR/LF in a name", ["name": "evil\r\nname"], "name"),
            ("a huge first-byte timeout", ["first_byte_timeout_seconds": 1e300], "first_byte_timeout_seconds"),
            ("a first-byte timeout past an hour", ["first_byte_timeout_seconds": 3601], "first_byte_timeout_seconds"),
            ("a huge cost multiplier", ["cost_multiplier": 1e300], "cost_multiplier"),
            ("a negative daily limit", ["daily_cost_limit_usd": -1], "daily_cost_limit_usd"),
            ("a huge daily limit", ["daily_cost_limit_usd": 1e300], "daily_cost_limit_usd"),
            ("a negative concurrency", ["max_concurrency": -1], "max_concurrency"),
            ("a huge concurrency", ["max_concurrency": 1e14], "max_concurrency"),
            ("a huge weight", ["weight": 1e300], "weight"),
            ("a bad protocol with CR/LF", ["protocol": "anthropic\r\nX: 1"], "protocol"),
        ]
        for (what, changes, f) in cases {
            var body = good
            for (k, v) in changes { body[k] = v }
            let r = try admin(ccload, "POST", "/admin/channels", json(body))
            XCTAssertEqual(r.status, 400, "\(what): \(r.bodyText)")
            XCTAssertEqual(field(r), f, "\(what): \(r.bodyText)")
            XCTAssertFalse(r.bodyText.contains("sk-a"), "\(what): the key is echoed: \(r.bodyText)")
        }
        XCTAssertEqual(try list(ccload).count, 0, "a refused channel was written")

        // The other side: the key with dashes, the prefix, the limits at their bounds pass and route.
        var atBounds = good
        for (k, v) in ["first_byte_timeout_seconds": 3600, "cost_multiplier": 1000, "daily_cost_limit_usd": 1e9,
                       "max_concurrency": 100_000, "weight": 1_000_000] as [String: Any] { atBounds[k] = v }
        let made = try create(ccload, atBounds)
        let id = try XCTUnwrap(made["id"] as? Int)
        XCTAssertEqual(try proxied(ccload).status, 200)
        XCTAssertEqual(try mock.lastRequest().head.components(separatedBy: "\r\n").first,
                       "POST /prefix-ok/v1/messages HTTP/1.1")

        // An update is held to the same rules, and a refused one changes nothing.
        let bad = try admin(ccload, "PUT", "/admin/channels/\(id)", json(["api_keys": ["sk-b\r\nX-Evil: 1"]]))
        XCTAssertEqual(bad.status, 400, bad.bodyText)
        XCTAssertEqual(field(bad), "api_keys")
        XCTAssertEqual(try storedKeys(db, channel: id), [dashed])
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/channels/\(id)", json(["urls": [mock.url + "/x\r\nY: 1"]])).status, 400)
        XCTAssertEqual(try view(ccload, id)["urls"] as? [String], [mock.url + "/prefix-ok"])
        XCTAssertEqual(try proxied(ccload).status, 200)
        XCTAssertFalse(try mock.lastRequest().head.contains("X-Evil"))
    }

    /// A bad channels file is refused naming the channel and the field: at start-up ccload
    /// does not start; on SIGHUP the running channels stay.
    func testAChannelsFileWithCRLFInAKeyIsRefusedNamingTheChannelAndField() throws {
        let evil = channel("evil", url: "http://127.0.0.1:9", ["api_keys": ["sk-ok-1", "sk-e\r\nX-Evil: 1"]])
        let path = try writeChannelsFile([channel("fine", url: "http://127.0.0.1:9"), evil])
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_CHANNELS_FILE": path,
                                                   "SQLITE_PATH": tempDatabase()])
        track(p)
        XCTAssertNotNil(p.waitForExit(timeout: 10), "ccload started with a key holding CR/LF")
        XCTAssertTrue(p.waitForOutput(#"entry [1] (channel "evil"), field "api_keys": key 2 holds a space, a control byte or CR/LF"#),
                      p.stderrText)
        XCTAssertFalse(p.stderrText.contains("sk-e"), "the key reached the log")

        let mock = try startMock()
        let (ccload, file) = try startRelay([channel("fine", url: mock.url)])
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: RelayCase.model, stream: false)).status, 200)
        try writeChannelsFile([channel("fine", url: mock.url), channel("evil", url: mock.url + "/p\r\nX-Evil: 1")], path: file)
        ccload.process.signal(SIGHUP)
        XCTAssertTrue(ccload.process.waitForOutput("the running channels stay", timeout: 5), ccload.process.stderrText)
        XCTAssertTrue(ccload.process.waitForOutput(#"(channel "evil"), field "url""#), ccload.process.stderrText)
        XCTAssertEqual(try ccload.post("/v1/messages", anthropicBody(model: RelayCase.model, stream: false)).status, 200)
        XCTAssertFalse(try mock.lastRequest().head.contains("X-Evil"))
    }

    /// A CSV import reports each bad row with its field and applies the good ones.
    func testCSVImportRefusesRowsWithControlBytesAsTheirOwnErrors() throws {
        let mock = try startMock()
        let ccload = try startEmpty()
        let csv = "name,api_key,url,priority,models,enabled\r\n"
            + "ok,sk-ok-with-dash,\(mock.url),1,,true\r\n"
            + "spacekey,\"sk with space\",\(mock.url),1,,true\r\n"
            + "crlfurl,sk-2,\"\(mock.url)/p\rX-Evil: 1\",1,,true\r\n"
            + "badmodel,sk-3,\(mock.url),1,\"claude\"\"x\",true\r\n"
            + "\"evil\u{1}name\",sk-4,\(mock.url),1,,true\r\n"
        let j = try adminJSON(ccload, "POST", "/admin/channels/import", csv)
        XCTAssertEqual(j["created"] as? Int, 1, "\(j)")
        XCTAssertEqual(j["failed"] as? Int, 4, "\(j)")
        let rows = try XCTUnwrap(j["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["result"] as? String }, ["created", "error", "error", "error", "error"])
        XCTAssertEqual(rows.map { $0["field"] as? String }, [nil, "api_key", "url", "models", "name"])
        XCTAssertEqual(rows.map { $0["line"] as? Int }, [2, 3, 4, 5, 6])
        XCTAssertFalse(j.description.contains("sk with space"), "the key is echoed")
        XCTAssertEqual(try list(ccload).compactMap { $0["name"] as? String }, ["ok"])
    }

    /// Cells a spreadsheet would run as formulas go out prefixed with `'` and come back
    /// as they were: export → import updates the same channels and changes nothing.
    func testCSVExportNeutralisesFormulasAndImportRoundTrips() throws {
        let mock = try startMock()
        let ccload = try startEmpty()
        try create(ccload, input("=HYPERLINK(\"http://evil.example\",\"x\")", url: mock.url,
                                 ["models": ["@model", "-dash", "+plus"], "priority": -5]))
        try create(ccload, input("+SUM(1,2)", url: mock.url, keys: [keyB]))
        try create(ccload, input("'=already quoted", url: mock.url, keys: [keyC]))
        let before = try list(ccload)
        let csv = try admin(ccload, "GET", "/admin/channels/export").bodyText
        let lines = csv.components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
        XCTAssertEqual(lines.count, 3, csv)
        for line in lines {
            // The first cell (the name) is quoted by RFC 4180 when it holds a comma or quote; look past that quote.
            let cell = line.hasPrefix("\"") ? String(line.dropFirst()) : line
            XCTAssertFalse(["=", "+", "-", "@"].contains(cell.first.map(String.init) ?? ""), "a cell starts a formula: \(line)")
        }
        XCTAssertTrue(csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""), csv)
        XCTAssertTrue(csv.contains("'+SUM(1,2)"), csv)
        XCTAssertTrue(csv.contains("''=already quoted"), csv)
        XCTAssertTrue(csv.contains(",-5,"), "a plain negative number stays a number: \(csv)")
        XCTAssertTrue(csv.contains("\"'@model,-dash,+plus\""), "the models cell starts with @: \(csv)")

        let report = try adminJSON(ccload, "POST", "/admin/channels/import", csv)
        XCTAssertEqual(report["updated"] as? Int, 3, "\(report)")
        XCTAssertEqual(report["created"] as? Int, 0, "\(report)")
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: try list(ccload), options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: before, options: .sortedKeys), "the round trip changed a channel")
        assertSecretsNeverShown(ccload)
    }

    /// Token input: names, allowed models, and an expiry past what the store can hold
    /// (before this fix `expires_at_ms` = 2^64-1 trapped converting to Int64: ccload died).
    func testTokenInputIsCheckedAndAHugeExpiryNoLongerKillsCcload() throws {
        let ccload = try startEmpty()
        let cases: [(String, [String: Any], String)] = [
            ("CR/LF in a name", ["name": "a\r\nb"], "name"),
            ("NUL in a name", ["name": "a\u{0}b"], "name"),
            ("CR/LF in an allowed model", ["name": "t", "allowed_models": ["claude\r\nx"]], "allowed_models"),
            ("quote in an allowed model", ["name": "t", "allowed_models": ["claude\"x"]], "allowed_models"),
            ("expiry past year 9999", ["name": "t", "expires_at_ms": 253_402_300_800_000], "expires_at_ms"),
        ]
        for (what, body, f) in cases {
            let r = try admin(ccload, "POST", "/admin/tokens", json(body))
            XCTAssertEqual(r.status, 400, "\(what): \(r.bodyText)")
            XCTAssertEqual(field(r), f, "\(what): \(r.bodyText)")
        }
        let huge = try admin(ccload, "POST", "/admin/tokens", #"{"name":"t","expires_at_ms":18446744073709551615}"#)
        XCTAssertEqual(huge.status, 400, huge.bodyText)
        XCTAssertEqual(field(huge), "expires_at_ms")
        let made = try adminJSON(ccload, "POST", "/admin/tokens", json(["name": "ok name (spaces)", "allowed_models": ["claude-haiku-4-5"],
                                                                      "expires_at_ms": 253_402_300_799_999]), status: 201)
        let id = try XCTUnwrap((made["token"] as? [String: Any])?["id"] as? Int)
        let put = try admin(ccload, "PUT", "/admin/tokens/\(id)", #"{"expires_at_ms":18446744073709551615}"#)
        XCTAssertEqual(put.status, 400, put.bodyText)
        XCTAssertEqual(try ccload.get("/health").status, 200, "ccload died")
        XCTAssertEqual(try adminJSON(ccload, "GET", "/admin/tokens/\(id)")["expires_at_ms"] as? Int, 253_402_300_799_999)
    }

    /// The pass-through's key goes into the same headers as a channel's: the same rule, at start-up.
    func testAnUpstreamKeyWithCRLFIsRefusedAtStartUp() throws {
        for (key, starts) in [("sk-up\r\nX-Evil: 1", false), ("sk up", false), ("sk-up-with-dashes", true)] {
            let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                         environment: ["PORT": "0", "CCLOAD_LISTEN": "127.0.0.1", "CCLOAD_UPSTREAM": "http://127.0.0.1:9",
                                                       "CCLOAD_UPSTREAM_KEY": key, "CCLOAD_PASS": CcloadProcess.adminPassword,
                                                       "SQLITE_PATH": tempDatabase()])
            track(p)
            if starts {
                XCTAssertNoThrow(try p.waitForListeningPort(), key)
            } else {
                XCTAssertNotNil(p.waitForExit(timeout: 10), "started with CCLOAD_UPSTREAM_KEY \(key.debugDescription)")
                XCTAssertTrue(p.waitForOutput("CCLOAD_UPSTREAM_KEY holds a space, a control byte or CR/LF"), p.stderrText)
                XCTAssertFalse(p.stderrText.contains("sk-up\r") || p.stderrText.contains("sk up"), "the key reached the log")
            }
        }
    }

    /// Numbers that trapped on the reactor thread (ccload died with `Illegal instruction`):
    /// `{"keep": 1e300}` became `Int(1e300)`, a batch priority of Int.min went through `abs`.
    func testNumbersThatTrappedAreRefusedAndCcloadStaysUp() throws {
        let ccload = try startEmpty()
        let id = try XCTUnwrap(try create(ccload, input("one", url: "http://127.0.0.1:9"))["id"] as? Int)
        let keep = try admin(ccload, "PUT", "/admin/channels/\(id)", #"{"api_keys":[{"keep":1e300}]}"#)
        XCTAssertEqual(keep.status, 400, keep.bodyText)
        XCTAssertEqual(field(keep), "api_keys[0]")
        XCTAssertEqual(try admin(ccload, "PUT", "/admin/channels/\(id)", #"{"api_keys":[{"keep":0}]}"#).status, 200, "a kept key still works")
        let batch = try admin(ccload, "POST", "/admin/channels/batch",
                              #"{"ids":[\#(id)],"action":"set_priority","priority":-9223372036854775808}"#)
        XCTAssertEqual(batch.status, 400, batch.bodyText)
        XCTAssertEqual(field(batch), "priority")
        XCTAssertEqual(try admin(ccload, "POST", "/admin/channels/batch",
                                 #"{"ids":[\#(id)],"action":"set_priority","priority":-1000000000}"#).status, 200)
        XCTAssertEqual(try ccload.get("/health").status, 200, "ccload died")
        XCTAssertEqual(try view(ccload, id)["priority"] as? Int, -1_000_000_000)
    }
}
