/// Which bucket an hour of usage falls in, and how a bucket is named. Hour rows (UTC
/// hours, as the store keeps them) go to the local day or month of `calendar` in which the
/// hour starts: in a zone whose offset is not whole hours (India, +5:30), the hour that
/// holds local midnight counts in the day it starts in. Integer arithmetic and a memo of
/// day starts; not for the hot path.
public struct UsageBuckets {
    public let period: UsagePeriod
    public let calendar: LocalCalendar
    private var dayStarts: [UInt64: UInt64] = [:]

    public init(period: UsagePeriod, calendar: LocalCalendar) {
        self.period = period
        self.calendar = calendar
    }

    /// The first millisecond of the bucket holding the hour that starts at `hourMillis`.
    public mutating func start(ofHour hourMillis: UInt64) -> UInt64 {
        switch period {
        case .hour:
            return hourMillis
        case .day:
            return dayStart(calendar.day(hourMillis))
        case .month:
            return dayStart(SpendPeriods(day: calendar.day(hourMillis)).monthStartDay)
        }
    }

    private mutating func dayStart(_ d: UInt64) -> UInt64 {
        if let s = dayStarts[d] { return s }
        let s = calendar.start(ofDay: d)
        dayStarts[d] = s
        return s
    }

    /// The bucket's local name: `2026-12-01 13:00` (the hour's local start), `2026-12-01`, `2026-12`.
    public func label(_ bucketMillis: UInt64) -> String {
        let local = Int64(clamping: bucketMillis) &+ calendar.offsetMillis(at: bucketMillis)
        let l = local <= 0 ? 0 : UInt64(local)
        let (y, m, d) = SpendPeriods.civil(l / UsagePeriod.dayMillis)
        let ym = "\(y)-\(Self.two(m))"
        switch period {
        case .month: return ym
        case .day: return "\(ym)-\(Self.two(d))"
        case .hour:
            let minutes = l % UsagePeriod.dayMillis / 60_000
            return "\(ym)-\(Self.two(d)) \(Self.two(minutes / 60)):\(Self.two(minutes % 60))"
        }
    }

    static func two(_ v: UInt64) -> String { v < 10 ? "0\(v)" : "\(v)" }
}
