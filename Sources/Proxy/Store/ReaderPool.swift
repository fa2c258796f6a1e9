import Reactor

/// Reader threads, each owning one connection, taking jobs from one queue in order (as
/// many at once as there are threads). Closing lets the threads run what is queued, then
/// ends them and closes the connections.
final class ReaderPool: Sendable {
    typealias Job = @Sendable (StoreReader) -> Void

    private struct State {
        var jobs = JobQueue<Job>()
        /// Set once, before any job runs.
        weak var store: Store?
    }

    private let worker = WorkerThread(State())
    private let databases: [any SQLConnection]

    /// Set once, before any job runs.
    weak var store: Store? {
        get { worker.withLock { $0.store } }
        set { worker.withLock { $0.store = newValue } }
    }

    init(databases: [any SQLConnection]) {
        self.databases = databases
        for db in databases {
            let started = worker.start(next: { s -> WorkerStep<(Job, Store?)> in
                switch s.jobs.nextStep() {
                case .run(let job): return .run((job, s.store))
                case .wait(let deadline): return .wait(until: deadline)
                case .exit: return .exit
                }
            }, perform: { job, store in
                if let store { job(StoreReader(db: db, store: store)) }
            })
            precondition(started, "cannot start a store reader thread")
        }
    }

    func submit(_ job: @escaping Job) {
        if worker.withLock({ $0.jobs.append(job) }) { worker.wakeOne() }
    }

    func close() {
        worker.withLock { $0.jobs.close() }
        worker.wakeAll()
        worker.join()
        for db in databases { db.close() }
    }
}
