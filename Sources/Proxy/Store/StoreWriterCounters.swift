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
    /// Batches kept to be tried again because the database server could not be reached
    /// (PostgreSQL); their records stay queued.
    public var retriedBatches: UInt64 = 0
    /// Batches whose log rows were stored as one pending segment (the relay was busy).
    public var packedBatches: UInt64 = 0
    /// Pending segments moved into `request_logs`, and moves that failed (tried again later).
    public var movedSegments: UInt64 = 0
    public var failedMoves: UInt64 = 0
    /// Log rows waiting in pending segments now.
    public var pendingLogRows = 0
    /// Request-log and statistics rows deleted by retention.
    public var retentionDeletedLogs: UInt64 = 0
    public var retentionDeletedStats: UInt64 = 0
    /// Retention passes completed.
    public var retentionPasses: UInt64 = 0
    /// The last write error, if any.
    public var lastError: String?
    /// The last retention pass completed, if any.
    public var lastRetention: RetentionPass?

    /// Everything dropped, for the admin metrics.
    public var dropped: UInt64 { droppedQueueFull + droppedWriteFailed }
}

/// One completed retention pass: when it ended (wall-clock milliseconds), what it deleted,
/// and its first error (the pass goes on to the next table after one).
public struct RetentionPass: Sendable, Equatable {
    public var endedMillis: UInt64
    public var deletedLogs: UInt64
    public var deletedStats: UInt64
    public var error: String?
}
