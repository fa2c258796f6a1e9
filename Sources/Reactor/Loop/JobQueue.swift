/// A first-in, first-out queue of jobs, kept in a `WorkerThread`'s state. Taking is O(1)
/// (a head index; the storage is reused once the queue runs empty). Once closed it takes
/// no more jobs, and the threads serving it (`nextStep`) finish what is queued, then end:
/// closing drains, it never drops accepted work.
public struct JobQueue<Job> {
    private var jobs: [Job] = []
    private var head = 0
    public private(set) var isClosed = false

    public init() {}

    /// Jobs waiting.
    public var count: Int { jobs.count - head }

    public var isEmpty: Bool { head == jobs.count }

    /// Queues `job`; false (the job is not kept) once the queue is closed.
    @discardableResult
    public mutating func append(_ job: Job) -> Bool {
        if isClosed { return false }
        jobs.append(job)
        return true
    }

    /// The oldest job, if any.
    public mutating func popFirst() -> Job? {
        if head == jobs.count { return nil }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        }
        return job
    }

    /// Refuses further jobs; those queued still run.
    public mutating func close() { isClosed = true }

    /// The step of a thread serving this queue: run the oldest job; with none left, end
    /// when closed, else sleep until woken.
    public mutating func nextStep() -> WorkerStep<Job> {
        if let job = popFirst() { return .run(job) }
        return isClosed ? .exit : .wait(until: nil)
    }
}
