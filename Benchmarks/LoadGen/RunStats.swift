import Histogram

/// What one loop measured; merged across loops after the run.
/// Owner: the worker's loop while running, then the main thread after join.
struct RunStats {
    static let highestNanos: UInt64 = 3_600 * 1_000_000_000

    /// Response head arrived, from the intended send time.
    var ttfb = RunStats.histogram()
    /// First body byte arrived (the first SSE event through a proxy), from the intended send time.
    var firstBody = RunStats.histogram()
    /// `--first-match`: the body first contained the match string (e.g. the first SSE
    /// content event), from the intended send time.
    var firstMatch = RunStats.histogram()
    /// Whole response received, from the intended send time.
    var total = RunStats.histogram()
    /// Open loop: how late the generator actually sent each request (its own lag).
    var sendLag = RunStats.histogram()

    /// Complete 2xx responses whose intended start and end fall in the window.
    var requests = 0
    var non2xx = 0
    var connectErrors = 0
    /// Exchanges that failed after the request went out: reset, EOF mid-body, bad bytes.
    var ioErrors = 0
    var timeouts = 0
    /// Response bytes (head and body, as on the wire) read during the window.
    var bytes = 0
    /// Connections opened over the whole run, including reconnects.
    var connects = 0
    /// Requests still out when the run ended, and how many of those had their head.
    var inflightAtEnd = 0
    var openStreamsAtEnd = 0
    /// Open loop: most requests ever waiting on one connection behind a busy exchange.
    var maxBacklog = 0
    /// Non-2xx answers by status.
    var statuses: [Int: Int] = [:]

    static func histogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highestNanos,
                          numberOfSignificantValueDigits: .three)
    }

    @inline(__always) static func clamp(_ v: UInt64) -> UInt64 { v < highestNanos ? v : highestNanos }

    mutating func merge(_ o: RunStats) {
        ttfb.add(o.ttfb)
        firstBody.add(o.firstBody)
        firstMatch.add(o.firstMatch)
        total.add(o.total)
        sendLag.add(o.sendLag)
        requests += o.requests
        non2xx += o.non2xx
        connectErrors += o.connectErrors
        ioErrors += o.ioErrors
        timeouts += o.timeouts
        bytes += o.bytes
        connects += o.connects
        inflightAtEnd += o.inflightAtEnd
        openStreamsAtEnd += o.openStreamsAtEnd
        maxBacklog = max(maxBacklog, o.maxBacklog)
        for (k, v) in o.statuses { statuses[k, default: 0] += v }
    }
}
