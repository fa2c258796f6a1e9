import CEpoll
import Glibc
import Reactor

/// One loop's share of the load: its connections, its open-loop schedule (a timerfd,
/// for sub-millisecond send times) and its statistics. Owner: that loop's thread.
final class Worker: LoopHandler, TimerTarget, @unchecked Sendable {
    let loop: Loop
    let plan: RunPlan
    let openLoop: Bool
    var stats = RunStats()
    private(set) var stopping = false
    private var connections: [LoadConnection] = []

    private lazy var sweepTimer = LoopTimer(target: self, tag: 1)
    private lazy var rampTimer = LoopTimer(target: self, tag: 2)
    private var rampNext = 0
    private let sweepNanos: UInt64 = 50 * nanosPerMilli

    /// Open loop: tick k is due at scheduleBase + k * interval and goes to connection k % n.
    private var timerFd: Int32 = -1
    private var interval: Double = 0
    private var scheduleBase: UInt64 = 0
    private var tick = 0

    init(loop: Loop, plan: RunPlan) {
        self.loop = loop
        self.plan = plan
        self.openLoop = plan.rate > 0
    }

    @inline(__always) func inWindow(_ t: UInt64) -> Bool {
        t >= plan.measureStart && t <= plan.measureEnd
    }

    func countConnectError() {
        if inWindow(monotonicNanos()) { stats.connectErrors += 1 }
    }

    func start() {
        let range = plan.connectionRange(loop: loop.index)
        connections = range.map { LoadConnection(worker: self, index: $0) }
        guard !connections.isEmpty else { return }
        if openLoop {
            let share = plan.rate * Double(connections.count) / Double(plan.connections)
            interval = 1e9 / share
            // Stagger the loops so their ticks interleave instead of coinciding.
            scheduleBase = plan.start &+ UInt64(interval * Double(loop.index) / Double(plan.threads))
            timerFd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
            precondition(timerFd >= 0, "timerfd_create failed")
            loop.register(timerFd, self, Interest.read)
            armSchedule(at: scheduleBase)
        }
        openDueConnections()
        loop.arm(sweepTimer, afterNanos: sweepNanos)
    }

    /// Opens the connections whose ramp slot has come; all at once when there is no ramp.
    private func openDueConnections() {
        let now = monotonicNanos()
        while rampNext < connections.count {
            let c = connections[rampNext]
            if plan.rampNanos > 0 {
                let at = plan.start &+ UInt64(Double(plan.rampNanos) * Double(c.index) / Double(plan.connections))
                if at > now { loop.arm(rampTimer, afterNanos: min(at - now, nanosPerMilli)); return }
            }
            rampNext += 1
            c.connect()
        }
    }

    // MARK: open-loop schedule

    private func armSchedule(at deadline: UInt64) {
        var spec = itimerspec()
        spec.it_value.tv_sec = Int(deadline / nanosPerSecond)
        spec.it_value.tv_nsec = Int(deadline % nanosPerSecond)
        _ = timerfd_settime(timerFd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
    }

    @inline(__always) private func tickTime(_ k: Int) -> UInt64 {
        scheduleBase &+ UInt64(interval * Double(k))
    }

    func handleEvents(_ events: UInt32) {
        var expirations: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &expirations) { Glibc.read(timerFd, $0.baseAddress, 8) }
        guard !stopping else { return }
        let now = monotonicNanos()
        let n = connections.count
        while true {
            let t = tickTime(tick)
            if t > plan.measureEnd { return }
            if t > now { armSchedule(at: t); return }
            connections[tick % n].schedule(t)
            tick += 1
        }
    }

    // MARK: timers

    func timerFired(_ timer: LoopTimer) {
        if timer.tag == 2 { openDueConnections(); return }
        guard !stopping else { return }
        let now = monotonicNanos()
        for c in connections where c.busy && now &- c.sentAt > plan.timeoutNanos {
            c.timeOut()
        }
        loop.arm(sweepTimer, afterNanos: sweepNanos)
    }

    // MARK: the end

    /// Stops sending, counts what is still out, and closes every connection.
    func finish() {
        guard !stopping else { return }
        stopping = true
        for c in connections where c.busy {
            stats.inflightAtEnd += 1
            if c.gotHead { stats.openStreamsAtEnd += 1 }
        }
        for c in connections { c.shutDown() }
        loop.disarm(sweepTimer)
        loop.disarm(rampTimer)
        if timerFd >= 0 {
            loop.deregister(timerFd)
            _ = Glibc.close(timerFd)
            timerFd = -1
        }
    }
}
