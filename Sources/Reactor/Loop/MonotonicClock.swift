import Glibc
import CEpoll

/// Monotonic time in nanoseconds; the reactor's one notion of "now".
@inline(__always) public func monotonicNanos() -> UInt64 { cc_monotonic_ns() }

/// Wall-clock milliseconds since the epoch (for records, never for timeouts).
@inline(__always) public func wallClockMillis() -> UInt64 { cc_realtime_ms() }

public let nanosPerSecond: UInt64 = 1_000_000_000
public let nanosPerMilli: UInt64 = 1_000_000

/// A duration for messages: "15 s", "0.5 s", "0.25 s" (up to millisecond precision).
/// Any value, up to `UInt64.max`, formats (rounding saturates rather than trapping).
public func formatSeconds(_ nanos: UInt64) -> String {
    let (rounded, over) = nanos.addingReportingOverflow(nanosPerMilli / 2)
    let ms = (over ? UInt64.max : rounded) / nanosPerMilli
    if ms % 1000 == 0 { return "\(ms / 1000) s" }
    var frac = String(ms % 1000)
    while frac.count < 3 { frac = "0" + frac }
    while frac.hasSuffix("0") { frac.removeLast() }
    return "\(ms / 1000).\(frac) s"
}
