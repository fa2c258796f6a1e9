import Reactor

/// Arithmetic on numbers ccload does not control (upstream headers, dates and usage counts,
/// admin-given durations and prices) that clamps at the type's bounds instead of trapping.
/// A Double out of an integer's range traps in `UInt64(x)` / `Int(x)`; these never do.
public enum Saturating {
    /// `a + b`, clamped to the type's bounds.
    @inline(__always)
    public static func add<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (r, o) = a.addingReportingOverflow(b)
        guard o else { return r }
        return b > 0 ? T.max : T.min
    }

    /// `a - b`, clamped to the type's bounds (for unsigned types, 0 when `b > a`).
    @inline(__always)
    public static func subtract<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (r, o) = a.subtractingReportingOverflow(b)
        guard o else { return r }
        return b > 0 ? T.min : T.max
    }

    /// `a × b`, clamped to the type's bounds.
    @inline(__always)
    public static func multiply<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        guard o else { return r }
        return (a < 0) == (b < 0) ? T.max : T.min
    }

    /// `d` rounded toward zero as a `T`, clamped to `T`'s bounds; NaN → 0.
    @inline(__always)
    public static func integer<T: FixedWidthInteger>(_ d: Double, as: T.Type = T.self) -> T {
        if d.isNaN { return 0 }
        // Double(T.max) rounds up to 2^bits (or 2^(bits-1)), which is already out of range.
        if d >= Double(T.max) { return T.max }
        if d <= Double(T.min) { return T.min }
        return T(d)
    }

    /// Whole seconds as nanoseconds, clamped to `max`.
    @inline(__always)
    public static func nanos(seconds: UInt64, max: UInt64 = UInt64.max) -> UInt64 {
        Swift.min(multiply(seconds, nanosPerSecond), max)
    }

    /// Seconds (any Double: negative, NaN, 1e300) as nanoseconds in `0...max`; NaN and
    /// negatives → 0.
    @inline(__always)
    public static func nanos(seconds: Double, max: UInt64 = UInt64.max) -> UInt64 {
        Swift.min(integer(seconds * 1e9, as: UInt64.self), max)
    }
}
