import Glibc
import CEpoll

/// Resolves host names off the reactor. `getaddrinfo` blocks, so it runs on a few
/// helper threads; answers go back to the asking loop through `loop.submit`. Results
/// are cached for `ttlNanos` (getaddrinfo does not report record TTLs), concurrent
/// asks for the same name share one lookup, and numeric IPs are answered at once.
///
/// Shared by every loop; all state sits in one `WorkerThread`, whose lock is held for a
/// few instructions; the lookup threads (at most `maxThreads`, started as demand needs
/// them and never ended) sleep on it until a name is queued. A reactor thread never
/// blocks here.
public final class Resolver: Sendable {
    public typealias Completion = @Sendable (Result<[SocketAddress], TransportError>) -> Void

    public static let shared = Resolver()

    private struct Waiter {
        let loop: Loop
        let completion: Completion
    }

    private struct Entry {
        let addresses: [SocketAddress]
        let expires: UInt64
    }

    private struct Lookup {
        let host: String
        let port: Int
        let key: String
    }

    private struct State {
        var cache: [String: Entry] = [:]
        var pending: [String: [Waiter]] = [:]
        var queue = JobQueue<Lookup>()
    }

    public let ttlNanos: UInt64
    private let maxThreads: Int
    private let worker = WorkerThread(State())
    /// Overrides getaddrinfo (tests); nil means the system resolver.
    private let lookup: (@Sendable (String, Int) -> [SocketAddress])?

    public init(ttlNanos: UInt64 = 60 * nanosPerSecond, maxThreads: Int = 4,
                lookup: (@Sendable (String, Int) -> [SocketAddress])? = nil) {
        self.ttlNanos = ttlNanos
        self.maxThreads = max(1, maxThreads)
        self.lookup = lookup
    }

    /// Resolves `host` to IPv4 and IPv6 addresses with `port`. Numeric IPs and cache
    /// hits complete at once, inside this call; a lookup completes later on `loop`.
    /// An empty answer is reported as `.resolve("cannot resolve <host>")`.
    public func resolve(host: String, port: Int, on loop: Loop, completion: @escaping Completion) {
        if let a = SocketAddress(ip: host, port: port) {
            completion(.success([a]))
            return
        }
        let key = "\(host.lowercased())|\(port)"
        let now = monotonicNanos()
        enum Action { case answer([SocketAddress]), wait, start }
        let action: Action = worker.withLock { s in
            if let e = s.cache[key] {
                if e.expires > now { return .answer(e.addresses) }
                s.cache[key] = nil
            }
            if s.pending[key] != nil {
                s.pending[key]!.append(Waiter(loop: loop, completion: completion))
                return .wait
            }
            s.pending[key] = [Waiter(loop: loop, completion: completion)]
            s.queue.append(Lookup(host: host, port: port, key: key))
            return .start
        }
        switch action {
        case .answer(let a):
            completion(.success(a))
        case .wait:
            break
        case .start:
            // A sleeping thread takes it; with none asleep, a new one (up to `maxThreads`).
            worker.startIfNoneSleeping(limit: maxThreads, next: { $0.queue.nextStep() }, perform: { self.run($0) })
            worker.wakeOne()
        }
    }

    /// Drops every cached answer.
    public func flush() {
        worker.withLock { $0.cache.removeAll() }
    }

    /// Number of cached names (for tests and metrics).
    public var cachedCount: Int { worker.withLock { $0.cache.count } }

    /// One lookup, on a lookup thread.
    private func run(_ job: Lookup) {
        var local: Int32 = 0
        let found = lookup?(job.host, job.port) ?? SocketAddress.resolveBlocking(host: job.host, port: job.port, localFailure: &local)
        let addresses = Resolver.ordered(found)
        let expires = monotonicNanos() &+ ttlNanos
        let waiters = worker.withLock { s -> [Waiter] in
            if !addresses.isEmpty { s.cache[job.key] = Entry(addresses: addresses, expires: expires) }
            return s.pending.removeValue(forKey: job.key) ?? []
        }
        let result: Result<[SocketAddress], TransportError> =
            addresses.isEmpty ? .failure(local != 0 ? .local(local) : .resolve("cannot resolve \(job.host)")) : .success(addresses)
        for w in waiters {
            let c = w.completion
            w.loop.submit { c(result) }
        }
    }

    /// Removes duplicates (getaddrinfo may list an address once per socket type) and
    /// interleaves families so a dead IPv6 route costs one attempt, not all of them.
    static func ordered(_ list: [SocketAddress]) -> [SocketAddress] {
        var seen = Set<String>()
        var v4: [SocketAddress] = [], v6: [SocketAddress] = []
        for a in list where seen.insert(a.description).inserted {
            if a.family == AF_INET6 { v6.append(a) } else { v4.append(a) }
        }
        let firstIsV6 = list.first.map { $0.family == AF_INET6 } ?? false
        var (a, b) = firstIsV6 ? (v6[...], v4[...]) : (v4[...], v6[...])
        var out: [SocketAddress] = []
        out.reserveCapacity(v4.count + v6.count)
        while !a.isEmpty || !b.isEmpty {
            if let x = a.popFirst() { out.append(x) }
            if let y = b.popFirst() { out.append(y) }
        }
        return out
    }
}
