import Glibc
import CEpoll
import Reactor

/// The client's TLS sessions, one per origin ("host:port"), shared by every loop.
/// The lock is held for one dictionary operation.
final class SessionCache: Sendable {
    private let sessions = Lock<[String: SessionRef]>([:])

    private func locked<R>(_ body: (inout [String: SessionRef]) -> R) -> R {
        sessions.withLock(body)
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
