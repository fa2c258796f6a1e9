import Reactor
import XCTest

@testable import Proxy

/// Hostile numbers at every site that does arithmetic on them (upstream dates, reset
/// times and usage counts; admin-given durations, prices and multipliers): each saturates
/// or clamps instead of trapping. Every case here trapped (or wrapped) before.
final class SaturatingArithmeticTests: XCTestCase {
    // MARK: the helper

    func testIntegerArithmeticClampsAtTheBounds() {
        XCTAssertEqual(Saturating.add(Int.max, 1), Int.max)
        XCTAssertEqual(Saturating.add(Int.min, -1), Int.min)
        XCTAssertEqual(Saturating.add(Int.max - 1, 1), Int.max)
        XCTAssertEqual(Saturating.add(40, 2), 42)
        XCTAssertEqual(Saturating.add(UInt64.max, UInt64.max), UInt64.max)
        XCTAssertEqual(Saturating.subtract(UInt64(3), UInt64(5)), 0)
        XCTAssertEqual(Saturating.subtract(Int.min, 1), Int.min)
        XCTAssertEqual(Saturating.subtract(Int.max, -1), Int.max)
        XCTAssertEqual(Saturating.subtract(Int64(5), 3), 2)
        XCTAssertEqual(Saturating.multiply(UInt64.max, 2), UInt64.max)
        XCTAssertEqual(Saturating.multiply(Int.max, -2), Int.min)
        XCTAssertEqual(Saturating.multiply(Int.min, -1), Int.max)
        XCTAssertEqual(Saturating.multiply(-3, -4), 12)
    }

    func testDoubleConversionsClamp() {
        XCTAssertEqual(Saturating.integer(Double.nan, as: Int.self), 0)
        XCTAssertEqual(Saturating.integer(1e300, as: Int.self), Int.max)
        XCTAssertEqual(Saturating.integer(-1e300, as: Int.self), Int.min)
        XCTAssertEqual(Saturating.integer(Double.infinity, as: UInt64.self), UInt64.max)
        XCTAssertEqual(Saturating.integer(-Double.infinity, as: UInt64.self), 0)
        XCTAssertEqual(Saturating.integer(-0.5, as: UInt64.self), 0)
        XCTAssertEqual(Saturating.integer(18446744073709551616.0, as: UInt64.self), UInt64.max)  // 2^64
        XCTAssertEqual(Saturating.integer(9223372036854775808.0, as: Int64.self), Int64.max)  // 2^63
        XCTAssertEqual(Saturating.integer(-9223372036854775808.0, as: Int64.self), Int64.min)
        XCTAssertEqual(Saturating.integer(1.9, as: Int.self), 1)
        XCTAssertEqual(Saturating.integer(3e9, as: Int32.self), Int32.max)

        XCTAssertEqual(Saturating.nanos(seconds: 1.5), 1_500_000_000)
        XCTAssertEqual(Saturating.nanos(seconds: 1e300), UInt64.max)
        XCTAssertEqual(Saturating.nanos(seconds: -1.0), 0)
        XCTAssertEqual(Saturating.nanos(seconds: Double.nan), 0)
        XCTAssertEqual(Saturating.nanos(seconds: 1e300, max: 7), 7)
        XCTAssertEqual(Saturating.nanos(seconds: UInt64.max), UInt64.max)
        XCTAssertEqual(Saturating.nanos(seconds: UInt64(20)), 20 * nanosPerSecond)
    }

    // MARK: upstream reset hints

    private func reset(_ headers: [(String, String)], now: UInt64 = 1_700_000_000) -> UInt64? {
        Classifier.resetHint(RoutingTestHead(headers), nowUnixSeconds: now)
    }

    func testFarFutureResetHintsSaturate() {
        // (t - now) × 1e9 trapped for any date past 2554.
        XCTAssertEqual(reset([("retry-after", "Fri, 01 Jan 2700 00:00:00 GMT")]), UInt64.max)
        XCTAssertEqual(reset([("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]), UInt64.max)
        XCTAssertEqual(reset([("retry-after", "999999999999999999")]), UInt64.max)
        XCTAssertEqual(reset([("anthropic-ratelimit-unified-reset", "99999999999999999")]), UInt64.max)
        // A near date is exact.
        XCTAssertEqual(reset([("retry-after", "Thu, 01 Jan 1970 00:00:18 GMT")], now: 0), 18 * nanosPerSecond)
        // Far past, negative, too long, NaN-like: no hint.
        XCTAssertNil(reset([("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")]))
        XCTAssertNil(reset([("retry-after", "-5")]))
        XCTAssertNil(reset([("retry-after", "NaN")]))
        XCTAssertNil(reset([("retry-after", "1e300")]))
        XCTAssertNil(reset([("retry-after", "18446744073709551616")]))
        XCTAssertNil(reset([("anthropic-ratelimit-unified-reset", "-99999999999999999")]))
        XCTAssertNil(reset([("anthropic-ratelimit-unified-reset", "0")]))
    }

    /// The relay adds the hint to its clock (`now &+ UInt64.max` wrapped to a 1 s cooldown);
    /// a saturated reset time is clamped to the explicit maximum (6 h).
    func testASaturatedResetCoolsForTheExplicitMaximum() {
        let book = CooldownBook()
        let now: UInt64 = 5_000 * nanosPerSecond
        let scope = CooldownScope.model(channelID: 1, model: "m")
        let until = book.record(failure: .rateLimit, scope: scope, now: now, explicitResetAt: Saturating.add(now, UInt64.max))
        XCTAssertEqual(until - now, 6 * 3600 * nanosPerSecond)
        // A second failure while cooling with an even later hint stays clamped.
        let again = book.record(failure: .rateLimit, scope: scope, now: now + 1, explicitResetAt: UInt64.max)
        XCTAssertEqual(again, until + 1)
    }

    // MARK: usage counts

    private func usage(_ kind: ProtocolKind, _ body: String) -> Usage {
        var tap = UsageTap(kind: kind, streaming: false)
        tap.feed(Array(body.utf8))
        return tap.finish()
    }

    // The tap clamps every upstream count to 0...Usage.maxTokens (2^40) before any sum, so
    // the sums below can neither trap nor credit a client; these are the extremes.
    private let cap = Usage.maxTokens

    func testAnthropicCacheSplitSaturates() {
        // w5 + w1 overflowed.
        let u = usage(.anthropic, #"{"usage":{"input_tokens":9223372036854775807,"output_tokens":9223372036854775807,"cache_creation_input_tokens":9223372036854775807,"cache_creation":{"ephemeral_5m_input_tokens":9223372036854775807,"ephemeral_1h_input_tokens":9223372036854775807}}}"#)
        XCTAssertEqual(u.cacheWrite5m, cap)
        XCTAssertEqual(u.cacheWrite1h, cap)
        XCTAssertEqual(u.cacheWrite, 2 * cap)
        XCTAssertEqual(u.totalInput, 3 * cap)
        // Every part clamped: the split wins over a total that is no larger.
        let v = usage(.anthropic, #"{"usage":{"input_tokens":1,"output_tokens":1,"cache_creation_input_tokens":9223372036854775807,"cache_creation":{"ephemeral_5m_input_tokens":9223372036854775000,"ephemeral_1h_input_tokens":100}}}"#)
        XCTAssertEqual(v.cacheWrite5m, cap)
        XCTAssertEqual(v.cacheWrite1h, 100)
    }

    func testNegativeCountsAreZero() {
        let a = usage(.anthropic, #"{"usage":{"input_tokens":-5,"output_tokens":-9223372036854775807,"cache_read_input_tokens":-1,"cache_creation_input_tokens":-3}}"#)
        XCTAssertEqual(a, Usage(input: 0, output: 0, cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0))
        // prompt - cached with a negative prompt: no negative input, no trap.
        let o = usage(.openai, #"{"usage":{"prompt_tokens":-9223372036854775807,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":9223372036854775807}}}"#)
        XCTAssertEqual(o.input, 0)
        XCTAssertEqual(o.cacheRead, cap)
        XCTAssertEqual(o.output, 5)
    }

    func testGeminiExtraTokenSumsSaturate() {
        let g = usage(.gemini, #"{"usageMetadata":{"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":9223372036854775807,"candidatesTokenCount":9223372036854775807,"thoughtsTokenCount":9223372036854775807,"cachedContentTokenCount":7}}"#)
        XCTAssertEqual(g.input, 2 * cap - 7)
        XCTAssertEqual(g.output, 2 * cap)
        XCTAssertEqual(g.cacheRead, 7)
        let r = usage(.codex, #"{"usage":{"input_tokens":9223372036854775807,"output_tokens":9223372036854775807,"input_tokens_details":{"cached_tokens":-4}}}"#)
        XCTAssertEqual(r, Usage(input: cap, output: cap, cacheRead: 0))
    }

    // MARK: prices and costs

    func testCostsSaturate() {
        let pricing = Pricing(["m": ModelPrice(input: 1, output: 1, cacheRead: 1), "cheap": ModelPrice(input: 0.000001, output: 0, cacheRead: 0)])
        let huge = Usage(input: Int.max, output: Int.max, cacheRead: Int.max, cacheWrite5m: Int.max, cacheWrite1h: Int.max)
        XCTAssertEqual(pricing.cost(model: "m", usage: huge).microUSD, Int.max)
        XCTAssertEqual(pricing.cost(model: "m", usage: huge, multiplier: 3).microUSD, Int.max)
        // Σ just under Int.max: the rounding `+ 500_000` overflowed.
        XCTAssertEqual(pricing.cost(model: "cheap", usage: Usage(input: Int.max)).microUSD, Int.max / 1_000_000)
        let one = Usage(input: 1_000_000)
        XCTAssertEqual(pricing.cost(model: "m", usage: one, multiplier: .nan).microUSD, 0)
        XCTAssertEqual(pricing.cost(model: "m", usage: one, multiplier: -2).microUSD, 0)
        XCTAssertEqual(pricing.cost(model: "m", usage: one, multiplier: .infinity).microUSD, Int.max)
        XCTAssertEqual(pricing.cost(model: "m", usage: one, multiplier: 1e300).microUSD, Int.max)
        XCTAssertEqual(pricing.cost(model: "m", usage: Usage(), multiplier: .infinity).microUSD, 0)
        XCTAssertEqual(pricing.cost(model: "m", usage: one, multiplier: 2.5).microUSD, 2_500_000)
    }

    func testPricesFromAFileClamp() throws {
        // A prices file may say 1e300 (finite, non-negative): Int(1e306) trapped at start-up.
        let table = try Pricing.parse(Array(#"{"x": {"input": 1e300, "output": 1.7976931348623157e308}}"#.utf8))
        XCTAssertEqual(table["x"]?.input, Int.max)
        XCTAssertEqual(table["x"]?.output, Int.max)
        XCTAssertEqual(ModelPrice(input: .nan, output: -1, cacheRead: .infinity).input, 0)
        XCTAssertEqual(ModelPrice(input: .nan, output: -1, cacheRead: .infinity).output, 0)
        XCTAssertEqual(ModelPrice(input: .nan, output: -1, cacheRead: .infinity).cacheRead, Int.max)
        XCTAssertEqual(Pricing(table).cost(model: "x", usage: Usage(input: 2)).microUSD, Int.max)
    }

    func testDailySpendSaturates() {
        let spend = DailySpend(clock: { 86_400_000 * 20_000 })
        spend.add(channelID: 1, microUSD: Int.max)
        spend.add(channelID: 1, microUSD: Int.max)
        spend.add(channelID: 1, microUSD: -5)
        XCTAssertEqual(spend.todayCostUSD(channelID: 1), Double(Int.max) / 1_000_000)
    }

    func testTokenMetersSaturate() {
        let meters = TokenMeters()
        var token = ClientToken(id: 1, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        token.totalCostCapMicroUSD = Int64.max
        let now: UInt64 = 86_400_000 * 20_000
        for _ in 0..<3 {
            XCTAssertNil(meters.admit(token, model: "m", reserveMicroUSD: Int64.max, nowMillis: now))
            meters.finish(tokenID: 1, costMicroUSD: Int64.max, reservedMicroUSD: Int64.max, nowMillis: now)
            token.totalCostCapMicroUSD = nil
        }
        let s = meters.spend(tokenID: 1, nowMillis: now)
        XCTAssertEqual(s.today, Int64.max)
        XCTAssertEqual(s.total, Int64.max)
        XCTAssertEqual(s.reserved, 0)
        XCTAssertEqual(s.inFlight, 0)
        token.totalCostCapMicroUSD = Int64.max
        XCTAssertEqual(meters.admit(token, model: "m", nowMillis: now)?.status, 403, "a saturated total still meets the cap")
        meters.finish(tokenID: 1, costMicroUSD: -Int64.max, reservedMicroUSD: -1, nowMillis: now)
        XCTAssertEqual(meters.spend(tokenID: 1, nowMillis: now).total, Int64.max, "a negative cost refunds nothing")
    }

    /// The writer's hourly sums of upstream-reported counts (a trap there stops the writer thread).
    func testHourlyStatsSumsSaturate() {
        var r = RequestRecord()
        r.status = 200
        r.inputTokens = Int.max
        r.outputTokens = Int.max
        r.cacheReadTokens = Int.max
        r.cacheWrite5mTokens = Int.max
        r.cacheWrite1hTokens = Int.max
        r.costMicroUSD = Int64.max
        r.durationMicros = UInt64.max
        r.ttfbMicros = UInt64.max
        var d = StatsDelta()
        d.add(r)
        d.add(r)
        var merged = d
        merged.merge(d)
        for s in [d, merged] {
            XCTAssertEqual([s.input, s.output, s.cacheRead, s.cacheWrite5m, s.cacheWrite1h, s.cost, s.durationSum, s.ttfbSum],
                           Array(repeating: Int64.max, count: 8))
        }
        XCTAssertEqual(merged.requests, 4)
    }

    // MARK: admin-given durations

    func testFirstByteTimeoutsClampToTheSettingsBounds() {
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutNanos(seconds: 1e300), 3600 * nanosPerSecond)
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutNanos(seconds: .infinity), 3600 * nanosPerSecond)
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutNanos(seconds: -1), 10_000_000)
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutNanos(seconds: .nan), 10_000_000)
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutNanos(seconds: 2.5), 2_500_000_000)
        let def = SettingsCatalog.definition("first_byte_timeout_seconds")
        XCTAssertEqual(def?.minimum, RuntimeSettings.firstByteTimeoutSeconds.lowerBound)
        XCTAssertEqual(def?.maximum, RuntimeSettings.firstByteTimeoutSeconds.upperBound)
    }

    /// Every number in the catalog has both bounds, and every duration's maximum is a timer
    /// the loops can arm (now + nanos may not wrap).
    func testEveryNumericSettingIsBounded() {
        for def in SettingsCatalog.all where def.type == .int || def.type == .double {
            guard let lo = def.minimum, let hi = def.maximum else { XCTFail("\(def.key) has no bounds"); continue }
            XCTAssertLessThanOrEqual(lo, hi, def.key)
            if def.key.hasSuffix("_seconds") {
                XCTAssertGreaterThan(lo, 0, def.key)
                XCTAssertLessThan(hi * 1e9, Double(UInt64.max / 2), def.key)
            }
        }
    }

    func testOutOfRangeSettingsAreRefusedNamingTheKey() {
        for key in ["first_byte_timeout_seconds", "connect_timeout_seconds", "affinity_ttl_seconds", "cooldown_max_seconds"] {
            for bad in ["1e300", "-1", "nan", "NaN", "inf", "-inf", "0", "1e-300"] {
                XCTAssertThrowsError(try RuntimeSettings(values: [key: bad]), "\(key)=\(bad)") { e in
                    XCTAssertTrue((e as? StoreError)?.message.contains(key) ?? false, "\(e)")
                }
            }
        }
        for key in ["max_key_retries", "log_retention_days", "admin_session_hours"] {
            for bad in ["9223372036854775807", "-9223372036854775808", "1e300", "99999999999999999999"] {
                XCTAssertThrowsError(try RuntimeSettings(values: [key: bad]), "\(key)=\(bad)")
            }
        }
        XCTAssertEqual(try RuntimeSettings(values: ["first_byte_timeout_seconds": "3600"]).firstByteTimeoutNanos, 3600 * nanosPerSecond)
    }
}
