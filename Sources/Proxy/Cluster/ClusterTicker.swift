import Reactor

/// A thread that calls `tick` every `intervalNanos` (monotonic time) until `stop`: the
/// clock of the cluster's publishers (`LimitSync`, `FleetView`), which publish on their
/// own schedule whether or not a message arrives.
final class ClusterTicker: Sendable {
    private struct State {
        var next: UInt64 = 0
        var stopping = false
    }

    private let worker = WorkerThread(State())
    private let intervalNanos: UInt64
    private let tick: @Sendable (UInt64) -> Void

    init(intervalNanos: UInt64, tick: @escaping @Sendable (UInt64) -> Void) {
        self.intervalNanos = intervalNanos
        self.tick = tick
    }

    func start() {
        let interval = intervalNanos
        let started = worker.start(next: { s -> WorkerStep<UInt64> in
            if s.stopping { return .exit }
            let now = monotonicNanos()
            if now < s.next { return .wait(until: s.next) }
            s.next = now + interval
            return .run(now)
        }, perform: { [tick] now in tick(now) })
        precondition(started, "cannot start a cluster ticker thread")
    }

    /// Ends the thread (after the tick it may be running).
    func stop() {
        worker.withLock { $0.stopping = true }
        worker.wakeAll()
        worker.join()
    }
}
