extension RelayPolicy {
    /// Hook `onFinish`: the request is over, however it ended (`error`: why it failed, if it
    /// did). The try's concurrency slot and daily-spend estimate go back; the record takes the
    /// duration and the channel, key and upstream model that answered, the answer's usage
    /// (`usage`, from the tap) and its price (`Pricing`, times the channel's multiplier),
    /// which is added to the channel's daily spend; the token's meter is settled with that
    /// cost; the record goes to the ring and the store (`ProxyHandler.keepRecord`).
    mutating func onFinish(error: String?, usage: () -> Usage) {
        counting?.end()
        counting = nil
        releaseDailySpend()
        let now = handler.loop.now
        record.durationMicros = (now - startNanos) / 1000
        if error != nil && record.error == nil { record.error = error }
        if hasChannel {
            record.channelID = channel.id
            record.channelName = channel.name
            record.keyIndex = keyIndex
            record.upstreamModel = current.upstreamModel
            let usage = usage()
            record.usageKnown = usage.known
            record.inputTokens = usage.input
            record.outputTokens = usage.output
            record.cacheReadTokens = usage.cacheRead
            record.cacheWrite5mTokens = usage.cacheWrite5m
            record.cacheWrite1hTokens = usage.cacheWrite1h
            let cost = handler.shared.pricing.cost(handler.price(of: current.upstreamModel), usage: usage, multiplier: channel.costMultiplier)
            record.costMicroUSD = Int64(cost.microUSD)
            record.priced = cost.priced
            if cost.microUSD > 0 { handler.shared.spend.add(channelID: channel.id, microUSD: cost.microUSD) }
        }
        handler.settle(admission, costMicroUSD: record.costMicroUSD)
        // Moved out, not copied (the policy is done with it; a copy retained every string).
        var done = RequestRecord()
        swap(&done, &record)
        handler.keepRecord(done)
    }
}
