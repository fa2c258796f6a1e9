import Foundation
import Glibc
import XCTest

/// A cost cap holds against requests in flight: each admitted request reserves its
/// estimate (max_tokens at the output price plus one input token per 3 body bytes), so N
/// concurrent requests cannot all be admitted on a cap that only a few fit under. Before,
/// the cap was checked at admission and charged at the end: all N got in and the cap was
/// overshot by about N × the request's cost. The bound (README): at most one estimate over.
final class CostCapReservationTests: StoreE2ECase {
    static let token = "ccl-reserve-user-Pq28Lm4Zx7Wd"
    /// 1 µUSD per token, in and out.
    static let pricedModel = "e2e-priced-1"
    static let cap = 1000
    static let maxTokens = 300

    private func body() -> String {
        #"{"model":"\#(Self.pricedModel)","max_tokens":\#(Self.maxTokens),"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
    }

    /// The estimate ccload reserves for `body()`, in µUSD.
    private var estimate: Int { Self.maxTokens + body().utf8.count / 3 + 1 }

    /// ccload (relay or pass-through) on a database whose token has `capSQL` set.
    private func start(passThrough: Bool, capSQL: String) throws -> (CcloadProcess, MockUpstream, String) {
        let mock = try startMock()
        let db = tempDatabase()
        let prices = NSTemporaryDirectory() + "ccload-reserve-prices-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data("{\"\(Self.pricedModel)\": {\"input\": 1, \"output\": 1}}".utf8).write(to: URL(fileURLWithPath: prices))
        onTearDown { try? FileManager.default.removeItem(atPath: prices) }
        var env = ["SQLITE_PATH": db, "CCLOAD_AUTH": Self.token, "CCLOAD_PRICES_FILE": prices]
        if !passThrough { env["CCLOAD_CHANNELS_FILE"] = try writeChannelsFile([channel("a", url: mock.url)]) }
        let run = { try self.startCcload(upstream: passThrough ? mock.url : nil, env) }
        stopGracefully(try run())
        _ = try sql(db, ["UPDATE auth_tokens SET \(capSQL) WHERE hash = sha256('\(Self.token)')"])
        return (try run(), mock, db)
    }

    /// Opens `n` gated streams one after another (each costs `maxTokens` out + 12 in, under
    /// its estimate) while the earlier ones are held in flight; returns the admitted
    /// connections with their gates (the mock holds one stream per gate) and the statuses
    /// of the refused ones.
    private func openGated(_ ccload: CcloadProcess, _ n: Int) throws -> (admitted: [(RawConnection, String)], refused: [Int]) {
        var admitted: [(RawConnection, String)] = []
        var refused: [Int] = []
        let b = body()
        for i in 0..<n {
            let gate = gateName()
            let c = try ccload.connect()
            try c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: \(Self.token)\r\nx-mock-gate: \(gate)\r\n"
                + "x-mock-output-tokens: \(Self.maxTokens)\r\nContent-Type: application/json\r\nContent-Length: \(b.utf8.count)\r\n\r\n\(b)")
            XCTAssertTrue(c.readUntil(contains: "\r\n\r\n", timeout: 5), "request \(i): no response head")
            if c.buffer.starts(with: Array("HTTP/1.1 200".utf8)) && c.readUntil(contains: "token0 ", timeout: 5) {
                admitted.append((c, gate))
            } else {
                let r = try c.readResponse(timeout: 5)
                XCTAssertNotEqual(r.status, 200, "request \(i) neither streamed nor was refused: \(r.bodyText)")
                refused.append(r.status)
            }
        }
        return (admitted, refused)
    }

    private func assertCapHolds(passThrough: Bool, capSQL: String, refusal: Int) throws {
        let (ccload, mock, db) = try start(passThrough: passThrough, capSQL: capSQL)
        let n = 8
        let (admitted, refused) = try openGated(ccload, n)
        // Admitted while spent + reserved < cap: 0, e, 2e < 1000 ≤ 3e.
        let fits = (Self.cap + estimate - 1) / estimate
        XCTAssertEqual(admitted.count, fits, "admitted \(admitted.count) of \(n) with estimate \(estimate) on cap \(Self.cap)")
        XCTAssertEqual(refused, Array(repeating: refusal, count: n - fits))
        for (c, gate) in admitted {
            try mock.release(gate: gate)
            XCTAssertEqual(try c.readResponse(timeout: 10).status, 200)
        }
        XCTAssertEqual(try mock.requests(), fits, "a refused request reached the upstream")
        // The admitted requests were charged and their reservations given back: spent 3 × 312
        // is under the cap, so requests go on being admitted one at a time until it is
        // reached; the spend never passes cap + one estimate.
        let cost = Self.maxTokens + 12
        var spent = fits * cost
        var status = 200
        for _ in 0..<10 where status == 200 {
            status = try ccload.post("/v1/messages", body(), headers: ["x-api-key: \(Self.token)", "x-mock-output-tokens: \(Self.maxTokens)"]).status
            if status == 200 { spent += cost }
        }
        XCTAssertEqual(status, refusal, "spent \(spent) of \(Self.cap): the cap does not refuse")
        XCTAssertLessThanOrEqual(spent, Self.cap + estimate, "the overshoot passes the documented bound")
        XCTAssertGreaterThanOrEqual(spent, Self.cap, "refused before the cap was reached")
        if !passThrough {
            _ = try ccload.waitForRecords(n + 2)
            stopGracefully(ccload)
            let total = try int(db, "SELECT total_cost_micro FROM auth_tokens WHERE hash = sha256('\(Self.token)')")
            XCTAssertEqual(total, spent, "the recorded spend")
        }
    }

    func testTotalCapHoldsAgainstConcurrentRequestsInTheRelay() throws {
        try assertCapHolds(passThrough: false, capSQL: "total_cost_cap_micro = \(Self.cap)", refusal: 403)
    }

    func testDailyCapHoldsAgainstConcurrentRequestsInPassThrough() throws {
        try assertCapHolds(passThrough: true, capSQL: "daily_cost_cap_micro = \(Self.cap)", refusal: 429)
    }

    /// A channel's daily cost limit holds against tries in flight too: once its spend plus
    /// the reserved estimates reach the limit, the next request goes to the next channel.
    func testChannelDailyLimitHoldsAgainstConcurrentTries() throws {
        let capped = try startMock()
        let backup = try startMock()
        let prices = NSTemporaryDirectory() + "ccload-reserve-prices-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data("{\"\(Self.pricedModel)\": {\"input\": 1, \"output\": 1}}".utf8).write(to: URL(fileURLWithPath: prices))
        onTearDown { try? FileManager.default.removeItem(atPath: prices) }
        let limitUSD = Double(Self.cap) / 1_000_000
        let (ccload, _) = try startRelay([channel("capped", url: capped.url, priority: 10, ["id": 1, "daily_cost_limit": limitUSD]),
                                          channel("backup", url: backup.url, priority: 5, ["id": 2])],
                                         auth: [Self.token], ["CCLOAD_PRICES_FILE": prices])
        let (admitted, refused) = try openGated(ccload, 6)
        XCTAssertEqual(admitted.count, 6)
        XCTAssertEqual(refused, [])
        let fits = (Self.cap + estimate - 1) / estimate
        XCTAssertEqual(try capped.requests(), fits, "the capped channel took more tries than its limit holds")
        XCTAssertEqual(try backup.requests(), 6 - fits)
        for (c, gate) in admitted {
            try capped.release(gate: gate)
            try backup.release(gate: gate)
            XCTAssertEqual(try c.readResponse(timeout: 10).status, 200)
        }
    }
}
