extension RelayPolicy {
    /// Hook `onCommit`: the answer's first bytes go to the client. The record takes the
    /// status and the time to the first byte. `streams`: the commit point of a streamed or
    /// passed-through answer, after which the request answered (failed tries stay listed in
    /// `attempts`, the error is cleared) and the base URL that answered is where this loop's
    /// next try on the channel starts; false for a held error answer passed on whole.
    mutating func onCommit(status: Int, streams: Bool) {
        let now = handler.loop.now
        if streams {
            record.ttfbMicros = (now - startNanos) / 1000
            record.status = status
            record.error = nil
            handler.notePreferredURL(channelID: channel.id, index: urlIndex)
        } else {
            record.status = status
            record.ttfbMicros = (now - startNanos) / 1000
        }
    }
}
