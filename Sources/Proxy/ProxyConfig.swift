import Reactor

/// What the proxy path needs to know, fixed at start-up.
public struct ProxyConfig: Sendable {
    /// The single pass-through upstream (replaced by the channel table later).
    public var upstream: UpstreamTarget?
    public var upstreamKey: [UInt8]?
    public var firstByteTimeoutNanos: UInt64 = 300 * nanosPerSecond
    public var pool = UpstreamPool.Settings()

    public init() {}
}
