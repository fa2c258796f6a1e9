import XCTest

@testable import Proxy
@testable import Reactor

/// Weekly and monthly cost caps (weeks from Monday 00:00, calendar months, in the meters'
/// zone: UTC by default) and the client restriction by `User-Agent`: each refuses at its
/// limit and not below it.
final class TokenPeriodCapsTests: XCTestCase {
    // 2026-11-30 is a Monday; 2026-12-01 a Tuesday; 2026-12-07 the next Monday.
    static let monday = UInt64(1_795_996_800_000)
    static let tuesday = UInt64(1_796_083_200_000)
    static let nextMonday = UInt64(1_796_601_600_000)
    static let newYear = UInt64(1_798_761_600_000)
    static let hour = UInt64(3_600_000)

    func testPeriodsStartOnMondaysAndTheFirst() {
        let p = SpendPeriods(nowMillis: Self.tuesday + 5 * Self.hour)
        XCTAssertEqual(p.dayStartMillis, Self.tuesday)
        XCTAssertEqual(p.weekStartMillis, Self.monday)
        XCTAssertEqual(p.nextWeekMillis, Self.nextMonday)
        XCTAssertEqual(p.monthStartMillis, Self.tuesday, "2026-12-01 starts December")
        XCTAssertEqual(p.nextMonthMillis, Self.newYear)
        // The last millisecond of a week and of a month belong to them.
        XCTAssertEqual(SpendPeriods(nowMillis: Self.nextMonday - 1).week, SpendPeriods(nowMillis: Self.monday).week)
        XCTAssertEqual(SpendPeriods(nowMillis: Self.nextMonday).week, SpendPeriods(nowMillis: Self.monday).week + 1)
        XCTAssertEqual(SpendPeriods(nowMillis: Self.tuesday - 1).month + 1, SpendPeriods(nowMillis: Self.tuesday).month)
        XCTAssertEqual(SpendPeriods(nowMillis: Self.tuesday - 1).monthStartMillis, 1_793_491_200_000, "2026-11-01")
        // Leap day: 2024-02-29 is in February, 2024-03-01 starts March.
        XCTAssertEqual(SpendPeriods(nowMillis: 1_709_164_800_000).nextMonthMillis, 1_709_251_200_000)
        // The epoch: a Thursday in the first (partial) week; the next starts Monday 1970-01-05.
        XCTAssertEqual(SpendPeriods(nowMillis: 0).weekStartMillis, 0)
        XCTAssertEqual(SpendPeriods(nowMillis: 0).nextWeekMillis, 345_600_000)
        XCTAssertEqual(SpendPeriods(nowMillis: 0).month, 0)
        // Every day of four years maps to the month whose bounds hold it.
        var day = Self.monday
        for _ in 0..<(4 * 366) {
            let p = SpendPeriods(nowMillis: day)
            XCTAssertLessThanOrEqual(p.monthStartMillis, day)
            XCTAssertGreaterThan(p.nextMonthMillis, day)
            XCTAssertEqual(SpendPeriods(nowMillis: p.nextMonthMillis).month, p.month + 1)
            day += 86_400_000
        }
        // A hostile clock does not trap.
        _ = SpendPeriods(nowMillis: UInt64.max).nextMonthMillis
    }

    func token(_ edit: (inout ClientToken) -> Void) -> ClientToken {
        var t = ClientToken(id: 7, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        edit(&t)
        return t
    }

    func testWeeklyCapRefusesAtTheCapUntilMonday() {
        let m = TokenMeters()
        let t = token { $0.weeklyCostCapMicroUSD = 100 }
        XCTAssertTrue(t.hasCostCap)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.monday))
        m.finish(tokenID: 7, costMicroUSD: 99, nowMillis: Self.monday)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.tuesday), "99 of 100 spent: under the cap")
        m.finish(tokenID: 7, costMicroUSD: 1, nowMillis: Self.tuesday)
        let no = m.admit(t, model: "m", nowMillis: Self.tuesday)
        XCTAssertEqual(no?.status, 429)
        XCTAssertTrue(no?.message.contains("weekly cost cap") == true, no?.message ?? "")
        XCTAssertEqual(no?.retryAfterSeconds, Int((Self.nextMonday - Self.tuesday) / 1000))
        XCTAssertEqual(m.periodSpend(tokenID: 7, nowMillis: Self.tuesday).week, 100)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.nextMonday), "a new week starts from nothing")
    }

    /// In a zone east of UTC the week starts at local Monday 00:00 (Sunday 16:00 UTC in
    /// Shanghai) and the month at the local 1st: the cap's reset, its `retry-after` and its
    /// message follow the zone, as the daily cap's do.
    func testWeeksAndMonthsStartAtLocalMidnight() throws {
        let shanghai = try LocalCalendar.named("Asia/Shanghai")
        let m = TokenMeters(calendar: shanghai)
        let localMonday = Self.monday - 8 * Self.hour       // 2026-11-30 00:00 in Shanghai
        let localNextMonday = Self.nextMonday - 8 * Self.hour
        XCTAssertEqual(shanghai.start(ofDay: shanghai.day(localMonday + 5)), localMonday)
        let t = token { $0.weeklyCostCapMicroUSD = 100; $0.monthlyCostCapMicroUSD = 1_000 }
        m.finish(tokenID: 7, costMicroUSD: 100, nowMillis: localMonday + Self.hour)
        let no = m.admit(t, model: "m", nowMillis: localNextMonday - 1)
        XCTAssertEqual(no?.status, 429)
        XCTAssertEqual(no?.retryAfterSeconds, 1, "the week ends at local Monday 00:00, 16:00 UTC the day before")
        XCTAssertTrue(no?.message.contains("Monday, 00:00 Asia/Shanghai") == true, no?.message ?? "")
        XCTAssertNil(m.admit(t, model: "m", nowMillis: localNextMonday), "the local week is new")
        // The local 1st of December is 2026-11-30 16:00 UTC.
        let localFirst = Self.tuesday - 8 * Self.hour
        let months = TokenMeters(calendar: shanghai)
        months.finish(tokenID: 7, costMicroUSD: 100, nowMillis: localMonday + Self.hour)
        months.finish(tokenID: 7, costMicroUSD: 900, nowMillis: localFirst - 1)
        XCTAssertEqual(months.periodSpend(tokenID: 7, nowMillis: localFirst - 1).month, 1_000, "both in local November")
        XCTAssertEqual(months.admit(t, model: "m", nowMillis: localFirst - 1)?.retryAfterSeconds, 1)
        XCTAssertEqual(months.periodSpend(tokenID: 7, nowMillis: localFirst).month, 0, "December starts at the local 1st")
    }

    func testStartOfLocalDayNumbers() throws {
        for zone in ["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago"] {
            let c = try LocalCalendar.named(zone)
            var t = Self.monday - 40 * 86_400_000
            for _ in 0..<120 {
                let d = c.day(t)
                let start = c.start(ofDay: d)
                XCTAssertEqual(c.day(start), d, "\(zone): the start is in its day")
                XCTAssertEqual(c.day(start - 1), d - 1, "\(zone): the millisecond before is the day before")
                XCTAssertEqual(start, c.startOfDay(t), zone)
                t += 86_400_000 / 2 + 3_600_000
            }
        }
        // Hostile day numbers saturate, never trap.
        XCTAssertEqual(LocalCalendar.utc.start(ofDay: UInt64.max), .max)
        _ = LocalCalendar.utc.start(ofDay: UInt64.max / 86_400_000)
    }

    func testMonthlyCapCountsAcrossWeeksAndResetsOnTheFirst() {
        let m = TokenMeters()
        let t = token { $0.monthlyCostCapMicroUSD = 100 }
        // November: 60 in the week before, 40 on Monday the 30th → 100, refused.
        let earlyNovember = Self.monday - 7 * 86_400_000
        m.finish(tokenID: 7, costMicroUSD: 60, nowMillis: earlyNovember)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.monday))
        m.finish(tokenID: 7, costMicroUSD: 40, nowMillis: Self.monday)
        let no = m.admit(t, model: "m", nowMillis: Self.monday + Self.hour)
        XCTAssertEqual(no?.status, 429)
        XCTAssertTrue(no?.message.contains("monthly cost cap") == true, no?.message ?? "")
        XCTAssertEqual(no?.retryAfterSeconds, Int((Self.tuesday - Self.monday - Self.hour) / 1000))
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.tuesday), "December starts from nothing")
    }

    func testReservationsCountAgainstWeeklyAndMonthlyCaps() {
        let m = TokenMeters()
        let t = token { $0.weeklyCostCapMicroUSD = 100; $0.monthlyCostCapMicroUSD = 1000 }
        XCTAssertNil(m.admit(t, model: "m", reserveMicroUSD: 100, nowMillis: Self.tuesday))
        XCTAssertEqual(m.admit(t, model: "m", reserveMicroUSD: 1, nowMillis: Self.tuesday)?.status, 429,
                       "what is in flight holds the week's cap")
        m.finish(tokenID: 7, costMicroUSD: 10, reservedMicroUSD: 100, nowMillis: Self.tuesday)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.tuesday))
    }

    func testSeedCarriesTheWeekAndMonthAcrossARestart() {
        let m = TokenMeters()
        let t = token { $0.weeklyCostCapMicroUSD = 50; $0.monthlyCostCapMicroUSD = 80 }
        m.seed(today: [:], week: [7: 49], month: [7: 79], total: [:], nowMillis: Self.tuesday)
        XCTAssertEqual(m.periodSpend(tokenID: 7, nowMillis: Self.tuesday).week, 49)
        XCTAssertNil(m.admit(t, model: "m", nowMillis: Self.tuesday))
        m.finish(tokenID: 7, costMicroUSD: 1, nowMillis: Self.tuesday)
        XCTAssertEqual(m.admit(t, model: "m", nowMillis: Self.tuesday)?.message.contains("monthly"), true,
                       "79 + 1 reaches the month's 80 (checked before the week's)")
        // Sums from upstream counts saturate.
        m.finish(tokenID: 7, costMicroUSD: Int64.max, nowMillis: Self.tuesday)
        m.finish(tokenID: 7, costMicroUSD: Int64.max, nowMillis: Self.tuesday)
        XCTAssertEqual(m.periodSpend(tokenID: 7, nowMillis: Self.tuesday).month, Int64.max)
    }

    func testClientRestrictionByUserAgentPrefix() {
        let claude = token { $0.allowedClients = .claudeCode }
        let codex = token { $0.allowedClients = .codexCLI }
        let both = token { $0.allowedClients = .all }
        let any = token { _ in }
        func ua(_ s: String?) -> ArraySlice<UInt8>? { s.map { Array($0.utf8)[...] } }
        XCTAssertNil(claude.refusesClient(userAgent: ua("claude-cli/1.0.83 (external, cli)")))
        XCTAssertNil(codex.refusesClient(userAgent: ua("codex_cli_rs/0.36.0 (Ubuntu 24.04; x86_64)")))
        XCTAssertNil(codex.refusesClient(userAgent: ua("codex_exec/0.36.0")))
        XCTAssertNil(both.refusesClient(userAgent: ua("codex_exec/1")))
        XCTAssertNil(both.refusesClient(userAgent: ua("claude-cli/2")))
        for bad in [nil, "", "curl/8.5", "claude-cli", "Claude-CLI/1.0", "xclaude-cli/1", "codex_cli_rs", "codex/1"] {
            XCTAssertEqual(claude.refusesClient(userAgent: ua(bad))?.status, 403, bad ?? "no User-Agent")
            XCTAssertEqual(both.refusesClient(userAgent: ua(bad))?.status, 403, bad ?? "no User-Agent")
        }
        XCTAssertEqual(claude.refusesClient(userAgent: ua("codex_exec/1"))?.status, 403)
        XCTAssertEqual(codex.refusesClient(userAgent: ua("claude-cli/1"))?.status, 403)
        XCTAssertNil(any.refusesClient(userAgent: nil), "no restriction: any client")
        XCTAssertEqual(claude.refusesClient(userAgent: nil)?.message, "token t may only be used from Claude Code (User-Agent claude-cli/…)")
        XCTAssertTrue(both.clientRefusal.contains("Claude Code") && both.clientRefusal.contains("Codex CLI"), both.clientRefusal)
        XCTAssertEqual(ClientKinds(apiNames: ["codex_cli", "claude_code"]), .all)
        XCTAssertNil(ClientKinds(apiNames: ["cursor"]))
        XCTAssertEqual(ClientKinds.all.apiNames, ["claude_code", "codex_cli"])
    }

    /// The stored token carries its owner, caps and restriction into the proxy's token.
    func testAStoredTokenBecomesTheProxysToken() {
        var a = AuthToken(id: 3, name: "n", hash: TokenDigest(of: Array("x".utf8)).bytes)
        a.weeklyCostCapMicroUSD = 5
        a.monthlyCostCapMicroUSD = 6
        a.allowedClients = .codexCLI
        let c = a.clientToken
        XCTAssertEqual(c.weeklyCostCapMicroUSD, 5)
        XCTAssertEqual(c.monthlyCostCapMicroUSD, 6)
        XCTAssertEqual(c.allowedClients, .codexCLI)
        XCTAssertTrue(c.enabled)
        a.ownerActive = false
        XCTAssertFalse(a.clientToken.enabled, "a disabled owner's token is not served")
    }
}
