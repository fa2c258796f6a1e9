import Reactor

/// The login limit. Each source (`LoginSource`) may make `limit` failed attempts in any
/// `windowMillis`; past that every login from it is refused until the oldest leaves the
/// window. An attempt is *reserved* before its password is hashed, so parallel
/// connections cannot get more guesses than the limit between dispatch and verdict: a
/// failure keeps its reservation, a success forgets the source's attempts, an attempt
/// that was never checked is given back. At most
/// `maxInFlight` hashes run at once across all sources (each holds a thread for the
/// length of a PBKDF2); one more is refused as busy rather than queued. The table keeps
/// at most `maxSources` sources and forgets the least recently used one past that. Shared
/// by every loop; its lock is held for a few instructions.
public final class LoginLimiter: Sendable {
    public let limit: Int
    public let windowMillis: UInt64
    public let maxInFlight: Int
    public let maxSources: Int

    /// An attempt that may hash its password; hand it back to `finish` exactly once.
    public struct Ticket: Sendable {
        public let source: LoginSource
        /// When it was reserved (its entry in the source's attempts).
        let at: UInt64
    }

    /// How a reserved attempt ended.
    public enum Outcome: Sendable {
        /// Wrong password: the attempt stays counted.
        case failed
        /// Right password: every attempt of the source is forgotten.
        case succeeded
        /// The password was never checked: the attempt is given back.
        case unchecked
    }

    public enum Decision: Sendable {
        case granted(Ticket)
        /// The source used its attempts; it may try again in this many seconds.
        case limited(retryAfterSeconds: Int)
        /// `maxInFlight` hashes are running; try again in this many seconds.
        case busy(retryAfterSeconds: Int)
    }

    /// What the limiter did since start, for the metrics.
    public struct Counts: Sendable, Equatable {
        public var hashed: UInt64 = 0
        public var limited: UInt64 = 0
        public var busy: UInt64 = 0
        public var inFlight = 0
        public var sources = 0
        public var evicted: UInt64 = 0
    }

    private struct State {
        var attempts: LRUMap<LoginSource, [UInt64]>
        var counts = Counts()
    }

    private let state: Lock<State>
    private let clock: @Sendable () -> UInt64

    public init(limit: Int = 5, windowMillis: UInt64 = 60_000, maxInFlight: Int = 2, maxSources: Int = 100_000,
                clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.limit = max(1, limit)
        self.windowMillis = windowMillis
        self.maxInFlight = max(1, maxInFlight)
        self.maxSources = max(1, maxSources)
        self.clock = clock
        state = Lock(State(attempts: LRUMap(capacity: max(1, maxSources))))
    }

    /// Reserves an attempt for `source`, or says why it may not make one now.
    public func reserve(_ source: LoginSource) -> Decision {
        let now = clock()
        return state.withLock { s -> Decision in
            var list = s.attempts.touch(source) ?? []
            list.removeAll { now &- $0 >= windowMillis }
            if list.count >= limit, let oldest = list.first {
                s.attempts.set(source, list)
                s.counts.limited &+= 1
                let wait = (oldest &+ windowMillis) &- now
                return .limited(retryAfterSeconds: Int(clamping: (wait &+ 999) / 1000))
            }
            if s.counts.inFlight >= maxInFlight {
                if list.isEmpty { s.attempts.remove(source) } else { s.attempts.set(source, list) }
                s.counts.busy &+= 1
                return .busy(retryAfterSeconds: 1)
            }
            list.append(now)
            if s.attempts.set(source, list) != nil { s.counts.evicted &+= 1 }
            s.counts.inFlight += 1
            s.counts.hashed &+= 1
            return .granted(Ticket(source: source, at: now))
        }
    }

    /// How a reserved attempt ended (see `Outcome`).
    public func finish(_ ticket: Ticket, _ outcome: Outcome) {
        state.withLock { s in
            s.counts.inFlight -= 1
            switch outcome {
            case .failed:
                break
            case .succeeded:
                s.attempts.remove(ticket.source)
            case .unchecked:
                guard var list = s.attempts.touch(ticket.source) else { break }
                if let i = list.lastIndex(of: ticket.at) { list.remove(at: i) }
                if list.isEmpty { s.attempts.remove(ticket.source) } else { s.attempts.set(ticket.source, list) }
            }
        }
    }

    public var counts: Counts {
        state.withLock { s in
            var c = s.counts
            c.sources = s.attempts.count
            return c
        }
    }

    /// Sources from the most to the least recently used (tests).
    var sourcesByRecency: [LoginSource] { state.withLock { $0.attempts.keysByRecency } }
}
