/// The strict pieces the cluster bodies (`LimitBatch`, `FleetMessage`) are built from:
/// printable ASCII, fields split by one space, decimal numbers without signs or leading
/// zeros, text percent-encoded. A parser that meets anything else returns nil.
enum ClusterText {
    /// The largest number a body may carry (micro-USD: a billion dollars).
    static let maxNumber: UInt64 = 1_000_000_000_000_000

    /// A decimal number of at most 16 digits and at most `maxNumber` ("0" but no other
    /// leading zero).
    static func number<S: Collection>(_ field: S) -> UInt64? where S.Element == UInt8 {
        guard !field.isEmpty, field.count <= 16 else { return nil }
        if field.count > 1 && field.first == 0x30 { return nil }
        var v: UInt64 = 0
        for b in field {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            v = v * 10 + UInt64(b - 0x30)
        }
        return v <= maxNumber ? v : nil
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

    /// Bytes kept as they are in text; every other byte is `%XX`.
    @inline(__always)
    static func plain(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2F || b == 0x3A || b == 0x40
    }

    /// `text` percent-encoded, cut first to at most `limit` bytes of UTF-8.
    static func escape(_ text: String, limit: Int) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8.prefix(limit) {
            if plain(b) { out.append(b) } else { out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The text `escape` made (nil: a byte outside the plain set, a bad escape, or more
    /// than `limit` bytes decoded). Bytes that are not UTF-8 become U+FFFD.
    static func unescape<S: Collection>(_ field: S, limit: Int) -> String? where S.Element == UInt8 {
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
                if plain(v) { return nil }   // one spelling per text
                out.append(v)
                i = field.index(after: l)
            } else {
                guard plain(b) else { return nil }
                out.append(b)
                i = field.index(after: i)
            }
            if out.count > limit { return nil }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
