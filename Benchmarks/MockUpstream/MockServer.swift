import CEpoll
import Glibc
import Reactor
import TLS

/// Starts the mock's loops (threads are made here, not in main.swift) and waits for a signal.
enum MockServer {
    static func run(listen: String, port: Int, threads: Int, tls: TLSServerContext?) {
        cc_ignore_sigpipe()
        _ = cc_block_signals()
        guard var address = SocketAddress(ip: listen, port: port) else {
            Log.error("bad listen address \(listen)")
            exit(2)
        }
        var sockets: [Int32] = []
        do {
            let first = try Listener.openSocket(address)
            address = SocketAddress(ip: listen, port: Socket.localAddress(first.raw).port)!
            sockets.append(first.release())
            for _ in 1..<max(1, threads) { sockets.append(try Listener.openSocket(address).release()) }
        } catch {
            Log.error("\(error)")
            exit(1)
        }
        let group = LoopGroup(count: max(1, threads))
        let list = sockets
        var config = HTTPServerConfig()
        config.idleTimeoutNanos = 600 * nanosPerSecond
        let frozen = config
        group.start { loop in
            let server = HTTPServer(loop: loop, config: frozen, handler: MockHandler(loop: loop),
                                    wrap: tls.map(TLSServing.wrap))
            _ = server.listen(on: FileDescriptor(list[loop.index]))
            // The server lives as long as the loop.
            _ = Unmanaged.passRetained(server)
        }
        Log.info("ccload-mock listening on \(tls == nil ? "" : "https://")\(address)")
        while true {
            let s = cc_wait_signal()
            if s == SIGTERM || s == SIGINT { exit(0) }
        }
    }
}
