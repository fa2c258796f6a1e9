import Reactor

/// The shared, in-memory side of subscription accounts: the requests parked until an
/// account's refresh ends, and each account's last rate-limit windows. One per process.
public final class AccountBook: Sendable {
    struct Waiter {
        let loop: Loop
        let deadlineMillis: UInt64
        let resume: @Sendable () -> Void
    }

    private struct State {
        var waiters: [Int: [Waiter]] = [:]
        var windows: [Int: RateLimitWindows] = [:]
        /// Windows changed since the refresher last stored them.
        var dirty: Set<Int> = []
        /// Accounts whose token the upstream refused (401): refreshed early. When each was last asked for.
        var refused: [Int: UInt64] = [:]
        var refusedPending: Set<Int> = []
    }

    /// An early refresh after a 401 is asked for at most once per this long per account.
    public static let refusedRefreshEveryMillis: UInt64 = 60_000

    private let state = Lock<State>(State())
    /// At most this many requests wait for refreshes at once; more fail over at once.
    public static let maxWaiters = 4096
    /// The start-up settings (`AccountSettings`), set before loops run.
    public var settings: AccountSettings {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private let current = Lock<AccountSettings>(.defaults)
    public let signIns = AccountSignIns()

    public init() {}

    /// Parks a request on channel `channelID` until its refresh ends (or the wait setting
    /// runs out): `resume` runs on `loop` then. False when too many wait already (the
    /// caller goes on at once).
    public func wait(channelID: Int, loop: Loop, nowMillis: UInt64, waitMillis: UInt64, resume: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { s in
            let total = s.waiters.values.reduce(0) { $0 + $1.count }
            guard total < Self.maxWaiters else { return false }
            s.waiters[channelID, default: []].append(Waiter(loop: loop, deadlineMillis: nowMillis &+ waitMillis, resume: resume))
            return true
        }
    }

    /// Channels with parked requests.
    public var waitingChannels: [Int] { state.withLock { Array($0.waiters.keys) } }

    /// Resumes (on their loops) the requests parked on `channelID`, or only those past
    /// their deadline (`onlyExpiredAt`). Returns how many.
    @discardableResult
    public func resume(channelID: Int, onlyExpiredAt now: UInt64? = nil) -> Int {
        let taken: [Waiter] = state.withLock { s in
            guard let list = s.waiters[channelID] else { return [] }
            guard let now else {
                s.waiters[channelID] = nil
                return list
            }
            let (due, keep) = (list.filter { $0.deadlineMillis <= now }, list.filter { $0.deadlineMillis > now })
            s.waiters[channelID] = keep.isEmpty ? nil : keep
            return due
        }
        for w in taken { w.loop.submit(w.resume) }
        return taken.count
    }

    /// Keeps the windows an account's answer reported (a few instructions under the lock).
    public func record(channelID: Int, windows: RateLimitWindows) {
        state.withLock { s in
            if s.windows[channelID] != windows {
                s.windows[channelID] = windows
                s.dirty.insert(channelID)
            }
        }
    }

    public func windows(channelID: Int) -> RateLimitWindows? { state.withLock { $0.windows[channelID] } }

    /// The windows changed since the last call (for the store).
    public func takeChangedWindows() -> [(Int, RateLimitWindows)] {
        state.withLock { s in
            let out = s.dirty.compactMap { id in s.windows[id].map { (id, $0) } }
            s.dirty.removeAll()
            return out
        }
    }

    /// The upstream refused an account's access token (revoked before its expiry): the
    /// refresher refreshes it early (at most once a minute per account).
    public func tokenRefused(channelID: Int, nowMillis: UInt64) {
        state.withLock { s in
            if let last = s.refused[channelID], nowMillis &- last < Self.refusedRefreshEveryMillis { return }
            s.refused[channelID] = nowMillis
            s.refusedPending.insert(channelID)
        }
    }

    /// The accounts a 401 asked to refresh early, since the last call.
    public func takeRefused() -> Set<Int> {
        state.withLock { s in
            let out = s.refusedPending
            s.refusedPending.removeAll()
            return out
        }
    }

    /// Forgets an account's windows (signed out, deleted).
    public func forget(channelID: Int) {
        state.withLock { s in s.windows.removeValue(forKey: channelID); s.dirty.remove(channelID) }
    }
}
