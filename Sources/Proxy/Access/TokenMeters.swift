import Reactor

/// Why a token may not make a request now, in the words and status the client gets.
public struct TokenRefusal: Sendable, Equatable {
    public var status: Int
    public var message: String
    /// Seconds until the limit resets, for `retry-after`.
    public var retryAfterSeconds: Int?
}

/// What each client token has in flight, asked this minute and spent today and in all,
/// shared by every loop; the lock is held for one dictionary update per call.
///
/// Cost caps count what requests in flight may still cost: `admit` reserves the request's
/// estimate and `finish` replaces it with the real cost. A request is admitted while spent
/// plus reserved is under the cap, so with estimates that hold, a cap is passed by at most
/// one request's estimate (plus what requests in flight cost beyond their estimates).
/// Every sum saturates: costs come from upstream usage counts.
///
/// With several instances (`LimitSync`), each meter also holds what the live peers count
/// for the token (`PeerFigures`: their requests this minute, in flight, reserved and spent),
/// and every limit compares local plus peers. The peers' figures are set by `LimitSync`'s
/// thread with one short update per token; admission only reads them.
public final class TokenMeters: Sendable {
    private struct Meter {
        var inFlight = 0
        var minute: UInt64 = 0
        var requestsThisMinute = 0
        var day: UInt64 = 0
        var costToday: Int64 = 0
        var week: UInt64 = 0
        var costThisWeek: Int64 = 0
        var month: UInt64 = 0
        var costThisMonth: Int64 = 0
        var costTotal: Int64 = 0
        /// The estimates of the requests in flight, not yet charged.
        var reserved: Int64 = 0
        /// The periods whose cap reaching was posted (`Notice.costCap`, once per cap per
        /// period): the day, week and month numbers, and whether the total cap's was.
        var capPostedDay: UInt64 = .max
        var capPostedWeek: UInt64 = .max
        var capPostedMonth: UInt64 = .max
        var capPostedTotal = false
        /// This instance's own spend (not the seed's, not the peers'), in the periods
        /// above: what `LimitSync` publishes.
        var ownToday: Int64 = 0
        var ownThisWeek: Int64 = 0
        var ownThisMonth: Int64 = 0
        var ownTotal: Int64 = 0
        /// What the live peers count (`LimitSync`).
        var peers = PeerFigures()
        /// In `State.changed` (a figure changed since `LimitSync` last read it).
        var changed = false
    }

    private struct State {
        var map = IDMap<Meter>()
        /// Tokens whose figures changed since `takeChanged` (only while `tracking`).
        var changed: [Int] = []
        var tracking = false
    }

    private let meters = Lock<State>(State())
    /// Where local days begin (`CCLOAD_TZ`): daily caps reset at its midnight, weekly ones
    /// at Monday's, monthly ones at the 1st's (`SpendPeriods` of the local day).
    public let calendar: LocalCalendar

    public init(calendar: LocalCalendar = .utc) {
        self.calendar = calendar
    }

    /// Spend known from before this process (the store's totals), by token id: today's,
    /// this week's, this month's (`SpendPeriods` of the local day) and all time.
    public func seed(today: [Int: Int64], week: [Int: Int64] = [:], month: [Int: Int64] = [:], total: [Int: Int64],
                     nowMillis: UInt64) {
        let p = SpendPeriods(day: calendar.day(nowMillis))
        meters.withLock { s in
            for id in Set(today.keys).union(week.keys).union(month.keys) {
                var t = s.map[id] ?? Meter()
                t.day = p.day
                t.week = p.week
                t.month = p.month
                t.costToday = today[id] ?? 0
                t.costThisWeek = week[id] ?? 0
                t.costThisMonth = month[id] ?? 0
                s.map[id] = t
            }
            for (id, c) in total { s.map[id, default: Meter()].costTotal = c }
        }
    }

    /// Starts the periods that began since the meter last counted. A meter's week and month
    /// are those of its day, so they are worked out only when the day changes: on most
    /// requests this is one compare.
    @inline(__always)
    private static func roll(_ t: inout Meter, day: UInt64) {
        guard t.day != day else { return }
        let p = SpendPeriods(day: day)
        t.day = day
        t.costToday = 0
        t.ownToday = 0
        if t.week != p.week { t.week = p.week; t.costThisWeek = 0; t.ownThisWeek = 0 }
        if t.month != p.month { t.month = p.month; t.costThisMonth = 0; t.ownThisMonth = 0 }
    }

    /// Admits one request of `token` for `model`, counting it in flight and reserving
    /// `reserveMicroUSD` (its estimated cost) against the cost caps, or says why not.
    /// `model` nil: the request names none (a models list, an endpoint ccload cannot read);
    /// a token limited to some models may then only list them (`modelsEndpoint`).
    /// The first refusal in a period by a cap that spending itself (not a reservation) has
    /// reached posts `Notice.costCap`, once per cap per period; other calls post nothing.
    public func admit(_ token: ClientToken, model: String?, modelsEndpoint: Bool = false, reserveMicroUSD: Int64 = 0,
                      nowMillis: UInt64) -> TokenRefusal? {
        if !token.enabled { return TokenRefusal(status: 401, message: "token \(token.name) is disabled") }
        if let e = token.expiresAtMillis, e <= nowMillis {
            return TokenRefusal(status: 401, message: "token \(token.name) has expired")
        }
        if let allowed = token.allowedModels {
            if let model, !allowed.contains(model) {
                return TokenRefusal(status: 403, message: "token \(token.name) may not use model \(model)")
            }
            if model == nil && !modelsEndpoint {
                return TokenRefusal(status: 403, message: "token \(token.name) is limited to some models and this endpoint names none ccload can check")
            }
        }
        let day = calendar.day(nowMillis)
        let minute = nowMillis / 60_000
        var reached: (period: String, cap: Int64)?
        defer {
            if let r = reached { Notices.post(.costCap(tokenID: token.id, token: token.name, period: r.period, capMicroUSD: r.cap)) }
        }
        return meters.withLock { s -> TokenRefusal? in
            var t = s.map[token.id] ?? Meter()
            Self.roll(&t, day: day)
            if t.minute != minute { t.minute = minute; t.requestsThisMinute = 0 }
            // What the peers count, in the periods of now (a figure of another period counts 0).
            let peer = t.peers.counted(minute: minute, day: day, week: t.week, month: t.month)
            let reserved = Saturating.add(t.reserved, peer.reserved)
            if let cap = token.totalCostCapMicroUSD, Saturating.add(Saturating.add(t.costTotal, peer.total), reserved) >= cap {
                // Posted when spending itself (not what requests in flight reserve) is there.
                if Saturating.add(t.costTotal, peer.total) >= cap && !t.capPostedTotal { t.capPostedTotal = true; reached = ("total", cap) }
                s.map[token.id] = t
                return TokenRefusal(status: 403, message: "token \(token.name) reached its total cost cap")
            }
            if let cap = token.monthlyCostCapMicroUSD, Saturating.add(Saturating.add(t.costThisMonth, peer.month), reserved) >= cap {
                if Saturating.add(t.costThisMonth, peer.month) >= cap && t.capPostedMonth != t.month { t.capPostedMonth = t.month; reached = ("month", cap) }
                s.map[token.id] = t
                return TokenRefusal(status: 429, message: "token \(token.name) reached its monthly cost cap; it resets on the 1st, 00:00 \(calendar.zoneID)",
                                    retryAfterSeconds: Self.seconds(until: calendar.start(ofDay: SpendPeriods(day: day).nextMonthDay), nowMillis))
            }
            if let cap = token.weeklyCostCapMicroUSD, Saturating.add(Saturating.add(t.costThisWeek, peer.week), reserved) >= cap {
                if Saturating.add(t.costThisWeek, peer.week) >= cap && t.capPostedWeek != t.week { t.capPostedWeek = t.week; reached = ("week", cap) }
                s.map[token.id] = t
                return TokenRefusal(status: 429, message: "token \(token.name) reached its weekly cost cap; it resets on Monday, 00:00 \(calendar.zoneID)",
                                    retryAfterSeconds: Self.seconds(until: calendar.start(ofDay: SpendPeriods(day: day).nextWeekDay), nowMillis))
            }
            if let cap = token.dailyCostCapMicroUSD, Saturating.add(Saturating.add(t.costToday, peer.today), reserved) >= cap {
                if Saturating.add(t.costToday, peer.today) >= cap && t.capPostedDay != t.day { t.capPostedDay = t.day; reached = ("day", cap) }
                s.map[token.id] = t
                let wait = Self.seconds(until: calendar.nextDayStart(after: nowMillis), nowMillis)
                return TokenRefusal(status: 429, message: "token \(token.name) reached its daily cost cap; it resets at 00:00 \(calendar.zoneID)",
                                    retryAfterSeconds: wait)
            }
            if let rpm = token.requestsPerMinute, Saturating.add(t.requestsThisMinute, peer.requests) >= rpm {
                s.map[token.id] = t
                let wait = Int(((minute + 1) * 60_000 - nowMillis + 999) / 1000)
                return TokenRefusal(status: 429, message: "token \(token.name) is limited to \(rpm) requests per minute",
                                    retryAfterSeconds: wait)
            }
            if let c = token.maxConcurrency, Saturating.add(t.inFlight, peer.inFlight) >= c {
                s.map[token.id] = t
                return TokenRefusal(status: 429, message: "token \(token.name) is limited to \(c) concurrent requests",
                                    retryAfterSeconds: 1)
            }
            // Under every cap again (a cap raised, spend reset): a total cap reached anew is posted anew.
            t.capPostedTotal = false
            t.inFlight += 1
            t.requestsThisMinute += 1
            t.reserved = Saturating.add(t.reserved, max(0, reserveMicroUSD))
            Self.markChanged(&t, token.id, &s)
            s.map[token.id] = t
            return nil
        }
    }

    /// Ends a request `admit` let in: gives back its reservation and adds what it cost.
    public func finish(tokenID: Int, costMicroUSD: Int64, reservedMicroUSD: Int64 = 0, nowMillis: UInt64) {
        let day = calendar.day(nowMillis)
        let cost = max(0, costMicroUSD)
        meters.withLock { s in
            var t = s.map[tokenID] ?? Meter()
            t.inFlight = max(0, t.inFlight - 1)
            t.reserved = max(0, t.reserved - max(0, reservedMicroUSD))
            Self.roll(&t, day: day)
            t.costToday = Saturating.add(t.costToday, cost)
            t.costThisWeek = Saturating.add(t.costThisWeek, cost)
            t.costThisMonth = Saturating.add(t.costThisMonth, cost)
            t.costTotal = Saturating.add(t.costTotal, cost)
            t.ownToday = Saturating.add(t.ownToday, cost)
            t.ownThisWeek = Saturating.add(t.ownThisWeek, cost)
            t.ownThisMonth = Saturating.add(t.ownThisMonth, cost)
            t.ownTotal = Saturating.add(t.ownTotal, cost)
            Self.markChanged(&t, tokenID, &s)
            s.map[tokenID] = t
        }
    }

    /// Queues `id` for `takeChanged` once (no allocation once the list has grown to the
    /// tokens in use: `takeChanged` hands back an emptied list with its capacity).
    @inline(__always)
    private static func markChanged(_ t: inout Meter, _ id: Int, _ s: inout State) {
        guard s.tracking, !t.changed else { return }
        t.changed = true
        s.changed.append(id)
    }

    /// Starts the local day of `nowMillis` (and its week and month, when they are new) for
    /// every token still counting an earlier one (the daily reset job); returns how many had
    /// spent that day.
    @discardableResult
    public func resetDay(nowMillis: UInt64) -> Int {
        let day = calendar.day(nowMillis)
        return meters.withLock { s in
            var spent = 0
            for id in s.map.keys where s.map[id]!.day != day {
                if s.map[id]!.costToday > 0 { spent += 1 }
                Self.roll(&s.map[id]!, day: day)
            }
            return spent
        }
    }

    /// Whole seconds from `now` to `until` (rounded up), for `retry-after`.
    private static func seconds(until: UInt64, _ now: UInt64) -> Int {
        Int(clamping: (until > now ? until - now : 0) / 1000 + ((until > now ? until - now : 0) % 1000 == 0 ? 0 : 1))
    }

    /// What `token` has spent this week and this month (tests, admin).
    public func periodSpend(tokenID: Int, nowMillis: UInt64) -> (week: Int64, month: Int64) {
        let p = SpendPeriods(day: calendar.day(nowMillis))
        return meters.withLock { s in
            guard let t = s.map[tokenID] else { return (0, 0) }
            return (t.week == p.week ? t.costThisWeek : 0, t.month == p.month ? t.costThisMonth : 0)
        }
    }

    /// What `token` has spent today and in all, and holds reserved (tests, admin).
    public func spend(tokenID: Int, nowMillis: UInt64) -> (today: Int64, total: Int64, reserved: Int64, inFlight: Int) {
        let day = calendar.day(nowMillis)
        return meters.withLock { s in
            guard let t = s.map[tokenID] else { return (0, 0, 0, 0) }
            return (t.day == day ? t.costToday : 0, t.costTotal, t.reserved, t.inFlight)
        }
    }
}

// MARK: several instances (`LimitSync`)

/// What the live peers count for one token, summed by `LimitSync`: their requests in a
/// minute, in flight, reserved, and spent in a day, week and month (each figure counts only
/// in its own period) and in all.
struct PeerFigures: Sendable, Equatable {
    var minute: UInt64 = .max
    var requests = 0
    var inFlight = 0
    var reserved: Int64 = 0
    var day: UInt64 = .max
    var today: Int64 = 0
    var week: UInt64 = .max
    var thisWeek: Int64 = 0
    var month: UInt64 = .max
    var thisMonth: Int64 = 0
    var total: Int64 = 0

    /// The figures that count now: a figure of another minute, day, week or month is 0.
    @inline(__always)
    func counted(minute: UInt64, day: UInt64, week: UInt64, month: UInt64)
        -> (requests: Int, inFlight: Int, reserved: Int64, today: Int64, week: Int64, month: Int64, total: Int64) {
        (self.minute == minute ? requests : 0, inFlight, reserved, self.day == day ? today : 0,
         self.week == week ? thisWeek : 0, self.month == month ? thisMonth : 0, total)
    }
}

/// One token's own figures as `LimitSync` publishes them: requests this minute, in flight,
/// reserved, and this instance's own spend today, this week, this month and since it started.
struct LocalFigures: Sendable, Equatable {
    var requests = 0
    var inFlight = 0
    var reserved: Int64 = 0
    var today: Int64 = 0
    var thisWeek: Int64 = 0
    var thisMonth: Int64 = 0
    var total: Int64 = 0
}

extension TokenMeters {
    /// Starts listing the tokens whose figures change (`takeChanged`).
    func trackChanges() {
        meters.withLock { $0.tracking = true }
    }

    /// Swaps the tokens whose figures changed since the last call into `ids` (emptied
    /// first, capacity kept both sides): one swap under the lock.
    func takeChanged(_ ids: inout [Int]) {
        ids.removeAll(keepingCapacity: true)
        meters.withLock { swap(&$0.changed, &ids) }
    }

    /// `tokenID`'s own figures in the periods of `nowMillis` (nil: no meter), and marks
    /// them read (a later change lists the token again).
    func localFigures(tokenID: Int, nowMillis: UInt64) -> LocalFigures? {
        let day = calendar.day(nowMillis)
        let minute = nowMillis / 60_000
        return meters.withLock { s -> LocalFigures? in
            guard var t = s.map[tokenID] else { return nil }
            Self.roll(&t, day: day)
            t.changed = false
            s.map[tokenID] = t
            return LocalFigures(requests: t.minute == minute ? t.requestsThisMinute : 0, inFlight: t.inFlight, reserved: t.reserved,
                                today: t.ownToday, thisWeek: t.ownThisWeek, thisMonth: t.ownThisMonth, total: t.ownTotal)
        }
    }

    /// Every token with a meter (a resync publishes them all again).
    func meteredTokenIDs() -> [Int] {
        meters.withLock { $0.map.keys }
    }

    /// Sets what the live peers count for `tokenID`; `absorbing` (a departed peer's spend)
    /// is added to the meter's own counts in the same step, so it is counted once throughout.
    func setPeers(tokenID: Int, _ peers: PeerFigures, absorbing gone: PeerFigures? = nil) {
        meters.withLock { s in
            var t = s.map[tokenID] ?? Meter()
            t.peers = peers
            if let g = gone {
                if g.day != .max && g.day > t.day { Self.roll(&t, day: g.day) }
                if g.day == t.day { t.costToday = Saturating.add(t.costToday, g.today) }
                if g.week == t.week { t.costThisWeek = Saturating.add(t.costThisWeek, g.thisWeek) }
                if g.month == t.month { t.costThisMonth = Saturating.add(t.costThisMonth, g.thisMonth) }
                t.costTotal = Saturating.add(t.costTotal, g.total)
            }
            s.map[tokenID] = t
        }
    }

    /// What the peers count for `tokenID` now (tests, admin).
    func peerFigures(tokenID: Int) -> PeerFigures {
        meters.withLock { $0.map[tokenID]?.peers ?? PeerFigures() }
    }
}
