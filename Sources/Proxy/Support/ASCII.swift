import Glibc

/// ASCII byte comparisons for header names and paths.
public enum ASCII {
    /// Byte-exact equality with a literal: one length check and one memcmp (the generic
    /// `elementsEqual(_: String.UTF8View)` walked both sides through iterators, ~340
    /// instructions for `"POST"` in callgrind).
    @inline(__always)
    public static func equals(_ a: ArraySlice<UInt8>, _ b: StaticString) -> Bool {
        let n = b.utf8CodeUnitCount
        guard a.count == n else { return false }
        if n == 0 { return true }
        return a.withUnsafeBufferPointer { memcmp($0.baseAddress!, b.utf8Start, n) == 0 }
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    public static func equalsIgnoringCase(_ a: ArraySlice<UInt8>, _ b: StaticString) -> Bool {
        let n = b.utf8CodeUnitCount
        guard a.count == n else { return false }
        let p = b.utf8Start
        return a.withUnsafeBufferPointer { q in
            for i in 0..<n where lower(q[i]) != lower(p[i]) { return false }
            return true
        }
    }

    public static func equalsIgnoringCase(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    public static func hasPrefix(_ a: ArraySlice<UInt8>, _ p: StaticString) -> Bool {
        guard a.count >= p.utf8CodeUnitCount else { return false }
        let s = p.utf8Start
        var i = 0
        for c in a.prefix(p.utf8CodeUnitCount) {
            if c != s[i] { return false }
            i += 1
        }
        return true
    }

    public static func hasPrefixIgnoringCase(_ a: ArraySlice<UInt8>, _ p: StaticString) -> Bool {
        guard a.count >= p.utf8CodeUnitCount else { return false }
        return equalsIgnoringCase(a.prefix(p.utf8CodeUnitCount), p)
    }
}
