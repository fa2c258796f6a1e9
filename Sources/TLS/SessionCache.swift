import Glibc
import CEpoll

/// The client's TLS sessions, one per origin ("host:port"), shared by every loop.
/// Guarded by a pthread mutex held for a dictionary operation (a pthread mutex so the
/// thread sanitizer sees the ordering; it does not see `Synchronization.Mutex` on Linux).
final class SessionCache: @unchecked Sendable {
    private var sessions: [String: SessionRef] = [:]  // guarded by `mutex`
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        sessions.removeAll()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    private func locked<R>(_ body: (inout [String: SessionRef]) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&sessions)
    }

    /// Takes ownership of one reference to `session` as the latest for `origin`.
    func store(_ session: OpaquePointer, origin: String) {
        let ref = SessionRef(owning: session)
        let old = locked { $0.updateValue(ref, forKey: origin) }
        _ = old  // the replaced session is released outside the lock
    }

    /// Puts the cached session for `origin` on `ssl`, if any. Returns whether it did.
    func apply(to ssl: OpaquePointer, origin: String) -> Bool {
        guard let ref = locked({ $0[origin] }) else { return false }
        // SSL_set_session takes its own reference; `ref` keeps ours alive until then.
        return SSL_set_session(ssl, ref.session) == 1
    }

    func remove(origin: String) {
        let old = locked { $0.removeValue(forKey: origin) }
        _ = old
    }

    var count: Int { locked { $0.count } }
}

/// One owned reference to an SSL_SESSION, released when the last holder goes.
final class SessionRef: @unchecked Sendable {
    // Immutable after init; SSL_SESSION reference counting is thread-safe.
    let session: OpaquePointer
    init(owning session: OpaquePointer) { self.session = session }
    deinit { SSL_SESSION_free(session) }
}
