import Glibc

/// State guarded by a pthread mutex, held only for a few instructions. A pthread
/// mutex rather than `Synchronization.Mutex` because the thread sanitizer sees its
/// ordering on Linux (it does not see the futex-based `Mutex`).
public final class Lock<State>: @unchecked Sendable {
    // Guarded by `mutex`. Stored with a byte beside it: the thread sanitizer records an
    // access to a zero-sized stored property (a `Lock<Void>`) at the object's own address,
    // which every caller also reads, unlocked, to find the class's metadata, so two holders
    // of the lock in turn were reported as a race (CI, 2026-12-01; `LockTests`).
    private var storage: (state: State, nonEmpty: UInt8)
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// The state, module-internal for `WorkerThread`, whose threads hold the mutex across a
    /// step and wait on it with a condition variable. Only with the mutex held.
    var state: State {
        get { storage.state }
        _modify { yield &storage.state }
    }

    public init(_ initial: State) {
        storage = (initial, 0)
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
        return try body(&storage.state)
    }
}
