/// The strict pieces every cluster body (`ConfigWire`, `CooldownWire`, `AffinityWire`,
/// `LimitBatch`, `FleetMessage`) is built from: printable ASCII, fields split by one space,
/// decimal numbers without signs or leading zeros, text percent-encoded with one spelling
/// per text. A peer's bytes are untrusted: a parser that meets anything else returns nil.
enum ClusterText {
    /// The largest number a limits or fleet body may carry (micro-USD: a billion dollars).
    static let maxNumber: UInt64 = 1_000_000_000_000_000

    /// The bytes an escaped text keeps as they are; every other byte is `%XX` (uppercase).
    enum Alphabet {
        /// 0x21...0x7E but `%`: a text that is one space-separated field (a model name).
        case printable
        /// Letters, digits and `-._~/:@`: a text inside a field whose parts are split by `,`.
        case plain

        @inline(__always)
        func keeps(_ b: UInt8) -> Bool {
            switch self {
            case .printable:
                return b >= 0x21 && b <= 0x7E && b != 0x25
            case .plain:
                return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2F || b == 0x3A || b == 0x40
            }
        }
    }

    /// A decimal number of at most `maxDigits` digits ("0" but no other leading zero). 19
    /// digits always fit: below 10^19 < 2^64.
    static func decimal<S: Collection>(_ field: S, maxDigits: Int = 19) -> UInt64? where S.Element == UInt8 {
        guard !field.isEmpty, field.count <= min(maxDigits, 19) else { return nil }
        if field.count > 1 && field.first == 0x30 { return nil }
        var v: UInt64 = 0
        for b in field {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            v = v * 10 + UInt64(b - 0x30)
        }
        return v
    }

    /// A decimal of at most 16 digits and at most `maxNumber`.
    static func number<S: Collection>(_ field: S) -> UInt64? where S.Element == UInt8 {
        guard let v = decimal(field, maxDigits: 16), v <= maxNumber else { return nil }
        return v
    }

    /// `number` that fits `limit`, as an Int.
    static func int<S: Collection>(_ field: S, max limit: Int) -> Int? where S.Element == UInt8 {
        guard let v = number(field), v <= UInt64(limit) else { return nil }
        return Int(v)
    }

    /// Fields split by single spaces (an empty field, from two spaces or an edge, fails).
    static func fields(_ body: Substring.UTF8View, separator: UInt8 = 0x20) -> [Substring.UTF8View.SubSequence]? {
        let parts = body.split(separator: separator, omittingEmptySubsequences: false)
        return parts.contains(where: { $0.isEmpty }) ? nil : parts
    }

    /// `text` percent-encoded in `alphabet`, cut first to at most `limit` bytes of UTF-8.
    static func escape(_ text: String, _ alphabet: Alphabet = .plain, limit: Int = .max) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(text.utf8.count, limit))
        for b in text.utf8.prefix(limit) {
            if alphabet.keeps(b) { out.append(b) } else { out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The text `escape` made, strictly: a byte the alphabet escapes must be escaped, and
    /// one it keeps must not be (one spelling per text); at most `limit` bytes decoded.
    /// `whole`: the result must be non-empty, valid UTF-8; otherwise (a text `escape` may
    /// have cut inside a character) bytes that are not UTF-8 become U+FFFD.
    static func unescape<S: Collection>(_ field: S, _ alphabet: Alphabet = .plain, limit: Int, whole: Bool = false) -> String?
    where S.Element == UInt8 {
        var out: [UInt8] = []
        var i = field.startIndex
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            default: return nil
            }
        }
        while i != field.endIndex {
            let b = field[i]
            if b == 0x25 {
                let h = field.index(after: i)
                guard h != field.endIndex else { return nil }
                let l = field.index(after: h)
                guard l != field.endIndex, let hi = hexValue(field[h]), let lo = hexValue(field[l]) else { return nil }
                let v = hi << 4 | lo
                if alphabet.keeps(v) { return nil }
                out.append(v)
                i = field.index(after: l)
            } else {
                guard alphabet.keeps(b) else { return nil }
                out.append(b)
                i = field.index(after: i)
            }
            if out.count > limit { return nil }
        }
        guard whole else { return String(decoding: out, as: UTF8.self) }
        guard !out.isEmpty else { return nil }
        return String(validating: out, as: UTF8.self)
    }

    /// Exactly 16 lowercase hex digits.
    static func hex64(_ f: Substring.UTF8View) -> UInt64? {
        guard f.count == 16 else { return nil }
        var v: UInt64 = 0
        for b in f {
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x61...0x66: d = b - 0x61 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// 16 lowercase hex digits.
    static func hex64(_ v: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0x30, count: 16)
        var x = v
        for i in stride(from: 15, through: 0, by: -1) {
            out[i] = digits[Int(x & 0xF)]
            x >>= 4
        }
        return String(decoding: out, as: UTF8.self)
    }
}
