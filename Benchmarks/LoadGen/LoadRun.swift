import CEpoll
import Glibc
import Reactor
import Synchronization

/// Runs the loops for one bounded run and merges what they measured.
/// Not main-actor isolated: threads are created from here (see DESIGN.md).
enum LoadRun {
    struct Settings: Sendable {
        var addresses: [SocketAddress]
        var request: RequestTemplate
        var connections: Int
        var threads: Int
        var rate: Double
        var warmupNanos: UInt64
        var durationNanos: UInt64
        var rampNanos: UInt64
        var timeoutNanos: UInt64
        var connectTimeoutNanos: UInt64
        var firstMatch: [UInt8]?
    }

    /// Seconds past the planned end after which the process kills itself, whatever happens.
    static let hardCapSeconds: UInt64 = 15

    /// Runs the load and returns what was measured and over how many seconds (shorter
    /// than planned when SIGINT or SIGTERM ends the run early).
    static func execute(_ s: Settings) -> (RunStats, Double) {
        signal(SIGPIPE, SIG_IGN)
        // SIGINT/SIGTERM end the run early, with a report; only this thread takes them.
        _ = cc_block_signals()
        let total = (s.warmupNanos + s.durationNanos) / nanosPerSecond
        // Hard cap: SIGALRM's default action ends the process if a loop never stops.
        alarm(UInt32(total + hardCapSeconds))

        let start = monotonicNanos() + 20 * nanosPerMilli
        let plan = RunPlan(
            addresses: s.addresses, request: s.request, connections: s.connections, threads: s.threads,
            rate: s.rate, start: start, measureStart: start + s.warmupNanos,
            measureEnd: start + s.warmupNanos + s.durationNanos, rampNanos: s.rampNanos,
            timeoutNanos: s.timeoutNanos, connectTimeoutNanos: s.connectTimeoutNanos,
            firstMatch: s.firstMatch)

        let group = LoopGroup(count: s.threads)
        let workers = Mutex<[Worker?]>(Array(repeating: nil, count: s.threads))
        group.start { loop in
            let w = Worker(loop: loop, plan: plan)
            workers.withLock { $0[loop.index] = w }
            w.start()
        }
        let stoppedAt = sleep(until: plan.measureEnd)
        let measured = stoppedAt > plan.measureStart ? Double(stoppedAt - plan.measureStart) / 1e9 : 0
        group.forEach { loop in
            let w = workers.withLock { $0[loop.index] }
            w?.finish()
        }
        group.stopAndJoin()

        var merged = RunStats()
        for w in workers.withLock({ $0 }) {
            if let w { merged.merge(w.stats) }
        }
        alarm(0)
        return (merged, measured)
    }

    /// Waits until `deadline` or a stop signal, whichever comes first; returns the time.
    private static func sleep(until deadline: UInt64) -> UInt64 {
        while true {
            let now = monotonicNanos()
            if now >= deadline { return deadline }
            let ms = Int32(min((deadline - now) / nanosPerMilli + 1, 1000))
            let sig = cc_wait_signal_timeout(ms)
            if sig == SIGINT || sig == SIGTERM { return min(monotonicNanos(), deadline) }
        }
    }
}
