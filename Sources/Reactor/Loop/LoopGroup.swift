import Glibc
import CEpoll
import Synchronization

/// N event loops, each on its own thread. Threads are created here, in a nonisolated
/// function, never from `main.swift` (whose closures would inherit @MainActor).
public final class LoopGroup: Sendable {
    public let loops: [Loop]
    private let threads = Lock<[pthread_t]>([])

    public init(count: Int) {
        loops = (0..<max(1, count)).map { Loop(index: $0) }
    }

    /// Starts every loop on a new thread; `setUp` runs first on each loop's thread.
    public func start(setUp: @escaping @Sendable (Loop) -> Void) {
        for loop in loops {
            let box = Unmanaged.passRetained(ThreadStart(loop: loop, setUp: setUp))
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { arg in
                let start = Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue()
                start.setUp(start.loop)
                start.loop.run()
                return nil
            }, box.toOpaque())
            precondition(rc == 0, "pthread_create failed: \(rc)")
            threads.withLock { $0.append(tid) }
        }
    }

    /// Runs `job` on every loop.
    public func forEach(_ job: @escaping @Sendable (Loop) -> Void) {
        for loop in loops { loop.submit { job(loop) } }
    }

    /// Stops every loop and joins its thread.
    public func stopAndJoin() {
        for loop in loops { loop.stop() }
        let ts = threads.withLock { t -> [pthread_t] in let c = t; t.removeAll(); return c }
        for t in ts { pthread_join(t, nil) }
    }
}

private final class ThreadStart: Sendable {
    let loop: Loop
    let setUp: @Sendable (Loop) -> Void
    init(loop: Loop, setUp: @escaping @Sendable (Loop) -> Void) {
        self.loop = loop
        self.setUp = setUp
    }
}
