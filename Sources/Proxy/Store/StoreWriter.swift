import CEpoll
import Glibc
import Reactor

/// What the writer has done so far.
public struct StoreWriterCounters: Sendable, Equatable {
    /// Records accepted into the queue.
    public var accepted: UInt64 = 0
    /// Records written to the database.
    public var written: UInt64 = 0
    /// Records refused because the queue was full.
    public var droppedQueueFull: UInt64 = 0
    /// Records lost because their batch failed (disk full, I/O error).
    public var droppedWriteFailed: UInt64 = 0
    /// Transactions committed.
    public var batches: UInt64 = 0
    /// Batches that were full (`batchSize` rows).
    public var fullBatches: UInt64 = 0
    /// Batches that failed.
    public var failedBatches: UInt64 = 0
    /// Request-log and statistics rows deleted by retention.
    public var retentionDeletedLogs: UInt64 = 0
    public var retentionDeletedStats: UInt64 = 0
    /// Retention passes completed.
    public var retentionPasses: UInt64 = 0
    /// The last write error, if any.
    public var lastError: String?

    /// Everything dropped, for the admin metrics.
    public var dropped: UInt64 { droppedQueueFull + droppedWriteFailed }
}

/// The one thread that writes request records. `enqueue` never blocks and never waits on
/// disk: a full queue drops the record and counts it. The thread commits batches of up to
/// `batchSize` rows in one transaction (or what arrived within `batchIntervalNanos` of the
/// first waiting record), updating `stats_hourly` and the tokens' running totals in the
/// same transaction. A failed batch (disk full, I/O error) is rolled back, its records are
/// counted as dropped, and the writer carries on. Between batches it deletes old logs in
/// chunks.
///
/// Owner: the state below the mutex is shared (guarded by `mutex`); `db` and the
/// statements are touched only by the writer thread.
public final class StoreWriter: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    // Guarded by `mutex`.
    private var ring: ContiguousArray<RequestRecord?>
    private var head = 0
    private var count = 0
    private var firstPendingAt: UInt64 = 0
    private var idle = false
    private var collecting = false
    private var flushWaiters = 0
    private var stopping = false
    private var stopped = false
    private var retentionActive = false
    private var retentionRequests: UInt64 = 0
    private var processed: UInt64 = 0
    private var chores: [@Sendable (Database) -> Void] = []
    private var choresDone: UInt64 = 0
    private var choresAsked: UInt64 = 0
    private var counters = StoreWriterCounters()
    private var retention: (logDays: Int, statsDays: Int)
    private var thread: pthread_t?

    public let capacity: Int
    private let options: StoreOptions
    // Writer thread only.
    private let db: Database
    private var nextRetentionAt: UInt64
    private var batch: [RequestRecord] = []

    init(db: Database, options: StoreOptions) throws {
        self.db = db
        self.options = options
        capacity = max(1, options.queueCapacity)
        retention = (options.logRetentionDays, options.statsRetentionDays)
        ring = ContiguousArray(repeating: nil, count: min(capacity, 1024))
        nextRetentionAt = monotonicNanos() &+ options.firstRetentionDelayNanos
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(work, nil)
        pthread_cond_init(done, nil)
        batch.reserveCapacity(options.batchSize)
        startThread()
    }

    deinit {
        pthread_cond_destroy(work)
        pthread_cond_destroy(done)
        pthread_mutex_destroy(mutex)
        work.deallocate()
        done.deallocate()
        mutex.deallocate()
    }

    // MARK: any thread

    /// Queues one record for writing. Never blocks on disk; returns false (and counts the
    /// record as dropped) when the queue is full or the writer is closed.
    @discardableResult
    public func enqueue(_ record: RequestRecord) -> Bool {
        pthread_mutex_lock(mutex)
        if count == capacity || stopping {
            counters.droppedQueueFull &+= 1
            pthread_mutex_unlock(mutex)
            return false
        }
        if count == ring.count { grow() }
        var tail = head + count
        if tail >= ring.count { tail -= ring.count }
        ring[tail] = record
        if count == 0 { firstPendingAt = monotonicNanos() }
        count += 1
        counters.accepted &+= 1
        var wake = idle
        if collecting && count >= options.batchSize {
            collecting = false
            wake = true
        }
        if wake { idle = false }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(work) }
        return true
    }

    /// Doubles the ring (up to `capacity`), so an idle writer does not hold 65,536 empty
    /// slots. Under the mutex; rare (a burst beyond anything seen before).
    private func grow() {
        let size = min(capacity, max(ring.count * 2, 1))
        var bigger = ContiguousArray<RequestRecord?>(repeating: nil, count: size)
        var i = head
        for k in 0..<count {
            swap(&bigger[k], &ring[i])
            i += 1
            if i == ring.count { i = 0 }
        }
        ring = bigger
        head = 0
    }

    /// Records dropped so far (queue full plus failed batches).
    /// Changes how long request logs and hourly statistics are kept (from the next pass).
    public func setRetention(logDays: Int, statsDays: Int) {
        withLock { retention = (max(1, logDays), max(1, statsDays)) }
    }

    public var droppedCount: UInt64 { withLock { counters.dropped } }

    /// Records waiting in the queue.
    public var queuedCount: Int { withLock { count } }

    /// A copy of the counters.
    public func snapshot() -> StoreWriterCounters { withLock { counters } }

    /// Returns once every record accepted before the call has been written (or dropped by
    /// a failed batch). For SIGTERM: call it before exiting. Never on a reactor thread.
    public func flush() {
        pthread_mutex_lock(mutex)
        let target = counters.accepted
        flushWaiters += 1
        pthread_cond_signal(work)
        while processed < target && !stopped { pthread_cond_wait(done, mutex) }
        flushWaiters -= 1
        pthread_mutex_unlock(mutex)
    }

    /// Runs one retention pass now and returns when it is complete (tests, admin).
    public func runRetention() {
        pthread_mutex_lock(mutex)
        let target = counters.retentionPasses + 1
        retentionRequests += 1
        pthread_cond_signal(work)
        while counters.retentionPasses < target && !stopped { pthread_cond_wait(done, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Runs `body` on the writer thread with its connection, between batches, and returns
    /// when it has run (maintenance: a checkpoint, a pragma; tests). Never on a reactor thread.
    public func perform(_ body: @escaping @Sendable (Database) -> Void) {
        pthread_mutex_lock(mutex)
        if stopped || stopping {
            pthread_mutex_unlock(mutex)
            return
        }
        chores.append(body)
        choresAsked += 1
        let target = choresAsked
        pthread_cond_signal(work)
        while choresDone < target && !stopped { pthread_cond_wait(done, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Writes everything queued, then stops the thread. Later records are dropped.
    public func close() {
        pthread_mutex_lock(mutex)
        stopping = true
        let t = thread
        thread = nil
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(work)
        if let t { pthread_join(t, nil) }
    }

    private func withLock<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    // MARK: the writer thread

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let w = Unmanaged<StoreWriter>.fromOpaque(arg!).takeRetainedValue()
            w.run()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = tid
    }

    private func timedWait(_ cond: UnsafeMutablePointer<pthread_cond_t>, until monotonicDeadline: UInt64) {
        // The condition uses CLOCK_REALTIME: convert the remaining time.
        let now = monotonicNanos()
        let wait = monotonicDeadline > now ? monotonicDeadline - now : 0
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let total = UInt64(ts.tv_nsec) + wait % 1_000_000_000
        ts.tv_sec += Int(wait / 1_000_000_000 + total / 1_000_000_000)
        ts.tv_nsec = Int(total % 1_000_000_000)
        pthread_cond_timedwait(cond, mutex, &ts)
    }

    private func run() {
        var retentionSeen: UInt64 = 0
        pthread_mutex_lock(mutex)
        while true {
            let now = monotonicNanos()
            if now >= nextRetentionAt {
                retentionActive = true
                nextRetentionAt = now &+ options.retentionIntervalNanos
            }
            if retentionRequests != retentionSeen {
                retentionSeen = retentionRequests
                retentionActive = true
            }
            if !chores.isEmpty {
                let todo = chores
                chores.removeAll()
                pthread_mutex_unlock(mutex)
                for c in todo { c(db) }
                pthread_mutex_lock(mutex)
                choresDone &+= UInt64(todo.count)
                pthread_cond_broadcast(done)
                continue
            }
            if count == 0 {
                if stopping { break }
                if retentionActive {
                    pthread_mutex_unlock(mutex)
                    let more = retentionChunk()
                    pthread_mutex_lock(mutex)
                    if !more { finishRetention() }
                    continue
                }
                if stopping { break }
                if flushWaiters > 0 { pthread_cond_broadcast(done) }
                idle = true
                timedWait(work, until: nextRetentionAt)
                idle = false
                continue
            }
            if !(stopping || flushWaiters > 0 || retentionActive) {
                let deadline = firstPendingAt &+ options.batchIntervalNanos
                while count < options.batchSize && flushWaiters == 0 && !stopping && chores.isEmpty
                        && retentionRequests == retentionSeen && monotonicNanos() < deadline {
                    collecting = true
                    timedWait(work, until: deadline)
                    collecting = false
                }
            }
            let n = min(count, options.batchSize)
            batch.removeAll(keepingCapacity: true)
            for _ in 0..<n {
                batch.append(ring[head]!)
                ring[head] = nil
                head += 1
                if head == ring.count { head = 0 }
            }
            count -= n
            if count > 0 { firstPendingAt = monotonicNanos() }
            let doRetention = retentionActive
            pthread_mutex_unlock(mutex)

            let failure = writeBatch(batch)
            let more = doRetention ? retentionChunk() : true

            pthread_mutex_lock(mutex)
            processed &+= UInt64(n)
            if let failure {
                counters.droppedWriteFailed &+= UInt64(n)
                counters.failedBatches &+= 1
                counters.lastError = failure
            } else {
                counters.written &+= UInt64(n)
                counters.batches &+= 1
                if n == options.batchSize { counters.fullBatches &+= 1 }
            }
            if doRetention && !more { finishRetention() }
            if flushWaiters > 0 { pthread_cond_broadcast(done) }
        }
        stopped = true
        pthread_cond_broadcast(done)
        pthread_mutex_unlock(mutex)
        // Finalize statements and close on this thread.
        for s in stmtCache.values { s.finalize() }
        stmtCache.removeAll()
        db.close()
    }

    /// Under the mutex.
    private func finishRetention() {
        retentionActive = false
        retentionStage = 0
        counters.retentionPasses &+= 1
        pthread_cond_broadcast(done)
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
        let (logDays, statsDays) = withLock { (retention.logDays, retention.statsDays) }
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
                withLock { counters.retentionDeletedLogs &+= UInt64(n) }
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
                withLock { counters.retentionDeletedStats &+= UInt64(n) }
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
            withLock { counters.lastError = msg }
            return false
        }
    }
}

extension Statement {
    /// Steps a statement that returns no rows, then resets it.
    func stepDone() throws {
        defer { reset() }
        while try step() {}
    }
}

struct RollupKey: Hashable {
    var dim: String
    var key: String
    var hour: Int64
}

struct StatsKey: Hashable {
    var hour: Int64
    var channel: Int64
    var model: String
    var token: Int64
}

/// One batch's additions to one `stats_hourly` row.
struct StatsDelta {
    var requests: Int64 = 0
    var successes: Int64 = 0
    var errors4xx: Int64 = 0
    var errors5xx: Int64 = 0
    var errorsOther: Int64 = 0
    var rateLimited: Int64 = 0
    var failovers: Int64 = 0
    var input: Int64 = 0
    var output: Int64 = 0
    var cacheRead: Int64 = 0
    var cacheWrite5m: Int64 = 0
    var cacheWrite1h: Int64 = 0
    var cost: Int64 = 0
    var durationSum: Int64 = 0
    var ttfbCount: Int64 = 0
    var ttfbSum: Int64 = 0
    var hist = [Int64](repeating: 0, count: TTFBBuckets.count)

    mutating func add(_ r: RequestRecord) {
        requests += 1
        switch r.status {
        case 200..<300: successes += 1
        case 400..<500: errors4xx += 1
        case 500..<600: errors5xx += 1
        default: errorsOther += 1
        }
        if r.status == 429 { rateLimited += 1 }
        if r.attempts.count > 1 { failovers += Int64(r.attempts.count - 1) }
        // Token counts and costs come from upstream usage: their sums saturate.
        input = Saturating.add(input, Int64(clamping: r.inputTokens))
        output = Saturating.add(output, Int64(clamping: r.outputTokens))
        cacheRead = Saturating.add(cacheRead, Int64(clamping: r.cacheReadTokens))
        cacheWrite5m = Saturating.add(cacheWrite5m, Int64(clamping: r.cacheWrite5mTokens))
        cacheWrite1h = Saturating.add(cacheWrite1h, Int64(clamping: r.cacheWrite1hTokens))
        cost = Saturating.add(cost, r.costMicroUSD)
        durationSum = Saturating.add(durationSum, Int64(clamping: r.durationMicros))
        if let t = r.ttfbMicros {
            ttfbCount += 1
            ttfbSum = Saturating.add(ttfbSum, Int64(clamping: t))
            hist[TTFBBuckets.index(ofMicros: t)] += 1
        }
    }

    /// In `Schema.valueColumns` order.
    var values: [Int64] {
        [requests, successes, errors4xx, errors5xx, errorsOther, rateLimited, failovers, input, output,
         cacheRead, cacheWrite5m, cacheWrite1h, cost, durationSum, ttfbCount, ttfbSum] + hist
    }

    func bind(_ s: Statement, from first: Int32) throws {
        for (i, v) in values.enumerated() { try s.bind(first + Int32(i), v) }
    }

    mutating func merge(_ o: StatsDelta) {
        requests += o.requests
        successes += o.successes
        errors4xx += o.errors4xx
        errors5xx += o.errors5xx
        errorsOther += o.errorsOther
        rateLimited += o.rateLimited
        failovers += o.failovers
        input = Saturating.add(input, o.input)
        output = Saturating.add(output, o.output)
        cacheRead = Saturating.add(cacheRead, o.cacheRead)
        cacheWrite5m = Saturating.add(cacheWrite5m, o.cacheWrite5m)
        cacheWrite1h = Saturating.add(cacheWrite1h, o.cacheWrite1h)
        cost = Saturating.add(cost, o.cost)
        durationSum = Saturating.add(durationSum, o.durationSum)
        ttfbCount += o.ttfbCount
        ttfbSum = Saturating.add(ttfbSum, o.ttfbSum)
        for i in 0..<hist.count { hist[i] += o.hist[i] }
    }
}

/// The attempts column: a JSON array written by hand (JSONEncoder is too slow for the
/// writer), read back with JSONDecoder.
enum AttemptJSON {
    static func encode(_ attempts: [AttemptNote]) -> String {
        if attempts.isEmpty { return "[]" }
        var s = "["
        for (i, a) in attempts.enumerated() {
            if i > 0 { s += "," }
            s += "{\"channelID\":\(a.channelID),\"keyIndex\":\(a.keyIndex),\"status\":\(a.status)"
            if let f = a.failure {
                s += ",\"failure\":"
                appendString(&s, f)
            }
            s += "}"
        }
        s += "]"
        return s
    }

    static func appendString(_ s: inout String, _ v: String) {
        s += "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        s += "\""
    }
}
