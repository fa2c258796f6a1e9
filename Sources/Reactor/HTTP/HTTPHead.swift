// HTTP/1.1 message heads: the parsed request and response heads, the field accessors they
// share, and the events and errors the incremental parsers report.
//
// A head owns its raw bytes; every range (method, target, field names and values) points into
// `bytes`, so parsing a head allocates the byte array and the field array and nothing else.

import Glibc

/// One header field line. Both ranges index into the owning head's `bytes`; `value` is trimmed
/// of leading and trailing optional whitespace (SP / HTAB).
public struct HTTPHeaderField: Sendable, Equatable {
    public var name: Range<Int>
    public var value: Range<Int>

    public init(name: Range<Int>, value: Range<Int>) {
        self.name = name
        self.value = value
    }
}

public enum HTTPParseError: Error, Equatable, Sendable {
    /// Request line + header fields (or a trailer section) exceed `maxHeadBytes`: answer 431.
    case headTooLarge
    /// The body exceeds `maxBodyBytes` (declared by Content-Length, or cumulative chunked): 413.
    case bodyTooLarge
    /// Anything else: 400 for a request, a bad upstream for a response. The reason is short,
    /// fixed text and never contains bytes from the message.
    case malformed(String)
}

/// What one `next(_:_:)` call of a parser found.
public enum HTTPParseEvent: Equatable, Sendable {
    /// A (final) head is complete: read it from the parser's `head`.
    case head
    /// De-framed body bytes, as a range of the buffer passed to `next(_:_:)` (no copy).
    case body(Range<Int>)
    /// The message is complete; the next call starts the next message.
    case end
    /// Every byte of the buffer was consumed (or buffered inside the parser).
    case needMore
    /// The parser is dead; the caller closes the connection.
    case error(HTTPParseError)
}

/// The field accessors shared by request and response heads.
public protocol HTTPHeadFields {
    var bytes: [UInt8] { get }
    var fields: [HTTPHeaderField] { get }
}

// The accessors are inlinable so a caller in another module gets them specialised for the
// concrete head: unspecialised, each call read `bytes` and `fields` through the protocol's
// witness table, retaining and releasing both arrays (17 calls per relayed request).
extension HTTPHeadFields {
    /// The value of the first field called `name` (ASCII case-insensitive), trimmed.
    @inlinable
    public func value(_ name: StaticString) -> ArraySlice<UInt8>? {
        // One borrow of the bytes for the whole scan (not one per field).
        let found: Range<Int>? = bytes.withUnsafeBufferPointer { p in
            for field in fields where HTTPGrammar.equalsIgnoringCase(p, field.name, name) { return field.value }
            return nil
        }
        return found.map { bytes[$0] }
    }

    /// Whether any field called `name` lists `token` in its comma-separated value
    /// (both compared ASCII case-insensitively), e.g. `hasToken("connection", "close")`.
    @inlinable
    public func hasToken(_ name: StaticString, _ token: StaticString) -> Bool {
        token.withUTF8Buffer { anyField(name, lists: $0) }
    }

    /// Whether any field called `name` lists the token `t` (both ASCII case-insensitive).
    @inlinable
    func anyField(_ name: StaticString, lists t: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            for field in fields where HTTPGrammar.equalsIgnoringCase(p, field.name, name) {
                var found = false
                HTTPGrammar.forEachListElement(p, field.value) { element in
                    found = HTTPGrammar.equalsIgnoringCase(p, element, t)
                    return !found
                }
                if found { return true }
            }
            return false
        }
    }

    /// Every token listed by every Connection field, in order, as found (not lowercased).
    @inlinable
    public func connectionTokens() -> [ArraySlice<UInt8>] {
        var tokens: [ArraySlice<UInt8>] = []
        bytes.withUnsafeBufferPointer { p in
            for field in fields where HTTPGrammar.equalsIgnoringCase(p, field.name, "connection") {
                HTTPGrammar.forEachListElement(p, field.value) { element in
                    tokens.append(bytes[element])
                    return true
                }
            }
        }
        return tokens
    }

    /// Whether a Connection field lists `name` (ASCII case-insensitive): `connectionTokens`
    /// without making the list.
    @inlinable
    public func connectionNames(_ name: ArraySlice<UInt8>) -> Bool {
        name.withUnsafeBufferPointer { anyField("connection", lists: $0) }
    }

    /// Whether any Connection field lists a token for which `body` is true.
    @inlinable
    public func anyConnectionToken(_ body: (ArraySlice<UInt8>) -> Bool) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            for field in fields where HTTPGrammar.equalsIgnoringCase(p, field.name, "connection") {
                var found = false
                HTTPGrammar.forEachListElement(p, field.value) { element in
                    found = body(bytes[element])
                    return !found
                }
                if found { return true }
            }
            return false
        }
    }

    /// The name bytes of `field` as sent (not lowercased).
    @inlinable
    public func name(of field: HTTPHeaderField) -> ArraySlice<UInt8> { bytes[field.name] }

    /// The trimmed value bytes of `field`.
    @inlinable
    public func value(of field: HTTPHeaderField) -> ArraySlice<UInt8> { bytes[field.value] }

}

public struct HTTPRequestHead: HTTPHeadFields, Sendable {
    /// The raw head, request line through the final CRLFCRLF.
    public var bytes: [UInt8]
    public var method: Range<Int>
    public var target: Range<Int>
    /// 0 or 1.
    public var versionMinor: Int
    /// In order; repeated fields are kept.
    public var fields: [HTTPHeaderField]
    /// nil when absent. Never set together with `chunked`.
    public var contentLength: Int?
    public var chunked: Bool
    /// HTTP/1.1: true unless `Connection: close`; HTTP/1.0: false unless `Connection: keep-alive`.
    public var keepAlive: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 10.1.1: ignored for 1.0).
    public var expectContinue: Bool

    /// Exact (case-sensitive) comparison of the method, e.g. `methodIs("POST")`.
    public func methodIs(_ m: StaticString) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            m.withUTF8Buffer { s in
                guard s.count == method.count else { return false }
                var i = method.lowerBound
                for c in s {
                    if p[i] != c { return false }
                    i += 1
                }
                return true
            }
        }
    }

    public var targetBytes: ArraySlice<UInt8> { bytes[target] }
}

public struct HTTPResponseHead: HTTPHeadFields, Sendable {
    /// The raw head, status line through the final CRLFCRLF.
    public var bytes: [UInt8]
    public var status: Int
    /// The reason phrase, possibly empty.
    public var reason: Range<Int>
    /// 0 or 1.
    public var versionMinor: Int
    public var fields: [HTTPHeaderField]
    public var contentLength: Int?
    public var chunked: Bool
    /// False for HTTP/1.0 without keep-alive, `Connection: close`, or a body read until close.
    public var keepAlive: Bool
}

// MARK: - Field section parsing (shared by request heads, response heads and trailers)

/// The field lines of a head or a trailer section, validated in one pass, with the
/// framing-relevant facts collected on the way.
struct HTTPFieldSection {
    enum TransferEncoding { case absent, chunked, unsupported }

    var contentLength: Int? = nil
    var transferEncoding = TransferEncoding.absent
    var hostCount = 0
    var connectionClose = false
    var connectionKeepAlive = false
    var expectContinue = false

    /// Parses field lines from `start` to the end of `p`, which must end with the empty line
    /// (as delivered by `HTTP1HeadReader`: every LF is already known to follow a CR).
    /// Appends the fields when `collect` is set (trailers are validated and discarded).
    init(
        _ p: UnsafeBufferPointer<UInt8>, from start: Int,
        fields: inout [HTTPHeaderField], collect: Bool
    ) throws(HTTPParseError) {
        let n = p.count
        var i = start
        while true {
            // Line start. `p` ends with CRLF, so every scan below stops at a CR at the latest.
            let c = p[i]
            if c == HTTPGrammar.cr {
                guard i + 2 == n, p[i + 1] == HTTPGrammar.lf else {
                    throw .malformed("bare CR in header section")
                }
                return
            }
            if c == HTTPGrammar.sp || c == HTTPGrammar.htab {
                throw .malformed("obsolete header line folding")
            }
            let nameStart = i
            while HTTPGrammar.isTokenByte(p[i]) { i += 1 }
            guard i > nameStart, p[i] == HTTPGrammar.colon else {
                throw .malformed("invalid header name")
            }
            let nameEnd = i
            i += 1
            while p[i] == HTTPGrammar.sp || p[i] == HTTPGrammar.htab { i += 1 }
            let valueStart = i
            // To the line's CR: eight bytes at a time up to the first byte below 0x20 or DEL
            // (the only bytes a value may not hold, but HTAB); then the value ends before its
            // trailing SP / HTAB. A byte at a time this loop was most of a head's parse.
            while true {
                while i + 8 <= n {
                    let w = UInt64(littleEndian: UnsafeRawPointer(p.baseAddress! + i).loadUnaligned(as: UInt64.self))
                    let stop = HTTPGrammar.controlOrDELMarkers(w)
                    if stop != 0 {
                        i &+= stop.trailingZeroBitCount &>> 3
                        break
                    }
                    i += 8
                }
                let v = p[i]
                if v == HTTPGrammar.cr { break }
                if v == HTTPGrammar.htab || v == HTTPGrammar.sp || (v > HTTPGrammar.sp && v != 0x7F) {
                    i += 1
                    continue
                }
                throw .malformed("invalid header value")
            }
            var valueEnd = i
            while valueEnd > valueStart && (p[valueEnd - 1] == HTTPGrammar.sp || p[valueEnd - 1] == HTTPGrammar.htab) {
                valueEnd -= 1
            }
            guard p[i + 1] == HTTPGrammar.lf else { throw .malformed("bare CR in header section") }
            i += 2
            let field = HTTPHeaderField(name: nameStart..<nameEnd, value: valueStart..<valueEnd)
            if collect {
                fields.append(field)
                try note(p, field)
            }
        }
    }

    /// Records the fields that decide framing and connection handling.
    private mutating func note(_ p: UnsafeBufferPointer<UInt8>, _ field: HTTPHeaderField) throws(HTTPParseError) {
        switch field.name.count {
        case 4:
            if HTTPGrammar.equalsIgnoringCase(p, field.name, "host") { hostCount += 1 }
        case 6:
            if HTTPGrammar.equalsIgnoringCase(p, field.name, "expect"),
                HTTPGrammar.equalsIgnoringCase(p, field.value, "100-continue")
            {
                expectContinue = true
            }
        case 10:
            if HTTPGrammar.equalsIgnoringCase(p, field.name, "connection") {
                HTTPGrammar.forEachListElement(p, field.value) { element in
                    if HTTPGrammar.equalsIgnoringCase(p, element, "close") {
                        connectionClose = true
                    } else if HTTPGrammar.equalsIgnoringCase(p, element, "keep-alive") {
                        connectionKeepAlive = true
                    }
                    return true
                }
            }
        case 14:
            if HTTPGrammar.equalsIgnoringCase(p, field.name, "content-length") {
                try noteContentLength(p, field.value)
            }
        case 17:
            if HTTPGrammar.equalsIgnoringCase(p, field.name, "transfer-encoding") {
                // Only a single, exact "chunked" is accepted: a second field is equivalent to
                // "chunked, chunked", and any other coding cannot be relayed safely.
                let exact = HTTPGrammar.equalsIgnoringCase(p, field.value, "chunked")
                transferEncoding = transferEncoding == .absent && exact ? .chunked : .unsupported
            }
        default:
            break
        }
    }

    /// Content-Length: a comma list of identical decimal values, across all fields.
    private mutating func noteContentLength(_ p: UnsafeBufferPointer<UInt8>, _ value: Range<Int>) throws(HTTPParseError) {
        // Walk elements by hand: unlike other lists, an empty element is an error here.
        var i = value.lowerBound
        repeat {
            var end = i
            while end < value.upperBound && p[end] != HTTPGrammar.comma { end += 1 }
            var a = i
            var b = end
            while a < b && (p[a] == HTTPGrammar.sp || p[a] == HTTPGrammar.htab) { a += 1 }
            while b > a && (p[b - 1] == HTTPGrammar.sp || p[b - 1] == HTTPGrammar.htab) { b -= 1 }
            guard a < b else { throw .malformed("invalid Content-Length") }
            var n = 0
            for k in a..<b {
                let d = p[k] &- HTTPGrammar.zero
                guard d < 10 else { throw .malformed("invalid Content-Length") }
                let (m, o1) = n.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(d))
                guard !o1, !o2 else { throw .malformed("Content-Length overflow") }
                n = s
            }
            if let c = contentLength, c != n { throw .malformed("conflicting Content-Length") }
            contentLength = n
            i = end + 1
        } while i <= value.upperBound
    }
}

// MARK: - Character classes (RFC 9110 5.6, RFC 9112)

/// The byte-level grammar of HTTP/1.1: character classes and case-insensitive comparison.
@usableFromInline
enum HTTPGrammar {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    @usableFromInline static let sp: UInt8 = 0x20
    @usableFromInline static let htab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    @usableFromInline static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B
    static let zero: UInt8 = 0x30

    /// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" /
    /// "|" / "~" / DIGIT / ALPHA, as bitmasks over bytes 0-63 and 64-127.
    private static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always)
    static func isTokenByte(_ c: UInt8) -> Bool {
        if c < 64 { return (tokenMaskLow >> UInt64(c)) & 1 != 0 }
        if c < 128 { return (tokenMaskHigh >> UInt64(c &- 64)) & 1 != 0 }
        return false
    }

    /// The high bit of each byte of `w` (loaded little-endian) below 0x20 or equal to 0x7F,
    /// SWAR. Bytes above the first marked one may be marked falsely (a borrow carries
    /// upward), never below it: the lowest marker is always the first such byte.
    @inline(__always)
    static func controlOrDELMarkers(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w
        let del = w ^ (ones &* 0x7F)
        let isDEL = (del &- ones) & ~del
        return (control | isDEL) & highs
    }

    @inlinable @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 {
        c &- 0x41 < 26 ? c | 0x20 : c
    }

    /// The value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? {
        if c &- 0x30 < 10 { return c &- 0x30 }
        let l = c | 0x20
        if l &- 0x61 < 6 { return l &- 0x61 &+ 10 }
        return nil
    }

    /// Each byte of `w` in `A`...`Z` made lowercase, the others kept (SWAR: no byte's sum
    /// carries into the next, so it is exactly `lower` on each of the eight bytes).
    @inlinable @inline(__always)
    static func lowerWord(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let low7 = w & (ones &* 0x7F)
        let atLeastA = low7 &+ ones &* (0x80 - 0x41)
        let pastZ = low7 &+ ones &* (0x80 - 0x5B)
        let upper = atLeastA & ~pastZ & ~w & (ones &* 0x80)
        return w | (upper &>> 2)
    }

    /// Whether `p[r]` and `s` are equal, ASCII case-insensitively. Eight bytes at a time from
    /// eight bytes on (the last word overlapping the one before): field names such as
    /// `content-type` are compared in two words, not twelve bytes each lowered.
    @inlinable
    static func equalsIgnoringCase(
        _ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ s: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        let n = s.count
        guard r.count == n else { return false }
        assert(r.lowerBound >= 0 && r.upperBound <= p.count, "the range lies in the buffer")
        guard n >= 8, let pb = p.baseAddress, let sb = s.baseAddress else {
            var i = r.lowerBound
            for c in s {
                if lower(p[i]) != lower(c) { return false }
                i += 1
            }
            return true
        }
        let a = UnsafeRawPointer(pb + r.lowerBound), b = UnsafeRawPointer(sb)
        var k = 0
        while true {
            let at = k + 8 <= n ? k : n - 8
            if lowerWord(a.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                != lowerWord(b.loadUnaligned(fromByteOffset: at, as: UInt64.self)) { return false }
            k = at + 8
            if k >= n { return true }
        }
    }

    @inlinable @inline(__always)
    static func equalsIgnoringCase(_ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ s: StaticString) -> Bool {
        s.withUTF8Buffer { equalsIgnoringCase(p, r, $0) }
    }

    /// Calls `body` with each non-empty, OWS-trimmed element of the comma list in `r` until it
    /// returns false.
    @inlinable
    static func forEachListElement(
        _ p: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ body: (Range<Int>) -> Bool
    ) {
        var i = r.lowerBound
        while i < r.upperBound {
            var end = i
            while end < r.upperBound && p[end] != comma { end += 1 }
            var a = i
            var b = end
            while a < b && (p[a] == sp || p[a] == htab) { a += 1 }
            while b > a && (p[b - 1] == sp || p[b - 1] == htab) { b -= 1 }
            if a < b && !body(a..<b) { return }
            i = end + 1
        }
    }

    /// Parses "HTTP/1.0" or "HTTP/1.1" at `i`; returns the minor version.
    static func version(_ p: UnsafeBufferPointer<UInt8>, at i: Int) throws(HTTPParseError) -> Int {
        guard i + 8 <= p.count,
            p[i] == 0x48, p[i + 1] == 0x54, p[i + 2] == 0x54, p[i + 3] == 0x50, p[i + 4] == 0x2F,
            p[i + 5] &- zero < 10, p[i + 6] == 0x2E, p[i + 7] &- zero < 10
        else { throw .malformed("invalid HTTP version") }
        guard p[i + 5] == 0x31, p[i + 7] <= 0x31 else { throw .malformed("unsupported HTTP version") }
        return Int(p[i + 7] &- zero)
    }
}

// MARK: - Finding the end of a head across reads

/// Delimits a head (start line + field lines + empty line) or a trailer section in bytes
/// that arrive in arbitrary splits. When a section lies whole in the caller's buffer it is
/// reported in place; otherwise the partial bytes are kept in one reused array.
struct HTTP1HeadReader {
    enum Outcome {
        case needMore
        /// The section is `buf[range]`; the offset is past it.
        case inCaller(Range<Int>)
        /// The section is `buffered`; the offset is past it. Call `reset()` once done.
        case inBuffer
        case error(HTTPParseError)
    }

    /// Partial section bytes carried between calls.
    private(set) var buffered: [UInt8] = []
    /// How many bytes of `buffered` were already searched for line ends.
    private var scanned = 0

    var isEmpty: Bool { buffered.isEmpty }

    mutating func reset() {
        // Keep a modest buffer for the next message; give back a huge one.
        if buffered.capacity > 16384 {
            buffered = []
        } else {
            buffered.removeAll(keepingCapacity: true)
        }
        scanned = 0
    }

    /// What `readHead` found.
    enum HeadOutcome {
        case needMore
        case head([UInt8])
        case error(HTTPParseError)
    }

    /// Reads a message head (empty lines before it skipped) and hands back its bytes as
    /// one owned array, wherever they were gathered.
    mutating func readHead(_ buf: UnsafeRawBufferPointer, _ offset: inout Int, limit: Int) -> HeadOutcome {
        switch read(buf, &offset, limit: limit, skipLeadingEmptyLines: true) {
        case .needMore:
            return .needMore
        case .error(let e):
            return .error(e)
        case .inCaller(let range):
            return .head([UInt8](UnsafeRawBufferPointer(rebasing: buf[range])))
        case .inBuffer:
            let bytes = buffered.withUnsafeBufferPointer { [UInt8]($0) }
            reset()
            return .head(bytes)
        }
    }

    /// Reads up to the end of the section: the first empty line, within `limit` bytes.
    /// With `skipLeadingEmptyLines` (message heads, RFC 9112 2.2) empty lines before the start
    /// line are consumed and ignored; otherwise (trailers) an empty first line ends the section.
    /// Returns `.needMore` only with `offset == buf.count`.
    mutating func read(
        _ buf: UnsafeRawBufferPointer, _ offset: inout Int, limit: Int, skipLeadingEmptyLines: Bool
    ) -> Outcome {
        let end = buf.count
        guard offset < end, let raw = buf.baseAddress else { return .needMore }
        let base = raw.assumingMemoryBound(to: UInt8.self)

        if buffered.isEmpty {
            var start = offset
            switch Self.search(base, start: &start, from: start, end: end, limit: limit, skip: skipLeadingEmptyLines) {
            case .found(let stop):
                offset = stop
                return .inCaller(start..<stop)
            case .notFound:
                offset = end
                if start < end {
                    buffered.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
                    scanned = end - start
                }
                return .needMore
            case .error(let e):
                return .error(e)
            }
        }

        while true {
            let had = buffered.count
            let take = min(end - offset, limit - had)
            buffered.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: take))
            let from = scanned
            var start = 0
            let result = buffered.withUnsafeBufferPointer { b in
                Self.search(b.baseAddress!, start: &start, from: from, end: b.count, limit: limit, skip: skipLeadingEmptyLines)
            }
            switch result {
            case .found(let stop):
                // Bytes past the section stay in the caller's buffer.
                offset += stop - had
                buffered.removeLast(buffered.count - stop)
                if start > 0 { buffered.removeFirst(start) }
                scanned = buffered.count
                return .inBuffer
            case .notFound:
                offset += take
                if start > 0 { buffered.removeFirst(start) }
                scanned = buffered.count
                // Skipped empty lines freed room: take more of the caller's bytes.
                if offset == end { return .needMore }
                if buffered.isEmpty {
                    return read(buf, &offset, limit: limit, skipLeadingEmptyLines: skipLeadingEmptyLines)
                }
            case .error(let e):
                return .error(e)
            }
        }
    }

    private enum SearchResult {
        case found(Int)  // one past the section's final LF
        case notFound
        case error(HTTPParseError)
    }

    /// Searches `base[from..<end]` for the LF ending the first empty line of the section that
    /// starts at `start` (moved past skipped leading empty lines). Every LF must follow a CR.
    private static func search(
        _ base: UnsafePointer<UInt8>, start: inout Int, from: Int, end: Int, limit: Int, skip: Bool
    ) -> SearchResult {
        var pos = from
        while true {
            let stop = min(end, start + limit)
            guard pos < stop, let hit = memchr(base + pos, Int32(HTTPGrammar.lf), stop - pos) else {
                return stop - start >= limit ? .error(.headTooLarge) : .notFound
            }
            let p = UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
            guard p > start, base[p - 1] == HTTPGrammar.cr else { return .error(.malformed("bare LF")) }
            if p - 1 == start {
                // An empty first line.
                if !skip { return .found(p + 1) }
                start = p + 1
            } else if base[p - 2] == HTTPGrammar.lf {
                return .found(p + 1)
            }
            pos = p + 1
        }
    }
}
