import Glibc

/// State guarded by a pthread mutex, held only for a few instructions. A pthread
/// mutex rather than `Synchronization.Mutex` because the thread sanitizer sees its
/// ordering on Linux (it does not see the futex-based `Mutex`).
public final class Lock<State>: @unchecked Sendable {
    // Guarded by `mutex`. Module-internal for `WorkerThread`, whose threads hold the mutex
    // across a step and wait on it with a condition variable.
    var state: State
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ initial: State) {
        state = initial
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
