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

    /// `equalsIgnoringCase` for a name from a parsed head against a literal of lowercase
    /// letters, digits and `-`, eight bytes at a time: setting bit 5 lowercases a letter and
    /// leaves those literal bytes as they are; the only other bytes it maps onto them are
    /// control bytes, which a parsed head's names and values never hold (HTAB maps to `)`).
    @inline(__always)
    static func equalsLowercaseToken(_ a: ArraySlice<UInt8>, _ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard a.count == n else { return false }
        let l = UnsafeRawPointer(lit.utf8Start)
        return a.withUnsafeBytes { q in
            var i = 0
            while i + 8 <= n {
                let x = q.loadUnaligned(fromByteOffset: i, as: UInt64.self) | 0x2020_2020_2020_2020
                if x != l.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
                i += 8
            }
            while i < n {
                if q[i] | 0x20 != l.load(fromByteOffset: i, as: UInt8.self) { return false }
                i += 1
            }
            return true
        }
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
