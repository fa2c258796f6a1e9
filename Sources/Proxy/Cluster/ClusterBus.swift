import Glibc
import Reactor

/// What one instance tells the others. Each topic has one owner in the proxy that publishes
/// it and applies what peers publish.
public enum ClusterTopic: String, Sendable, CaseIterable {
    /// The configuration changed (body: which part: `channels`, `tokens`, `settings`, `accounts`).
    case config
    /// A channel, key or model started cooling or recovered.
    case cooldown
    /// A conversation was placed on a channel and key.
    case affinity
    /// A token's requests, in-flight requests and spend on one instance (for shared limits).
    case limits
    /// An instance's heartbeat and what it serves (for the fleet view).
    case instance
}

/// One message from a peer.
public struct ClusterMessage: Sendable, Equatable {
    public var sender: String
    public var topic: ClusterTopic
    /// Printable text without a line break (the publisher's own encoding).
    public var body: String
}

/// How the bus reaches the other instances: PostgreSQL's `LISTEN`/`NOTIFY` in production
/// (`PGClusterTransport`), an in-process hub in tests (`LoopbackClusterHub`). Called only on
/// the bus's own thread; may block.
public protocol ClusterTransport: AnyObject, Sendable {
    /// The largest payload `send` takes, in bytes.
    var maxPayloadBytes: Int { get }
    /// Delivers `payload` to every transport of the cluster (this one included). Throws when
    /// the peers cannot be reached now.
    func send(_ payload: String) throws
    /// The payloads that arrived, waiting up to `timeoutMillis` for the first; empty when
    /// none came. Throws when the connection is lost (a later call may reconnect).
    func receive(timeoutMillis: Int32) throws -> [String]
}

/// The instances' shared channel: publishers on any thread hand it short messages (never
/// blocking; a bounded queue, drops counted), one thread of its own sends them in batches
/// and hands what peers sent to the topic's handler.
///
/// Delivery is best effort, as `NOTIFY` is: a message published while the database is
/// unreachable is kept while the queue has room, and one sent while a peer's listening
/// connection is down never reaches that peer. That is why every topic has a resync: when
/// the bus's connection comes back (and once at start), each `onResync` handler runs so its
/// owner can re-read what the database holds (the configuration, the cooldowns) or publish
/// its state again.
///
/// Wire format: one payload holds one or more lines `sender topic body`, up to the
/// transport's limit; a line that does not parse is counted and skipped.
public final class ClusterBus: Sendable {
    public typealias Handler = @Sendable (ClusterMessage) -> Void

    /// This instance's name on the bus (and in the fleet view): no spaces or line breaks.
    public let instance: String
    private let transport: any ClusterTransport
    private let worker: WorkerThread<State>
    private let handlers: Lock<[ClusterTopic: Handler]> = Lock([:])
    private let resyncs: Lock<[@Sendable () -> Void]> = Lock([])
    /// Counters for `/metrics`.
    public let counters = Counters()

    public final class Counters: Sendable {
        let values = Lock(Values())
        public struct Values: Sendable, Equatable {
            public var sent = 0
            public var received = 0
            public var dropped = 0
            public var malformed = 0
            public var sendFailures = 0
            public var receiveFailures = 0
            public var resyncs = 0
        }
        public var snapshot: Values { values.withLock { $0 } }
    }

    struct State {
        var outbound: [String] = []
        var stopping = false
        var stopped = false
    }

    /// Messages the queue holds before it drops.
    public static let queueCapacity = 4_096
    /// How long a receive waits before the thread looks at the outbound queue again: the
    /// latency a published message may have on top of the database's.
    static let pollMillis: Int32 = 50

    public init(instance: String, transport: any ClusterTransport) {
        self.instance = ClusterBus.clean(instance, allowSpaces: false)
        self.transport = transport
        worker = WorkerThread(State())
    }

    /// Registers the handler of `topic` (one per topic; before `start`). It runs on the
    /// bus's thread: keep it short, hand loop-owned work to the loops with `submit`.
    public func subscribe(_ topic: ClusterTopic, _ handler: @escaping Handler) {
        handlers.withLock { $0[topic] = handler }
    }

    /// Registers a resync (before `start`): run on the bus's thread once at start and each
    /// time the connection comes back after a failure.
    public func onResync(_ body: @escaping @Sendable () -> Void) {
        resyncs.withLock { $0.append(body) }
    }

    /// Queues `body` for every peer. Any thread; never blocks. Line breaks in `body` become
    /// spaces. Dropped (and counted) when the queue is full.
    public func publish(_ topic: ClusterTopic, _ body: String) {
        let line = "\(instance) \(topic.rawValue) \(ClusterBus.clean(body, allowSpaces: true))"
        let queued = worker.withLock { s -> Bool in
            if s.stopping || s.outbound.count >= ClusterBus.queueCapacity { return false }
            s.outbound.append(line)
            return true
        }
        if !queued { counters.values.withLock { $0.dropped += 1 } }
    }

    /// Starts the bus's thread.
    public func start() {
        let started = worker.start(next: { s -> WorkerStep<[String]?> in
            if s.stopping && s.outbound.isEmpty { s.stopped = true; return .exit }
            let out = s.outbound
            s.outbound.removeAll(keepingCapacity: true)
            return .run(out)
        }, perform: { [self] out in
            runOnce(out ?? [])
        })
        precondition(started, "cannot start the cluster bus thread")
    }

    /// Sends what is queued (one attempt), then ends the thread.
    public func stop() {
        worker.withLock { $0.stopping = true }
        worker.wakeAll()
        worker.join()
    }

    // MARK: the thread

    /// Whether the last transport call failed (the next success runs the resyncs).
    private let down = Lock(true)

    private func runOnce(_ out: [String]) {
        var failed = false
        var failure: (any Error)?
        if !out.isEmpty {
            do {
                for payload in ClusterBus.pack(out, limit: transport.maxPayloadBytes) {
                    try transport.send(payload)
                }
                counters.values.withLock { $0.sent += out.count }
            } catch {
                failed = true
                failure = error
                counters.values.withLock { $0.sendFailures += 1 }
                // Kept for the next attempt while there is room; the oldest go first.
                worker.withLock { s in
                    let room = max(0, ClusterBus.queueCapacity - s.outbound.count)
                    let kept = out.suffix(room)
                    if kept.count < out.count { self.counters.values.withLock { $0.dropped += out.count - kept.count } }
                    s.outbound.insert(contentsOf: kept, at: 0)
                }
            }
        }
        let stopping = worker.withLock { $0.stopping }
        var payloads: [String] = []
        if !failed && !stopping {
            do {
                payloads = try transport.receive(timeoutMillis: ClusterBus.pollMillis)
            } catch {
                failed = true
                failure = error
                counters.values.withLock { $0.receiveFailures += 1 }
            }
        }
        if failed {
            let wasUp = down.withLock { d in defer { d = true }; return !d }
            if wasUp, let failure {
                Log.warn("cluster: lost touch with the other instances (\((failure as? StoreError)?.message ?? "\(failure)")); serving on, retrying")
            }
            if !stopping { usleep(200_000) }
            return
        }
        if down.withLock({ d in defer { d = false }; return d }) {
            let n = counters.values.withLock { v in v.resyncs += 1; return v.resyncs }
            if n > 1 { Log.info("cluster: in touch with the other instances again; re-reading what may have changed meanwhile") }
            for r in resyncs.withLock({ $0 }) { r() }
        }
        for p in payloads { deliver(p) }
    }

    private func deliver(_ payload: String) {
        let table = handlers.withLock { $0 }
        for line in payload.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let m = ClusterBus.parse(line) else {
                counters.values.withLock { $0.malformed += 1 }
                continue
            }
            counters.values.withLock { $0.received += 1 }
            if m.sender == instance { continue }
            table[m.topic]?(m)
        }
    }

    // MARK: wire format

    /// Lines joined by line breaks into payloads of at most `limit` bytes (a longer line is
    /// dropped: publishers keep their bodies short).
    static func pack(_ lines: [String], limit: Int) -> [String] {
        var out: [String] = []
        var current = ""
        for line in lines where line.utf8.count <= limit {
            if !current.isEmpty && current.utf8.count + 1 + line.utf8.count > limit {
                out.append(current)
                current = ""
            }
            current += current.isEmpty ? line : "\n" + line
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    static func parse(_ line: Substring) -> ClusterMessage? {
        let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts[0].isEmpty, let topic = ClusterTopic(rawValue: String(parts[1])) else { return nil }
        return ClusterMessage(sender: String(parts[0]), topic: topic, body: parts.count == 3 ? String(parts[2]) : "")
    }

    /// Printable ASCII only (a control byte or line break becomes a space; without
    /// `allowSpaces`, a space becomes `_`).
    static func clean(_ text: String, allowSpaces: Bool) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if b < 0x20 || b == 0x7F { bytes.append(allowSpaces ? 0x20 : 0x5F) } else if b == 0x20 && !allowSpaces { bytes.append(0x5F) } else { bytes.append(b) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A default instance name: the host name and the process id.
    public static func defaultInstanceName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buf, buf.count) == 0 ? String(cString: buf) : "ccload"
        return "\(host)-\(getpid())"
    }
}

/// Transports in one process that all hear each other: the bus's tests, and two ccload
/// state machines side by side without a database.
public final class LoopbackClusterHub: Sendable {
    private let inboxes: Lock<[[String]]> = Lock([])

    public init() {}

    /// A new transport on this hub.
    public func transport() -> any ClusterTransport {
        let index = inboxes.withLock { i -> Int in i.append([]); return i.count - 1 }
        return Endpoint(hub: self, index: index)
    }

    /// While set, every transport of the hub fails (a database outage).
    public let failing = Lock(false)

    final class Endpoint: ClusterTransport, @unchecked Sendable {
        let hub: LoopbackClusterHub
        let index: Int
        var maxPayloadBytes: Int { 7_900 }

        init(hub: LoopbackClusterHub, index: Int) {
            self.hub = hub
            self.index = index
        }

        func send(_ payload: String) throws {
            if hub.failing.withLock({ $0 }) { throw StoreError(.unavailable, "loopback hub is failing") }
            hub.inboxes.withLock { boxes in for i in boxes.indices { boxes[i].append(payload) } }
        }

        func receive(timeoutMillis: Int32) throws -> [String] {
            let deadline = monotonicNanos() + UInt64(max(0, timeoutMillis)) * 1_000_000
            while true {
                if hub.failing.withLock({ $0 }) { throw StoreError(.unavailable, "loopback hub is failing") }
                let got = hub.inboxes.withLock { boxes -> [String] in
                    defer { boxes[index].removeAll() }
                    return boxes[index]
                }
                if !got.isEmpty || monotonicNanos() >= deadline { return got }
                usleep(2_000)
            }
        }
    }
}
