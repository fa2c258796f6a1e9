import Reactor

/// What the proxy path needs to know, fixed at start-up.
public struct ProxyConfig: Sendable {
    /// The single pass-through upstream (replaced by the channel table later).
    public var upstream: UpstreamTarget?
    public var upstreamKey: [UInt8]?
    public var firstByteTimeoutNanos = SettingsCatalog.defaultNanos("first_byte_timeout_seconds")
    public var pool = UpstreamPool.Settings()
    public var stream = StreamTimeouts()

    public init() {}
}

/// The timeouts that guard a response once its head is in (live settings).
public struct StreamTimeouts: Sendable, Equatable {
    /// No upstream byte for this long is a stall (`upstream_idle_timeout_seconds`).
    public var upstreamIdleNanos = SettingsCatalog.defaultNanos("upstream_idle_timeout_seconds")
    /// Only keep-alives for this long is a stall; 0: off (`keepalive_stall`, `keepalive_only_timeout_seconds`).
    public var keepAliveOnlyNanos: UInt64 = SettingsCatalog.defaultFlag("keepalive_stall") ? SettingsCatalog.defaultNanos("keepalive_only_timeout_seconds") : 0
    /// The client takes no byte of a ready response for this long: closed (`client_write_timeout_seconds`).
    public var clientWriteNanos = SettingsCatalog.defaultNanos("client_write_timeout_seconds")

    public init() {}
}
