/// Keys and sums of the hourly statistics the writer adds up per batch: one `StatsDelta`
/// per `stats_hourly` row (`StatsKey`) and per `stats_rollup` row (`RollupKey`).

struct RollupKey: Hashable {
    var dim: String
    var key: String
    var hour: Int64
}

/// A `stats_hourly` row's key (hour, channel, model, token) and what the batch also rolls
/// up by: the token's owner and group (0: none). Rows that differ only in owner or group
/// (a token moved to another group within a batch) add up into the same `stats_hourly` row.
struct StatsKey: Hashable {
    var hour: Int64
    var channel: Int64
    var model: String
    var token: Int64
    var user: Int64 = 0
    var group: Int64 = 0
}

/// One batch's additions to one `stats_hourly` row.
struct StatsDelta {
    var requests: Int64 = 0
    var successes: Int64 = 0
    var errors4xx: Int64 = 0
    var errors5xx: Int64 = 0
    var errorsOther: Int64 = 0
    var rateLimited: Int64 = 0
    var failovers: Int64 = 0
    var input: Int64 = 0
    var output: Int64 = 0
    var cacheRead: Int64 = 0
    var cacheWrite5m: Int64 = 0
    var cacheWrite1h: Int64 = 0
    var cost: Int64 = 0
    var durationSum: Int64 = 0
    var ttfbCount: Int64 = 0
    var ttfbSum: Int64 = 0
    var hist = [Int64](repeating: 0, count: TTFBBuckets.count)

    /// Adds `r` (tests; the writer passes a pointer).
    mutating func add(_ r: RequestRecord) {
        withUnsafePointer(to: r) { add($0) }
    }

    /// Adds the record at `p` (read in place: passing a record by value copied it).
    mutating func add(_ p: UnsafePointer<RequestRecord>) {
        requests += 1
        switch p.pointee.status {
        case 200..<300: successes += 1
        case 400..<500: errors4xx += 1
        case 500..<600: errors5xx += 1
        default: errorsOther += 1
        }
        if p.pointee.status == 429 { rateLimited += 1 }
        if p.pointee.attempts.count > 1 { failovers += Int64(p.pointee.attempts.count - 1) }
        // Token counts and costs come from upstream usage: their sums saturate.
        input = Saturating.add(input, Int64(clamping: p.pointee.inputTokens))
        output = Saturating.add(output, Int64(clamping: p.pointee.outputTokens))
        cacheRead = Saturating.add(cacheRead, Int64(clamping: p.pointee.cacheReadTokens))
        cacheWrite5m = Saturating.add(cacheWrite5m, Int64(clamping: p.pointee.cacheWrite5mTokens))
        cacheWrite1h = Saturating.add(cacheWrite1h, Int64(clamping: p.pointee.cacheWrite1hTokens))
        cost = Saturating.add(cost, p.pointee.costMicroUSD)
        durationSum = Saturating.add(durationSum, Int64(clamping: p.pointee.durationMicros))
        if let t = p.pointee.ttfbMicros {
            ttfbCount += 1
            ttfbSum = Saturating.add(ttfbSum, Int64(clamping: t))
            hist[TTFBBuckets.index(ofMicros: t)] += 1
        }
    }

    /// In `Schema.valueColumns` order.
    var values: [Int64] {
        [requests, successes, errors4xx, errors5xx, errorsOther, rateLimited, failovers, input, output,
         cacheRead, cacheWrite5m, cacheWrite1h, cost, durationSum, ttfbCount, ttfbSum] + hist
    }

    func bind(_ s: any SQLStatement, from first: Int32) throws {
        for (i, v) in values.enumerated() { try s.bind(first + Int32(i), v) }
    }

    mutating func merge(_ o: StatsDelta) {
        requests += o.requests
        successes += o.successes
        errors4xx += o.errors4xx
        errors5xx += o.errors5xx
        errorsOther += o.errorsOther
        rateLimited += o.rateLimited
        failovers += o.failovers
        input = Saturating.add(input, o.input)
        output = Saturating.add(output, o.output)
        cacheRead = Saturating.add(cacheRead, o.cacheRead)
        cacheWrite5m = Saturating.add(cacheWrite5m, o.cacheWrite5m)
        cacheWrite1h = Saturating.add(cacheWrite1h, o.cacheWrite1h)
        cost = Saturating.add(cost, o.cost)
        durationSum = Saturating.add(durationSum, o.durationSum)
        ttfbCount += o.ttfbCount
        ttfbSum = Saturating.add(ttfbSum, o.ttfbSum)
        for i in 0..<hist.count { hist[i] += o.hist[i] }
    }
}
