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
    }

    /// Seconds past the planned end after which the process kills itself, whatever happens.
    static let hardCapSeconds: UInt64 = 15

    static func execute(_ s: Settings) -> RunStats {
        signal(SIGPIPE, SIG_IGN)
        let total = (s.warmupNanos + s.durationNanos) / nanosPerSecond
        // Hard cap: SIGALRM's default action ends the process if a loop never stops.
        alarm(UInt32(total + hardCapSeconds))

        let start = monotonicNanos() + 20 * nanosPerMilli
        let plan = RunPlan(
            addresses: s.addresses, request: s.request, connections: s.connections, threads: s.threads,
            rate: s.rate, start: start, measureStart: start + s.warmupNanos,
            measureEnd: start + s.warmupNanos + s.durationNanos, rampNanos: s.rampNanos,
            timeoutNanos: s.timeoutNanos, connectTimeoutNanos: s.connectTimeoutNanos)

        let group = LoopGroup(count: s.threads)
        let workers = Mutex<[Worker?]>(Array(repeating: nil, count: s.threads))
        group.start { loop in
            let w = Worker(loop: loop, plan: plan)
            workers.withLock { $0[loop.index] = w }
            w.start()
        }
        sleep(until: plan.measureEnd)
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
        return merged
    }

    private static func sleep(until deadline: UInt64) {
        while true {
            let now = monotonicNanos()
            if now >= deadline { return }
            let left = deadline - now
            var ts = timespec(tv_sec: Int(left / nanosPerSecond), tv_nsec: Int(left % nanosPerSecond))
            _ = nanosleep(&ts, nil)
        }
    }
}
