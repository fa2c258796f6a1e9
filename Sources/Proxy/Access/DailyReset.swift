import Reactor

/// The daily reset job: at local midnight in `calendar`'s zone the daily counters start
/// again from zero (token daily cost caps in `TokenMeters`, channel daily cost limits in
/// `DailySpend`). Those counters already roll over at the boundary on their own (they
/// compute the local day from the same calendar), so a late or missed run never lets a
/// day's spend leak into the next; the job clears the day's counters at once for every
/// token and channel and keeps its last run and outcome. Shared; `tick` is called by the
/// start-up thread every few seconds (any thread, never a reactor thread's hot path).
public final class DailyReset: Sendable {
    public let calendar: LocalCalendar
    private let meters: TokenMeters
    private let spend: DailySpend
    private struct State {
        var day: UInt64
        var status: JobStatus
    }
    private let state: Lock<State>

    public static let jobName = "daily_reset"

    public init(calendar: LocalCalendar, meters: TokenMeters, spend: DailySpend, nowMillis: UInt64) {
        self.calendar = calendar
        self.meters = meters
        self.spend = spend
        var s = JobStatus(name: Self.jobName,
                          summary: "daily counters (token daily cost caps, channel daily cost limits) start again at 00:00 \(calendar.zoneID)")
        s.nextRunMillis = calendar.nextDayStart(after: nowMillis)
        state = Lock(State(day: calendar.day(nowMillis), status: s))
    }

    /// Runs the reset when `nowMillis` is in a later local day than the last run (or than
    /// the start); returns whether it ran.
    @discardableResult
    public func tick(nowMillis: UInt64) -> Bool {
        let today = calendar.day(nowMillis)
        let due = state.withLock { s -> Bool in
            guard today > s.day else { return false }
            s.day = today
            return true
        }
        guard due else { return false }
        let tokens = meters.resetDay(nowMillis: nowMillis)
        let channels = spend.resetDay()
        let date = calendar.dateText(nowMillis)
        state.withLock { s in
            s.status.lastRunMillis = nowMillis
            s.status.outcome = "ok"
            s.status.detail = "daily counters reset for \(date) (\(calendar.zoneID)): \(tokens) token(s), \(channels) channel(s) had spent today"
            s.status.runs &+= 1
            s.status.nextRunMillis = calendar.nextDayStart(after: nowMillis)
        }
        return true
    }

    public var status: JobStatus { state.withLock { $0.status } }
}
