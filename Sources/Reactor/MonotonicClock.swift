import Glibc
import CEpoll

/// Monotonic time in nanoseconds; the reactor's one notion of "now".
@inline(__always) public func monotonicNanos() -> UInt64 { cc_monotonic_ns() }

/// Wall-clock milliseconds since the epoch (for records, never for timeouts).
@inline(__always) public func wallClockMillis() -> UInt64 { cc_realtime_ms() }

public let nanosPerSecond: UInt64 = 1_000_000_000
public let nanosPerMilli: UInt64 = 1_000_000
