import Reactor

/// A cursor over the fields of a cluster message body (`ClusterBus` carries
/// `ClusterMessage.body`): one space between fields, no empty field, printable ASCII only.
/// Read strictly from the front by the topics' parsers (`ConfigWire`, `CooldownWire`,
/// `AffinityWire`) with `ClusterText`'s pieces: every number has a bounded width and a range.
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
        guard let f = next(), let v = ClusterText.decimal(f), range.contains(v) else { return nil }
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
