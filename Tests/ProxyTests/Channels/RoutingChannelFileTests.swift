import Foundation
import XCTest

@testable import Proxy

final class RoutingChannelFileTests: XCTestCase {
    func parse(_ s: String, bom: Bool = false) throws(ChannelFileError) -> [Channel] {
        try ChannelFile.parse((bom ? [0xEF, 0xBB, 0xBF] : []) + Array(s.utf8))
    }

    func failure(_ s: String) -> String {
        do {
            _ = try parse(s)
            return "parsed"
        } catch {
            return error.description
        }
    }

    // MARK: JSON

    func testJSONGood() throws {
        let chs = try parse("""
        [
          {"name": "main", "protocol": "anthropic", "url": "https://api.anthropic.com",
           "api_keys": ["sk-1", "sk-2"], "key_strategy": "round_robin", "priority": 10, "weight": 3,
           "models": ["claude-a", "claude-b"], "model_redirects": {"claude-old": "claude-a"},
           "enabled": true, "proxy": "http://user:pw@proxy.local:3128", "first_byte_timeout": 12.5,
           "cost_multiplier": 0.8, "daily_cost_limit": 20, "max_concurrency": 4, "insecure_skip_verify": false},
          {"id": 7, "name": "relay", "channel_type": "codex", "urls": ["https://a.example/v1", "https://b.example/v1"],
           "api_key": "k1, k2\\nk3", "models": "gpt-5, gpt-5-codex", "enabled": false, "max_concurrency": 0},
          {"name": "g", "protocol": "gemini", "url": "https://generativelanguage.googleapis.com", "keys": "only",
           "models": null}
        ]
        """)
        XCTAssertEqual(chs.count, 3)
        let a = chs[0]
        XCTAssertEqual(a.id, 1)
        XCTAssertEqual(a.kind, .anthropic)
        XCTAssertEqual(a.keys.map(\.secret), ["sk-1", "sk-2"])
        XCTAssertEqual(a.keys.map(\.index), [0, 1])
        XCTAssertEqual(a.keyStrategy, .roundRobin)
        XCTAssertEqual(a.priority, 10)
        XCTAssertEqual(a.weight, 3)
        XCTAssertEqual(a.models, ["claude-a", "claude-b"])
        XCTAssertEqual(a.redirects, ["claude-old": "claude-a"])
        XCTAssertEqual(a.proxy, "http://user:pw@proxy.local:3128")
        XCTAssertEqual(a.firstByteTimeoutSeconds, 12.5)
        XCTAssertEqual(a.costMultiplier, 0.8)
        XCTAssertEqual(a.dailyCostLimitUSD, 20)
        XCTAssertEqual(a.maxConcurrency, 4)
        let b = chs[1]
        XCTAssertEqual(b.id, 7)
        XCTAssertEqual(b.kind, .codex)
        XCTAssertEqual(b.urls, ["https://a.example/v1", "https://b.example/v1"])
        XCTAssertEqual(b.keys.map(\.secret), ["k1", "k2", "k3"])
        XCTAssertEqual(b.models, ["gpt-5", "gpt-5-codex"])
        XCTAssertFalse(b.enabled)
        XCTAssertNil(b.maxConcurrency)
        XCTAssertEqual(b.keyStrategy, .sequential)
        XCTAssertEqual(chs[2].id, 3)
        XCTAssertEqual(chs[2].kind, .gemini)
        XCTAssertEqual(chs[2].models, [])
        // And the result makes a table.
        XCTAssertNoThrow(try ChannelTable(chs, state: RoutingState()))
    }

    func testJSONBadFilesNameEntryAndField() {
        let good = #"{"name": "a", "url": "https://x.example", "api_key": "k"}"#
        let cases: [(String, [String])] = [
            ("[\(good), {\"name\": \"b\", \"protocol\": \"cohere\", \"url\": \"https://x\", \"api_key\": \"k\"}]",
             ["entry [1]", "\"protocol\"", "cohere"]),
            ("[\(good), {\"name\": \"b\", \"prority\": 1, \"url\": \"https://x\", \"api_key\": \"k\"}]",
             ["entry [1]", "\"prority\"", "unknown field"]),
            ("[{\"name\": \"a\", \"url\": \"htps://x\", \"api_key\": \"k\"}]", ["entry [0]", "\"url\"", "htps://x"]),
            ("[{\"name\": \"a\", \"urls\": [\"https://x\", \"nope\"], \"api_key\": \"k\"}]", ["entry [0]", "\"urls\"", "nope"]),
            ("[{\"url\": \"https://x\", \"api_key\": \"k\"}]", ["entry [0]", "\"name\"", "missing"]),
            ("[{\"name\": \"a\", \"url\": \"https://x\"}]", ["entry [0]", "\"api_key\"", "missing"]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_keys\": []}]", ["entry [0]", "\"api_keys\"", "no key"]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"priority\": \"high\"}]",
             ["entry [0]", "\"priority\"", "high"]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"priority\": 1.5}]", ["entry [0]", "\"priority\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"enabled\": \"maybe\"}]", ["entry [0]", "\"enabled\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"weight\": 0}]", ["entry [0]", "\"weight\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"proxy\": \"ftp://p\"}]", ["entry [0]", "\"proxy\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"model_redirects\": [\"x\"]}]",
             ["entry [0]", "\"model_redirects\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"api_key\": \"k\", \"key_strategy\": \"random\"}]",
             ["entry [0]", "\"key_strategy\""]),
            ("[{\"name\": \"a\", \"url\": \"https://x\", \"urls\": [\"https://y\"], \"api_key\": \"k\"}]",
             ["entry [0]", "\"urls\"", "together"]),
            ("[\(good), \(good)]", ["entry [1]", "\"name\"", "twice"]),
            ("[\(good), {\"id\": 1, \"name\": \"b\", \"url\": \"https://x\", \"api_key\": \"k\"}]", ["entry [1]", "\"id\"", "twice"]),
            ("[\(good), 3]", ["entry [1]", "not an object"]),
            ("[\(good),", ["not valid JSON"]),
            ("{\"name\": \"a\"}", ["JSON array"]),
            ("  \n", ["empty"]),
        ]
        for (text, needles) in cases {
            let d = failure(text)
            for n in needles { XCTAssertTrue(d.contains(n), "\(d) should contain \(n) for \(text)") }
        }
    }

    // MARK: CSV

    func testCSVccLoadExportWithBOMAndQuotedKeys() throws {
        let csv = "name,api_key,url,priority,models,enabled\r\n"
            + "alpha,\"sk-a1,sk-a2\nsk-a3\",https://api.anthropic.com,10,\"claude-a,claude-b\",true\r\n"
            + "beta,sk-b,https://relay.example/api,5,,false\r\n"
            + "\"ga\"\"mma\",sk-c,\"[\"\"https://c1.example\"\",\"\"https://c2.example\"\"]\",0,claude-a,1\r\n"
        let chs = try parse(csv, bom: true)
        XCTAssertEqual(chs.map(\.name), ["alpha", "beta", "ga\"mma"])
        XCTAssertEqual(chs.map(\.id), [1, 2, 3])
        XCTAssertEqual(chs[0].keys.map(\.secret), ["sk-a1", "sk-a2", "sk-a3"])
        XCTAssertEqual(chs[0].models, ["claude-a", "claude-b"])
        XCTAssertEqual(chs[0].priority, 10)
        XCTAssertTrue(chs[0].enabled)
        XCTAssertEqual(chs[0].kind, .anthropic)
        XCTAssertEqual(chs[1].models, [])
        XCTAssertFalse(chs[1].enabled)
        XCTAssertEqual(chs[2].urls, ["https://c1.example", "https://c2.example"])
        XCTAssertTrue(chs[2].enabled)
    }

    /// Found by the csv_import fuzz harness: lists were split on Characters, and "\r\n" is one
    /// Character equal to neither "\r" nor "\n" (a spreadsheet's multi-line cell kept both
    /// keys as one, CR LF inside); a comma followed by a combining mark did not split either.
    func testListsSplitOnCRLFAndBeforeCombiningMarks() throws {
        let csv = "name,api_key,url,models\r\n" + "a,\"sk-1\r\nsk-2\",https://x.example,\"m1\r\nm2,\u{301}m3\"\r\n"
        let chs = try parse(csv)
        XCTAssertEqual(chs[0].keys.map(\.secret), ["sk-1", "sk-2"])
        XCTAssertEqual(chs[0].models, ["m1", "m2", "\u{301}m3"])
        let json = #"[{"name": "b", "url": "https://x.example https://y.example", "api_key": "k1\r\nk2"}]"#
        let b = try parse(json)
        XCTAssertEqual(b[0].keys.map(\.secret), ["k1", "k2"])
        XCTAssertEqual(b[0].urls, ["https://x.example", "https://y.example"])
    }

    func testCSVExtraColumnsProtocolAndIDs() throws {
        let csv = """
        id,name,api_key,api_key_allowed_models,urls,priority,rpm_limit,max_concurrency,models,model_redirects,channel_type,key_strategy,enabled
        12,oa,sk-o,[],https://api.openai.com,3,0,0,gpt-5,"{""gpt-old"":""gpt-5""}",openai,round_robin,true
        ,cx,sk-x,[],https://chatgpt.com/backend-api/codex,1,0,2,,{},codex,sequential,false

        """
        let chs = try parse(csv)
        XCTAssertEqual(chs.map(\.id), [12, 2])
        XCTAssertEqual(chs[0].kind, .openai)
        XCTAssertEqual(chs[0].redirects, ["gpt-old": "gpt-5"])
        XCTAssertEqual(chs[0].keyStrategy, .roundRobin)
        XCTAssertNil(chs[0].maxConcurrency)
        XCTAssertEqual(chs[1].kind, .codex)
        XCTAssertEqual(chs[1].maxConcurrency, 2)
        XCTAssertFalse(chs[1].enabled)
    }

    func testCSVChineseHeaders() throws {
        let a = try parse("名称,API密钥,URL,优先级,模型,启用\n甲,sk-1,https://x.example,2,claude-a,是\n", bom: true)
        XCTAssertEqual(a.first?.name, "甲")
        XCTAssertEqual(a.first?.priority, 2)
        XCTAssertEqual(a.first?.models, ["claude-a"])
        XCTAssertEqual(a.first?.enabled, true)
        let b = try parse("渠道名称,密钥,地址,优先级,模型,状态,渠道类型,使用策略\n乙,\"k1\nk2\",https://y.example,1,,禁用,gemini,轮询\n")
        XCTAssertEqual(b.first?.keys.map(\.secret), ["k1", "k2"])
        XCTAssertEqual(b.first?.enabled, false)
        XCTAssertEqual(b.first?.kind, .gemini)
        XCTAssertEqual(b.first?.keyStrategy, .roundRobin)
    }

    func testCSVBadFilesNameLineAndField() {
        let header = "name,api_key,url,priority,models,enabled\n"
        let cases: [(String, [String])] = [
            (header + "a,k,https://x,1,,true\nb,k,https://y,abc,,true\n", ["line 3", "\"priority\"", "abc"]),
            // A quoted newline moves the next record's line.
            (header + "a,\"k1\nk2\",https://x,1,,true\nb,k,htp://y,1,,true\n", ["line 4", "\"url\"", "htp://y"]),
            ("name,api_key,priority\na,k,1\n", ["line 1", "\"url\"", "missing column"]),
            ("name,url,priority\na,https://x,1\n", ["line 1", "\"api_key\"", "missing column"]),
            (header + "a,k,https://x,1,,true\n,k,https://y,1,,true\n", ["line 3", "\"name\"", "missing"]),
            (header + "a,k,https://x,1,,nope\n", ["line 2", "\"enabled\""]),
            (header + "a,\"k,https://x,1,,true\n", ["line 2", "unterminated"]),
            (header + "a,k\"x,https://x,1,,true\n", ["line 2", "quote"]),
            (header + "a,k,https://x,1,,true\na,k,https://y,1,,true\n", ["line 3", "\"name\"", "twice"]),
            (header + "a,k,https://x,1,,true,extra\n", ["line 2", "7 fields"]),
            ("name,名称,api_key,url\na,b,k,https://x\n", ["line 1", "\"name\"", "twice"]),
            (header + "a,,https://x,1,,true\n", ["line 2", "\"api_key\""]),
            ("name,api_key,url,protocol\na,k,https://x,claude-ish\n", ["line 2", "\"protocol\""]),
        ]
        for (text, needles) in cases {
            let d = failure(text)
            for n in needles { XCTAssertTrue(d.contains(n), "\(d) should contain \(n) for \(text)") }
        }
    }

    func testCSVNotUTF8() {
        let bytes = Array("name,api_key,url\n".utf8) + [0x61, 0xFF] + Array(",k,https://x\n".utf8)
        XCTAssertThrowsError(try ChannelFile.parse(bytes)) { e in
            let d = "\(e)"
            XCTAssertTrue(d.contains("line 2") && d.contains("\"name\""), d)
        }
    }

    func testLoadFromPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("routing-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("channels.csv").path
        try Data("name,api_key,url\na,k,https://x.example\n".utf8).write(to: URL(fileURLWithPath: p))
        XCTAssertEqual(try ChannelFile.load(path: p).map(\.name), ["a"])
        XCTAssertThrowsError(try ChannelFile.load(path: dir.appendingPathComponent("none.json").path)) { e in
            XCTAssertTrue("\(e)".contains("no such file"))
        }
    }
}
