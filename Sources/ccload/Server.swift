import Admin
import CEpoll
import Glibc
import Proxy
import Reactor
import Synchronization
import TLS

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

    enum TableLoad { case success(ChannelTable), failure(String) }

    /// Reads and validates a channels file into a table; a bad file is rejected whole.
    static func loadTable(_ path: String, _ shared: ProxyShared) -> TableLoad {
        do {
            let channels = try ChannelFile.load(path: path)
            let table = try ChannelTable(channels, state: shared.routing)
            for c in channels where c.insecureSkipVerify {
                Log.warn("channel \(c.name): certificate verification is OFF (insecure_skip_verify)")
            }
            return .success(table)
        } catch {
            return .failure("channels file \(path) rejected: \(error)")
        }
    }

    static func run(_ settings: Settings) -> Int32 {
        cc_ignore_sigpipe()
        raiseFileLimit()
        // Block the signals before any thread exists so every loop thread inherits the
        // mask and only this thread (sigwait below) sees them.
        _ = cc_block_signals()

        guard var address = SocketAddress(ip: settings.listen, port: settings.port) else {
            log("CCLOAD_LISTEN=\(settings.listen) is not a numeric IPv4 or IPv6 address")
            return 2
        }
        var sockets: [Int32] = []
        do {
            // The first socket fixes the port (PORT=0 picks one); the others share it.
            let first = try Listener.openSocket(address)
            address = SocketAddress(ip: settings.listen, port: Socket.localAddress(first.raw).port)!
            sockets.append(first.release())
            for _ in 1..<settings.threads {
                sockets.append(try Listener.openSocket(address).release())
            }
        } catch {
            log("\(error)")
            for s in sockets { _ = Glibc.close(s) }
            return 1
        }

        let frozenProxy = settings.proxy
        let shared = ProxyShared(cooldowns: CooldownBook(settings: settings.cooldowns),
                                 selectorSettings: settings.selector,
                                 affinity: settings.affinity.enabled ? SessionAffinity(settings: settings.affinity) : nil,
                                 pricing: settings.pricing, auth: ClientAuth(tokens: settings.authTokens))
        var initialTable: ChannelTable?
        if let path = settings.channelsFile {
            switch loadTable(path, shared) {
            case .success(let t): initialTable = t
            case .failure(let message):
                log(message)
                for s in sockets { _ = Glibc.close(s) }
                return 1
            }
        }
        let firstTable = initialTable
        let group = LoopGroup(count: settings.threads)
        let servers = Lock<[HTTPServer?]>(Array(repeating: nil, count: settings.threads))
        let handlers = Lock<[ProxyHandler?]>(Array(repeating: nil, count: settings.threads))
        let socketList = sockets
        group.start { loop in
            let handler = ProxyHandler(loop: loop, config: frozenProxy, shared: shared, table: firstTable)
            let server = HTTPServer(loop: loop, config: settings.http, handler: AdminRouter(proxy: handler),
                                    wrap: settings.tlsServer.map(TLSServing.wrap))
            _ = server.listen(on: FileDescriptor(socketList[loop.index]))
            servers.withLock { $0[loop.index] = server }
            handlers.withLock { $0[loop.index] = handler }
        }
        let routing: String
        if let t = firstTable {
            routing = " routing \(t.count) channels from \(settings.channelsFile ?? "")"
        } else if let up = frozenProxy.upstream {
            routing = " → \(up.displayName)"
        } else {
            routing = " (no channels or upstream configured)"
        }
        log("listening on \(settings.tlsServer == nil ? "" : "https://")\(address) with \(settings.threads) threads\(routing)")
        if settings.authTokens.isEmpty {
            Log.warn("no client tokens configured (CCLOAD_AUTH): only loopback clients are served")
        }

        // Signals: the first SIGTERM/SIGINT drains, a second one exits at once.
        while true {
            let sig = cc_wait_signal()
            if sig == SIGHUP {
                guard let path = settings.channelsFile else {
                    log("SIGHUP: no channels file to reload")
                    continue
                }
                switch loadTable(path, shared) {
                case .success(let table):
                    group.forEach { loop in
                        handlers.withLock { $0[loop.index] }?.table = table
                    }
                    log("SIGHUP: \(table.count) channels loaded from \(path)")
                case .failure(let message):
                    log("SIGHUP: \(message); the running channels stay")
                }
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
                log("drain time is up; closing \(remaining.load(ordering: .acquiring)) loops' connections")
                break
            }
            let sig = cc_wait_signal_timeout(50)
            if sig == SIGTERM || sig == SIGINT {
                log("second signal: exiting now")
                return 1
            }
        }
        log("stopped; upstream connections opened \(UpstreamPool.openedTotal.load(ordering: .relaxed)), "
            + "pooled reuses \(UpstreamPool.reusedTotal.load(ordering: .relaxed)), "
            + "TLS handshakes full \(TLSStats.fullHandshakes) resumed \(TLSStats.resumedHandshakes)")
        return 0
    }
}
