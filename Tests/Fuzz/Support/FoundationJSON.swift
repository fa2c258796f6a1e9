// What the JSON harnesses need to use Foundation's JSONSerialization as a reference: the
// inputs where it is known to differ from RFC 8259 (so a disagreement there is not a
// JSONScan defect) are recognised and set aside.

import Foundation

/// Whether Foundation is a fair reference for these bytes: UTF-8 without NUL (it guesses
/// UTF-16/32 from NULs) or a BOM, not nested deeper than `maxDepth`.
func foundationComparable(_ b: [UInt8], maxDepth: Int = 500) -> Bool {
    String(validating: b, as: UTF8.self) != nil && !b.contains(0) && !b.starts(with: [0xEF, 0xBB, 0xBF]) && depth(b) <= maxDepth
}

/// Equality of two JSONSerialization trees (objects by key, arrays in order, numbers by
/// value, strings by Unicode equality).
func jsonEqual(_ a: Any, _ b: Any) -> Bool {
    switch (a, b) {
    case (let x as [String: Any], let y as [String: Any]):
        return x.count == y.count && x.allSatisfy { k, v in y[k].map { jsonEqual(v, $0) } ?? false }
    case (let x as [Any], let y as [Any]):
        return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
    case (let x as String, let y as String):
        return x == y
    case (let x as NSNumber, let y as NSNumber):
        return x == y
    case (is NSNull, is NSNull):
        return true
    default:
        return false
    }
}

/// Nesting depth of brackets outside strings (a cheap upper bound is enough here).
func depth(_ b: [UInt8]) -> Int {
    var d = 0, m = 0
    var inString = false, escaped = false
    for c in b {
        if inString {
            if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
        } else if c == 0x22 { inString = true }
        else if c == 0x7B || c == 0x5B { d += 1; m = max(m, d) }
        else if c == 0x7D || c == 0x5D { d -= 1 }
    }
    return m
}

/// Foundation's JSONSerialization accepts a trailing comma (`[1,]`, `{"a":1,}`); JSON does not.
func trailingComma(_ b: [UInt8]) -> Bool {
    var inString = false, escaped = false
    var comma = false
    for c in b {
        if inString {
            if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
            continue
        }
        if c == 0x22 { inString = true; comma = false; continue }
        if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { continue }
        if comma && (c == 0x7D || c == 0x5D) { return true }
        comma = c == 0x2C
    }
    return false
}

