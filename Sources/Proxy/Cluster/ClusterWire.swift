import Reactor

/// The fields of a cluster message body (`ClusterBus` carries `ClusterMessage.body`): one
/// space between fields, no empty field, printable ASCII only. Read strictly from the front
/// by the topics' parsers (`ConfigWire`, `CooldownWire`, `AffinityWire`): a peer's bytes are
/// untrusted, so every number has a bounded width and a range, and anything else is nil.
struct ClusterFields {
    private var rest: Substring.UTF8View
    private var failed = false

    /// nil when `body` holds a byte outside 0x21...0x7E other than a single space between
    /// fields, or is longer than `maxBytes`.
    init?(_ body: Substring, maxBytes: Int = 1_024) {
        let u = body.utf8
        guard !u.isEmpty, u.count <= maxBytes else { return nil }
        var previousSpace = true
        for b in u {
            if b == 0x20 {
                if previousSpace { return nil }
                previousSpace = true
            } else if b < 0x21 || b > 0x7E {
                return nil
            } else {
                previousSpace = false
            }
        }
        if previousSpace { return nil }
        rest = u
    }

    /// The next field's bytes, nil when none is left.
    mutating func next() -> Substring.UTF8View? {
        guard !rest.isEmpty else { return nil }
        if let space = rest.firstIndex(of: 0x20) {
            let field = rest[rest.startIndex..<space]
            rest = rest[rest.index(after: space)...]
            return field
        }
        let field = rest
        rest = rest[rest.endIndex...]
        return field
    }

    /// Whether every field was read.
    var atEnd: Bool { rest.isEmpty }

    /// The next field as a decimal in `range` (at most 19 digits, no sign, no leading zero
    /// except "0").
    mutating func number(_ range: ClosedRange<UInt64>) -> UInt64? {
        guard let f = next(), let v = Self.decimal(f), range.contains(v) else { return nil }
        return v
    }

    /// The next field, which must be `text`.
    mutating func literal(_ text: String) -> Bool {
        guard let f = next() else { return false }
        return f.elementsEqual(text.utf8)
    }

    /// The next field as a `String`.
    mutating func word() -> String? {
        next().map { String(decoding: $0, as: UTF8.self) }
    }

    static func decimal(_ f: Substring.UTF8View) -> UInt64? {
        guard !f.isEmpty, f.count <= 19 else { return nil }
        if f.count > 1 && f.first == 0x30 { return nil }
        var v: UInt64 = 0
        for b in f {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            v = v * 10 + UInt64(b - 0x30)  // 19 digits fit: below 10^19 < 2^64
        }
        return v
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

    /// Bytes 0x21...0x7E other than `%` as they are, every other byte as `%XX` (uppercase):
    /// a model name as one field.
    static func escape(_ text: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if b >= 0x21 && b <= 0x7E && b != 0x25 {
                out.append(b)
            } else {
                out += [0x25, digits[Int(b >> 4)], digits[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The inverse of `escape`, strictly: `%` must be followed by two uppercase hex digits of
    /// a byte `escape` would have escaped, and the result must be valid UTF-8 of at most
    /// `maxBytes` bytes.
    static func unescape(_ f: Substring.UTF8View, maxBytes: Int) -> String? {
        var out: [UInt8] = []
        var i = f.startIndex
        func hexDigit(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            default: return nil
            }
        }
        while i != f.endIndex {
            let b = f[i]
            if b == 0x25 {
                let h = f.index(after: i)
                guard h != f.endIndex else { return nil }
                let l = f.index(after: h)
                guard l != f.endIndex, let hi = hexDigit(f[h]), let lo = hexDigit(f[l]) else { return nil }
                let v = hi << 4 | lo
                guard v < 0x21 || v > 0x7E || v == 0x25 else { return nil }
                out.append(v)
                i = f.index(after: l)
            } else {
                out.append(b)
                i = f.index(after: i)
            }
            if out.count > maxBytes { return nil }
        }
        guard !out.isEmpty else { return nil }
        return String(validating: out, as: UTF8.self)
    }
}

/// Wall-clock milliseconds on the bus, monotonic nanoseconds in the books: each instance
/// converts with its own pair of clock readings. Saturating: a peer's number may be anything.
enum ClusterClock {
    /// The wall-clock millisecond of monotonic time `mono`.
    static func wallMillis(of mono: UInt64, nowMono: UInt64, nowWall: UInt64) -> UInt64 {
        if mono >= nowMono { return Saturating.add(nowWall, (mono - nowMono) / nanosPerMilli) }
        return Saturating.subtract(nowWall, (nowMono - mono) / nanosPerMilli)
    }

    /// The monotonic time of wall-clock millisecond `wall`.
    static func mono(ofWallMillis wall: UInt64, nowMono: UInt64, nowWall: UInt64) -> UInt64 {
        if wall >= nowWall { return Saturating.add(nowMono, Saturating.multiply(wall - nowWall, nanosPerMilli)) }
        return Saturating.subtract(nowMono, Saturating.multiply(nowWall - wall, nanosPerMilli))
    }
}
