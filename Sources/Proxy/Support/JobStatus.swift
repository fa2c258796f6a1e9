/// One scheduled job's last run and outcome, for `/admin/jobs`.
public struct JobStatus: Sendable, Equatable {
    public var name: String
    /// What it does, in a line.
    public var summary: String
    /// Wall-clock milliseconds of the last run's end; nil before the first.
    public var lastRunMillis: UInt64?
    /// `ok` or `error`; nil before the first run.
    public var outcome: String?
    /// What the last run did, or why it failed.
    public var detail: String?
    public var runs: UInt64 = 0
    /// When it runs next (wall-clock milliseconds), when known.
    public var nextRunMillis: UInt64?

    public init(name: String, summary: String) {
        self.name = name
        self.summary = summary
    }
}
