import XCTest
@testable import Proxy

/// A loop's last price: every answer is the table's own, for repeats, switches, unknown
/// models (remembered as unknown) and names equal in text but not in storage.
final class PriceMemoTests: XCTestCase {
    func testTheMemoAnswersWhatTheTableAnswers() {
        let pricing = Pricing([
            "claude-sonnet-4": ModelPrice(input: 3, output: 15, cacheRead: 0.3, cacheWrite5m: 3.75, cacheWrite1h: 6),
            "claude-sonnet-4-5": ModelPrice(input: 1, output: 2, cacheRead: 0.1, cacheWrite5m: 1.25, cacheWrite1h: 2),
            "gpt-5": ModelPrice(input: 1.25, output: 10, cacheRead: 0.125, cacheWrite5m: 1.25, cacheWrite1h: 1.25),
        ])
        var memo = PriceMemo()
        let long = "claude-sonnet-4-5-20250929"
        let sameText = String(decoding: Array(long.utf8), as: UTF8.self)  // other storage
        let names = [long, long, sameText, "claude-sonnet-4-20250514", long, "unknown-model", "unknown-model", "gpt-5",
                     "openai/gpt-5", "", "", "claude-sonnet-4", "CLAUDE-SONNET-4-5", long]
        var priced = 0
        for n in names {
            let want = pricing.price(for: n)
            XCTAssertEqual(memo.price(of: n, in: pricing), want, n)
            if want != nil { priced += 1 }
        }
        XCTAssertEqual(priced, 10, "the cases include both priced and unknown models")
        // Costs through a looked-up price equal costs by name.
        let usage = Usage(input: 1000, output: 500, cacheRead: 200, cacheWrite5m: 100, cacheWrite1h: 50)
        for n in [long, "unknown-model", "gpt-5"] {
            XCTAssertEqual(pricing.cost(memo.price(of: n, in: pricing), usage: usage, multiplier: 1.5),
                           pricing.cost(model: n, usage: usage, multiplier: 1.5))
            XCTAssertEqual(pricing.estimate(memo.price(of: n, in: pricing), bodyBytes: 3000, maxOutputTokens: 100, multiplier: 2),
                           pricing.estimate(model: n, bodyBytes: 3000, maxOutputTokens: 100, multiplier: 2))
        }
    }
}
