extension RelayPolicy {
    /// Hook `pick`: moves the cursor to the next candidate that can take a try now, from
    /// the current one on (the selector ordered them): a candidate with no usable key is
    /// passed, and so is a channel at its concurrency limit. The picked try holds the
    /// channel's concurrency slot and, for a channel with a daily cost limit, its estimate;
    /// a channel's first try starts at the base URL that last answered on this loop.
    /// false: nothing is left to try.
    mutating func pick() -> Bool {
        while candidateIndex < candidates.count {
            if current.keys.isEmpty {
                candidateIndex += 1
                keyPosition = 0
                continue
            }
            let counters = table.counters[current.channelIndex]
            if counters.tryBegin(limit: channel.maxConcurrency) {
                counting = counters
                reserveDailySpend()
                if urlsTried == 0 {
                    urlIndex = handler.preferredURL(channelID: channel.id, count: table.targets[current.channelIndex].count)
                }
                return true
            }
            candidateIndex += 1
            keyPosition = 0
        }
        return false
    }

    /// A channel with a daily cost limit holds this try's estimate against it until the try ends.
    mutating func reserveDailySpend() {
        guard channel.dailyCostLimitUSD != nil else { return }
        let estimate = handler.shared.pricing.estimate(handler.price(of: current.upstreamModel), bodyBytes: bodyBytes,
                                                       maxOutputTokens: info.maxOutputTokens, multiplier: channel.costMultiplier)
        handler.shared.spend.reserve(channelID: channel.id, microUSD: estimate)
        channelReservation = (channel.id, estimate)
    }

    /// Gives the current try's daily-spend estimate back.
    mutating func releaseDailySpend() {
        guard let r = channelReservation else { return }
        handler.shared.spend.release(channelID: r.channelID, microUSD: r.microUSD)
        channelReservation = nil
    }
}
