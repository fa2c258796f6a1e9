// Serialises HTTP/1.1 heads and chunk framing by appending bytes to a caller-owned array.
// No formatting through String: numbers are written digit by digit.
// Callers pass validated bytes (names and values from a parsed head, or literals); the
// writer does not re-check them.

public enum HTTP1Writer {
    /// "HTTP/1.<minor> <status> <reason>\r\n"
    public static func appendStatusLine(
        _ out: inout [UInt8], status: Int, reason: StaticString, versionMinor: Int = 1
    ) {
        appendVersion(&out, versionMinor)
        out.append(0x20)
        appendDecimal(&out, status)
        out.append(0x20)
        appendStatic(&out, reason)
        appendCRLF(&out)
    }

    /// "HTTP/1.<minor> <status> <reasonPhrase(status)>\r\n"
    public static func appendStatusLine(_ out: inout [UInt8], status: Int, versionMinor: Int = 1) {
        appendStatusLine(&out, status: status, reason: reasonPhrase(status), versionMinor: versionMinor)
    }

    /// "HTTP/1.<minor> <status> <reason>\r\n" with a reason taken from another head.
    public static func appendStatusLine(
        _ out: inout [UInt8], status: Int, reason: ArraySlice<UInt8>, versionMinor: Int = 1
    ) {
        appendVersion(&out, versionMinor)
        out.append(0x20)
        appendDecimal(&out, status)
        out.append(0x20)
        out.append(contentsOf: reason)
        appendCRLF(&out)
    }

    /// "<method> <target> HTTP/1.1\r\n"
    public static func appendRequestLine(_ out: inout [UInt8], method: ArraySlice<UInt8>, target: ArraySlice<UInt8>) {
        out.append(contentsOf: method)
        out.append(0x20)
        out.append(contentsOf: target)
        out.append(0x20)
        appendVersion(&out, 1)
        appendCRLF(&out)
    }

    /// "<method> <target> HTTP/1.1\r\n"
    public static func appendRequestLine(_ out: inout [UInt8], method: StaticString, target: ArraySlice<UInt8>) {
        appendStatic(&out, method)
        out.append(0x20)
        out.append(contentsOf: target)
        out.append(0x20)
        appendVersion(&out, 1)
        appendCRLF(&out)
    }

    /// "<name>: <value>\r\n"
    public static func appendHeader(_ out: inout [UInt8], name: StaticString, value: ArraySlice<UInt8>) {
        appendStatic(&out, name)
        appendColonSpace(&out)
        out.append(contentsOf: value)
        appendCRLF(&out)
    }

    /// "<name>: <value>\r\n"
    public static func appendHeader(_ out: inout [UInt8], name: StaticString, value: StaticString) {
        appendStatic(&out, name)
        appendColonSpace(&out)
        appendStatic(&out, value)
        appendCRLF(&out)
    }

    /// "<name>: <decimal value>\r\n"
    public static func appendHeader(_ out: inout [UInt8], name: StaticString, value: Int) {
        appendStatic(&out, name)
        appendColonSpace(&out)
        appendDecimal(&out, value)
        appendCRLF(&out)
    }

    /// "<name>: <value>\r\n", e.g. a field copied from a parsed head.
    public static func appendHeader(_ out: inout [UInt8], name: ArraySlice<UInt8>, value: ArraySlice<UInt8>) {
        out.append(contentsOf: name)
        appendColonSpace(&out)
        out.append(contentsOf: value)
        appendCRLF(&out)
    }

    /// "<name>: <request id>\r\n"
    public static func appendHeader(_ out: inout [UInt8], name: StaticString, _ id: RequestID) {
        appendStatic(&out, name)
        appendColonSpace(&out)
        id.withBytes { out.append(contentsOf: $0) }
        appendCRLF(&out)
    }

    /// The empty line ending a head.
    public static func appendEndOfHead(_ out: inout [UInt8]) {
        appendCRLF(&out)
    }

    /// "<size in lowercase hex>\r\n" opening a chunk of `size` > 0 bytes.
    public static func appendChunkHeader(_ out: inout [UInt8], size: Int) {
        withChunkHeader(size: size) { out.append(contentsOf: $0) }
    }

    /// Calls `body` with the chunk header for `size` > 0 formatted on the stack (no allocation).
    public static func withChunkHeader<R>(size: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(size > 0, "a zero-size chunk is the last chunk: use appendLastChunk")
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { p in
            let digits = (Int.bitWidth - size.leadingZeroBitCount + 3) / 4
            var shift = (digits - 1) * 4
            var n = 0
            while shift >= 0 {
                let nibble = UInt8(truncatingIfNeeded: size >> shift) & 0xF
                p[n] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                n += 1
                shift -= 4
            }
            p[n] = 0x0D
            p[n + 1] = 0x0A
            return body(UnsafeRawBufferPointer(start: p.baseAddress, count: n + 2))
        }
    }

    /// The CRLF closing a chunk's data.
    public static func appendChunkTrailerCRLF(_ out: inout [UInt8]) {
        appendCRLF(&out)
    }

    /// "0\r\n\r\n": the last chunk and an empty trailer section.
    public static func appendLastChunk(_ out: inout [UInt8]) {
        appendStatic(&out, "0\r\n\r\n")
    }

    /// `value` in decimal ASCII, with a leading '-' when negative.
    public static func appendDecimal(_ out: inout [UInt8], _ value: Int) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        // Reserve the digits, then fill them from the least significant end.
        var i = out.count + digits
        out.append(contentsOf: repeatElement(0x30, count: digits))
        repeat {
            i -= 1
            out[i] = 0x30 + UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        } while magnitude != 0
    }

    public static func reasonPhrase(_ status: Int) -> StaticString {
        switch status {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }

    // MARK: - Pieces

    @inline(__always)
    private static func appendStatic(_ out: inout [UInt8], _ s: StaticString) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    @inline(__always)
    private static func appendVersion(_ out: inout [UInt8], _ minor: Int) {
        precondition(minor == 0 || minor == 1, "HTTP/1.0 or HTTP/1.1 only")
        appendStatic(&out, minor == 0 ? "HTTP/1.0" : "HTTP/1.1")
    }

    @inline(__always)
    private static func appendCRLF(_ out: inout [UInt8]) {
        out.append(0x0D)
        out.append(0x0A)
    }

    @inline(__always)
    private static func appendColonSpace(_ out: inout [UInt8]) {
        out.append(0x3A)
        out.append(0x20)
    }
}
