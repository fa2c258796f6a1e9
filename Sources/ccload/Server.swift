import Admin
import CEpoll
import Glibc
import Proxy
import Reactor
import Synchronization
import TLS
import Foundation

/// Wires the loops, listeners and handlers together and owns the process's signals.
/// Not isolated to the main actor: threads are created from here (see DESIGN.md).
enum Server {
    static func log(_ message: String) { Log.info(message) }

    /// Every stream holds two fds (client and upstream): take the hard limit.
    static func raiseFileLimit() {
        var lim = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        }
    }

    /// Descriptors kept back from client connections for everything else: the loops' epoll
    /// and eventfds, listeners, the database, resolver threads, logs.
    static let reservedDescriptors = 64

    /// The default connection cap: every proxied connection may hold two descriptors
    /// (client and upstream), so half of what the limit leaves after the reserve.
    static func defaultMaxConnections(threads: Int) -> Int {
        var lim = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim) == 0, lim.rlim_cur != rlim_t.max else { return 1 << 20 }
        let usable = Int(clamping: lim.rlim_cur) - reservedDescriptors - 4 * threads
        return max(16, usable / 2)
    }

    /// Saves cooldowns (so a restart does not hammer a cooling channel) and reports
    /// records dropped since the last call.
    static func periodic(_ store: Store, _ cooldowns: CooldownBook, _ dailyReset: DailyReset, _ lastDropped: inout UInt64,
                         _ lastReport: inout UInt64) {
        dailyReset.tick(nowMillis: wallClockMillis())
        try? store.saveCooldowns(cooldowns, nowMonotonic: monotonicNanos(), nowWallMillis: wallClockMillis())
        let dropped = store.writer.droppedCount
        let now = monotonicNanos()
        if dropped > lastDropped && now &- lastReport >= 60 * nanosPerSecond {
            lastReport = now
            Log.warn("request records dropped so far: \(dropped) (+\(dropped - lastDropped)); the database is not keeping up or is failing")
            lastDropped = dropped
        }
    }

    /// The background loop (its own thread, never a proxy loop): webhook deliveries
    /// (`NoticeDispatcher`, installed as the receiver of `Notices.post`) and health probes
    /// (`ProbeScheduler`), sharing that loop's upstream pool.
    static func startBackground(control: ControlPlane, shared: ProxyShared, pool: UpstreamPool.Settings)
        -> (LoopGroup, NoticeDispatcher, ProbeScheduler) {
        let group = LoopGroup(count: 1)
        let loop = group.loops[0]
        let upstreams = UpstreamPool(loop: loop, settings: pool)
        let dispatcher = NoticeDispatcher(loop: loop, pool: upstreams) { control.live.settings.webhooks }
        Notices.install(dispatcher)
        let probes = ProbeScheduler(loop: loop, pool: upstreams, cooldowns: shared.cooldowns, board: shared.probes,
                                    table: { control.live.table }, accounts: { control.live.accounts }, timeoutNanos: { control.live.settings.firstByteTimeoutNanos })
        group.start { _ in }
        probes.start()
        return (group, dispatcher, probes)
    }

    static func run(_ settings: Settings) -> Int32 {
        cc_ignore_sigpipe()
        raiseFileLimit()
        // Block the signals before any thread exists so every loop thread inherits the
        // mask and only this thread (sigwait below) sees them.
        _ = cc_block_signals()

        guard var address = SocketAddress(ip: settings.listen, port: settings.port) else {
            Log.error("CCLOAD_LISTEN=\(settings.listen) is not a numeric IPv4 or IPv6 address")
            return 2
        }
        var sockets: [Int32] = []
        // Until the loops take them, the listening sockets are closed on every way out.
        var socketsHandedOff = false
        defer { if !socketsHandedOff { for s in sockets { _ = Glibc.close(s) } } }
        do {
            // The first socket fixes the port (PORT=0 picks one); the others share it.
            let first = try Listener.openSocket(address)
            address = SocketAddress(ip: settings.listen, port: Socket.localAddress(first.raw).port)!
            sockets.append(first.release())
            for _ in 1..<settings.threads {
                sockets.append(try Listener.openSocket(address).release())
            }
        } catch {
            Log.error("\(error)")
            return 1
        }

        let frozenProxy = settings.proxy
        // The store: opened (and migrated) before any loop runs; a bad file stops start-up.
        let store: Store
        do {
            var options = StoreOptions()
            options.secretKey = settings.secretKey
            options.logPacking = settings.logPacking
            store = try Store.open(settings.storeLocation, options: options)
            if let file = store.createdKeyFile {
                log("created the secret key file \(file) (mode 0600): back it up with the database, which cannot be read without it")
            }
        } catch {
            // A PostgreSQL store's message names its URL without the password.
            let what = settings.databaseURL == nil ? "the database \(settings.sqlitePath)" : "the PostgreSQL database"
            Log.error("cannot open \(what): \((error as? StoreError)?.message ?? "\(error)")")
            return 1
        }
        // The live settings (cooldowns, selector, affinity, record logging, retention) come
        // from the store once the given ones are seeded: `ControlPlane` applies them.
        let cooldowns = CooldownBook()
        let routing = RoutingState()
        let meters = TokenMeters(calendar: settings.calendar)
        let shared: ProxyShared
        let control: ControlPlane
        let admin: AdminContext
        do {
            if let path = settings.channelsFile { try StoreSetup.seedChannels(from: path, into: store) }
            try StoreSetup.seedTokens(settings.authTokens, into: store)
            try StoreSetup.seedSettings(settings.settingSeeds, into: store)
            let restored = (try? store.restoreCooldowns(into: cooldowns, nowMonotonic: monotonicNanos(),
                                                        nowWallMillis: wallClockMillis())) ?? 0
            if restored > 0 { log("restored \(restored) cooldowns from the database") }
            StoreSetup.seedMeters(meters, from: store, nowMillis: wallClockMillis())
            shared = ProxyShared(cooldowns: cooldowns, pricing: settings.pricing, store: store,
                                 meters: meters, routing: routing)
            shared.accounts.settings = settings.accounts
            shared.fleet.identity.name = settings.instanceName
            control = try ControlPlane(store: store, shared: shared)
            admin = try AdminContext.prepare(store: store, control: control, password: settings.adminPassword,
                                             trustedProxies: settings.trustedProxies,
                                             secureCookies: settings.tlsServer != nil, metricsEndpoint: settings.metricsEndpoint) { password in
                // Shown once, on the console only: the store keeps its hash.
                let line = "ccload: generated admin password (shown once; set CCLOAD_PASS to choose one): \(password)\n"
                _ = line.withCString { Glibc.write(1, $0, strlen($0)) }
            }
            for c in control.live.table?.channels ?? [] where c.insecureSkipVerify {
                Log.warn("channel \(c.name): certificate verification is OFF (insecure_skip_verify)")
            }
        } catch {
            Log.error((error as? StoreSetup.Failure)?.description ?? (error as? StoreError)?.message ?? "\(error)")
            store.close()
            return 1
        }
        let http = {
            var h = settings.http
            h.maxConnections = settings.maxConnections ?? defaultMaxConnections(threads: settings.threads)
            return h
        }()
        let firstTable = control.live.table
        let group = LoopGroup(count: settings.threads)
        let servers = Lock<[HTTPServer?]>(Array(repeating: nil, count: settings.threads))
        let socketList = sockets
        let firstHandler = Lock<ProxyHandler?>(nil)
        group.start { loop in
            let handler = ProxyHandler(loop: loop, config: frozenProxy, shared: shared, table: firstTable)
            control.attach(handler)
            if loop.index == 0 { firstHandler.withLock { $0 = handler } }
            let server = HTTPServer(loop: loop, config: http, handler: AdminRouter(proxy: handler, context: admin),
                                    wrap: settings.tlsServer.map(TLSServing.wrap))
            _ = server.listen(on: FileDescriptor(socketList[loop.index]))
            servers.withLock { $0[loop.index] = server }
        }
        socketsHandedOff = true
        // Subscription accounts refresh on a thread of their own; token calls run on loop 0.
        var refresher: AccountRefresher?
        while firstHandler.withLock({ $0 }) == nil { usleep(1_000) }
        if let h = firstHandler.withLock({ $0 }) {
            let r = AccountRefresher(store: store, control: control, loop: h.loop, pool: { h.pool })
            r.start()
            refresher = r
        }
        let background = startBackground(control: control, shared: shared, pool: frozenProxy.pool)
        // Peers on the same PostgreSQL database (nil on SQLite).
        let cluster: Cluster?
        do {
            shared.fleet.identity.address = "\(address)"
            cluster = try Cluster.start(store: store, control: control, shared: shared, cooldownBook: cooldowns,
                                        instance: settings.instanceName, loop: firstHandler.withLock { $0 }!.loop)
            if let c = cluster { log("instance \(c.bus.instance) on a shared PostgreSQL database: configuration, cooldowns, limits and affinity follow the other instances") }
        } catch {
            Log.error("cannot join the other instances (PostgreSQL LISTEN): \((error as? StoreError)?.message ?? "\(error)")")
            return 1
        }
        let routingText: String
        if let t = firstTable {
            routingText = " routing \(t.count) channels (database \(store.path))"
        } else if let up = frozenProxy.upstream {
            routingText = " → \(up.displayName)"
        } else {
            routingText = " (no channels yet: add them in the web UI)"
        }
        log("listening on \(settings.tlsServer == nil ? "" : "https://")\(address) with \(settings.threads) threads\(routingText)")
        log("at most \(http.maxConnections) client connections\(settings.maxConnections == nil ? " (from the file descriptor limit; set CCLOAD_MAX_CONNECTIONS to choose)" : "")")
        if shared.auth.tokenCount == 0 {
            Log.warn("no client tokens yet (add them in the web UI or with CCLOAD_AUTH): only loopback clients are served")
        }
        let uiHost = ["0.0.0.0", "::"].contains(settings.listen) ? "localhost:\(address.port)" : "\(address)"
        log("web UI: \(settings.tlsServer == nil ? "http" : "https")://\(uiHost)/web/")

        // Signals: the first SIGTERM/SIGINT drains, a second one exits at once. Between
        // signals this thread saves cooldowns every 10 s, runs the daily reset job once a
        // local day has begun, and reports dropped records at most once a minute while
        // their count grows.
        var lastDropped: UInt64 = 0
        var lastDropReport: UInt64 = 0
        while true {
            let sig = cc_wait_signal_timeout(10_000)
            if sig == SIGHUP {
                guard let path = settings.channelsFile else {
                    log("SIGHUP: no channels file to reload")
                    continue
                }
                do {
                    try StoreSetup.seedChannels(from: path, into: store)
                    let table = try control.reloadChannels()
                    log("SIGHUP: \(table?.count ?? 0) channels loaded from \(path)")
                } catch {
                    Log.warn("SIGHUP: \((error as? StoreSetup.Failure)?.description ?? "\(error)"); the running channels stay")
                }
                continue
            }
            if sig == 0 {
                periodic(store, cooldowns, shared.dailyReset, &lastDropped, &lastDropReport)
                continue
            }
            if sig == SIGTERM || sig == SIGINT { break }
        }
        log("draining (up to \(settings.drainNanos / nanosPerSecond) s)")
        let remaining = Atomic<Int>(settings.threads)
        group.forEach { loop in
            let server = servers.withLock { $0[loop.index] }
            server?.drain { remaining.subtract(1, ordering: .acquiringAndReleasing) }
        }
        let deadline = monotonicNanos() + settings.drainNanos
        while remaining.load(ordering: .acquiring) > 0 {
            if monotonicNanos() >= deadline {
                Log.warn("drain time is up; closing \(remaining.load(ordering: .acquiring)) loops' connections")
                break
            }
            let sig = cc_wait_signal_timeout(50)
            if sig == SIGTERM || sig == SIGINT {
                log("second signal: exiting now")
                return 1
            }
        }
        refresher?.stop()
        cluster?.stop()
        do {
            try store.saveCooldowns(cooldowns, nowMonotonic: monotonicNanos(), nowWallMillis: wallClockMillis())
        } catch {
            Log.warn("could not save cooldowns: \(error)")
        }
        // Each loop ends one more round first, so it has handed its last records to the
        // writer (`ProxyHandler.keepRecord` gathers them per round); then the store closes.
        // The loops keep running (the process exits on them), as before.
        let rounds = Atomic<Int>(settings.threads)
        group.forEach { loop in
            loop.submit { loop.atThisTickEnd { rounds.subtract(1, ordering: .acquiringAndReleasing) } }
        }
        let roundsDeadline = monotonicNanos() &+ nanosPerSecond
        while rounds.load(ordering: .acquiring) > 0 && monotonicNanos() < roundsDeadline { usleep(1_000) }
        Notices.install(nil as NoticeDispatcher?)
        withExtendedLifetime(background) {}
        store.close()  // writes every queued record first
        log("stopped; upstream connections opened \(UpstreamPool.openedTotal.load(ordering: .relaxed)), "
            + "pooled reuses \(UpstreamPool.reusedTotal.load(ordering: .relaxed)), "
            + "TLS handshakes full \(TLSStats.fullHandshakes) resumed \(TLSStats.resumedHandshakes)")
        return 0
    }
}
