import Reactor

/// Something an operator should hear about without watching the web UI: sent to the
/// webhooks in settings (issue 14). Carries names and ids, never a secret.
public enum Notice: Sendable, Equatable {
    /// A channel (or one of its keys or models: `scope` says which) started cooling.
    case cooling(channelID: Int, channel: String, scope: String, untilMillis: UInt64, reason: String)
    /// A cooling channel answered again (a request or a health probe).
    case recovered(channelID: Int, channel: String)
    /// A subscription account's refresh token was refused: an admin must sign in again.
    case needsSignIn(channelID: Int, channel: String, reason: String)
    /// A subscription account's refresh failed for a passing reason; it will be retried.
    case refreshFailed(channelID: Int, channel: String, reason: String, retryInMillis: UInt64)
    /// A client token reached one of its cost caps (`period`: day, week, month, total).
    case costCap(tokenID: Int, token: String, period: String, capMicroUSD: Int64)
}

/// Where notices go: the process's one receiver (the webhook dispatcher), installed at
/// start-up. `post` never blocks beyond a short lock and may be called from any thread,
/// a reactor thread included: the receiver only queues.
public enum Notices {
    private static let receiver = Lock<(@Sendable (Notice) -> Void)?>(nil)

    public static func install(_ r: (@Sendable (Notice) -> Void)?) {
        receiver.withLock { $0 = r }
    }

    public static func post(_ n: Notice) {
        receiver.withLock { $0 }?(n)
    }

    private static let installed = Lock<NoticeDispatcher?>(nil)

    /// Makes `d` the receiver (nil: none); `dispatcher` then answers it (for the admin's
    /// counts and test button).
    public static func install(_ d: NoticeDispatcher?) {
        installed.withLock { $0 = d }
        install(d.map { d in { @Sendable n in d.post(n) } })
    }

    /// The installed dispatcher, if any.
    public static var dispatcher: NoticeDispatcher? { installed.withLock { $0 } }
}

extension Notices {
    /// `.cooling` for a cooldown that just began on `scope` of `channel`, ending at the
    /// monotonic time `until` (`now` is monotonic too).
    public static func postCooling(_ channel: Channel, _ scope: CooldownScope, until: UInt64, now: UInt64, reason: FailureClass) {
        let scopeText: String
        switch scope {
        case .channel: scopeText = "channel"
        case .key(_, let k): scopeText = "key \(k)"
        case .model(_, let m): scopeText = "model \(m)"
        }
        let untilMillis = Saturating.add(wallClockMillis(), (until > now ? until - now : 0) / 1_000_000)
        post(.cooling(channelID: channel.id, channel: channel.name, scope: scopeText, untilMillis: untilMillis, reason: reason.rawValue))
    }
}
