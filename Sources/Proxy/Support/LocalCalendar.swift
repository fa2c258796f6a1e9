import Foundation

/// Where local days begin in one time zone (`CCLOAD_TZ`, an IANA name read from the
/// system's tz database; default the system's zone): daily counters (token daily cost
/// caps, channel daily cost limits) reset at local midnight.
///
/// Built once, off the hot path, with Foundation: the zone's UTC offset changes from 1970
/// to 2200 are kept in two arrays, so `day(_:)` is a binary search and integer arithmetic
/// (no Foundation, no allocation, no lock per call).
public struct LocalCalendar: Sendable, Equatable {
    public let zoneID: String
    /// UTC milliseconds at which the offset changes, ascending.
    private let changes: ContiguousArray<Int64>
    /// The offset in milliseconds before the first change (`offsets[0]`) and from each on.
    private let offsets: ContiguousArray<Int64>

    static let dayMillis: Int64 = 86_400_000
    /// Changes are looked up to here (2200-01-01); later times keep the last offset.
    static let horizonSeconds: TimeInterval = 7_258_118_400

    public static let utc = LocalCalendar(zone: TimeZone(identifier: "UTC")!, id: "UTC")

    /// The zone named `id` (IANA, e.g. `Asia/Shanghai`), `UTC`; nil `id` or empty: the
    /// system's zone. Throws a message for a name the tz database does not hold.
    public static func named(_ id: String?) throws(LocalCalendarError) -> LocalCalendar {
        guard let id, !id.isEmpty else { return LocalCalendar(zone: TimeZone.current, id: TimeZone.current.identifier) }
        guard id.count <= 100, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/_-+".contains($0)) }),
              !id.hasPrefix("/"), !id.contains(".."), let zone = TimeZone(identifier: id) else {
            throw LocalCalendarError(zone: id)
        }
        return LocalCalendar(zone: zone, id: id)
    }

    init(zone: TimeZone, id: String) {
        zoneID = id
        var changes = ContiguousArray<Int64>()
        var offsets = ContiguousArray<Int64>([Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: 0))) * 1000])
        var at = Date(timeIntervalSince1970: 0)
        while let next = zone.nextDaylightSavingTimeTransition(after: at), next.timeIntervalSince1970 < Self.horizonSeconds,
              next > at, changes.count < 4096 {
            changes.append(Int64(next.timeIntervalSince1970 * 1000))
            offsets.append(Int64(zone.secondsFromGMT(for: next)) * 1000)
            at = next
        }
        self.changes = changes
        self.offsets = offsets
    }

    /// A zone with a fixed offset (tests).
    init(fixedOffsetSeconds: Int, id: String) {
        zoneID = id
        changes = []
        offsets = [Int64(fixedOffsetSeconds) * 1000]
    }

    /// The local offset from UTC at `millis`, in milliseconds.
    @inline(__always)
    public func offsetMillis(at millis: UInt64) -> Int64 {
        let t = Int64(clamping: millis)
        var lo = 0, hi = changes.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if changes[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return offsets[lo]
    }

    /// Local days since 1970-01-01 at `millis` (UTC milliseconds).
    @inline(__always)
    public func day(_ millis: UInt64) -> UInt64 {
        let local = Int64(clamping: millis) &+ offsetMillis(at: millis)
        return local <= 0 ? 0 : UInt64(local / Self.dayMillis)
    }

    /// The first millisecond of the local day after the one holding `millis`.
    public func nextDayStart(after millis: UInt64) -> UInt64 {
        let d = day(millis)
        let target = Int64(clamping: d &+ 1) &* Self.dayMillis
        // Midnight in UTC terms, by the offset now and then by the offset found there.
        var t = max(Int64(clamping: millis) + 1, target - offsetMillis(at: millis))
        t = max(Int64(clamping: millis) + 1, target - offsetMillis(at: UInt64(t)))
        // Where a change skips midnight, the new day starts at the change itself.
        var u = UInt64(t)
        if day(u) == d, let change = changes.first(where: { $0 > t }) { u = UInt64(change) }
        while day(u) == d { u &+= 60_000 }  // bounded: the next local day is at most a day away
        while u > millis + 1 && day(u - 1) > d { u -= 1 }
        return u
    }

    /// The first millisecond of local day number `d` (days since 1970-01-01, as `day`
    /// counts them): found from the day's local noon, which no offset moves out of it.
    public func start(ofDay d: UInt64) -> UInt64 {
        let (base, o1) = d.multipliedReportingOverflow(by: UInt64(Self.dayMillis))
        if o1 { return .max }
        let noon = Saturating.add(base, 43_200_000)
        let utc = Int64(clamping: noon) &- offsetMillis(at: noon)
        return startOfDay(utc <= 0 ? 0 : UInt64(utc))
    }

    /// The first millisecond of the local day holding `millis`.
    public func startOfDay(_ millis: UInt64) -> UInt64 {
        let d = day(millis)
        guard d > 0 else { return 0 }
        // The day before starts no more than 26 hours earlier; its next day is this one.
        let before = millis > 93_600_000 ? millis - 93_600_000 : 0
        var s = nextDayStart(after: before)
        while day(s) < d { s = nextDayStart(after: s) }
        return s
    }

    /// `yyyy-mm-dd` of the local day holding `millis` (admin views; not for the hot path).
    public func dateText(_ millis: UInt64) -> String {
        var f = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: zoneID) ?? .gmt)
        f = f.year().month().day()
        return Date(timeIntervalSince1970: Double(millis) / 1000).formatted(f)
    }

    public static func == (a: LocalCalendar, b: LocalCalendar) -> Bool {
        a.zoneID == b.zoneID && a.changes == b.changes && a.offsets == b.offsets
    }
}

/// A time zone the tz database does not know.
public struct LocalCalendarError: Error, CustomStringConvertible {
    public let zone: String
    public var description: String {
        "CCLOAD_TZ: \"\(zone.prefix(100))\" is not a time zone of the system's tz database (an IANA name such as Asia/Shanghai, Europe/Berlin or UTC)"
    }
}
