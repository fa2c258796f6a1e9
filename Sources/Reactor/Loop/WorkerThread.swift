import Glibc

/// What a worker thread does next, decided under the worker's lock from its state.
public enum WorkerStep<Work> {
    /// Run `work` with the lock released, then decide again.
    case run(Work)
    /// Sleep until woken (`wakeOne`, `wakeAll`) or, when a deadline is given, until then
    /// (`monotonicNanos()` time; one in the past returns at once), then decide again. A
    /// spurious wake-up also decides again, so the state, not the wake-up, says what to do.
    case wait(until: UInt64?)
    /// End the thread (it decides nothing more).
    case exit
}

/// State guarded by a pthread mutex, and the threads that sleep on its condition variable
/// until the state has work for them: the one wait loop behind ccload's blocking workers
/// (the store's writer and readers, the resolver).
///
/// A worker thread holds the lock only while its `next` looks at the state and picks a
/// `WorkerStep`; it runs the work with the lock released. Other threads change the state
/// with `withLock` and then call `wakeOne` or `wakeAll` (a change made under the lock is
/// never missed: a thread either sees it in `next` or is already asleep and gets the
/// wake-up). `waitUntil` blocks a caller until the state says its work is done; it is
/// re-checked each time a worker finishes a step, goes to sleep or ends. Who decides when
/// a thread ends, and whether queued work is drained or dropped first, is the state's
/// `next` (see `JobQueue.nextStep` for the drain-then-end case).
///
/// A pthread mutex and condition variables (like `Lock`) because the thread sanitizer
/// sees their ordering on Linux; the condition variables run on `CLOCK_MONOTONIC`, so a
/// timed wait is not moved by a wall-clock change. Never call the blocking methods
/// (`waitUntil`, `join`) on a reactor thread.
public final class WorkerThread<State>: @unchecked Sendable {
    /// The state and its mutex.
    private let lock: Lock<State>
    private var mutex: UnsafeMutablePointer<pthread_mutex_t> { lock.mutex }
    /// Worker threads sleep here.
    private let work: UnsafeMutablePointer<pthread_cond_t>
    /// `waitUntil` callers sleep here.
    private let progress: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`.
    private var joinable: [pthread_t] = []
    private var running = 0
    private var sleeping = 0
    private var progressWaiters = 0

    public init(_ initial: State) {
        lock = Lock(initial)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        work = .allocate(capacity: 1)
        pthread_cond_init(work, &attr)
        progress = .allocate(capacity: 1)
        pthread_cond_init(progress, &attr)
        pthread_condattr_destroy(&attr)
    }

    // A running thread holds a strong reference (through its start box), so the lock is
    // never destroyed under a waiting thread.
    deinit {
        pthread_cond_destroy(progress)
        progress.deallocate()
        pthread_cond_destroy(work)
        work.deallocate()
    }

    /// Runs `body` on the state, holding the lock. Keep it to a few instructions; wake a
    /// worker afterwards if the change gives it work.
    @inline(__always)
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        try lock.withLock(body)
    }

    /// Wakes one sleeping worker thread (none sleeping: nothing happens).
    public func wakeOne() { pthread_cond_signal(work) }

    /// Wakes every sleeping worker thread.
    public func wakeAll() { pthread_cond_broadcast(work) }

    /// Blocks until `done` holds for the state (checked at once, then after each step a
    /// worker thread takes). Returns at once when it already holds. `done` should also
    /// hold once the workers have ended, or this waits for ever.
    public func waitUntil(_ done: (State) -> Bool) {
        pthread_mutex_lock(mutex)
        progressWaiters += 1
        while !done(lock.state) { pthread_cond_wait(progress, mutex) }
        progressWaiters -= 1
        pthread_mutex_unlock(mutex)
    }

    /// Threads started and not yet ended.
    public var threadCount: Int { withLock { _ in running } }

    /// Threads asleep in a `.wait` step.
    public var sleepingCount: Int { withLock { _ in sleeping } }

    /// Starts a thread that repeats: `next(&state)` under the lock, then the step it picked
    /// (`perform(work)` without the lock, a sleep, or the end). A joinable thread is waited
    /// for by `join`; a detached one is never waited for. Returns false (no thread) when
    /// the system refuses one.
    @discardableResult
    public func start<Work>(detached: Bool = false, next: @escaping @Sendable (inout State) -> WorkerStep<Work>,
                            perform: @escaping @Sendable (Work) -> Void) -> Bool {
        withLock { _ in running += 1 }
        return spawn(detached: detached, next: next, perform: perform)
    }

    /// Starts a thread (as `start`, detached) only when no worker is asleep and fewer than
    /// `limit` are running, so a pool grows with demand up to `limit`. The check and the
    /// count are one step under the lock: two callers never both pass for the last place.
    /// Returns whether it started one.
    @discardableResult
    public func startIfNoneSleeping<Work>(limit: Int, next: @escaping @Sendable (inout State) -> WorkerStep<Work>,
                                          perform: @escaping @Sendable (Work) -> Void) -> Bool {
        let go = withLock { _ -> Bool in
            guard sleeping == 0 && running < limit else { return false }
            running += 1
            return true
        }
        return go && spawn(detached: true, next: next, perform: perform)
    }

    /// Waits for every joinable thread started so far to end. The state must already be
    /// telling them to (`next` returns `.exit`); wake them first (`wakeAll`). Not while
    /// another thread is still starting threads.
    public func join() {
        let threads = withLock { _ -> [pthread_t] in
            defer { joinable.removeAll() }
            return joinable
        }
        for t in threads { pthread_join(t, nil) }
    }

    // MARK: the thread

    private func spawn<Work>(detached: Bool, next: @escaping @Sendable (inout State) -> WorkerStep<Work>,
                             perform: @escaping @Sendable (Work) -> Void) -> Bool {
        let box = Unmanaged.passRetained(WorkerStart(worker: self, next: next, perform: perform))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let start = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! WorkerRun
            start.run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            withLock { _ in running -= 1 }
        } else if detached {
            pthread_detach(tid)
        } else {
            withLock { _ in joinable.append(tid) }
        }
        return rc == 0
    }

    fileprivate func loop<Work>(_ next: (inout State) -> WorkerStep<Work>, _ perform: (Work) -> Void) {
        pthread_mutex_lock(mutex)
        while true {
            switch next(&lock.state) {
            case .run(let w):
                pthread_mutex_unlock(mutex)
                perform(w)
                pthread_mutex_lock(mutex)
                if progressWaiters > 0 { pthread_cond_broadcast(progress) }
            case .wait(let deadline):
                if progressWaiters > 0 { pthread_cond_broadcast(progress) }
                sleeping += 1
                if let deadline { timedWait(until: deadline) } else { pthread_cond_wait(work, mutex) }
                sleeping -= 1
            case .exit:
                running -= 1
                pthread_cond_broadcast(progress)
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    /// Under the mutex.
    private func timedWait(until deadline: UInt64) {
        var ts = timespec()
        ts.tv_sec = Int(deadline / 1_000_000_000)
        ts.tv_nsec = Int(deadline % 1_000_000_000)
        pthread_cond_timedwait(work, mutex, &ts)
    }
}

/// A thread's start: erased so the C entry point needs no generic parameters.
private protocol WorkerRun: AnyObject {
    func run()
}

private final class WorkerStart<State, Work>: WorkerRun, @unchecked Sendable {
    let worker: WorkerThread<State>
    let next: @Sendable (inout State) -> WorkerStep<Work>
    let perform: @Sendable (Work) -> Void

    init(worker: WorkerThread<State>, next: @escaping @Sendable (inout State) -> WorkerStep<Work>,
         perform: @escaping @Sendable (Work) -> Void) {
        self.worker = worker
        self.next = next
        self.perform = perform
    }

    func run() { worker.loop(next, perform) }
}
