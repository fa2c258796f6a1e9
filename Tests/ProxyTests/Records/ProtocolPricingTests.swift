import Foundation
import XCTest
@testable import Proxy

final class ProtocolPricingTests: XCTestCase {
    let p = Pricing.builtIn

    func testExactMicroUSD() {
        // Sonnet 4.5: $3 in, $15 out, $0.30 read, $3.75 5m write, $6 1h write per MTok.
        let u = Usage(input: 1000, output: 500, cacheRead: 2000, cacheWrite5m: 1000, cacheWrite1h: 1000)
        // 3000 + 7500 + 600 + 3750 + 6000
        XCTAssertEqual(p.cost(model: "claude-sonnet-4-5-20250929", usage: u), Cost(microUSD: 20_850, priced: true))
        XCTAssertEqual(p.cost(model: "claude-sonnet-4-5-20250929", usage: u, multiplier: 0.5), Cost(microUSD: 10_425, priced: true))
        XCTAssertEqual(p.cost(model: "claude-sonnet-4-5-20250929", usage: u, multiplier: 1.1), Cost(microUSD: 22_935, priced: true))
        // Opus 4.1 is on the old tier, 4.5 on the new one.
        XCTAssertEqual(p.cost(model: "claude-opus-4-1-20250805", usage: Usage(input: 1_000_000)).microUSD, 15_000_000)
        XCTAssertEqual(p.cost(model: "claude-opus-4-5-20251101", usage: Usage(input: 1_000_000)).microUSD, 5_000_000)
        XCTAssertEqual(p.cost(model: "claude-opus-4-20250514", usage: Usage(output: 1000)).microUSD, 75_000)
        // Haiku 3.5: 1h write $1.6.
        XCTAssertEqual(p.cost(model: "claude-3-5-haiku-20241022", usage: Usage(cacheWrite1h: 10_000)).microUSD, 16_000)
        // GPT-5 with cached input: 200 × 1.25 + 1000 × 0.125 + 300 × 10 = 250 + 125 + 3000.
        XCTAssertEqual(p.cost(model: "gpt-5-codex", usage: Usage(input: 200, output: 300, cacheRead: 1000)).microUSD, 3375)
        XCTAssertEqual(p.cost(model: "gpt-5.2-codex", usage: Usage(output: 1000)).microUSD, 14_000)
        XCTAssertEqual(p.cost(model: "gpt-4o-mini-2024-07-18", usage: Usage(input: 1_000_000)).microUSD, 150_000)
        XCTAssertEqual(p.cost(model: "gpt-4o-2024-08-06", usage: Usage(input: 1_000_000)).microUSD, 2_500_000)
        XCTAssertEqual(p.cost(model: "o3-pro", usage: Usage(output: 1000)).microUSD, 80_000)
        XCTAssertEqual(p.cost(model: "o3-2025-04-16", usage: Usage(output: 1000)).microUSD, 8_000)
        // Gemini: the `models/` prefix and upper case are ignored.
        XCTAssertEqual(p.cost(model: "models/Gemini-2.5-Pro", usage: Usage(input: 400, output: 250, cacheRead: 600)).microUSD, 500 + 2500 + 75)
        XCTAssertEqual(p.cost(model: "gemini-2.5-flash-lite", usage: Usage(input: 1_000_000)).microUSD, 100_000)
        XCTAssertEqual(p.cost(model: "gemini-2.5-flash-preview-09-2025", usage: Usage(input: 1_000_000)).microUSD, 300_000)
    }

    func testRounding() {
        // Haiku 3 input is $0.25/MTok: 1 token = 0.25 µUSD → 0; 2 → 0.5 → 1; 3 → 0.75 → 1.
        XCTAssertEqual(p.cost(model: "claude-3-haiku-20240307", usage: Usage(input: 1)).microUSD, 0)
        XCTAssertEqual(p.cost(model: "claude-3-haiku-20240307", usage: Usage(input: 2)).microUSD, 1)
        XCTAssertEqual(p.cost(model: "claude-3-haiku-20240307", usage: Usage(input: 3)).microUSD, 1)
        XCTAssertEqual(p.cost(model: "claude-3-haiku-20240307", usage: Usage(input: 3), multiplier: 0).microUSD, 0)
    }

    func testUnknownModelIsUnpriced() {
        XCTAssertEqual(p.cost(model: "llama-3-70b", usage: Usage(input: 1000, output: 1000)), Cost(microUSD: 0, priced: false))
        // A prefix matches only at a name boundary: gpt-5.9 is not gpt-5, claude-sonnet-45 is not claude-sonnet-4.
        XCTAssertFalse(p.cost(model: "gpt-5.9", usage: Usage(input: 1)).priced)
        XCTAssertFalse(p.cost(model: "claude-sonnet-45", usage: Usage(input: 1)).priced)
        XCTAssertFalse(p.cost(model: "", usage: Usage(input: 1)).priced)
        XCTAssertNotNil(p.price(for: "gpt-5"))
        XCTAssertNotNil(p.price(for: "gpt-5-2025-08-07"))
    }

    func testLongestPrefixWins() {
        let t = Pricing([
            "claude-sonnet-4": ModelPrice(input: 3, output: 15, cacheRead: 0.3, cacheWrite5m: 3.75, cacheWrite1h: 6),
            "claude-sonnet-4-5": ModelPrice(input: 1, output: 1, cacheRead: 1, cacheWrite5m: 1, cacheWrite1h: 1),
        ])
        XCTAssertEqual(t.price(for: "claude-sonnet-4-5-20250929")?.input, 1_000_000)
        XCTAssertEqual(t.price(for: "claude-sonnet-4-20250514")?.input, 3_000_000)
        XCTAssertEqual(p.price(for: "gpt-4o-mini")?.input, 150_000)
        XCTAssertEqual(p.price(for: "gpt-4.1-nano-2025-04-14")?.input, 100_000)
    }

    /// A provider path before the name (`openai/gpt-4o-mini`, through relays) and letter case
    /// do not change the price; a name that is only a path, or only a slash, has none.
    func testProviderPathAndCaseAreIgnored() {
        XCTAssertEqual(p.price(for: "openai/gpt-4o-mini")?.input, 150_000)
        XCTAssertEqual(p.price(for: "a/b/GPT-4O-MINI")?.input, 150_000)
        XCTAssertEqual(p.price(for: "GPT-4o-Mini-2024-07-18")?.input, 150_000)
        XCTAssertNil(p.price(for: "gpt-4o-mini/"))
        XCTAssertNil(p.price(for: "/"))
        XCTAssertNil(p.price(for: "gpt"))
        // A long name (past any small buffer) still prices by its prefix.
        XCTAssertEqual(p.price(for: "gpt-4o-mini-" + String(repeating: "x", count: 5_000))?.input, 150_000)
    }

    func testOverrideFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ccload-prices-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("prices.json")
        try #"""
        {
          "claude-sonnet-4": {"input": 2, "output": 10, "cache_read": 0.2, "cache_write_5m": 2.5, "cache_write_1h": 4},
          "my-local-model": {"input": 0.5, "output": 1.5}
        }
        """#.write(to: file, atomically: true, encoding: .utf8)
        let overrides = try Pricing.load(file: file.path)
        XCTAssertEqual(overrides.count, 2)
        let merged = Pricing.builtIn.merging(overrides)
        XCTAssertEqual(merged.cost(model: "claude-sonnet-4-5", usage: Usage(input: 1000, cacheWrite1h: 1000)).microUSD, 2000 + 4000)
        // Defaults for missing cache prices: read and 5m write at input, 1h at the 5m price.
        XCTAssertEqual(merged.cost(model: "my-local-model", usage: Usage(input: 1000, output: 1000, cacheRead: 1000, cacheWrite1h: 1000)).microUSD,
                       500 + 1500 + 500 + 500)
        // Entries the file does not name are kept.
        XCTAssertEqual(merged.cost(model: "gpt-4.1", usage: Usage(output: 1000)).microUSD, 8000)
        XCTAssertEqual(merged.count, Pricing.builtIn.count + 1)

        setenv("CCLOAD_PRICES_FILE", file.path, 1)
        defer { unsetenv("CCLOAD_PRICES_FILE") }
        XCTAssertEqual(try Pricing.fromEnvironment().cost(model: "my-local-model", usage: Usage(output: 2000)).microUSD, 3000)
    }

    func testBadOverrideFilesAreRejectedNamingTheEntry() {
        func reason(_ s: String) -> String? {
            do throws(PricingError) {
                _ = try Pricing.parse(Array(s.utf8), path: "p.json")
                return nil
            } catch {
                return error.description
            }
        }
        XCTAssertNil(reason(#"{}"#))
        XCTAssertEqual(reason("nope"), "prices file p.json: not JSON")
        XCTAssertEqual(reason(#"[1]"#), "prices file p.json: top level must be an object of model prefixes")
        XCTAssertEqual(reason(#"{"m": 3}"#), "prices file p.json: \"m\" must be an object")
        XCTAssertEqual(reason(#"{"m": {"output": 1}}"#), "prices file p.json: \"m\".input is required")
        XCTAssertEqual(reason(#"{"m": {"input": 1}}"#), "prices file p.json: \"m\".output is required")
        XCTAssertEqual(reason(#"{"m": {"input": -1, "output": 1}}"#), "prices file p.json: \"m\".input must be a non-negative number")
        XCTAssertEqual(reason(#"{"m": {"input": "1", "output": 1}}"#), "prices file p.json: \"m\".input must be a non-negative number")
        XCTAssertEqual(reason(#"{"m": {"input": 1, "output": 1, "cache_wirte_5m": 1}}"#), "prices file p.json: \"m\": unknown field cache_wirte_5m")
        XCTAssertThrowsError(try Pricing.load(file: "/nonexistent/prices.json"))
    }
}
