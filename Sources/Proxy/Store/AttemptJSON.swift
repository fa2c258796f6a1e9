/// The attempts column: a JSON array written by hand straight into bytes (JSONEncoder is
/// too slow for the writer, and a `String` built per record cost the writer ~5 %), read
/// back with JSONDecoder.
enum AttemptJSON {
    /// The column's text for `attempts` (tests and callers that want a `String`).
    static func encode(_ attempts: [AttemptNote]) -> String {
        var bytes: [UInt8] = []
        append(attempts, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the column's UTF-8 text for `attempts` to `out`.
    static func append(_ attempts: [AttemptNote], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for i in attempts.indices {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            let a = attempts[i]
            // From byte arrays: appending a string's `utf8` went a byte at a time.
            out.append(contentsOf: Keys.channelID)
            appendInt(a.channelID, to: &out)
            out.append(contentsOf: Keys.keyIndex)
            appendInt(a.keyIndex, to: &out)
            out.append(contentsOf: Keys.status)
            appendInt(a.status, to: &out)
            if let f = a.failure {
                out.append(contentsOf: Keys.failure)
                appendString(f, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    private enum Keys {
        static let channelID = Array(#"{"channelID":"#.utf8)
        static let keyIndex = Array(#","keyIndex":"#.utf8)
        static let status = Array(#","status":"#.utf8)
        static let failure = Array(#","failure":"#.utf8)
    }

    /// Decimal digits, `-` first when negative.
    static func appendInt(_ v: Int, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt.max has 20 digits
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[23 - n] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
                n += 1
            } while m > 0
            out.append(contentsOf: UnsafeBufferPointer(start: d.baseAddress!.assumingMemoryBound(to: UInt8.self) + (24 - n), count: n))
        }
    }

    /// A JSON string: `"`, `\` and control characters escaped (`\n`, `\r`, `\t`, else
    /// `\u00xx`), everything else as its UTF-8 bytes.
    static func appendString(_ v: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in v.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigit(b >> 4))
                out.append(hexDigit(b & 15))
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Lower-case, as the escapes were always written.
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }
}
