import Reactor

/// Watches an upstream response once its head is in: no byte for `idleNanos` is a stall,
/// and (when `keepAliveOnlyNanos` is not 0) so is a stream that sends nothing but
/// keep-alives (`: comment` lines, `event: ping`) for that long. Noting a read is one
/// store; the owner's loop timer moves only when it fires (`check`). While the client is
/// congested the upstream is not read, so that time never counts: the client side has
/// its own write-progress timeout. Owner: one request on one loop.
struct StallWatch {
    /// What `check` found.
    enum Verdict: Equatable {
        /// Nothing stalled: look again at this deadline.
        case wait(until: UInt64)
        /// No byte within the idle timeout.
        case idle
        /// Only keep-alives within the keep-alive timeout.
        case keepAliveOnly
    }

    let idleNanos: UInt64
    let keepAliveOnlyNanos: UInt64
    private var lastRead: UInt64 = 0
    private var lastContent: UInt64 = 0
    /// Splits the stream into events, only while keep-alives are watched.
    private var events: SSEScanner?

    init(idleNanos: UInt64, keepAliveOnlyNanos: UInt64) {
        self.idleNanos = idleNanos
        self.keepAliveOnlyNanos = keepAliveOnlyNanos
    }

    /// The head arrived at `now`; `eventStream` turns on the keep-alive check (if set).
    /// Returns the first deadline to arm.
    mutating func start(now: UInt64, eventStream: Bool) -> UInt64 {
        lastRead = now
        lastContent = now
        events = eventStream && keepAliveOnlyNanos > 0 ? SSEScanner(maxEventBytes: 64 * 1024) : nil
        return nextDeadline
    }

    /// Bytes arrived (or reading resumed) at `now`.
    @inline(__always) mutating func read(now: UInt64) { lastRead = now }

    /// De-chunked body bytes: with the keep-alive check on, an event other than a ping
    /// counts as content.
    mutating func data(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        guard events != nil else { return }
        var content = false
        events!.feed(bytes) { event in
            if !StallWatch.isKeepAlive(event) { content = true }
        }
        if content { lastContent = now }
    }

    private var nextDeadline: UInt64 {
        var d = Saturating.add(lastRead, idleNanos)
        if events != nil { d = min(d, Saturating.add(lastContent, keepAliveOnlyNanos)) }
        return d
    }

    /// At a timer: stalled or not, and if not, when to look again. `paused` (the upstream
    /// is not being read because the client is congested) defers the verdict.
    mutating func check(now: UInt64, paused: Bool) -> Verdict {
        if paused {
            lastRead = now
            lastContent = now
            return .wait(until: nextDeadline)
        }
        if now &- lastRead >= idleNanos { return .idle }
        if events != nil && now &- lastContent >= keepAliveOnlyNanos { return .keepAliveOnly }
        return .wait(until: nextDeadline)
    }

    /// What the record and the client's error event say about a stall.
    func describe(_ verdict: Verdict) -> String {
        switch verdict {
        case .keepAliveOnly:
            return "upstream stream stalled: only keep-alives for \(formatSeconds(keepAliveOnlyNanos))"
        default:
            return "upstream stream stalled: no data for \(formatSeconds(idleNanos))"
        }
    }

    /// `event: ping` (Anthropic), an event with no data, or one whose data is `{"type":"ping"}`.
    static func isKeepAlive(_ e: SSEEvent) -> Bool {
        if e.isTooLarge { return false }
        if e.data.isEmpty { return true }
        return e.data.withUnsafeBytes { ASCII.equals(ProtocolRules.eventType(e, $0), "ping") }
    }
}
