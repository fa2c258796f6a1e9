import Reactor

/// What each channel has cost today (UTC), in micro-USD, for daily cost limits. Shared
/// by every loop; the lock is held for one dictionary operation.
public final class DailySpend: DailyCostSource, Sendable {
    private struct State {
        var day: UInt64 = 0
        var microUSD: [Int: Int] = [:]
    }

    private let state = Lock(State())
    private let clock: @Sendable () -> UInt64

    /// `clock` gives wall-clock milliseconds (injectable for tests).
    public init(clock: @escaping @Sendable () -> UInt64 = { wallClockMillis() }) {
        self.clock = clock
    }

    private func rolled(_ s: inout State) {
        let day = clock() / 86_400_000
        if day != s.day {
            s.day = day
            s.microUSD.removeAll()
        }
    }

    public func add(channelID: Int, microUSD: Int) {
        state.withLock { s in
            rolled(&s)
            let before = s.microUSD[channelID] ?? 0
            s.microUSD[channelID] = Saturating.add(before, max(0, microUSD))
        }
    }

    public func todayCostUSD(channelID: Int) -> Double {
        state.withLock { s in
            rolled(&s)
            return Double(s.microUSD[channelID] ?? 0) / 1_000_000
        }
    }
}
