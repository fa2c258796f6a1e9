import Reactor

/// What to do with an upstream answer received before the commit point.
public enum Verdict: Equatable, Sendable {
    /// Give it to the client as it is (success, redirect, or the client's own mistake).
    case passThrough
    /// Try the next candidate and cool `scope` for `class`; `resetAfterNanos` is the
    /// upstream's own reset hint, relative to now (the cooldown book clamps it).
    case failover(FailureClass, ScopeKind, resetAfterNanos: UInt64?)
}

/// Pure functions from an upstream outcome to a verdict. No allocation, no Foundation.
public enum Classifier {
    /// Classifies a response head (and the first bytes of its body, for error texts).
    /// `model` is the upstream model name (a 404 that names it is about the model).
    /// `nowUnixSeconds` is wall-clock time, for `retry-after` dates and unix reset times.
    public static func classify(status: Int, headers: some HTTPHeadFields, bodyPrefix: ArraySlice<UInt8>,
                                model: String, nowUnixSeconds: UInt64 = wallClockMillis() / 1000) -> Verdict {
        switch status {
        case ..<400:
            return .passThrough
        case 401, 402, 403:
            return .failover(.auth, accountDisabled(bodyPrefix) ? .channel : .key, resetAfterNanos: nil)
        case 404:
            return .failover(.notFound, modelUnknown(bodyPrefix, model: model) ? .model : .channel, resetAfterNanos: nil)
        case 429:
            return .failover(.rateLimit, .model, resetAfterNanos: resetHint(headers, nowUnixSeconds: nowUnixSeconds))
        case 400..<500:
            // 400, 406, 408, 413–417 and every other client error: the request's own fault.
            return .passThrough
        default:
            // 500, 502–504, 520–524, 529 and every other 5xx (and anything odder).
            return .failover(.server, .model, resetAfterNanos: nil)
        }
    }

    /// Any failure to reach the upstream or read a well-formed answer: the channel cools.
    public static func classify(transportError: TransportError) -> (FailureClass, ScopeKind) {
        (.connection, .channel)
    }

    /// No response head within the first-byte timeout: the (channel, model) pair cools.
    public static func classifyFirstByteTimeout() -> (FailureClass, ScopeKind) {
        (.timeout, .model)
    }

    /// An SSE `error` event before the first content event, by its `error.type` (Anthropic)
    /// or `error.code` (OpenAI): fail over like the matching status.
    public static func classify(sseErrorType type: String) -> Verdict {
        switch type {
        case "overloaded_error", "api_error", "server_error", "internal_server_error", "timeout_error",
             "service_unavailable":
            return .failover(.server, .model, resetAfterNanos: nil)  // 529 / 500 / 503
        case "rate_limit_error", "rate_limit_exceeded", "tokens_exceeded":
            return .failover(.rateLimit, .model, resetAfterNanos: nil)  // 429
        case "authentication_error", "permission_error", "billing_error", "invalid_api_key",
             "insufficient_quota":
            return .failover(.auth, .key, resetAfterNanos: nil)  // 401 / 403 / 402
        case "not_found_error", "model_not_found":
            return .failover(.notFound, .model, resetAfterNanos: nil)  // 404 about the model
        case "invalid_request_error", "request_too_large", "context_length_exceeded", "invalid_request":
            return .passThrough  // 400 / 413: the client's request
        default:
            // An unknown error before any content: another channel may do better.
            return .failover(.server, .model, resetAfterNanos: nil)
        }
    }

    // MARK: - Body texts

    /// Whether an auth failure's body says the whole account is gone, not just this key.
    static func accountDisabled(_ body: ArraySlice<UInt8>) -> Bool {
        contains(body, "suspended") || contains(body, "deactivated") || contains(body, "banned")
            || contains(body, "organization has been disabled")
            || (contains(body, "disabled") && (contains(body, "account") || contains(body, "organization")))
    }

    /// Whether a 404's body is about the model rather than the URL.
    static func modelUnknown(_ body: ArraySlice<UInt8>, model: String) -> Bool {
        let mentionsModel = contains(body, "model") || (!model.isEmpty && contains(body, model))
        guard mentionsModel else { return false }
        return contains(body, "not found") || contains(body, "not_found") || contains(body, "does not exist")
            || contains(body, "unknown") || contains(body, "not exist")
    }

    /// Case-insensitive ASCII substring search (bodies are short prefixes).
    static func contains(_ hay: ArraySlice<UInt8>, _ needle: StaticString) -> Bool {
        needle.withUTF8Buffer { contains(hay, $0) }
    }

    static func contains(_ hay: ArraySlice<UInt8>, _ needle: String) -> Bool {
        var n = needle
        return n.withUTF8 { contains(hay, $0) }
    }

    static func contains(_ hay: ArraySlice<UInt8>, _ n: UnsafeBufferPointer<UInt8>) -> Bool {
        let m = n.count
        guard m > 0, hay.count >= m else { return m == 0 }
        return hay.withUnsafeBufferPointer { h in
            let first = ASCII.lower(n[0])
            var i = 0
            let last = h.count - m
            while i <= last {
                if ASCII.lower(h[i]) == first {
                    var j = 1
                    while j < m && ASCII.lower(h[i + j]) == ASCII.lower(n[j]) { j += 1 }
                    if j == m { return true }
                }
                i += 1
            }
            return false
        }
    }

    // MARK: - Reset hints

    /// `retry-after` (delta seconds or an HTTP date), else `anthropic-ratelimit-unified-reset`
    /// (unix seconds), as nanoseconds from now. nil when absent, unparsable or in the past.
    static func resetHint(_ headers: some HTTPHeadFields, nowUnixSeconds: UInt64) -> UInt64? {
        // Far-future values saturate at UInt64.max; the cooldown book clamps them to its maximum.
        if let v = headers.value("retry-after") {
            if let s = decimal(v) { return Saturating.nanos(seconds: s) }
            if let t = httpDate(v), t > nowUnixSeconds { return Saturating.nanos(seconds: t - nowUnixSeconds) }
        }
        if let v = headers.value("anthropic-ratelimit-unified-reset"), let t = decimal(v), t > nowUnixSeconds {
            return Saturating.nanos(seconds: t - nowUnixSeconds)
        }
        return nil
    }

    /// A non-negative decimal integer of at most 18 digits.
    static func decimal(_ v: ArraySlice<UInt8>) -> UInt64? {
        guard !v.isEmpty, v.count <= 18 else { return nil }
        var n: UInt64 = 0
        for c in v {
            let d = c &- 0x30
            guard d < 10 else { return nil }
            n = n * 10 + UInt64(d)
        }
        return n
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form senders must use, as unix
    /// seconds. The weekday is skipped, not checked.
    static func httpDate(_ v: ArraySlice<UInt8>) -> UInt64? {
        let b = Array(v)
        guard let comma = b.firstIndex(of: 0x2C) else { return nil }
        var i = comma + 1
        while i < b.count && b[i] == 0x20 { i += 1 }
        // "06 Nov 1994 08:49:37 GMT"
        guard b.count - i == 24, b[i + 2] == 0x20, b[i + 6] == 0x20, b[i + 11] == 0x20,
              b[i + 14] == 0x3A, b[i + 17] == 0x3A, b[i + 20] == 0x20,
              b[i + 21] == 0x47, b[i + 22] == 0x4D, b[i + 23] == 0x54 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            var n = 0
            for k in from..<(from + len) {
                let d = b[k] &- 0x30
                guard d < 10 else { return nil }
                n = n * 10 + Int(d)
            }
            return n
        }
        let mon = [ASCII.lower(b[i + 3]), ASCII.lower(b[i + 4]), ASCII.lower(b[i + 5])]
        guard let mi = months.firstIndex(of: mon),
              let day = num(i, 2), let year = num(i + 7, 4),
              let hh = num(i + 12, 2), let mm = num(i + 15, 2), let ss = num(i + 18, 2),
              (1...31).contains(day), hh < 24, mm < 60, ss < 61, year >= 1970 else { return nil }
        let days = daysFromCivil(year: year, month: mi + 1, day: day)
        return UInt64(days * 86400 + hh * 3600 + mm * 60 + ss)
    }

    private static let months: [[UInt8]] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map { Array($0.utf8) }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
