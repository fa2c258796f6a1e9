import Glibc
import Reactor

/// Runs a login's password check (a PBKDF2 of a few hundred milliseconds, and the store
/// writes that follow it) on a thread of its own, then hands the result back to the loop
/// that asked. Not a reactor thread, and not a store reader either: a flood of logins must
/// not hold up admin queries. How many run at once is bounded by the login limiter
/// (`LoginLimiter.maxInFlight`), so one short-lived detached thread per check is cheap.
enum LoginCheck {
    /// Runs `body` on a new thread; `then` runs on `loop` with its result. False (and
    /// nothing runs) when no thread can be had.
    static func start<T: Sendable>(on loop: Loop, _ body: @escaping @Sendable () -> T, then: @escaping (T) -> Void) -> Bool {
        let job = Job(body: { let v = body(); return { then(v) } }, loop: loop)
        let box = Unmanaged.passRetained(job)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let job = Unmanaged<Job>.fromOpaque(arg!).takeRetainedValue()
            job.run()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
            return false
        }
        pthread_detach(tid)
        return true
    }

    /// The work and where its answer goes. `then` is loop-bound: it is only called back on `loop`.
    private final class Job: @unchecked Sendable {
        let body: () -> () -> Void
        let loop: Loop

        init(body: @escaping () -> () -> Void, loop: Loop) {
            self.body = body
            self.loop = loop
        }

        func run() {
            let answer = body()
            let bound = Bound(answer)
            loop.submit { bound.value() }
        }
    }

    private final class Bound: @unchecked Sendable {
        let value: () -> Void
        init(_ value: @escaping () -> Void) { self.value = value }
    }
}
