import Foundation
import XCTest

@testable import Proxy

/// The rules every channel input goes through (`ChannelFile.build`: the admin API, the
/// channels file, CSV import), each on both sides: what passes and what is refused, with
/// the field named. Before these rules a key, URL host or path prefix with CR/LF reached
/// the upstream request line and headers.
final class ChannelFieldRulesTests: XCTestCase {
    let base: [String: FieldValue] = [
        "name": .string("main"), "protocol": .string("anthropic"), "url": .string("https://relay.example/api"),
        "api_keys": .array([.string("sk-ant-abc-123")]),
    ]

    func with(_ changes: [String: FieldValue]) -> [String: FieldValue] { ChannelFile.overlay(base, changes) }

    /// The field `build` blames, or nil when the entry builds.
    func refused(_ changes: [String: FieldValue]) -> String? {
        do {
            _ = try ChannelFile.build(with(changes), position: 1)
            return nil
        } catch {
            return error.field ?? "(no field)"
        }
    }

    func reason(_ changes: [String: FieldValue]) -> String {
        do {
            _ = try ChannelFile.build(with(changes), position: 1)
            return "built"
        } catch {
            return error.reason
        }
    }

    func testKeysPassWithDashesAndAreRefusedWithSpaceControlOrCRLF() {
        for good in ["sk-ant-api03-AbC_d-9", "a-b", "k=1/2+3", "sk-a…wxyz", "****"] {
            XCTAssertNil(refused(["api_keys": .array([.string(good)])]), good)
        }
        for bad in ["sk-a\r\nX-Evil: 1", "sk a", "sk\tb", "sk\u{0}b", "sk\u{7F}b", "sk\nb"] {
            XCTAssertEqual(refused(["api_keys": .array([.string("ok"), .string(bad)])]), "api_keys", bad.debugDescription)
        }
        XCTAssertEqual(reason(["api_keys": .array([.string("ok"), .string("sk-a\r\nX-Evil: 1")])]),
                       "key 2 holds a space, a control byte or CR/LF")
        XCTAssertFalse(reason(["api_keys": .array([.string("secret-1 2")])]).contains("secret"), "the key is echoed")
        // A string of keys is split on commas and line breaks first: CR/LF there separates keys.
        XCTAssertNil(refused(["api_keys": .string("k1\r\nk2")]))
        XCTAssertEqual(refused(["api_keys": .string("k1\r\nX-Evil: 1")]), "api_keys")
        XCTAssertNil(refused(["api_keys": .array([.string(String(repeating: "k", count: 8192))])]))
        XCTAssertEqual(refused(["api_keys": .array([.string(String(repeating: "k", count: 8193))])]), "api_keys")
    }

    func testURLHostAndPrefixAreVisibleASCIIAndTheHostIsAName() {
        for good in ["https://relay.example/api", "http://127.0.0.1:9", "https://[::1]:8443/v1", "https://a-b_c.example.com/x-y/z~1",
                     "https://relay.example/api%20v2"] {
            XCTAssertNil(refused(["url": .string(good)]), good)
        }
        for bad in ["https://relay.example\r\nX-Evil: 1/api", "https://relay.example/api\r\nX: 1", "https://relay .example",
                    "https://relay.example/a b", "https://relay.example/\u{0}", "https://rélay.example", "https://relay.example/ü",
                    "https://relay\"x.example", "https://u:p@relay.example", "https://[::1x]:8443", "https://relay.example/a?b=1",
                    "https://relay.example\t/x"] {
            XCTAssertEqual(refused(["urls": .array([.string(bad)])]), "urls", bad.debugDescription)
        }
        XCTAssertTrue(reason(["urls": .array([.string("https://relay.example/a\r\nb")])]).contains("\\u{d}\\u{a}"),
                      "the refused URL is quoted with its control bytes made visible")
        // The same rule guards every UpstreamTarget (CCLOAD_UPSTREAM too).
        XCTAssertNotNil(UpstreamTarget(url: "https://relay.example/api"))
        XCTAssertNil(UpstreamTarget(url: "https://relay.example/api\r\nX: 1"))
        XCTAssertNil(UpstreamTarget(url: "https://relay.example\r\n/api"))
    }

    func testModelsAndRedirectsRefuseControlBytesQuotesAndForGeminiPathCharacters() {
        for good in ["claude-sonnet-4-5", "gpt-5.1-codex", "meta-llama/Llama-3-70b", "qwen:7b", "a_b"] {
            XCTAssertNil(refused(["models": .array([.string(good)]), "model_redirects": .object(["alias-\(good)": .string(good)])]), good)
        }
        for bad in ["claude\r\nx", "claude x", "claude\"x", "claude\\x", "claude\u{1}"] {
            XCTAssertEqual(refused(["models": .array([.string(bad)])]), "models", bad.debugDescription)
            XCTAssertEqual(refused(["model_redirects": .object(["a": .string(bad)])]), "model_redirects", bad.debugDescription)
            XCTAssertEqual(refused(["model_redirects": .object([bad: .string("a")])]), "model_redirects", bad.debugDescription)
        }
        let gemini: [String: FieldValue] = ["protocol": .string("gemini"), "url": .string("https://generativelanguage.googleapis.com")]
        XCTAssertNil(refused(gemini.merging(["models": .array([.string("gemini-2.5-pro")])]) { $1 }))
        for bad in ["models/gemini-2.5-pro", "gemini?alt=sse", "gemini#x", "gemini%2F", "gemini:streamGenerateContent"] {
            XCTAssertEqual(refused(gemini.merging(["models": .array([.string(bad)])]) { $1 }), "models", bad)
            XCTAssertEqual(refused(gemini.merging(["model_redirects": .object(["g": .string(bad)])]) { $1 }), "model_redirects", bad)
        }
        XCTAssertNil(refused(["models": .array(Array(repeating: .string("m"), count: 1000))]))
        XCTAssertEqual(refused(["models": .array(Array(repeating: .string("m"), count: 1001))]), "models")
        XCTAssertNil(refused(["models": .array([.string(String(repeating: "m", count: 256))])]))
        XCTAssertEqual(refused(["models": .array([.string(String(repeating: "m", count: 257))])]), "models")
    }

    func testNamesRefuseControlCharactersButNotSpacesOrNonASCII() {
        for good in ["main relay", "已有", "relay (backup) #2", String(repeating: "n", count: 200)] {
            XCTAssertNil(refused(["name": .string(good)]), good)
        }
        for bad in ["a\r\nb", "a\tb", "a\u{0}b", "a\u{7F}b", "a\u{85}b", "a\u{2028}b", String(repeating: "n", count: 201)] {
            XCTAssertEqual(refused(["name": .string(bad)]), "name", bad.debugDescription)
        }
    }

    func testProxyURLRefusesCRLFRawOrPercentEncodedInItsUserinfo() {
        for good in ["http://user:pw@proxy.local:3128", "socks5://u:p%40ss@10.0.0.1:1080", "http://proxy.local:3128"] {
            XCTAssertNil(refused(["proxy": .string(good)]), good)
        }
        for bad in ["http://us\r\ner:pw@proxy.local:3128", "http://user:pw%0d%0aX:1@proxy.local:3128", "http://user:p w@proxy.local:3128",
                    "http://user:pw@proxy\"local:3128", "socks5://u:p%00@10.0.0.1:1080"] {
            XCTAssertEqual(refused(["proxy": .string(bad)]), "proxy", bad.debugDescription)
            XCTAssertFalse(reason(["proxy": .string(bad)]).contains("pw"), "the proxy password is echoed: \(reason(["proxy": .string(bad)]))")
        }
    }

    /// Numbers are bounded on both sides, so no later arithmetic overflows (a
    /// first_byte_timeout of 1e300 became `UInt64(1e300 * 1e9)`, a trap).
    func testNumbersAreBounded() {
        let cases: [(String, [FieldValue], [FieldValue])] = [
            ("first_byte_timeout", [.number(0.01), .number(3600)], [.number(0), .number(-1), .number(3600.5), .number(1e300)]),
            ("cost_multiplier", [.number(0), .number(1000)], [.number(-0.1), .number(1000.5), .number(1e300)]),
            ("daily_cost_limit", [.number(0), .number(1e9)], [.number(-1), .number(1e9 + 1), .number(1e300)]),
            ("max_concurrency", [.number(0), .number(1), .number(100_000)], [.number(-1), .number(100_001), .number(1e14), .number(1e300)]),
            ("priority", [.number(-1e9), .number(1e9)], [.number(1e9 + 1), .number(-1e9 - 1), .number(1e300)]),
            ("weight", [.number(1), .number(1e6)], [.number(0), .number(-5), .number(1e6 + 1), .number(1e300)]),
        ]
        for (field, goods, bads) in cases {
            for g in goods { XCTAssertNil(refused([field: g]), "\(field) \(g)") }
            for b in bads { XCTAssertEqual(refused([field: b]), field, "\(field) \(b)") }
            XCTAssertEqual(refused([field: .string("nan")]), field)
            XCTAssertEqual(refused([field: .string("inf")]), field)
        }
    }

    func testEnumsAreRefusedUnlessKnown() {
        XCTAssertEqual(refused(["protocol": .string("anthropic\r\nX: 1")]), "protocol")
        XCTAssertEqual(refused(["key_strategy": .string("round_robin\r\n")]), nil, "edges are trimmed")
        XCTAssertEqual(refused(["key_strategy": .string("round\r\nrobin")]), "key_strategy")
    }

    /// A channels file with a bad entry is refused whole, naming the entry, the channel and the field.
    func testTheChannelsFileErrorNamesTheChannelAndTheField() {
        let json = #"[{"name":"ok","url":"https://a.example","api_key":"k"},{"name":"evil","url":"https://a.example","api_key":"k\r\nX-Evil: 1"}]"#
        XCTAssertThrowsError(try ChannelFile.parse(Array(json.utf8))) { e in
            XCTAssertEqual("\(e)", "channels file: entry [1] (channel \"evil\"), field \"api_key\": key 2 holds a space, a control byte or CR/LF",
                           "a string of keys is split at the CR/LF: the second key holds a space")
        }
        let csv = "name,api_key,url\nok,k,https://a.example\nbad,k,\"https://a.example/x y\"\n"
        XCTAssertThrowsError(try ChannelFile.parse(Array(csv.utf8))) { e in
            XCTAssertTrue("\(e)".hasPrefix("channels file: line 3 (channel \"bad\"), field \"url\": "), "\(e)")
        }
    }
}

final class CSVFormulaTests: XCTestCase {
    func testFormulaCellsArePrefixedAndRestoredAndPlainCellsAreNot() {
        let cases: [(String, String)] = [
            ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+2", "'+1+2"), ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
            ("'=x", "''=x"), ("''@x", "'''@x"),
            ("main", "main"), ("'quoted", "'quoted"), ("a=b", "a=b"), ("", ""),
            ("-5", "-5"), ("+2.5", "+2.5"), ("-0.125", "-0.125"), ("-", "'-"), ("-1e5", "'-1e5"), ("-1.2.3", "'-1.2.3"),
        ]
        for (cell, exported) in cases {
            XCTAssertEqual(CSVFormula.neutralised(cell), exported, cell.debugDescription)
            XCTAssertEqual(CSVFormula.restored(exported), cell, "round trip of \(cell.debugDescription)")
        }
        // What a spreadsheet writes back after showing `'=x` as text is `=x`: read as it is.
        XCTAssertEqual(CSVFormula.restored("=x"), "=x")
    }
}
