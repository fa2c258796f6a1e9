import CEpoll
import Glibc
import Reactor

/// The one thread that writes request records. `enqueue` never blocks and never waits on
/// disk: a full queue drops the record and counts it. The thread commits batches of up to
/// `batchSize` rows in one transaction (or what arrived within `batchIntervalNanos` of the
/// first waiting record), updating `stats_hourly` and the tokens' running totals in the
/// same transaction. A failed batch (disk full, I/O error) is rolled back, its records are
/// counted as dropped, and the writer carries on. Between batches it deletes old logs in
/// chunks. Closing writes what is queued, then ends the thread.
///
/// While the relay is busy (the last batch was full: `batchSize` records within one
/// `batchIntervalNanos`), a batch's log rows are stored whole as one pending segment
/// (`BatchWriter`, SQLite only): about a sixth of the instructions of inserting them as
/// rows (`Benchmarks/RESULTS.md`), the rest done later, off the busy time. The writer moves
/// pending segments into `request_logs`, oldest first, once it is not busy: a batch that
/// was not full, or twice the batch interval with no batch at all. It moves them anyway,
/// one between batches, while more than `maxPendingLogRows` rows are pending, while a
/// `flush` waits, and for up to `stopMoveNanos` when closing (the rest wait for the next
/// start). Readers see pending rows as they see the others (`StoreReader`). A segment that
/// no longer decodes (a damaged file) is deleted when its turn comes, its rows counted as
/// dropped (they were counted written when packed).
///
/// Owner: `State` is shared, in the `WorkerThread` (guarded by its lock); `connection`
/// (the SQL, `BatchWriter`) and `batch` are touched only by the writer thread (its `next`
/// and `run`).
public final class StoreWriter: @unchecked Sendable {
    /// Guarded by the worker's lock.
    struct State {
        var queue: RecordQueue
        var firstPendingAt: UInt64 = 0
        /// The thread sleeps with nothing queued: the next record wakes it.
        var idle = false
        /// The thread waits for a batch to fill: a record that fills it wakes it.
        var collecting = false
        /// The thread is in its batch-collecting wait (it goes on collecting when woken
        /// early, as long as nothing asks for the batch).
        var batching = false
        var flushWaiters = 0
        var stopping = false
        var stopped = false
        var retentionActive = false
        var retentionRequests: UInt64 = 0
        var retentionSeen: UInt64 = 0
        var nextRetentionAt: UInt64
        var processed: UInt64 = 0
        var chores: [@Sendable (any SQLConnection) -> Void] = []
        var choresDone: UInt64 = 0
        var choresAsked: UInt64 = 0
        var counters = StoreWriterCounters()
        var retention: (logDays: Int, statsDays: Int)
        /// The deletion counters when the pass in progress began, and its first error.
        var passStart: (logs: UInt64, stats: UInt64) = (0, 0)
        var passError: String?
        /// While the database server cannot be reached: no batch before this time.
        var retryAt: UInt64 = 0
        /// The next wait after a failed retry (doubles to `maxRetryNanos`).
        var retryDelay: UInt64 = StoreWriter.firstRetryNanos
        /// Rows in pending segments (`BatchWriter.pendingRows` after each step), and of
        /// them those from before this start (moved first; they count toward no flush).
        var pendingRows = 0
        var inheritedPending = 0
        /// Records of this run in `request_logs` (written as rows, or moved there from a
        /// segment) or dropped: what a `flush` waits for.
        var settled: UInt64 = 0
        /// The last batch taken was full, at `lastTakeAt`: pending segments wait.
        var busy = false
        var lastTakeAt: UInt64 = 0
        /// The last step moved a segment: with records queued, a batch comes next.
        var movedLast = false
        /// After a failed move: no move before this time; and failed moves so far.
        var moveRetryAt: UInt64 = 0
        var moveFailures: UInt64 = 0
        /// Closing: segments are moved until this time.
        var stopDeadline: UInt64 = 0

        /// A retention pass begins (unless one is already under way).
        mutating func startRetention() {
            guard !retentionActive else { return }
            retentionActive = true
            passStart = (counters.retentionDeletedLogs, counters.retentionDeletedStats)
            passError = nil
        }

        /// Queues `record`, or counts it dropped when the queue is full or the writer is
        /// stopping; and whether the thread must be woken for it (asleep with nothing
        /// queued, or collecting a batch this record fills).
        mutating func admit(_ record: consuming RequestRecord, batchSize: Int) -> (accepted: Bool, wake: Bool) {
            if queue.isFull || stopping {
                counters.droppedQueueFull &+= 1
                return (false, false)
            }
            if queue.isEmpty { firstPendingAt = monotonicNanos() }
            _ = queue.append(record)
            counters.accepted &+= 1
            var wake = idle
            if collecting && queue.count >= batchSize {
                collecting = false
                wake = true
            }
            if wake { idle = false }
            return (true, wake)
        }
    }

    /// What the thread does with the lock released.
    enum Work {
        case chores([@Sendable (any SQLConnection) -> Void])
        /// One retention chunk, nothing queued.
        case retention
        /// Write the `n` records moved to `batch` (`packed`: as one pending segment), then
        /// a retention chunk when asked.
        case batch(n: Int, retention: Bool, packed: Bool)
        /// Move the oldest pending segment into `request_logs`.
        case move
        /// Close the statements and the connection (the last step).
        case finish
    }

    /// The first wait before a batch is tried again after the database server could not be
    /// reached, and the longest.
    static let firstRetryNanos: UInt64 = 250_000_000
    static let maxRetryNanos: UInt64 = 5_000_000_000

    public let capacity: Int
    private let options: StoreOptions
    private let worker: WorkerThread<State>
    // Writer thread only.
    private let connection: BatchWriter
    private var batch: [RequestRecord] = []

    init(db: any SQLConnection, options: StoreOptions) throws {
        connection = BatchWriter(db: db)
        self.options = options
        capacity = max(1, options.queueCapacity)
        worker = WorkerThread(State(queue: RecordQueue(capacity: capacity),
                                    nextRetentionAt: monotonicNanos() &+ options.firstRetentionDelayNanos,
                                    retention: (options.logRetentionDays, options.statsRetentionDays)))
        batch.reserveCapacity(options.batchSize)
        try connection.loadPending()
        worker.withLock { s in
            s.pendingRows = connection.pendingRows
            s.inheritedPending = connection.pendingRows
            s.counters.pendingLogRows = connection.pendingRows
        }
        let started = worker.start(next: { [self] s in next(&s) }, perform: { [self] w in run(w) })
        precondition(started, "cannot start the store writer thread")
    }

    // MARK: any thread

    /// Queues one record for writing. Never blocks on disk; returns false (and counts the
    /// record as dropped) when the queue is full or the writer is closed.
    @discardableResult
    public func enqueue(_ record: RequestRecord) -> Bool {
        let batchSize = options.batchSize
        let (accepted, wake) = worker.withLock { $0.admit(record, batchSize: batchSize) }
        if wake { worker.wakeOne() }
        return accepted
    }

    /// Queues `records` (one loop's round of them) under one lock: as `enqueue` for each, in
    /// order; those that do not fit are dropped and counted. Returns how many were accepted.
    @discardableResult
    public func enqueue(contentsOf records: [RequestRecord]) -> Int {
        var moved = records
        return enqueue(movingFrom: &moved)
    }

    /// As `enqueue(contentsOf:)`, moving the records out of `records` (left empty, its
    /// capacity kept): each goes into the queue without a copy of its strings.
    @discardableResult
    public func enqueue(movingFrom records: inout [RequestRecord]) -> Int {
        if records.isEmpty { return 0 }
        let batchSize = options.batchSize
        let (accepted, wake) = worker.withLock { s -> (Int, Bool) in
            var accepted = 0
            var wake = false
            for i in records.indices {
                var record = RequestRecord()
                swap(&record, &records[i])
                let (ok, w) = s.admit(record, batchSize: batchSize)
                if ok { accepted += 1 }
                wake = wake || w
            }
            return (accepted, wake)
        }
        records.removeAll(keepingCapacity: true)
        if wake { worker.wakeOne() }
        return accepted
    }

    /// Changes how long request logs and hourly statistics are kept (from the next pass).
    public func setRetention(logDays: Int, statsDays: Int) {
        worker.withLock { $0.retention = (max(1, logDays), max(1, statsDays)) }
    }

    /// Records dropped so far (queue full plus failed batches).
    public var droppedCount: UInt64 { worker.withLock { $0.counters.dropped } }

    /// Records waiting in the queue.
    public var queuedCount: Int { worker.withLock { $0.queue.count } }

    /// A copy of the counters.
    public func snapshot() -> StoreWriterCounters { worker.withLock { $0.counters } }

    /// Returns once every record accepted before the call has been written (or dropped by
    /// a failed batch), and is in `request_logs`, not in a pending segment, as are the
    /// segments left from before this start (unless moving one failed meanwhile: the rows
    /// stay pending, and readers see them). Tests and benchmarks; a stop uses `close`, which
    /// bounds the moving. Never on a reactor thread.
    public func flush() {
        let (target, failures) = worker.withLock { s -> (UInt64, UInt64) in
            s.flushWaiters += 1
            return (s.counters.accepted, s.moveFailures)
        }
        worker.wakeOne()
        worker.waitUntil { s in
            s.stopped || (s.processed >= target && ((s.settled >= target && s.inheritedPending == 0) || s.moveFailures != failures))
        }
        worker.withLock { $0.flushWaiters -= 1 }
    }

    /// Runs one retention pass now and returns when it is complete (tests, admin).
    public func runRetention() {
        let target = worker.withLock { s -> UInt64 in
            s.retentionRequests += 1
            return s.counters.retentionPasses + 1
        }
        worker.wakeOne()
        worker.waitUntil { $0.counters.retentionPasses >= target || $0.stopped }
    }

    /// Runs `body` on the writer thread with its connection, between batches, and returns
    /// when it has run (maintenance: a checkpoint, a pragma; tests). Never on a reactor thread.
    public func perform(_ body: @escaping @Sendable (any SQLConnection) -> Void) {
        let target = worker.withLock { s -> UInt64? in
            if s.stopped || s.stopping { return nil }
            s.chores.append(body)
            s.choresAsked += 1
            return s.choresAsked
        }
        guard let target else { return }
        worker.wakeOne()
        worker.waitUntil { $0.choresDone >= target || $0.stopped }
    }

    /// Writes everything queued, then stops the thread. Later records are dropped.
    public func close() {
        let budget = options.stopMoveNanos
        worker.withLock { s in
            if !s.stopping { s.stopDeadline = monotonicNanos() &+ budget }
            s.stopping = true
        }
        worker.wakeOne()
        worker.join()
    }

    // MARK: the writer thread

    /// Under the lock: what the thread does next. Chores first, then (with records
    /// queued) a batch once it is full, its interval has passed, or someone waits for it;
    /// with nothing queued, a retention chunk when one is due, else sleep until a record
    /// comes or the next retention pass is due.
    private func next(_ s: inout State) -> WorkerStep<Work> {
        if s.stopped { return .exit }
        s.idle = false
        s.collecting = false
        if s.batching {
            s.batching = false
            return collectOrTake(&s)
        }
        let now = monotonicNanos()
        if now >= s.nextRetentionAt {
            s.startRetention()
            s.nextRetentionAt = now &+ options.retentionIntervalNanos
        }
        if s.retentionRequests != s.retentionSeen {
            s.retentionSeen = s.retentionRequests
            s.startRetention()
        }
        if !s.chores.isEmpty {
            let todo = s.chores
            s.chores.removeAll()
            return .run(.chores(todo))
        }
        // No batch for twice the batch interval: the relay is not busy.
        if s.busy && now &- s.lastTakeAt >= 2 &* options.batchIntervalNanos { s.busy = false }
        let move = moveDue(s, now: now)
        if s.queue.isEmpty {
            if move { return .run(.move) }
            if s.stopping {
                s.stopped = true
                return .run(.finish)
            }
            if s.retentionActive { return .run(.retention) }
            s.idle = true
            var wake = s.nextRetentionAt
            if s.pendingRows > 0 && !s.stopping {
                // The time the relay counts as not busy, or a failed move's retry.
                wake = min(wake, s.busy ? s.lastTakeAt &+ 2 &* options.batchIntervalNanos : max(now, s.moveRetryAt))
            }
            return .wait(until: wake)
        }
        // Records queued: one move between batches while the backlog must shrink.
        if move && !s.movedLast && (s.stopping || s.flushWaiters > 0 || s.pendingRows > options.maxPendingLogRows) {
            return .run(.move)
        }
        let urgent = s.stopping || s.flushWaiters > 0
        if !urgent && now < s.retryAt { return .wait(until: s.retryAt) }
        if urgent || s.retentionActive { return take(&s) }
        return collectOrTake(&s)
    }

    /// Whether to move a pending segment now (see the type's note).
    private func moveDue(_ s: State, now: UInt64) -> Bool {
        guard s.pendingRows > 0, now >= s.moveRetryAt else { return false }
        if s.stopping { return now < s.stopDeadline }
        return !s.busy || s.flushWaiters > 0 || s.pendingRows > options.maxPendingLogRows
    }

    /// Waits for the batch to fill while nothing asks for it and its interval runs (moving
    /// a pending segment instead of waiting, when one is due); else takes it.
    private func collectOrTake(_ s: inout State) -> WorkerStep<Work> {
        let deadline = s.firstPendingAt &+ options.batchIntervalNanos
        let now = monotonicNanos()
        if s.queue.count < options.batchSize && s.flushWaiters == 0 && !s.stopping && s.chores.isEmpty
            && s.retentionRequests == s.retentionSeen && now < deadline {
            if moveDue(s, now: now) { return .run(.move) }
            s.batching = true
            s.collecting = true
            return .wait(until: deadline)
        }
        return take(&s)
    }

    private func take(_ s: inout State) -> WorkerStep<Work> {
        let n = min(s.queue.count, options.batchSize)
        batch.removeAll(keepingCapacity: true)
        s.queue.take(n, into: &batch)
        let now = monotonicNanos()
        if !s.queue.isEmpty { s.firstPendingAt = now }
        s.busy = n >= options.batchSize
        s.lastTakeAt = now
        s.movedLast = false
        let packed = switch options.logPacking {
        case .never: false
        case .always: true
        case .whenBusy: s.busy
        }
        return .run(.batch(n: n, retention: s.retentionActive, packed: packed))
    }

    /// Without the lock.
    private func run(_ work: Work) {
        switch work {
        case .chores(let todo):
            connection.perform(todo)
            worker.withLock { $0.choresDone &+= UInt64(todo.count) }
        case .retention:
            let more = retentionChunk()
            if !more { worker.withLock { finishRetention(&$0) } }
        case .batch(let n, let doRetention, let packed):
            let pendingBefore = connection.pendingRows
            let failure = connection.write(batch, packed: packed)
            // The writer packs while segments are pending, whatever was asked.
            let wentPending = connection.pendingRows != pendingBefore
            let more = doRetention && failure?.retryable != true ? retentionChunk() : true
            let batchSize = options.batchSize
            worker.withLock { s in
                s.pendingRows = connection.pendingRows
                s.counters.pendingLogRows = s.pendingRows
                // The database server is away: the batch goes back to the queue and waits
                // (unless ccload is stopping or someone waits for a flush: then it is
                // dropped, so neither waits on an outage).
                if let failure, failure.retryable, !s.stopping, s.flushWaiters == 0 {
                    let lost = s.queue.putBack(&batch)
                    s.processed &+= UInt64(lost)
                    s.settled &+= UInt64(lost)
                    s.counters.droppedWriteFailed &+= UInt64(lost)
                    s.counters.retriedBatches &+= 1
                    s.counters.lastError = failure.message
                    s.retryAt = monotonicNanos() &+ s.retryDelay
                    s.retryDelay = min(s.retryDelay &* 2, StoreWriter.maxRetryNanos)
                    if s.queue.count > 0 && s.firstPendingAt == 0 { s.firstPendingAt = monotonicNanos() }
                    return
                }
                s.retryAt = 0
                s.retryDelay = StoreWriter.firstRetryNanos
                s.processed &+= UInt64(n)
                if let failure {
                    s.settled &+= UInt64(n)
                    s.counters.droppedWriteFailed &+= UInt64(n)
                    s.counters.failedBatches &+= 1
                    s.counters.lastError = failure.message
                } else {
                    if wentPending { s.counters.packedBatches &+= 1 } else { s.settled &+= UInt64(n) }
                    s.counters.written &+= UInt64(n)
                    s.counters.batches &+= 1
                    if n == batchSize { s.counters.fullBatches &+= 1 }
                }
                if doRetention && !more { finishRetention(&s) }
            }
        case .move:
            let m = connection.movePending()
            worker.withLock { s in
                s.pendingRows = connection.pendingRows
                s.counters.pendingLogRows = s.pendingRows
                s.movedLast = true
                if let f = m.failure {
                    s.moveFailures &+= 1
                    s.counters.failedMoves &+= 1
                    s.counters.lastError = f.message
                    s.moveRetryAt = monotonicNanos() &+ StoreWriter.firstRetryNanos
                    return
                }
                StoreWriter.leftPending(m.rows, &s)
                if m.rows > 0 { s.counters.movedSegments &+= 1 }
                if m.damaged {
                    s.counters.droppedWriteFailed &+= UInt64(m.rows)
                    s.counters.lastError = "a pending request-log segment of \(m.rows) rows did not decode; it was deleted"
                }
            }
        case .finish:
            connection.close()
        }
    }

    /// Under the lock.
    private func finishRetention(_ s: inout State) {
        s.retentionActive = false
        connection.restartRetention()
        s.counters.retentionPasses &+= 1
        s.counters.lastRetention = RetentionPass(endedMillis: options.wallClock(),
                                                 deletedLogs: s.counters.retentionDeletedLogs &- s.passStart.logs,
                                                 deletedStats: s.counters.retentionDeletedStats &- s.passStart.stats,
                                                 error: s.passError)
    }

    /// The retention job's last pass and when the next is due (wall-clock), for `/admin/jobs`.
    public func retentionStatus() -> JobStatus {
        let (counters, next, days) = worker.withLock { ($0.counters, $0.nextRetentionAt, $0.retention) }
        var j = JobStatus(name: "retention",
                          summary: "deletes request records older than \(days.logDays) days and hourly statistics older than \(days.statsDays) days")
        let mono = monotonicNanos()
        j.nextRunMillis = options.wallClock() &+ (next > mono ? (next - mono) / 1_000_000 : 0)
        j.runs = counters.retentionPasses
        if let p = counters.lastRetention {
            j.lastRunMillis = p.endedMillis
            j.outcome = p.error == nil ? "ok" : "error"
            j.detail = p.error ?? "deleted \(p.deletedLogs) request records and \(p.deletedStats) statistics rows"
        }
        return j
    }

    /// `rows` of pending segments are pending no more (moved, lost with a damaged segment, or
    /// expired by retention): the inherited ones first (the oldest segments go first), the
    /// rest settle what a `flush` waits for.
    private static func leftPending(_ rows: Int, _ s: inout State) {
        let inherited = min(rows, s.inheritedPending)
        s.inheritedPending -= inherited
        s.settled &+= UInt64(rows - inherited)
    }

    /// One retention chunk, its counts added to the counters; returns whether more may remain.
    private func retentionChunk() -> Bool {
        let (logDays, statsDays) = worker.withLock { ($0.retention.logDays, $0.retention.statsDays) }
        let r = connection.retentionChunk(now: options.wallClock(), logDays: logDays, statsDays: statsDays,
                                          chunkRows: options.retentionChunkRows)
        worker.withLock { s in
            s.counters.retentionDeletedLogs &+= r.deletedLogs
            s.counters.retentionDeletedStats &+= r.deletedStats
            if r.expiredPendingRows > 0 {
                s.pendingRows = connection.pendingRows
                s.counters.pendingLogRows = s.pendingRows
                StoreWriter.leftPending(r.expiredPendingRows, &s)
            }
            if let e = r.error {
                s.counters.lastError = e
                if s.passError == nil { s.passError = e }
            }
        }
        return r.more
    }
}
