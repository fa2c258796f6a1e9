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
/// Owner: `State` is shared, in the `WorkerThread` (guarded by its lock); `db`, the
/// statements, `batch` and `retentionStage` are touched only by the writer thread (its
/// `next` and `perform`).
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
        var chores: [@Sendable (Database) -> Void] = []
        var choresDone: UInt64 = 0
        var choresAsked: UInt64 = 0
        var counters = StoreWriterCounters()
        var retention: (logDays: Int, statsDays: Int)
    }

    /// What the thread does with the lock released.
    enum Work {
        case chores([@Sendable (Database) -> Void])
        /// One retention chunk, nothing queued.
        case retention
        /// Write the `n` records moved to `batch`, then a retention chunk when asked.
        case batch(n: Int, retention: Bool)
        /// Close the statements and the connection (the last step).
        case finish
    }

    public let capacity: Int
    private let options: StoreOptions
    private let worker: WorkerThread<State>
    // Writer thread only.
    private let db: Database
    private var batch: [RequestRecord] = []

    init(db: Database, options: StoreOptions) throws {
        self.db = db
        self.options = options
        capacity = max(1, options.queueCapacity)
        worker = WorkerThread(State(queue: RecordQueue(capacity: capacity),
                                    nextRetentionAt: monotonicNanos() &+ options.firstRetentionDelayNanos,
                                    retention: (options.logRetentionDays, options.statsRetentionDays)))
        batch.reserveCapacity(options.batchSize)
        let started = worker.start(next: { [self] s in next(&s) }, perform: { [self] w in run(w) })
        precondition(started, "cannot start the store writer thread")
    }

    // MARK: any thread

    /// Queues one record for writing. Never blocks on disk; returns false (and counts the
    /// record as dropped) when the queue is full or the writer is closed.
    @discardableResult
    public func enqueue(_ record: RequestRecord) -> Bool {
        let batchSize = options.batchSize
        let (accepted, wake) = worker.withLock { s -> (Bool, Bool) in
            if s.queue.isFull || s.stopping {
                s.counters.droppedQueueFull &+= 1
                return (false, false)
            }
            if s.queue.isEmpty { s.firstPendingAt = monotonicNanos() }
            _ = s.queue.append(record)
            s.counters.accepted &+= 1
            var wake = s.idle
            if s.collecting && s.queue.count >= batchSize {
                s.collecting = false
                wake = true
            }
            if wake { s.idle = false }
            return (true, wake)
        }
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
    /// a failed batch). For SIGTERM: call it before exiting. Never on a reactor thread.
    public func flush() {
        let target = worker.withLock { s -> UInt64 in
            s.flushWaiters += 1
            return s.counters.accepted
        }
        worker.wakeOne()
        worker.waitUntil { $0.processed >= target || $0.stopped }
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
    public func perform(_ body: @escaping @Sendable (Database) -> Void) {
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
        worker.withLock { $0.stopping = true }
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
            s.retentionActive = true
            s.nextRetentionAt = now &+ options.retentionIntervalNanos
        }
        if s.retentionRequests != s.retentionSeen {
            s.retentionSeen = s.retentionRequests
            s.retentionActive = true
        }
        if !s.chores.isEmpty {
            let todo = s.chores
            s.chores.removeAll()
            return .run(.chores(todo))
        }
        if s.queue.isEmpty {
            if s.stopping {
                s.stopped = true
                return .run(.finish)
            }
            if s.retentionActive { return .run(.retention) }
            s.idle = true
            return .wait(until: s.nextRetentionAt)
        }
        if s.stopping || s.flushWaiters > 0 || s.retentionActive { return take(&s) }
        return collectOrTake(&s)
    }

    /// Waits for the batch to fill while nothing asks for it and its interval runs;
    /// else takes it.
    private func collectOrTake(_ s: inout State) -> WorkerStep<Work> {
        let deadline = s.firstPendingAt &+ options.batchIntervalNanos
        if s.queue.count < options.batchSize && s.flushWaiters == 0 && !s.stopping && s.chores.isEmpty
            && s.retentionRequests == s.retentionSeen && monotonicNanos() < deadline {
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
        if !s.queue.isEmpty { s.firstPendingAt = monotonicNanos() }
        return .run(.batch(n: n, retention: s.retentionActive))
    }

    /// Without the lock.
    private func run(_ work: Work) {
        switch work {
        case .chores(let todo):
            for c in todo { c(db) }
            worker.withLock { $0.choresDone &+= UInt64(todo.count) }
        case .retention:
            let more = retentionChunk()
            if !more { worker.withLock { finishRetention(&$0) } }
        case .batch(let n, let doRetention):
            let failure = writeBatch(batch)
            let more = doRetention ? retentionChunk() : true
            let batchSize = options.batchSize
            worker.withLock { s in
                s.processed &+= UInt64(n)
                if let failure {
                    s.counters.droppedWriteFailed &+= UInt64(n)
                    s.counters.failedBatches &+= 1
                    s.counters.lastError = failure
                } else {
                    s.counters.written &+= UInt64(n)
                    s.counters.batches &+= 1
                    if n == batchSize { s.counters.fullBatches &+= 1 }
                }
                if doRetention && !more { finishRetention(&s) }
            }
        case .finish:
            // Finalize statements and close on this thread.
            for s in stmtCache.values { s.finalize() }
            stmtCache.removeAll()
            db.close()
        }
    }

    /// Under the lock.
    private func finishRetention(_ s: inout State) {
        s.retentionActive = false
        retentionStage = 0
        s.counters.retentionPasses &+= 1
    }

    // MARK: writing (writer thread, no lock)

    private var stmtCache: [String: Statement] = [:]

    private static let insertSQL = """
        INSERT INTO request_logs(request_id, time_ms, token_id, channel_id, channel_name, key_index,
            protocol, path, requested_model, upstream_model, stream, status, attempts, ttfb_us,
            duration_us, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
            cache_write_1h_tokens, usage_known, cost_micro, priced, client_address, user_agent, error)
        VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
        """

    private static func upsert(_ table: String, _ keys: [String]) -> String {
        let cols = keys + Schema.valueColumns
        let adds = Schema.valueColumns.map { "\($0) = \($0) + excluded.\($0)" }
        return "INSERT INTO \(table)(\(cols.joined(separator: ","))) VALUES(\(cols.map { _ in "?" }.joined(separator: ","))) "
            + "ON CONFLICT(\(keys.joined(separator: ", "))) DO UPDATE SET \(adds.joined(separator: ", "))"
    }

    private static let upsertSQL = upsert("stats_hourly", ["hour_ms", "channel_id", "model", "token_id"])
    private static let rollupSQL = upsert("stats_rollup", ["dim", "key", "hour_ms"])

    private static let tokenSQL = """
        UPDATE auth_tokens SET total_cost_micro = total_cost_micro + ?, total_requests = total_requests + ?,
            last_used_ms = MAX(COALESCE(last_used_ms, 0), ?) WHERE id = ?
        """

    private func statement(_ sql: String) throws -> Statement {
        if let s = stmtCache[sql] {
            s.reset()
            return s
        }
        let s = try db.prepare(sql)
        stmtCache[sql] = s
        return s
    }

    /// Writes one batch in one transaction; returns the error message when it failed.
    private func writeBatch(_ records: [RequestRecord]) -> String? {
        if records.isEmpty { return nil }
        do {
            try statement("BEGIN IMMEDIATE").stepDone()
            let insert = try statement(Self.insertSQL)
            var groups: [StatsKey: StatsDelta] = [:]
            var tokens: [Int: (cost: Int64, requests: Int64, last: Int64)] = [:]
            for r in records {
                insert.reset()
                try bindRecord(insert, r)
                _ = try insert.step()
                let key = StatsKey(hour: Int64(r.timeMillis / 3_600_000 * 3_600_000), channel: Int64(r.channelID ?? 0),
                                   model: r.requestedModel, token: Int64(r.tokenID ?? 0))
                groups[key, default: StatsDelta()].add(r)
                if let t = r.tokenID {
                    var e = tokens[t] ?? (0, 0, 0)
                    e.cost = Saturating.add(e.cost, r.costMicroUSD)
                    e.requests += 1
                    e.last = max(e.last, Int64(r.timeMillis))
                    tokens[t] = e
                }
            }
            let upsert = try statement(Self.upsertSQL)
            var rollup: [RollupKey: StatsDelta] = [:]
            for (k, d) in groups {
                upsert.reset()
                try upsert.bind(1, k.hour)
                try upsert.bind(2, k.channel)
                try upsert.bind(3, k.model)
                try upsert.bind(4, k.token)
                try d.bind(upsert, from: 5)
                _ = try upsert.step()
                rollup[RollupKey(dim: "all", key: "", hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "channel", key: String(k.channel), hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "model", key: k.model, hour: k.hour), default: StatsDelta()].merge(d)
                rollup[RollupKey(dim: "token", key: String(k.token), hour: k.hour), default: StatsDelta()].merge(d)
            }
            let roll = try statement(Self.rollupSQL)
            for (k, d) in rollup {
                roll.reset()
                try roll.bind(1, k.dim)
                try roll.bind(2, k.key)
                try roll.bind(3, k.hour)
                try d.bind(roll, from: 4)
                _ = try roll.step()
            }
            if !tokens.isEmpty {
                let u = try statement(Self.tokenSQL)
                for (id, e) in tokens {
                    u.reset()
                    try u.bind(1, e.cost)
                    try u.bind(2, e.requests)
                    try u.bind(3, e.last)
                    try u.bind(4, Int64(id))
                    _ = try u.step()
                }
            }
            try statement("COMMIT").stepDone()
            return nil
        } catch {
            if db.inTransaction { _ = sqlite3_exec(db.handle, "ROLLBACK", nil, nil, nil) }
            return "\(error)"
        }
    }

    private func bindRecord(_ s: Statement, _ r: RequestRecord) throws {
        try s.bind(1, Int64(bitPattern: r.id))
        try s.bind(2, Int64(r.timeMillis))
        try s.bind(3, r.tokenID)
        try s.bind(4, r.channelID)
        try s.bind(5, r.channelName)
        try s.bind(6, r.keyIndex)
        try s.bind(7, r.protocolName)
        try s.bind(8, r.path)
        try s.bind(9, r.requestedModel)
        try s.bind(10, r.upstreamModel)
        try s.bind(11, r.stream)
        try s.bind(12, r.status)
        try s.bind(13, AttemptJSON.encode(r.attempts))
        try s.bind(14, r.ttfbMicros.map { Int64(clamping: $0) })
        try s.bind(15, Int64(clamping: r.durationMicros))
        try s.bind(16, r.inputTokens)
        try s.bind(17, r.outputTokens)
        try s.bind(18, r.cacheReadTokens)
        try s.bind(19, r.cacheWrite5mTokens)
        try s.bind(20, r.cacheWrite1hTokens)
        try s.bind(21, r.usageKnown)
        try s.bind(22, r.costMicroUSD)
        try s.bind(23, r.priced)
        try s.bind(24, r.clientAddress)
        try s.bind(25, r.userAgent)
        try s.bind(26, r.error)
    }

    // MARK: retention (writer thread, no lock)

    private var retentionStage = 0

    /// Deletes one chunk of expired rows; returns whether more may remain.
    private func retentionChunk() -> Bool {
        let now = options.wallClock()
        let day: UInt64 = 86_400_000
        let (logDays, statsDays) = worker.withLock { ($0.retention.logDays, $0.retention.statsDays) }
        let logCutoff = now > UInt64(logDays) * day ? now - UInt64(logDays) * day : 0
        let statsCutoff = now > UInt64(statsDays) * day ? now - UInt64(statsDays) * day : 0
        let chunk = Int64(options.retentionChunkRows)
        do {
            switch retentionStage {
            case 0:
                let s = try statement("DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs WHERE time_ms < ? ORDER BY time_ms LIMIT ?)")
                try s.bind(1, Int64(logCutoff))
                try s.bind(2, chunk)
                try s.stepDone()
                let n = db.changes
                worker.withLock { $0.counters.retentionDeletedLogs &+= UInt64(n) }
                if n < chunk { retentionStage = 1 }
                return true
            case 1:
                let s = try statement("""
                    DELETE FROM stats_hourly WHERE (hour_ms, channel_id, model, token_id) IN
                    (SELECT hour_ms, channel_id, model, token_id FROM stats_hourly WHERE hour_ms < ? LIMIT ?)
                    """)
                try s.bind(1, Int64(statsCutoff))
                try s.bind(2, chunk)
                try s.stepDone()
                let n = db.changes
                worker.withLock { $0.counters.retentionDeletedStats &+= UInt64(n) }
                if n < chunk { retentionStage = 2 }
                return true
            case 2:
                let s = try statement("""
                    DELETE FROM stats_rollup WHERE (dim, key, hour_ms) IN
                    (SELECT dim, key, hour_ms FROM stats_rollup WHERE hour_ms < ? LIMIT ?)
                    """)
                try s.bind(1, Int64(statsCutoff))
                try s.bind(2, chunk)
                try s.stepDone()
                if db.changes < chunk { retentionStage = 3 }
                return true
            default:
                let s = try statement("DELETE FROM admin_sessions WHERE expires_ms < ?")
                try s.bind(1, Int64(now))
                try s.stepDone()
                return false
            }
        } catch {
            let msg = "retention: \(error)"
            worker.withLock { $0.counters.lastError = msg }
            return false
        }
    }
}
