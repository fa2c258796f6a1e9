import Glibc
import Reactor
import Synchronization

/// Keeps every account's access token fresh, on its own thread (never a reactor's): a token
/// within `refreshMarginMillis` of its expiry, or one a parked request waits for, is
/// refreshed once. Single flight per account: within the process this one thread does all
/// refreshes; across processes on one database a lease row is claimed with one conditional
/// UPDATE (`Store.claimRefreshLease`, which also fails when someone refreshed since the row
/// was read), and the loser re-reads the new token instead of spending the refresh token.
/// An auth refusal marks the account as needing sign-in (routing skips it, a notice goes
/// out); a passing failure is retried with doubling backoff.
public final class AccountRefresher: Sendable {
    private let store: Store
    private let control: ControlPlane
    private let book: AccountBook
    /// Runs the token calls (its pool dials).
    private let loop: Loop
    private let pool: @Sendable () -> UpstreamPool
    /// This process's name in lease rows.
    public let owner: String
    private let stopped = Atomic<Bool>(false)
    private let state = Lock<[Int: (retryAtMillis: UInt64, delayMillis: UInt64)]>([:])
    /// Refresh calls this process sent (tests, metrics).
    public var refreshesSent: Int { sent.load(ordering: .relaxed) }
    private let sent = Atomic<Int>(0)

    /// How long a claimed lease holds off other processes.
    static let leaseMillis: UInt64 = 60_000
    static let tickMicros: UInt32 = 50_000

    public init(store: Store, control: ControlPlane, loop: Loop, pool: @escaping @Sendable () -> UpstreamPool) {
        self.store = store
        self.control = control
        self.book = control.shared.accounts
        self.loop = loop
        self.pool = pool
        self.owner = "pid-\(getpid())-\(wallClockMillis())"
    }

    public func start() {
        Self.spawn { [self] in
            var lastStore: UInt64 = 0
            while !stopped.load(ordering: .relaxed) {
                let now = wallClockMillis()
                let refused = book.takeRefused()
                tick(nowMillis: now, readStore: now &- lastStore >= 1000 || !book.waitingChannels.isEmpty || !refused.isEmpty, refused: refused)
                if now &- lastStore >= 1000 { lastStore = now }
                usleep(Self.tickMicros)
            }
        }
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    private final class Body: @unchecked Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Runs `body` on a detached thread of its own.
    private static func spawn(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(tid)
    }

    /// One round: adopt tokens other processes refreshed, refresh what is due, resume
    /// parked requests whose token is fresh (or whose wait ran out), store changed windows.
    func tick(nowMillis now: UInt64, readStore: Bool, refused: Set<Int> = []) {
        let settings = book.settings
        if readStore, let rows = try? store.accounts() {
            let live = control.live.accounts
            // Another process (or an admin) changed a token: take it.
            let known = live.expiries
            let changed = rows.contains { r in (r.status == .ok ? r.expiresMillis : nil) != known[r.channelID] }
            if changed { _ = try? control.reloadAccounts(channels: true) }
            let waiting = Set(book.waitingChannels)
            for r in rows where r.status == .ok {
                let due = r.expiresMillis <= now &+ settings.refreshMarginMillis || waiting.contains(r.channelID)
                    || (refused.contains(r.channelID) && control.live.accounts.expiries[r.channelID] == r.expiresMillis)
                guard due else { continue }
                if let s = state.withLock({ $0[r.channelID] }), s.retryAtMillis > now { continue }
                refresh(r, settings: settings)
            }
        }
        let accounts = control.live.accounts
        for id in book.waitingChannels {
            let now = wallClockMillis()
            if !accounts.expired(channelID: id, nowMillis: now) || control.live.table?.channel(id: id)?.accountSignedIn == false
                || accounts[id] == nil {
                book.resume(channelID: id)
            } else {
                book.resume(channelID: id, onlyExpiredAt: now)
            }
        }
        for (id, w) in book.takeChangedWindows() { try? store.saveAccountWindows(channelID: id, json: w.json) }
    }

    private func refresh(_ row: AccountRow, settings: AccountSettings) {
        let id = row.channelID
        guard (try? store.claimRefreshLease(channelID: id, owner: owner, seenExpiresMillis: row.expiresMillis,
                                            leaseMillis: Self.leaseMillis)) == true else {
            // Another process refreshes (or did): its token is read on a later round.
            return
        }
        let provider = settings.provider(row.kind)
        sent.wrappingAdd(1, ordering: .relaxed)
        let answer = OAuthRequest.sendAndWait(url: provider.tokenURL, call: .refresh(row.kind, provider, refreshToken: row.refreshToken),
                                              userAgent: provider.userAgent, loop: loop, pool: pool)
        let outcome: OAuthTokenCall.Outcome
        switch answer {
        case .success(let a): outcome = OAuthTokenCall.outcome(status: a.status, body: a.body, nowMillis: wallClockMillis(), previousRefresh: row.refreshToken)
        case .failure(let e): outcome = .transient(e.message)
        }
        let name = control.live.table?.channel(id: id)?.name ?? "channel \(id)"
        switch outcome {
        case .tokens(let t):
            try? store.saveAccountTokens(channelID: id, t)
            state.withLock { $0[id] = nil }
            // A 401 on the old token cooled its key: the new token starts clean (a rate-limit
            // step-off is the channel's and stays).
            control.shared.cooldowns.clear(.key(channelID: id, keyIndex: 0))
            _ = try? control.reloadAccounts(channels: true)
            book.resume(channelID: id)
        case .refused(let why):
            try? store.markAccountFailure(channelID: id, error: "refresh refused: \(why)", needsSignIn: true)
            _ = try? control.reloadAccounts(channels: true)
            log("account \(name): refresh refused (\(why)); it needs sign-in")
            Notices.post(.needsSignIn(channelID: id, channel: name, reason: "refresh refused: \(why)"))
            book.resume(channelID: id)
        case .transient(let why):
            try? store.markAccountFailure(channelID: id, error: "refresh failed: \(why)", needsSignIn: false)
            let delay = state.withLock { s -> UInt64 in
                let d = min(max(settings.retryMillis, (s[id]?.delayMillis ?? 0) &* 2), 600_000)
                s[id] = (wallClockMillis() &+ d, d)
                return d
            }
            log("account \(name): refresh failed (\(why)); retry in \(delay) ms")
            Notices.post(.refreshFailed(channelID: id, channel: name, reason: why, retryInMillis: delay))
        }
    }

    private func log(_ line: String) {
        let bytes = Array("ccload: \(line)\n".utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
