import XCTest

@testable import Proxy

/// Channels for store and channels-file tests: one with every field set, and a field by
/// field comparison.
extension XCTestCase {
    func assertSame(_ a: Channel, _ b: Channel, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.id, b.id, file: file, line: line)
        XCTAssertEqual(a.name, b.name, file: file, line: line)
        XCTAssertEqual(a.kind, b.kind, file: file, line: line)
        XCTAssertEqual(a.urls, b.urls, file: file, line: line)
        XCTAssertEqual(a.keys.map(\.secret), b.keys.map(\.secret), file: file, line: line)
        XCTAssertEqual(a.keys.map(\.index), b.keys.map(\.index), file: file, line: line)
        XCTAssertEqual(a.keyStrategy, b.keyStrategy, file: file, line: line)
        XCTAssertEqual(a.priority, b.priority, file: file, line: line)
        XCTAssertEqual(a.weight, b.weight, file: file, line: line)
        XCTAssertEqual(a.models, b.models, file: file, line: line)
        XCTAssertEqual(a.redirects, b.redirects, file: file, line: line)
        XCTAssertEqual(a.enabled, b.enabled, file: file, line: line)
        XCTAssertEqual(a.proxy, b.proxy, file: file, line: line)
        XCTAssertEqual(a.firstByteTimeoutSeconds, b.firstByteTimeoutSeconds, file: file, line: line)
        XCTAssertEqual(a.costMultiplier, b.costMultiplier, file: file, line: line)
        XCTAssertEqual(a.dailyCostLimitUSD, b.dailyCostLimitUSD, file: file, line: line)
        XCTAssertEqual(a.maxConcurrency, b.maxConcurrency, file: file, line: line)
        XCTAssertEqual(a.insecureSkipVerify, b.insecureSkipVerify, file: file, line: line)
    }

    func fullChannel() -> Channel {
        var c = Channel(id: 7, name: "relay \"one\"", kind: .codex, urls: ["https://a.example/v1", "https://b.example"],
                        keys: [ChannelKey(index: 0, secret: "sk-aaaa1111"), ChannelKey(index: 1, secret: "sk-bbbb2222")])
        c.keyStrategy = .roundRobin
        c.priority = 5
        c.weight = 3
        c.models = ["gpt-5", "gpt-5-codex", "o3"]
        c.redirects = ["gpt-5": "gpt-5-2025", "alias": "o3"]
        c.enabled = false
        c.proxy = "socks5://127.0.0.1:1080"
        c.firstByteTimeoutSeconds = 12.5
        c.costMultiplier = 0.8
        c.dailyCostLimitUSD = 25
        c.maxConcurrency = 16
        c.insecureSkipVerify = true
        return c
    }
}
