import Reactor

/// Everything a worker needs to run its share of the load. Immutable, shared by all loops.
struct RunPlan: Sendable {
    var addresses: [SocketAddress]
    var request: RequestTemplate
    /// Total connections and loops.
    var connections: Int
    var threads: Int
    /// Requests per second over all connections; 0 = closed loop.
    var rate: Double
    /// Monotonic instants: load starts, measuring starts, measuring (and the run) ends.
    var start: UInt64
    var measureStart: UInt64
    var measureEnd: UInt64
    /// Connections are opened spread evenly over this long from `start`.
    var rampNanos: UInt64
    /// A request with no complete response after this long counts as a timeout.
    var timeoutNanos: UInt64
    var connectTimeoutNanos: UInt64
    /// `--first-match`: time until the response body first contains these bytes.
    var firstMatch: [UInt8]?

    /// Global index range of the connections owned by loop `index`.
    func connectionRange(loop index: Int) -> Range<Int> {
        let base = connections / threads
        let extra = connections % threads
        let lower = index * base + min(index, extra)
        return lower..<(lower + base + (index < extra ? 1 : 0))
    }
}
