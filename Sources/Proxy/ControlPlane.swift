import Reactor

/// What every loop routes by at one moment: the channel table, the client tokens and the
/// live settings. Immutable; a change builds a new one.
public struct LiveConfig: Sendable {
    public var table: ChannelTable?
    public var auth: ClientAuth
    public var settings: RuntimeSettings
    /// The signed-in accounts' credentials (`AccountCredentials`).
    public var accounts: AccountCredentials

    public init(table: ChannelTable?, auth: ClientAuth, settings: RuntimeSettings, accounts: AccountCredentials = .none) {
        self.table = table
        self.auth = auth
        self.settings = settings
        self.accounts = accounts
    }
}

/// The way a configuration change reaches the proxy: the store stays the source of
/// truth; after a write, `reload…` rebuilds the affected part from it and publishes the
/// new `LiveConfig` to every loop (each takes it on its own thread, so requests already
/// routed keep the snapshot they started with).
///
/// Threads: `reload…` and `publish` read the database: call them at start-up, from a
/// signal thread, or inside a `Store.query` body; never on a reactor thread. Writers are
/// serialised by one lock, so two admin edits cannot publish out of order.
public final class ControlPlane: Sendable {
    public let store: Store
    public let shared: ProxyShared
    private let handlers = Lock<[ProxyHandler]>([])
    private let current: Lock<LiveConfig>
    private let publishing = Lock<Void>(())
    /// Told of each part this instance reloaded (`ConfigSync` tells the peers).
    private let changed = Lock<(@Sendable (ConfigPart) -> Void)?>(nil)

    /// Builds the first `LiveConfig` from the store and applies its settings.
    public init(store: Store, shared: ProxyShared) throws(StoreError) {
        self.store = store
        self.shared = shared
        let settings: RuntimeSettings
        let table: ChannelTable?
        let auth: ClientAuth
        let accounts: AccountCredentials
        do {
            settings = try RuntimeSettings(values: try store.settings())
            table = try Self.table(store, shared.routing)
            auth = ClientAuth(tokens: try Self.clientTokens(store))
            accounts = AccountCredentials(try store.accounts(), claudeBeta: shared.accounts.settings.claudeBeta)
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError(.invalid, "\(error)")
        }
        current = Lock(LiveConfig(table: table, auth: auth, settings: settings, accounts: accounts))
        shared.auth = auth
        Self.applyShared(settings, shared, store)
    }

    /// The configuration now in force.
    public var live: LiveConfig { current.withLock { $0 } }

    /// Registers a loop's handler (on that loop) and gives it the current configuration.
    public func attach(_ handler: ProxyHandler) {
        let now = publishing.withLock { _ in
            handlers.withLock { $0.append(handler) }
            return current.withLock { $0 }
        }
        handler.apply(now)
    }

    /// Registers what is told of each successful `reload…` made with `announce` (one
    /// observer; `ConfigSync` tells the other instances). Runs on the reloading thread.
    public func onChange(_ observer: @escaping @Sendable (ConfigPart) -> Void) {
        changed.withLock { $0 = observer }
    }

    private func announce(_ part: ConfigPart) {
        changed.withLock { $0 }?(part)
    }

    /// Rebuilds the channel table from the store and publishes it. Throws (publishing
    /// nothing) when the stored channels do not form a valid table. `announce: false` for a
    /// reload that a peer's change caused (so it is not sent back).
    @discardableResult
    public func reloadChannels(announce: Bool = true) throws(StoreError) -> ChannelTable? {
        let t = try publish { live throws(StoreError) in live.table = try Self.table(store, shared.routing) }.table
        if announce { self.announce(.channels) }
        return t
    }

    /// Rebuilds the accounts' credentials from the store and publishes them; with
    /// `channels`, the table too (an account's sign-in status decides whether it routes).
    @discardableResult
    public func reloadAccounts(channels: Bool = false, announce: Bool = true) throws(StoreError) -> AccountCredentials {
        let a = try publish { live throws(StoreError) in
            if channels { live.table = try Self.table(store, shared.routing) }
            live.accounts = AccountCredentials(try Self.wrap { try store.accounts() }, claudeBeta: shared.accounts.settings.claudeBeta)
        }.accounts
        if announce { self.announce(.accounts) }
        return a
    }

    /// Rebuilds the client tokens from the store and publishes them.
    public func reloadTokens(announce: Bool = true) throws(StoreError) {
        _ = try publish { live throws(StoreError) in
            live.auth = ClientAuth(tokens: try Self.clientTokens(store))
            shared.auth = live.auth
        }
        if announce { self.announce(.tokens) }
    }

    /// Re-reads the settings, applies them to the shared state and publishes them.
    @discardableResult
    public func reloadSettings(announce: Bool = true) throws(StoreError) -> RuntimeSettings {
        let s = try publish { live throws(StoreError) in
            live.settings = try RuntimeSettings(values: try Self.wrap { try store.settings() })
            Self.applyShared(live.settings, shared, store)
        }.settings
        if announce { self.announce(.settings) }
        return s
    }

    /// Asks every loop for a value computed on it and hands the values (in loop order)
    /// back on `loop`. `body` runs on each handler's own loop.
    public func gather<T: Sendable>(_ body: @escaping @Sendable (ProxyHandler) -> T, on loop: Loop,
                                    completion: @escaping ([T]) -> Void) {
        let list = handlers.withLock { $0 }
        if list.isEmpty { return completion([]) }
        let done = UncheckedCompletion(completion)
        let results = Lock<(values: [T?], left: Int)>((Array(repeating: nil, count: list.count), list.count))
        for (i, h) in list.enumerated() {
            let handler = UncheckedHandler(h)
            h.loop.submit {
                let v = body(handler.value)
                let finished = results.withLock { r -> [T]? in
                    r.values[i] = v
                    r.left -= 1
                    return r.left == 0 ? r.values.map { $0! } : nil
                }
                if let all = finished { loop.submit { done.value(all) } }
            }
        }
    }

    // MARK: building

    private func publish(_ change: (inout LiveConfig) throws(StoreError) -> Void) throws(StoreError) -> LiveConfig {
        let outcome = publishing.withLock { _ -> Result<LiveConfig, StoreError> in
            var next = current.withLock { $0 }
            do { try change(&next) } catch let e as StoreError { return .failure(e) } catch { return .failure(StoreError(.other, "\(error)")) }
            let snapshot = next
            current.withLock { $0 = snapshot }
            for h in handlers.withLock({ $0 }) {
                let handler = UncheckedHandler(h)
                h.loop.submit { handler.value.apply(snapshot) }
            }
            return .success(snapshot)
        }
        return try outcome.get()
    }

    private static func applyShared(_ s: RuntimeSettings, _ shared: ProxyShared, _ store: Store) {
        shared.cooldowns.settings = s.cooldowns
        shared.selector.settings = s.selector
        if let affinity = shared.selector.affinity {
            var a = affinity.settings
            a.enabled = s.affinityEnabled
            a.ttlNanos = s.affinityTTLNanos
            a.cacheNanos = s.affinityCacheNanos
            a.capacity = s.affinityCapacity
            a.promptDigest = s.affinityPromptDigest
            affinity.settings = a
        }
        shared.logRequests = s.logRequests
        store.writer.setRetention(logDays: s.logRetentionDays, statsDays: s.statsRetentionDays)
    }

    private static func wrap<T>(_ body: () throws -> T) throws(StoreError) -> T {
        do { return try body() } catch let e as StoreError { throw e } catch { throw StoreError(.other, "\(error)") }
    }

    /// The routing table from the store's channels and groups (nil when it holds no channel).
    public static func table(_ store: Store, _ state: RoutingState) throws(StoreError) -> ChannelTable? {
        var channels = try wrap { try store.channels() }
        if channels.isEmpty { return nil }
        let accounts = Dictionary(try wrap { try store.accounts() }.map { ($0.channelID, $0) }, uniquingKeysWith: { a, _ in a })
        for i in channels.indices {
            guard let a = accounts[channels[i].id] else { continue }
            channels[i].account = a.kind
            channels[i].accountSignedIn = a.status == .ok
        }
        let groups = try wrap { try store.groups() }
        do {
            return try ChannelTable(channels, groups: groups, state: state)
        } catch {
            throw StoreError(.invalid, "the stored channels do not form a valid table: \(error)")
        }
    }

    /// The client tokens as the proxy checks them.
    public static func clientTokens(_ store: Store) throws(StoreError) -> [ClientToken] {
        try wrap { try store.tokens() }.map(\.clientToken)
    }
}

/// A loop-owned handler carried to its own loop through `submit`.
private struct UncheckedHandler: @unchecked Sendable {
    let value: ProxyHandler
    init(_ value: ProxyHandler) { self.value = value }
}

private struct UncheckedCompletion<T>: @unchecked Sendable {
    let value: ([T]) -> Void
    init(_ value: @escaping ([T]) -> Void) { self.value = value }
}
