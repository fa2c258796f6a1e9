import Glibc

/// The model names one channel table knows (listed by a channel or the source of one of its
/// redirects), each held once. A request's model is found by its bytes: the relay makes no
/// `String` of a name the table knows (a real model name, `claude-sonnet-4-5-20250929`, is
/// past the 15 bytes a `String` holds inline, so it was an allocation per request) and
/// hashes it with a few multiplies instead of SipHash; the record shares the table's `String`.
/// Built with the table, immutable.
struct ModelNames: Sendable {
    private let names: [String]
    private let utf8: [[UInt8]]
    /// Open addressing, a power of two at most half full: id + 1, 0 = empty.
    private let slots: [Int32]

    init(_ all: some Sequence<String>) {
        var names: [String] = []
        var seen = Set<String>()
        for n in all where seen.insert(n).inserted { names.append(n) }
        self.names = names
        utf8 = names.map { Array($0.utf8) }
        var size = 8
        while size < names.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: 0, count: size)
        for (id, b) in utf8.enumerated() {
            var s = b.withUnsafeBytes { Self.hash($0) } & (size - 1)
            while slots[s] != 0 { s = (s + 1) & (size - 1) }
            slots[s] = Int32(id + 1)
        }
        self.slots = slots
    }

    var count: Int { names.count }

    func name(_ id: Int) -> String { names[id] }

    /// The id of the name whose UTF-8 is `bytes`, or nil when the table knows no such name.
    func id(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let mask = slots.count - 1
        var s = Self.hash(bytes) & mask
        while true {
            let v = Int(slots[s])
            if v == 0 { return nil }
            let candidate = utf8[v - 1]
            if candidate.count == bytes.count,
               bytes.isEmpty || candidate.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) {
                return v - 1
            }
            s = (s + 1) & mask
        }
    }

    func id(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { id(UnsafeRawBufferPointer($0)) }
    }

    /// The table's own `String` for `bytes`, or nil.
    func interned(_ bytes: UnsafeRawBufferPointer) -> String? {
        id(bytes).map { names[$0] }
    }

    /// FNV-1a, its high bits folded down (the slot is taken from the low ones).
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }
}
