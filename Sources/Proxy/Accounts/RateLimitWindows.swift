import Reactor

/// What a Claude subscription says of its limits in the `anthropic-ratelimit-unified-*`
/// response fields: an overall status and reset, and the 5-hour and 7-day windows' status,
/// utilization and reset. Every value is hostile: a number that does not parse, is out of
/// range or overflows is dropped (never trapped on).
public struct RateLimitWindows: Sendable, Equatable {
    public enum Status: UInt8, Sendable {
        case unknown = 0, allowed, allowedWarning, rejected

        public var name: String {
            switch self {
            case .unknown: return "unknown"
            case .allowed: return "allowed"
            case .allowedWarning: return "allowed_warning"
            case .rejected: return "rejected"
            }
        }
    }

    public struct Window: Sendable, Equatable {
        public var status = Status.unknown
        /// Thousandths of the window used (1000 = all of it), capped at 10 000; nil: not sent.
        public var utilizationMilli: UInt32?
        /// Unix seconds; nil: not sent.
        public var resetSeconds: UInt64?
        public init() {}
    }

    public var status = Status.unknown
    public var resetSeconds: UInt64?
    public var fiveHour = Window()
    public var sevenDay = Window()

    public init() {}

    /// Utilization above this many thousandths is taken as no number at all.
    static let maxUtilizationMilli: UInt32 = 10_000
    /// A reset further than this from now (either way) is dropped.
    static let maxResetDistanceSeconds: UInt64 = 40 * 86_400

    /// Whether any unified field was present.
    public var isEmpty: Bool { self == RateLimitWindows() }

    /// The windows in `head`, or nil when it has none of the unified fields.
    public static func parse<H: HTTPHeadFields>(_ head: H, nowSeconds: UInt64) -> RateLimitWindows? {
        guard head.value("anthropic-ratelimit-unified-status") != nil || head.value("anthropic-ratelimit-unified-5h-status") != nil
            || head.value("anthropic-ratelimit-unified-7d-status") != nil || head.value("anthropic-ratelimit-unified-reset") != nil
        else { return nil }
        var w = RateLimitWindows()
        w.status = status(head.value("anthropic-ratelimit-unified-status"))
        w.resetSeconds = reset(head.value("anthropic-ratelimit-unified-reset"), now: nowSeconds)
        w.fiveHour.status = status(head.value("anthropic-ratelimit-unified-5h-status"))
        w.fiveHour.utilizationMilli = utilization(head.value("anthropic-ratelimit-unified-5h-utilization"))
        w.fiveHour.resetSeconds = reset(head.value("anthropic-ratelimit-unified-5h-reset"), now: nowSeconds)
        w.sevenDay.status = status(head.value("anthropic-ratelimit-unified-7d-status"))
        w.sevenDay.utilizationMilli = utilization(head.value("anthropic-ratelimit-unified-7d-utilization"))
        w.sevenDay.resetSeconds = reset(head.value("anthropic-ratelimit-unified-7d-reset"), now: nowSeconds)
        return w
    }

    /// When the account said it is at its limit (the overall or a window's status is
    /// `rejected`, or a window is fully used): until when, in unix seconds (the latest reset
    /// named for what is exhausted; nil when no reset was given, or the limit is not reached).
    public func limitedUntil(nowSeconds: UInt64) -> UInt64? {
        var until: UInt64?
        func take(_ r: UInt64?) { if let r, r > nowSeconds { until = max(until ?? 0, r) } }
        let full5 = fiveHour.status == .rejected || (fiveHour.utilizationMilli ?? 0) >= 1000
        let full7 = sevenDay.status == .rejected || (sevenDay.utilizationMilli ?? 0) >= 1000
        if full5 { take(fiveHour.resetSeconds ?? resetSeconds) }
        if full7 { take(sevenDay.resetSeconds ?? resetSeconds) }
        if status == .rejected { take(resetSeconds ?? fiveHour.resetSeconds ?? sevenDay.resetSeconds) }
        return until
    }

    static func status(_ v: ArraySlice<UInt8>?) -> Status {
        guard let v else { return .unknown }
        if ASCII.equalsIgnoringCase(v, "allowed") { return .allowed }
        if ASCII.equalsIgnoringCase(v, "allowed_warning") { return .allowedWarning }
        if ASCII.equalsIgnoringCase(v, "rejected") { return .rejected }
        return .unknown
    }

    /// A decimal fraction (`0.42`, `1`, `1.0`) as thousandths, at most 3 decimals read;
    /// nil for anything else or past `maxUtilizationMilli`.
    static func utilization(_ v: ArraySlice<UInt8>?) -> UInt32? {
        guard let v, !v.isEmpty else { return nil }
        var whole: UInt32 = 0, frac: UInt32 = 0, fracDigits = 0, seenDot = false, digits = 0
        for b in v {
            if b == 0x2E {
                if seenDot { return nil }
                seenDot = true
                continue
            }
            guard b >= 0x30 && b <= 0x39 else { return nil }
            digits += 1
            let d = UInt32(b - 0x30)
            if seenDot {
                if fracDigits < 3 { frac = frac * 10 + d; fracDigits += 1 }
            } else {
                whole = whole * 10 + d
                if whole > 10 { return nil }
            }
        }
        guard digits > 0 else { return nil }
        while fracDigits < 3 { frac *= 10; fracDigits += 1 }
        let milli = whole * 1000 + frac
        return milli <= maxUtilizationMilli ? milli : nil
    }

    /// Unix seconds (digits only), within `maxResetDistanceSeconds` of now; else nil.
    static func reset(_ v: ArraySlice<UInt8>?, now: UInt64) -> UInt64? {
        guard let v, !v.isEmpty, v.count <= 19 else { return nil }
        var n: UInt64 = 0
        for b in v {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            if o1 || o2 { return nil }
            n = a
        }
        let distance = n > now ? n - now : now - n
        return distance <= maxResetDistanceSeconds ? n : nil
    }

    /// As the admin API shows and the store keeps them.
    public var json: String {
        func window(_ w: Window) -> String {
            var parts = ["\"status\":\"\(w.status.name)\""]
            if let u = w.utilizationMilli { parts.append("\"utilization\":\(Double(u) / 1000)") }
            if let r = w.resetSeconds { parts.append("\"reset\":\(r)") }
            return "{" + parts.joined(separator: ",") + "}"
        }
        var top = ["\"status\":\"\(status.name)\""]
        if let r = resetSeconds { top.append("\"reset\":\(r)") }
        top.append("\"five_hour\":\(window(fiveHour))")
        top.append("\"seven_day\":\(window(sevenDay))")
        return "{" + top.joined(separator: ",") + "}"
    }
}
