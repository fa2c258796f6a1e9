import Reactor

/// A try that failed before the commit point, as `RelayPolicy.onFailure` takes it.
struct TryFailure {
    var failure: FailureClass
    var scope: ScopeKind
    /// The upstream's own reset hint, relative to now.
    var resetAfterNanos: UInt64?
    /// The upstream status (0: no answer).
    var status: Int
    /// What the record's error says (nil: keep what it says).
    var note: String?
    /// A transport failure (refused, reset, TLS, …) that another base URL of the same channel may not have.
    var transport: Bool = false
}

/// What the engine does after a failed try.
enum AfterFailure {
    /// Send again on the same channel and key, at its next base URL.
    case nextURL
    /// Start the next try (`pick` from the moved cursor).
    case nextTry
    /// Out of tries: answer with the last failure.
    case exhausted
    /// The request is already over (the client left): nothing more.
    case stop
}

extension RelayPolicy {
    /// Hook `onFailure`: a try failed before the commit point. A transport failure on a
    /// channel with another base URL not yet tried moves to that URL (nothing cools yet).
    /// Otherwise the try gives back its concurrency slot and daily-spend estimate, what failed
    /// cools (`CooldownBook`: a key, the channel, or the (channel, requested model)), the try is
    /// noted in the record, and the cursor moves to the channel's next key (a key-scoped
    /// failure) or the next candidate. `over`: the request already ended (cool and note only).
    mutating func onFailure(_ f: TryFailure, over: Bool) -> AfterFailure {
        let urls = table.targets[current.channelIndex].count
        if f.transport && urlsTried + 1 < urls && !over {
            record.attempts.append(AttemptNote(channelID: channel.id, keyIndex: keyIndex, status: 0, failure: f.failure.rawValue))
            if let note = f.note { record.error = note }
            urlsTried += 1
            urlIndex = (urlIndex + 1) % urls
            return attempts < handler.shared.maxAttempts ? .nextURL : .exhausted
        }
        counting?.end()
        counting = nil
        releaseDailySpend()
        let now = handler.loop.now
        // (channel, model) cooldowns are keyed by the requested model, as the selector reads them;
        // a channel whose keys all cool counts as cooling there without a record of its own.
        let scopeValue = CooldownScope(f.scope, channelID: channel.id, keyIndex: keyIndex, model: info.model)
        let change = handler.shared.cooldowns.recordChange(failure: f.failure, scope: scopeValue, now: now,
                                                           explicitResetAt: f.resetAfterNanos.map { Saturating.add(now, $0) })
        if change.started { Notices.postCooling(channel, scopeValue, until: change.until, now: now, reason: f.failure) }
        record.attempts.append(AttemptNote(channelID: channel.id, keyIndex: keyIndex, status: f.status, failure: f.failure.rawValue))
        if let note = f.note { record.error = note }
        if over { return .stop }
        guard attempts < handler.shared.maxAttempts else { return .exhausted }
        if f.scope == .key && keyPosition + 1 < current.keys.count {
            keyPosition += 1
        } else {
            candidateIndex += 1
            keyPosition = 0
            urlsTried = 0
        }
        return .nextTry
    }
}
