import Reactor

extension RelayPolicy {
    /// Whether the current try is on an account whose token has expired (it waits for the
    /// refresh). A key channel answers false at once (one field read).
    mutating func accountTokenExpired() -> Bool {
        guard channel.account != nil else { return false }
        return handler.accounts.expired(channelID: channel.id, nowMillis: wallClockMillis())
    }

    /// An account's answer: a 401 asks for an early refresh (the token was revoked before
    /// its expiry); rate-limit windows are kept per account, and when they say the account
    /// is at its limit, the channel cools until the reset (routing steps off it before it
    /// answers 429).
    mutating func noteAccountWindows(_ head: HTTPResponseHead) {
        let nowMillis = wallClockMillis()
        if head.status == 401 { handler.shared.accounts.tokenRefused(channelID: channel.id, nowMillis: nowMillis) }
        let nowSeconds = nowMillis / 1000
        guard let w = RateLimitWindows.parse(head, nowSeconds: nowSeconds) else { return }
        handler.shared.accounts.record(channelID: channel.id, windows: w)
        stepOffLimitedAccount(w, nowSeconds: nowSeconds)
    }

    /// Cools the current account channel until the reset its last windows name, when they say it is at its limit.
    mutating func stepOffLimitedAccount() {
        guard let w = handler.shared.accounts.windows(channelID: channel.id) else { return }
        stepOffLimitedAccount(w, nowSeconds: wallClockMillis() / 1000)
    }

    private mutating func stepOffLimitedAccount(_ w: RateLimitWindows, nowSeconds: UInt64) {
        guard let until = w.limitedUntil(nowSeconds: nowSeconds) else { return }
        let now = handler.loop.now
        let reset = Saturating.add(now, Saturating.nanos(seconds: until &- nowSeconds))
        handler.shared.cooldowns.record(failure: .rateLimit, scope: .channel(channel.id), now: now, explicitResetAt: reset)
    }
}
