import Reactor

/// A part of the configuration that is reloaded on its own (`ControlPlane.reload…`).
public enum ConfigPart: String, Sendable, CaseIterable {
    case channels
    case tokens
    case settings
    /// The signed-in accounts (and the channel table, whose routing depends on them).
    case accounts
}

/// The `config` topic's body: `1 <part>` (version 1, then the part that changed).
enum ConfigWire {
    static func encode(_ part: ConfigPart) -> String { "1 \(part.rawValue)" }

    static func parse(_ body: Substring) -> ConfigPart? {
        guard var f = ClusterFields(body, maxBytes: 32), f.literal("1"), let w = f.word(), f.atEnd else { return nil }
        return ConfigPart(rawValue: w)
    }
}

/// Keeps this instance's configuration in step with the other instances on the same
/// database: after a local reload (`ControlPlane.onChange`) it publishes `config <part>`;
/// a peer's message makes it reload that part from the store (with `announce: false`, so the
/// change is not sent back). At the bus's resync (start, and after each outage) and every
/// `rereadNanos` as a safety net, it reloads everything.
///
/// Reloads run on a thread of its own (they read the database): messages that arrive within
/// `coalesceNanos` of the first become one reload per part.
public final class ConfigSync: Sendable {
    private let control: ControlPlane
    private let bus: ClusterBus
    private let rereadNanos: UInt64
    private let coalesceNanos: UInt64
    private let worker: WorkerThread<State>
    /// Counters for `/metrics` and the tests.
    public let counters = Lock(Counters())

    public struct Counters: Sendable, Equatable {
        /// Peers' messages applied (each part they named was reloaded, or is about to be).
        public var received = 0
        /// Peers' messages that did not parse (ignored).
        public var malformed = 0
        /// Reloads run (one per part; a full reload counts each part).
        public var reloads = 0
        /// Reloads that failed (the running configuration stays).
        public var reloadFailures = 0
        /// Full reloads (resyncs and the periodic re-read).
        public var fullReloads = 0
    }

    struct State {
        var pending: Set<ConfigPart> = []
        /// Whether the pending reload is a resync's (every part).
        var pendingFull = false
        var dueAt: UInt64 = 0
        var nextReread: UInt64 = .max
        var started = false
        var stopping = false
    }

    enum Work {
        case parts(Set<ConfigPart>, full: Bool)
    }

    /// Subscribes to the bus and to the control plane's changes: before `bus.start()`.
    public init(control: ControlPlane, bus: ClusterBus, rereadNanos: UInt64 = 30 * nanosPerSecond,
                coalesceNanos: UInt64 = 50 * nanosPerMilli) {
        self.control = control
        self.bus = bus
        self.rereadNanos = max(rereadNanos, nanosPerMilli)
        self.coalesceNanos = coalesceNanos
        worker = WorkerThread(State())
        control.onChange { [bus] part in bus.publish(.config, ConfigWire.encode(part)) }
        bus.subscribe(.config) { [weak self] m in self?.heard(m.body) }
        bus.onResync { [weak self] in self?.schedule(Set(ConfigPart.allCases), full: true) }
    }

    /// Starts the reload thread (the periodic re-read's first is `rereadNanos` from now).
    public func start() {
        let period = rereadNanos
        let started = worker.withLock { s -> Bool in
            guard !s.started else { return false }
            s.started = true
            s.nextReread = Saturating.add(monotonicNanos(), period)
            return true
        }
        guard started else { return }
        let ok = worker.start(next: { s -> WorkerStep<Work> in
            if s.stopping { return .exit }
            let now = monotonicNanos()
            if now >= s.nextReread {
                s.nextReread = Saturating.add(now, period)
                s.pending = []
                s.pendingFull = false
                return .run(.parts(Set(ConfigPart.allCases), full: true))
            }
            if !s.pending.isEmpty && now >= s.dueAt {
                let parts = s.pending
                let full = s.pendingFull
                s.pending = []
                s.pendingFull = false
                return .run(.parts(parts, full: full))
            }
            return .wait(until: s.pending.isEmpty ? s.nextReread : min(s.dueAt, s.nextReread))
        }, perform: { [self] work in
            switch work {
            case .parts(let parts, let full): reload(parts, full: full)
            }
        })
        precondition(ok, "cannot start the configuration sync thread")
    }

    /// Ends the reload thread (a reload under way finishes first).
    public func stop() {
        worker.withLock { $0.stopping = true }
        worker.wakeAll()
        worker.join()
    }

    private func heard(_ body: String) {
        guard let part = ConfigWire.parse(body[...]) else {
            counters.withLock { $0.malformed += 1 }
            return
        }
        counters.withLock { $0.received += 1 }
        schedule([part], full: false)
    }

    /// Marks `parts` for a reload `coalesceNanos` after the first of them (at once for a
    /// full reload).
    private func schedule(_ parts: Set<ConfigPart>, full: Bool) {
        let delay = full ? 0 : coalesceNanos
        worker.withLock { s in
            if s.pending.isEmpty { s.dueAt = Saturating.add(monotonicNanos(), delay) }
            if full {
                s.dueAt = min(s.dueAt, monotonicNanos())
                s.pendingFull = true
            }
            s.pending.formUnion(parts)
        }
        worker.wakeAll()
    }

    /// How long a part whose reload failed waits before it is tried again (the database may
    /// be back by then: the first use of each connection after a server restart fails).
    static let retryNanos: UInt64 = nanosPerSecond

    /// Parts whose last reload failed (logged once per streak). Reload thread only.
    private let failing = Lock<Set<ConfigPart>>([])

    private func reload(_ parts: Set<ConfigPart>, full: Bool) {
        var failures = 0
        var failed: Set<ConfigPart> = []
        // Accounts reload the table too; channels alone then need no second pass.
        let channelsToo = parts.contains(.accounts)
        for part in ConfigPart.allCases where parts.contains(part) {
            do {
                switch part {
                case .channels: if !channelsToo { try control.reloadChannels(announce: false) }
                case .tokens: try control.reloadTokens(announce: false)
                case .settings: try control.reloadSettings(announce: false)
                case .accounts: try control.reloadAccounts(channels: true, announce: false)
                }
            } catch {
                failures += 1
                failed.insert(part)
                if !failing.withLock({ $0.contains(part) }) {
                    Log.warn("cluster: reloading \(part.rawValue) failed (\(error.message)); trying again every second, serving what is in force meanwhile")
                }
            }
        }
        let recovered = failing.withLock { f -> Set<ConfigPart> in
            let back = f.intersection(parts).subtracting(failed)
            f.subtract(back)
            f.formUnion(failed)
            return back
        }
        if !recovered.isEmpty {
            Log.info("cluster: reloaded \(recovered.map(\.rawValue).sorted().joined(separator: ", ")) again")
        }
        if !failed.isEmpty {
            worker.withLock { s in
                let due = Saturating.add(monotonicNanos(), ConfigSync.retryNanos)
                s.dueAt = s.pending.isEmpty ? due : min(s.dueAt, due)
                s.pending.formUnion(failed)
            }
            worker.wakeAll()
        }
        counters.withLock { c in
            c.reloads += parts.count
            c.reloadFailures += failures
            if full { c.fullReloads += 1 }
        }
    }
}
