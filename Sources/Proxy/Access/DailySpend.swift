import Reactor

/// What each channel has cost today (the local day of `calendar`), in micro-USD, for daily cost limits, plus
/// what the tries in flight on it may still cost (their reserved estimates), so that
/// concurrent requests cannot all pass a limit that only a few fit under. Shared by every
/// loop; the lock is held for one dictionary operation. Sums saturate.
public final class DailySpend: DailyCostSource, Sendable {
    private struct State {
        var day: UInt64 = 0
        var microUSD = IDMap<Int>()
        /// Kept across the day's end: a reservation is given back by the try that made it.
        var reserved = IDMap<Int>()
    }

    private let state = Lock(State())
    private let clock: @Sendable () -> UInt64
    private let calendar: LocalCalendar

    /// `clock` gives wall-clock milliseconds (injectable for tests); days are `calendar`'s.
    public init(calendar: LocalCalendar = .utc, clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.calendar = calendar
        self.clock = clock
    }

    /// Starts a new day when the clock is past the one counted; returns how many channels
    /// had spent in the day that ended.
    @discardableResult
    private func rolled(_ s: inout State) -> Int {
        let day = calendar.day(clock())
        guard day != s.day else { return 0 }
        s.day = day
        let spent = s.microUSD.count
        s.microUSD.removeAll()
        return spent
    }

    /// The daily reset job: starts the new day now if it has begun; returns how many
    /// channels had spent in the day that ended.
    @discardableResult
    public func resetDay() -> Int { state.withLock { rolled(&$0) } }

    public func add(channelID: Int, microUSD: Int) {
        state.withLock { s in
            rolled(&s)
            let before = s.microUSD[channelID] ?? 0
            s.microUSD[channelID] = Saturating.add(before, max(0, microUSD))
        }
    }

    /// Holds `microUSD` (a try's estimate) against the channel's daily limit until `release`.
    public func reserve(channelID: Int, microUSD: Int) {
        guard microUSD > 0 else { return }
        state.withLock { s in s.reserved[channelID] = Saturating.add(s.reserved[channelID] ?? 0, microUSD) }
    }

    /// Gives back what `reserve` held.
    public func release(channelID: Int, microUSD: Int) {
        guard microUSD > 0 else { return }
        state.withLock { s in
            let left = max(0, (s.reserved[channelID] ?? 0) - microUSD)
            s.reserved[channelID] = left > 0 ? left : nil
        }
    }

    /// Spent today plus reserved, in USD.
    public func todayCostUSD(channelID: Int) -> Double {
        state.withLock { s in
            rolled(&s)
            return Double(Saturating.add(s.microUSD[channelID] ?? 0, s.reserved[channelID] ?? 0)) / 1_000_000
        }
    }
}
