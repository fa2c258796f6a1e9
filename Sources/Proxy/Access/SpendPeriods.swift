/// The periods a token's cost caps count in: the day, the week (from Monday) and the
/// calendar month of a day number, each as a number that changes when a new one starts,
/// with the day numbers that start it and the next. The meters give it the local day
/// (`LocalCalendar.day`) and turn day numbers into instants with `LocalCalendar.start(ofDay:)`;
/// the `…Millis` values read the day numbers as UTC days. Integer arithmetic only (no
/// calendar, no Foundation); the meters work it out only when a token's day changes.
public struct SpendPeriods: Sendable, Equatable {
    public static let dayMillis: UInt64 = 86_400_000

    /// Days since 1970-01-01.
    public let day: UInt64
    /// Weeks since the Monday before 1970-01-01 (a Thursday).
    public let week: UInt64
    /// Months since January 1970.
    public let month: UInt64

    public init(nowMillis: UInt64) {
        self.init(day: nowMillis / Self.dayMillis)
    }

    /// The periods of day number `day` (days since 1970-01-01).
    public init(day: UInt64) {
        self.day = day
        week = (day + 3) / 7
        let (y, m, _) = Self.civil(day)
        month = (y - 1970) * 12 + (m - 1)
    }

    // A day number is at most UInt64.max / 86_400_000, so the day arithmetic cannot
    // overflow; only the last step back to milliseconds can, at the end of time (saturated).
    /// The day numbers that start this week (0 for the first, partial week), the next week,
    /// this month and the next month.
    public var weekStartDay: UInt64 { week == 0 ? 0 : week * 7 - 3 }
    public var nextWeekDay: UInt64 { (week + 1) * 7 - 3 }
    public var monthStartDay: UInt64 { Self.daysFromCivil(1970 + month / 12, month % 12 + 1) }
    public var nextMonthDay: UInt64 { Self.daysFromCivil(1970 + (month + 1) / 12, (month + 1) % 12 + 1) }

    public var dayStartMillis: UInt64 { Self.millis(day) }
    public var nextDayMillis: UInt64 { Self.millis(day + 1) }
    /// The Monday that starts this week (1970-01-01 for the first, partial week).
    public var weekStartMillis: UInt64 { Self.millis(weekStartDay) }
    public var nextWeekMillis: UInt64 { Self.millis(nextWeekDay) }
    public var monthStartMillis: UInt64 { Self.millis(monthStartDay) }
    public var nextMonthMillis: UInt64 { Self.millis(nextMonthDay) }

    static func millis(_ day: UInt64) -> UInt64 {
        let (v, overflow) = day.multipliedReportingOverflow(by: dayMillis)
        return overflow ? .max : v
    }

    /// Year, month (1…12) and day (1…31) of a day number (days since 1970-01-01), after
    /// Howard Hinnant's `civil_from_days`, for days on or after the epoch.
    static func civil(_ days: UInt64) -> (year: UInt64, month: UInt64, day: UInt64) {
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// The day number of the first of month `m` (1…12) of year `y` (≥ 1970).
    static func daysFromCivil(_ year: UInt64, _ m: UInt64) -> UInt64 {
        let y = m <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
