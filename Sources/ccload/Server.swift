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

    static func run(_ settings: Settings) -> Int32 {
        cc_ignore_sigpipe()
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
        let group = LoopGroup(count: settings.threads)
        let servers = Lock<[HTTPServer?]>(Array(repeating: nil, count: settings.threads))
        let socketList = sockets
        group.start { loop in
            let handler = ProxyHandler(loop: loop, config: frozenProxy)
            let server = HTTPServer(loop: loop, config: settings.http, handler: handler,
                                    wrap: settings.tlsServer.map(TLSServing.wrap))
            _ = server.listen(on: FileDescriptor(socketList[loop.index]))
            servers.withLock { $0[loop.index] = server }
        }
        let upstreamText = frozenProxy.upstream.map { " → \($0.displayName)" } ?? " (no upstream configured)"
        log("listening on \(settings.tlsServer == nil ? "" : "https://")\(address) with \(settings.threads) threads\(upstreamText)")

        // Signals: the first SIGTERM/SIGINT drains, a second one exits at once.
        while true {
            let sig = cc_wait_signal()
            if sig == SIGHUP {
                log("SIGHUP: nothing to reload yet")
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
        log("stopped")
        return 0
    }
}
