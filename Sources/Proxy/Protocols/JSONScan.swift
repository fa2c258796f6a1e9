import Glibc

/// A byte-level JSON scanner: finds the value of a key in an object without decoding the
/// document. It walks the members of one object, skipping every other value (nested
/// objects, arrays, strings with escapes) with a strict, iterative skipper, so a key inside
/// a nested value or inside a string never matches, and malformed input ends in `nil`,
/// never a trap or a loop. Nothing is allocated except the few strings asked for.
///
/// Positions are offsets into the scanned buffer; a value's `range` covers exactly its
/// bytes (a string's range includes its quotes).
public enum JSONScan {
    /// Deepest nesting the skipper accepts; deeper input is treated as malformed.
    public static let maxDepth = 512

    public enum Kind: Sendable, Equatable {
        case object, array, string, number, bool, null
    }

    /// One value found in a buffer.
    public struct Value: Sendable, Equatable {
        public var kind: Kind
        /// The value's bytes; a string's range includes its quotes.
        public var range: Range<Int>

        public init(kind: Kind, range: Range<Int>) {
            self.kind = kind
            self.range = range
        }
    }

    // MARK: Lookup

    /// The value of `key` among the members of the object at `object` (the whole buffer,
    /// after leading whitespace, when nil). Only members of that object are compared; a
    /// match deeper down or inside a string is never returned. `nil` when the key is
    /// absent or the object is malformed up to the point where the key would be found.
    public static func value(forKey key: StaticString, in buf: UnsafeRawBufferPointer, object: Range<Int>? = nil) -> Value? {
        key.withUTF8Buffer { k in value(forKey: UnsafeRawBufferPointer(k), in: buf, object: object) }
    }

    /// The value at a path of keys, each one level deeper (`["usage", "input_tokens"]`).
    public static func value(atPath path: [StaticString], in buf: UnsafeRawBufferPointer, object: Range<Int>? = nil) -> Value? {
        var current = object
        var found: Value?
        for key in path {
            guard let v = value(forKey: key, in: buf, object: current) else { return nil }
            found = v
            if v.kind == .object { current = v.range } else { current = v.range.upperBound..<v.range.upperBound }
        }
        return found
    }

    static func value(forKey key: UnsafeRawBufferPointer, in buf: UnsafeRawBufferPointer, object: Range<Int>?) -> Value? {
        var result: Value?
        _ = forEachMember(in: buf, object: object) { name, value in
            if keyEquals(buf, name, key) {
                result = value
                return false
            }
            return true
        }
        return result
    }

    /// Calls `body` with each member's key range (with quotes) and value, in order, until it
    /// returns false. Returns true when the whole object was walked (or `body` stopped it)
    /// and everything walked was well-formed; false on malformed input.
    @discardableResult
    public static func forEachMember(in buf: UnsafeRawBufferPointer, object: Range<Int>? = nil,
                                     _ body: (Range<Int>, Value) -> Bool) -> Bool {
        walkObject(buf, object?.lowerBound ?? 0, object?.upperBound ?? buf.count, body) != nil
    }

    /// `forEachMember` for a `body` that never stops the walk: true only when the members
    /// end exactly at `object.upperBound` with its closing brace, everything well formed. With
    /// the range of a whole document (after its whitespace is trimmed) this is the check
    /// `document` makes, done in the same walk that reads the members.
    @discardableResult
    public static func forEachMember(covering object: Range<Int>, in buf: UnsafeRawBufferPointer,
                                     _ body: (Range<Int>, Value) -> Void) -> Bool {
        walkObject(buf, object.lowerBound, object.upperBound) { key, v in body(key, v); return true } == object.upperBound
    }

    /// The elements of the array spanning exactly `array` (see `forEachMember(covering:)`).
    @discardableResult
    public static func forEachElement(covering array: Range<Int>, in buf: UnsafeRawBufferPointer,
                                      _ body: (Value) -> Void) -> Bool {
        let end = array.upperBound
        guard end <= buf.count, end > array.lowerBound, buf[end - 1] == UInt8(ascii: "]") else { return false }
        var i = skipWhitespace(buf, array.lowerBound, end)
        guard i < end, buf[i] == UInt8(ascii: "[") else { return false }
        i = skipWhitespace(buf, i + 1, end)
        guard i < end else { return false }
        if buf[i] == UInt8(ascii: "]") { return i + 1 == end }
        while true {
            guard let v = scanValue(buf, i, end) else { return false }
            body(v)
            i = skipWhitespace(buf, v.range.upperBound, end)
            guard i < end else { return false }
            if buf[i] == UInt8(ascii: "]") { return i + 1 == end }
            guard buf[i] == UInt8(ascii: ",") else { return false }
            i = skipWhitespace(buf, i + 1, end)
        }
    }

    /// The extent of the one value `buf` should hold: from its first to its last
    /// non-whitespace byte, and the kind its first byte starts; nil for an empty body. Taken on
    /// trust: a walk over it (`forEachMember(covering:)`) says whether it is one value.
    public static func trimmedRoot(_ buf: UnsafeRawBufferPointer) -> Value? {
        let start = skipWhitespace(buf, 0, buf.count)
        var end = buf.count
        while end > start && isWhitespace(buf[end - 1]) { end -= 1 }
        guard end > start else { return nil }
        let kind: Kind
        switch buf[start] {
        case UInt8(ascii: "{"): kind = .object
        case UInt8(ascii: "["): kind = .array
        default: return nil
        }
        return Value(kind: kind, range: start..<end)
    }

    /// The members walk behind `forEachMember`: returns the index after the closing brace
    /// (or, when `body` stopped early, the index after the last value walked), nil when
    /// malformed.
    /// `firstOneHour`, when given, receives the start of the first string value `"1h"` met
    /// at any depth (left as it is when there is none): the request scan's cache lifetime
    /// (`RequestScan.asksOneHourCache`) is found in the walk it makes anyway, not in a second
    /// pass over a body of hundreds of KB.
    static func walkObject(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                           firstOneHour: UnsafeMutablePointer<Int>? = nil,
                           _ body: (Range<Int>, Value) -> Bool) -> Int? {
        guard end <= buf.count else { return nil }
        var i = skipWhitespace(buf, start, end)
        guard i < end, buf[i] == UInt8(ascii: "{") else { return nil }
        i = skipWhitespace(buf, i + 1, end)
        guard i < end else { return nil }
        if buf[i] == UInt8(ascii: "}") { return i + 1 }
        while true {
            guard i < end, buf[i] == UInt8(ascii: "\""), let keyEnd = skipString(buf, i, end) else { return nil }
            let keyRange = i..<keyEnd
            i = skipWhitespace(buf, keyEnd, end)
            guard i < end, buf[i] == UInt8(ascii: ":") else { return nil }
            i = skipWhitespace(buf, i + 1, end)
            guard let v = scanValue(buf, i, end, firstOneHour: firstOneHour) else { return nil }
            if !body(keyRange, v) { return v.range.upperBound }
            i = skipWhitespace(buf, v.range.upperBound, end)
            guard i < end else { return nil }
            if buf[i] == UInt8(ascii: "}") { return i + 1 }
            guard buf[i] == UInt8(ascii: ",") else { return nil }
            i = skipWhitespace(buf, i + 1, end)
        }
    }

    /// Calls `body` with each element of the array at `array`, until it returns false.
    /// Returns false on malformed input.
    @discardableResult
    public static func forEachElement(in buf: UnsafeRawBufferPointer, array: Range<Int>, _ body: (Value) -> Bool) -> Bool {
        let end = array.upperBound
        guard end <= buf.count else { return false }
        var i = skipWhitespace(buf, array.lowerBound, end)
        guard i < end, buf[i] == UInt8(ascii: "[") else { return false }
        i = skipWhitespace(buf, i + 1, end)
        guard i < end else { return false }
        if buf[i] == UInt8(ascii: "]") { return true }
        while true {
            guard let v = scanValue(buf, i, end) else { return false }
            if !body(v) { return true }
            i = skipWhitespace(buf, v.range.upperBound, end)
            guard i < end else { return false }
            if buf[i] == UInt8(ascii: "]") { return true }
            guard buf[i] == UInt8(ascii: ",") else { return false }
            i = skipWhitespace(buf, i + 1, end)
        }
    }

    /// The single value the buffer holds (surrounding whitespace allowed); nil when the
    /// buffer is not exactly one well-formed JSON value.
    public static func document(_ buf: UnsafeRawBufferPointer) -> Value? {
        let start = skipWhitespace(buf, 0, buf.count)
        guard let v = scanValue(buf, start, buf.count) else { return nil }
        guard skipWhitespace(buf, v.range.upperBound, buf.count) == buf.count else { return nil }
        return v
    }

    // MARK: Reading values

    /// The decoded contents of a string value (escapes resolved, `\uXXXX` surrogate pairs
    /// joined, a lone surrogate → U+FFFD). nil when `value` is not a well-formed string
    /// or is not valid UTF-8.
    public static func string(_ buf: UnsafeRawBufferPointer, _ value: Value) -> String? {
        guard value.kind == .string else { return nil }
        return decodeString(buf, value.range)
    }

    /// A non-negative or negative integer value; nil for anything else (fractions,
    /// exponents, overflow, non-numbers).
    public static func int(_ buf: UnsafeRawBufferPointer, _ value: Value) -> Int? {
        guard value.kind == .number else { return nil }
        var i = value.range.lowerBound
        let end = value.range.upperBound
        var negative = false
        if buf[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < end else { return nil }
        var n = 0
        while i < end {
            let c = buf[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(c - 0x30))
            if o1 || o2 { return nil }
            n = a
            i += 1
        }
        return negative ? -n : n
    }

    /// `true`/`false`; nil for any other value.
    public static func bool(_ buf: UnsafeRawBufferPointer, _ value: Value) -> Bool? {
        guard value.kind == .bool else { return nil }
        return buf[value.range.lowerBound] == UInt8(ascii: "t")
    }

    /// Whether the string value's decoded contents equal `s` (no allocation when the
    /// string has no escapes).
    public static func stringEquals(_ buf: UnsafeRawBufferPointer, _ value: Value, _ s: StaticString) -> Bool {
        guard value.kind == .string else { return false }
        return s.withUTF8Buffer { k in keyEquals(buf, value.range, UnsafeRawBufferPointer(k)) }
    }

    /// Whether the string value's decoded contents start with `s` (escape-free strings only).
    public static func stringHasPrefix(_ buf: UnsafeRawBufferPointer, _ value: Value, _ s: StaticString) -> Bool {
        guard value.kind == .string else { return false }
        let inner = (value.range.lowerBound + 1)..<(value.range.upperBound - 1)
        return s.withUTF8Buffer { k in
            guard inner.count >= k.count else { return false }
            for j in 0..<k.count where buf[inner.lowerBound + j] != k[j] { return false }
            return true
        }
    }

    // MARK: Scanning

    @inline(__always)
    static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    @inline(__always)
    static func skipWhitespace(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end && isWhitespace(buf[i]) { i += 1 }
        return i
    }

    /// The index after the string starting at `start` (which must be `"`), or nil when it
    /// is unterminated or holds a bad escape.
    static func skipString(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        var i = start + 1
        while i < end {
            // Eight bytes at a time: message text is most of a request body, and byte-at-a-time
            // scanning of it showed in profiles. A word holding a special byte jumps straight
            // to the first one (the mask's lowest marker is exact), so a short string costs one
            // word, not one word per byte (callgrind: ~210 instructions per 7-byte key before).
            while i + 8 <= end {
                let w = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let special = JSONScan.specialByteMarkers(w)
                if special != 0 {
                    i &+= special.trailingZeroBitCount &>> 3
                    break
                }
                i &+= 8
                // A whole word of plain text: a long run (a message's text); on through it
                // sixteen bytes to a vector compare, then back to words to find the byte.
                i = skipPlainVectors(buf, i, end)
            }
            guard i < end else { return nil }
            let c = buf[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < end else { return nil }
                switch buf[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= end else { return nil }
                    for j in (i + 2)..<(i + 6) where hexValue(buf[j]) == nil { return nil }
                    i += 6
                default:
                    return nil
                }
                continue
            }
            if c < 0x20 { return nil }
            i += 1
        }
        return nil
    }

    /// The first index from `i` of a 16-byte block holding a `"`, a `\\` or a byte below
    /// 0x20 (or of the last partial block): plain text is passed sixteen bytes at a time.
    @inline(__always)
    static func skipPlainVectors(_ buf: UnsafeRawBufferPointer, _ from: Int, _ end: Int) -> Int {
        guard let base = buf.baseAddress else { return from }
        var i = from
        let quote = SIMD16<UInt8>(repeating: 0x22), backslash = SIMD16<UInt8>(repeating: 0x5C)
        let space = SIMD16<UInt8>(repeating: 0x20)
        while i + 16 <= end {
            let v = (base + i).loadUnaligned(as: SIMD16<UInt8>.self)
            if any((v .== quote) .| (v .== backslash) .| (v .< space)) { break }
            i &+= 16
        }
        return i
    }

    /// The high bit of each byte of `w` (loaded little-endian) that is `"`, `\\` or below 0x20,
    /// SWAR. Bytes above the first marked one may be marked falsely (a borrow carries upward),
    /// never below it: the lowest marker is always the first special byte.
    @inline(__always)
    static func specialByteMarkers(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let zeroInQuote = (quote &- ones) & ~quote
        let zeroInBackslash = (backslash &- ones) & ~backslash
        let control = (w &- ones &* 0x20) & ~w
        return (zeroInQuote | zeroInBackslash | control) & highs
    }

    static func skipNumber(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        var i = start
        if i < end && buf[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end else { return nil }
        if buf[i] == UInt8(ascii: "0") {
            i += 1
        } else if buf[i] >= 0x31 && buf[i] <= 0x39 {
            while i < end && isDigit(buf[i]) { i += 1 }
        } else {
            return nil
        }
        if i < end && buf[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end && isDigit(buf[i]) else { return nil }
            while i < end && isDigit(buf[i]) { i += 1 }
        }
        if i < end && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
            i += 1
            if i < end && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
            guard i < end && isDigit(buf[i]) else { return nil }
            while i < end && isDigit(buf[i]) { i += 1 }
        }
        return i
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    static func matchLiteral(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ lit: StaticString) -> Int? {
        lit.withUTF8Buffer { l in
            guard start + l.count <= end else { return nil }
            for j in 0..<l.count where buf[start + j] != l[j] { return nil }
            return start + l.count
        }
    }

    /// The value starting exactly at `start` (no leading whitespace), validated to its end.
    /// Containers are walked iteratively with an explicit bit stack, so depth costs no
    /// recursion; nesting beyond `maxDepth` is malformed.
    static func scanValue(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                          firstOneHour: UnsafeMutablePointer<Int>? = nil) -> Value? {
        guard start < end else { return nil }
        let first = buf[start]
        switch first {
        case UInt8(ascii: "\""):
            guard let e = skipString(buf, start, end) else { return nil }
            if let p = firstOneHour { noteOneHour(buf, start, e, p) }
            return Value(kind: .string, range: start..<e)
        case UInt8(ascii: "t"):
            guard let e = matchLiteral(buf, start, end, "true") else { return nil }
            return Value(kind: .bool, range: start..<e)
        case UInt8(ascii: "f"):
            guard let e = matchLiteral(buf, start, end, "false") else { return nil }
            return Value(kind: .bool, range: start..<e)
        case UInt8(ascii: "n"):
            guard let e = matchLiteral(buf, start, end, "null") else { return nil }
            return Value(kind: .null, range: start..<e)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard let e = skipContainer(buf, start, end, firstOneHour: firstOneHour) else { return nil }
            return Value(kind: first == UInt8(ascii: "{") ? .object : .array, range: start..<e)
        default:
            guard let e = skipNumber(buf, start, end) else { return nil }
            return Value(kind: .number, range: start..<e)
        }
    }

    /// Keeps `start` in `p` when the string value `start..<end` is `"1h"` and `p` holds none yet.
    @inline(__always)
    static func noteOneHour(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ p: UnsafeMutablePointer<Int>) {
        if end &- start == 4, p.pointee < 0, buf[start + 1] == 0x31, buf[start + 2] == 0x68 { p.pointee = start }
    }

    static func skipContainer(_ buf: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                              firstOneHour: UnsafeMutablePointer<Int>? = nil) -> Int? {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: (maxDepth + 63) / 64) { stack -> Int? in
            var depth = 0
            // Bit set → the container at that depth is an object.
            func push(_ isObject: Bool) -> Bool {
                guard depth < maxDepth else { return false }
                let w = depth >> 6, b = UInt64(1) << UInt64(depth & 63)
                if isObject { stack[w] |= b } else { stack[w] &= ~b }
                depth += 1
                return true
            }
            func topIsObject() -> Bool {
                let d = depth - 1
                return stack[d >> 6] & (UInt64(1) << UInt64(d & 63)) != 0
            }
            var i = start
            // Expecting a value at `i` (or the opener of the outer container).
            valueLoop: while true {
                i = skipWhitespace(buf, i, end)
                guard i < end else { return nil }
                let c = buf[i]
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                    let isObject = c == UInt8(ascii: "{")
                    guard push(isObject) else { return nil }
                    i = skipWhitespace(buf, i + 1, end)
                    guard i < end else { return nil }
                    if buf[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        depth -= 1
                        i += 1
                    } else if isObject {
                        guard let k = memberKey(buf, i, end) else { return nil }
                        i = k
                        continue valueLoop
                    } else {
                        continue valueLoop
                    }
                } else if c == UInt8(ascii: "\"") {
                    guard let e = skipString(buf, i, end) else { return nil }
                    if let p = firstOneHour { noteOneHour(buf, i, e, p) }
                    i = e
                } else if c == UInt8(ascii: "t") {
                    guard let e = matchLiteral(buf, i, end, "true") else { return nil }
                    i = e
                } else if c == UInt8(ascii: "f") {
                    guard let e = matchLiteral(buf, i, end, "false") else { return nil }
                    i = e
                } else if c == UInt8(ascii: "n") {
                    guard let e = matchLiteral(buf, i, end, "null") else { return nil }
                    i = e
                } else {
                    guard let e = skipNumber(buf, i, end) else { return nil }
                    i = e
                }
                // After a value: close containers or move to the next element/member.
                while true {
                    if depth == 0 { return i }
                    i = skipWhitespace(buf, i, end)
                    guard i < end else { return nil }
                    let d = buf[i]
                    let isObject = topIsObject()
                    if d == UInt8(ascii: ",") {
                        i = skipWhitespace(buf, i + 1, end)
                        if isObject {
                            guard let k = memberKey(buf, i, end) else { return nil }
                            i = k
                        }
                        continue valueLoop
                    }
                    if d == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        depth -= 1
                        i += 1
                        continue
                    }
                    return nil
                }
            }
        }
    }

    /// `"key" :` at `i`; returns the index after the colon.
    static func memberKey(_ buf: UnsafeRawBufferPointer, _ i: Int, _ end: Int) -> Int? {
        guard i < end, buf[i] == UInt8(ascii: "\""), let e = skipString(buf, i, end) else { return nil }
        let j = skipWhitespace(buf, e, end)
        guard j < end, buf[j] == UInt8(ascii: ":") else { return nil }
        return j + 1
    }

    // MARK: Strings

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c - 0x30)
        case 0x41...0x46: return UInt32(c - 0x41 + 10)
        case 0x61...0x66: return UInt32(c - 0x61 + 10)
        default: return nil
        }
    }

    /// Whether the string at `range` (with quotes) decodes to exactly `key`.
    static func keyEquals(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>, _ key: UnsafeRawBufferPointer) -> Bool {
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        let n = inner.count, k = key.count
        // An escape is at least two bytes for one decoded byte, so a spelling shorter than the
        // key never matches, and one of the key's length matches only byte for byte, with no
        // backslash (raw `"a\\b"` is the key `a\b`, not `a\\b`). Most comparisons are a
        // member against a key it is not: they end at the length or the first byte.
        if n < k { return false }
        if n == k {
            if k == 0 { return true }
            guard memcmp(buf.baseAddress! + inner.lowerBound, key.baseAddress!, k) == 0 else { return false }
            return !key.contains(UInt8(ascii: "\\"))
        }
        // Longer: only an escaped spelling (`"mod\u0065l"`) can still match.
        if k > 0, buf[inner.lowerBound] != key[0], buf[inner.lowerBound] != UInt8(ascii: "\\") { return false }
        var hasEscape = false
        for j in inner where buf[j] == UInt8(ascii: "\\") { hasEscape = true; break }
        guard hasEscape, let decoded = decodeBytes(buf, range) else { return false }
        return decoded.count == key.count && decoded.elementsEqual(key)
    }

    static func decodeString(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        var plain = true
        for j in inner where buf[j] == UInt8(ascii: "\\") { plain = false; break }
        if plain {
            return String(validating: UnsafeRawBufferPointer(rebasing: buf[inner]), as: UTF8.self)
        }
        guard let bytes = decodeBytes(buf, range) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The unescaped UTF-8 bytes of the string at `range` (with quotes).
    static func decodeBytes(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>) -> [UInt8]? {
        guard range.count >= 2, buf[range.lowerBound] == UInt8(ascii: "\""),
              buf[range.upperBound - 1] == UInt8(ascii: "\"") else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound + 1
        let end = range.upperBound - 1
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= end else { return nil }
            var v: UInt32 = 0
            for j in at..<(at + 4) {
                guard let h = hexValue(buf[j]) else { return nil }
                v = v << 4 | h
            }
            return v
        }
        while i < end {
            let c = buf[i]
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            guard i + 1 < end else { return nil }
            let e = buf[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(i) else { return nil }
                i += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A high surrogate joins the low one right after it, if there is one.
                    if i + 6 <= end, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u"),
                       let low = hex4(i + 2), low >= 0xDC00 && low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                appendUTF8(&out, scalar)
            default:
                return nil
            }
        }
        return out
    }

    static func appendUTF8(_ out: inout [UInt8], _ v: UInt32) {
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }
}

extension JSONScan {
    /// `[UInt8]` conveniences for callers outside the hot path (tests, admin).
    public static func value(forKey key: StaticString, in bytes: [UInt8], object: Range<Int>? = nil) -> Value? {
        bytes.withUnsafeBytes { value(forKey: key, in: $0, object: object) }
    }

    public static func value(atPath path: [StaticString], in bytes: [UInt8], object: Range<Int>? = nil) -> Value? {
        bytes.withUnsafeBytes { value(atPath: path, in: $0, object: object) }
    }

    public static func string(_ bytes: [UInt8], _ value: Value) -> String? {
        bytes.withUnsafeBytes { string($0, value) }
    }

    public static func int(_ bytes: [UInt8], _ value: Value) -> Int? {
        bytes.withUnsafeBytes { int($0, value) }
    }

    public static func document(_ bytes: [UInt8]) -> Value? {
        bytes.withUnsafeBytes { document($0) }
    }
}
