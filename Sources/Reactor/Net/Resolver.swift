import Glibc
import CEpoll

/// Resolves host names off the reactor. `getaddrinfo` blocks, so it runs on a few
/// helper threads; answers go back to the asking loop through `loop.submit`. Results
/// are cached for `ttlNanos` (getaddrinfo does not report record TTLs), concurrent
/// asks for the same name share one lookup, and numeric IPs are answered at once.
///
/// Shared by every loop; all state sits behind one pthread mutex held for a few
/// instructions (a pthread mutex and condition variable rather than `Mutex` and a
/// semaphore: the thread sanitizer sees their happens-before edges, it does not see
/// `Synchronization.Mutex`'s futex on Linux). A reactor thread never blocks here.
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

    private struct State {
        var cache: [String: Entry] = [:]
        var pending: [String: [Waiter]] = [:]
        var queue: [(host: String, port: Int, key: String)] = []
        var threads = 0
        var idle = 0
    }

    public let ttlNanos: UInt64
    private let maxThreads: Int
    // Guarded by `mutex`; workers sleep on `queued` until `state.queue` has work.
    nonisolated(unsafe) private var state = State()
    nonisolated(unsafe) private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    nonisolated(unsafe) private let queued: UnsafeMutablePointer<pthread_cond_t>
    /// Overrides getaddrinfo (tests); nil means the system resolver.
    private let lookup: (@Sendable (String, Int) -> [SocketAddress])?

    public init(ttlNanos: UInt64 = 60 * nanosPerSecond, maxThreads: Int = 4,
                lookup: (@Sendable (String, Int) -> [SocketAddress])? = nil) {
        self.ttlNanos = ttlNanos
        self.maxThreads = max(1, maxThreads)
        self.lookup = lookup
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        queued = .allocate(capacity: 1)
        pthread_cond_init(queued, nil)
    }

    // Worker threads hold a strong reference for as long as they run (the life of the
    // process), so the lock is never destroyed under a waiting thread.
    deinit {
        pthread_cond_destroy(queued)
        queued.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func withState<R>(_ body: (inout State) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&state)
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
        enum Action { case answer([SocketAddress]), wait, start(spawn: Bool) }
        let action: Action = withState { s in
            if let e = s.cache[key] {
                if e.expires > now { return .answer(e.addresses) }
                s.cache[key] = nil
            }
            if s.pending[key] != nil {
                s.pending[key]!.append(Waiter(loop: loop, completion: completion))
                return .wait
            }
            s.pending[key] = [Waiter(loop: loop, completion: completion)]
            s.queue.append((host, port, key))
            var spawn = false
            if s.idle == 0 && s.threads < maxThreads {
                s.threads += 1
                spawn = true
            }
            return .start(spawn: spawn)
        }
        switch action {
        case .answer(let a):
            completion(.success(a))
        case .wait:
            break
        case .start(let spawn):
            if spawn { startWorker() }
            pthread_cond_signal(queued)
        }
    }

    /// Drops every cached answer.
    public func flush() {
        withState { $0.cache.removeAll() }
    }

    /// Number of cached names (for tests and metrics).
    public var cachedCount: Int { withState { $0.cache.count } }

    private func startWorker() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let resolver = Unmanaged<Resolver>.fromOpaque(arg!).takeRetainedValue()
            resolver.workerLoop()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            withState { $0.threads -= 1 }
            return
        }
        pthread_detach(tid)
    }

    private func workerLoop() {
        while true {
            pthread_mutex_lock(mutex)
            state.idle += 1
            while state.queue.isEmpty { pthread_cond_wait(queued, mutex) }
            state.idle -= 1
            let job = state.queue.removeFirst()
            pthread_mutex_unlock(mutex)
            var local: Int32 = 0
            let found = lookup?(job.host, job.port) ?? SocketAddress.resolveBlocking(host: job.host, port: job.port, localFailure: &local)
            let addresses = Resolver.ordered(found)
            let expires = monotonicNanos() &+ ttlNanos
            let waiters = withState { s -> [Waiter] in
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
