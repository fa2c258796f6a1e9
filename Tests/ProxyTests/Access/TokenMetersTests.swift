import XCTest

@testable import Proxy

/// Admission and settlement: cost caps count the estimates of requests in flight.
final class TokenMetersTests: XCTestCase {
    let now: UInt64 = 86_400_000 * 20_000 + 1000

    func token(_ change: (inout ClientToken) -> Void) -> ClientToken {
        var t = ClientToken(id: 7, name: "t", digest: TokenDigest(of: Array("s".utf8)))
        change(&t)
        return t
    }

    func testReservationsCountAgainstBothCapsUntilSettled() {
        for daily in [true, false] {
            let meters = TokenMeters()
            let t = token { if daily { $0.dailyCostCapMicroUSD = 1000 } else { $0.totalCostCapMicroUSD = 1000 } }
            // Admitted while spent + reserved < cap: 0, 400, 800; then 1200 ≥ 1000.
            for _ in 0..<3 { XCTAssertNil(meters.admit(t, model: "m", reserveMicroUSD: 400, nowMillis: now)) }
            let refused = meters.admit(t, model: "m", reserveMicroUSD: 400, nowMillis: now)
            XCTAssertEqual(refused?.status, daily ? 429 : 403)
            XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: now).reserved, 1200)
            XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: now).inFlight, 3)
            // Two finish cheaper than estimated: their reservations go, their costs stay.
            meters.finish(tokenID: 7, costMicroUSD: 100, reservedMicroUSD: 400, nowMillis: now)
            meters.finish(tokenID: 7, costMicroUSD: 100, reservedMicroUSD: 400, nowMillis: now)
            XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: now).reserved, 400)
            XCTAssertEqual(meters.spend(tokenID: 7, nowMillis: now).total, 200)
            // 200 spent + 400 reserved < 1000: admitted again.
            XCTAssertNil(meters.admit(t, model: "m", reserveMicroUSD: 400, nowMillis: now))
            XCTAssertNotNil(meters.admit(t, model: "m", reserveMicroUSD: 400, nowMillis: now), "200 + 800 reaches the cap")
        }
    }

    func testTheRequestsOwnEstimateDoesNotRefuseIt() {
        let meters = TokenMeters()
        let t = token { $0.totalCostCapMicroUSD = 10 }
        XCTAssertNil(meters.admit(t, model: "m", reserveMicroUSD: 1_000_000, nowMillis: now), "under the cap before any spend")
        XCTAssertEqual(meters.admit(t, model: "m", reserveMicroUSD: 1, nowMillis: now)?.status, 403)
    }

    func testAModelLimitedTokenNeedsAModelOrTheModelsList() {
        let meters = TokenMeters()
        let t = token { $0.allowedModels = ["a"] }
        XCTAssertNil(meters.admit(t, model: "a", nowMillis: now))
        XCTAssertEqual(meters.admit(t, model: "b", nowMillis: now)?.status, 403)
        XCTAssertEqual(meters.admit(t, model: nil, nowMillis: now)?.status, 403)
        XCTAssertNil(meters.admit(t, model: nil, modelsEndpoint: true, nowMillis: now))
        let any = token { _ in }
        XCTAssertNil(meters.admit(any, model: nil, nowMillis: now))
    }
}
