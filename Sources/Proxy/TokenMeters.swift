import Reactor

/// Why a token may not make a request now, in the words and status the client gets.
public struct TokenRefusal: Sendable, Equatable {
    public var status: Int
    public var message: String
    /// Seconds until the limit resets, for `retry-after`.
    public var retryAfterSeconds: Int?
}

/// What each client token has in flight, asked this minute and spent today and in all,
/// shared by every loop; the lock is held for one dictionary update per call.
public final class TokenMeters: Sendable {
    private struct Meter {
        var inFlight = 0
        var minute: UInt64 = 0
        var requestsThisMinute = 0
        var day: UInt64 = 0
        var costToday: Int64 = 0
        var costTotal: Int64 = 0
    }

    private let meters = Lock<[Int: Meter]>([:])

    public init() {}

    /// Spend known from before this process (the store's totals), by token id.
    public func seed(today: [Int: Int64], total: [Int: Int64], nowMillis: UInt64) {
        let day = nowMillis / 86_400_000
        meters.withLock { m in
            for (id, c) in today { m[id, default: Meter()].costToday = c; m[id]!.day = day }
            for (id, c) in total { m[id, default: Meter()].costTotal = c }
        }
    }

    /// Admits one request of `token` for `model`, counting it in flight, or says why not.
    public func admit(_ token: ClientToken, model: String?, nowMillis: UInt64) -> TokenRefusal? {
        if !token.enabled { return TokenRefusal(status: 401, message: "token \(token.name) is disabled") }
        if let e = token.expiresAtMillis, e <= nowMillis {
            return TokenRefusal(status: 401, message: "token \(token.name) has expired")
        }
        if let allowed = token.allowedModels, let model, !allowed.contains(model) {
            return TokenRefusal(status: 403, message: "token \(token.name) may not use model \(model)")
        }
        let day = nowMillis / 86_400_000
        let minute = nowMillis / 60_000
        return meters.withLock { m -> TokenRefusal? in
            var t = m[token.id] ?? Meter()
            if t.day != day { t.day = day; t.costToday = 0 }
            if t.minute != minute { t.minute = minute; t.requestsThisMinute = 0 }
            if let cap = token.totalCostCapMicroUSD, t.costTotal >= cap {
                m[token.id] = t
                return TokenRefusal(status: 403, message: "token \(token.name) reached its total cost cap")
            }
            if let cap = token.dailyCostCapMicroUSD, t.costToday >= cap {
                m[token.id] = t
                let wait = Int(((day + 1) * 86_400_000 - nowMillis + 999) / 1000)
                return TokenRefusal(status: 429, message: "token \(token.name) reached its daily cost cap; it resets at 00:00 UTC",
                                    retryAfterSeconds: wait)
            }
            if let rpm = token.requestsPerMinute, t.requestsThisMinute >= rpm {
                m[token.id] = t
                let wait = Int(((minute + 1) * 60_000 - nowMillis + 999) / 1000)
                return TokenRefusal(status: 429, message: "token \(token.name) is limited to \(rpm) requests per minute",
                                    retryAfterSeconds: wait)
            }
            if let c = token.maxConcurrency, t.inFlight >= c {
                m[token.id] = t
                return TokenRefusal(status: 429, message: "token \(token.name) is limited to \(c) concurrent requests",
                                    retryAfterSeconds: 1)
            }
            t.inFlight += 1
            t.requestsThisMinute += 1
            m[token.id] = t
            return nil
        }
    }

    /// Ends a request `admit` let in, adding what it cost.
    public func finish(tokenID: Int, costMicroUSD: Int64, nowMillis: UInt64) {
        let day = nowMillis / 86_400_000
        meters.withLock { m in
            var t = m[tokenID] ?? Meter()
            t.inFlight = max(0, t.inFlight - 1)
            if t.day != day { t.day = day; t.costToday = 0 }
            t.costToday += costMicroUSD
            t.costTotal += costMicroUSD
            m[tokenID] = t
        }
    }
}
