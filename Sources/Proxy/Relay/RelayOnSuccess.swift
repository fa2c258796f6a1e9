extension RelayPolicy {
    /// Hook `onSuccess`: a committed answer ended cleanly (before its last bytes go out, so a
    /// pipelined request on the same connection already sees it). Below 400 the channel's
    /// key and the (channel, model) are credited (`CooldownBook.recordSuccess`; ending a cooldown posts `.recovered`) and the
    /// session sticks to the channel and key (`SessionAffinity`).
    mutating func onSuccess() {
        guard record.status < 400 else { return }
        if handler.shared.cooldowns.recordSuccess(channelID: channel.id, keyIndex: keyIndex, model: info.model) {
            Notices.post(.recovered(channelID: channel.id, channel: channel.name))
        }
        if channel.account != nil { stepOffLimitedAccount() }
        if let s = session {
            handler.shared.selector.affinity?.record(session: s, channel: channel.id, key: keyIndex, now: handler.loop.now,
                                                     cacheLifetime: info.cacheOneHour ? affinityHourNanos : nil)
        }
    }
}
