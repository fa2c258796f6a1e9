/// The id of one request, sent back as `x-request-id` on its answer and kept in its record:
/// the client's own when it sent a sane one (`init(clientValue:)`), else a fresh one from
/// its loop's `RequestIDSource`. Held inline (no allocation), at most `maxLength` bytes.
public struct RequestID: Sendable, Equatable, CustomStringConvertible, Codable {
    /// Longest client value taken (bytes).
    public static let maxLength = 64

    private var storage: (SIMD32<UInt8>, SIMD32<UInt8>) = (.zero, .zero)
    public fileprivate(set) var count = 0

    public init() {}

    /// The client's `x-request-id` when it is 1…`maxLength` bytes, each a letter, a digit
    /// or one of `-_.:+/=~` (what UUIDs, ULIDs, base64 and trace ids use); else nil.
    public init?(clientValue v: ArraySlice<UInt8>) {
        guard !v.isEmpty, v.count <= Self.maxLength else { return nil }
        for b in v where !Self.allowed(b) { return nil }
        count = v.count
        withStorage { p in v.withUnsafeBytes { p.copyMemory(from: $0) } }
    }

    /// `init(clientValue:)` of a string (stored ids, query parameters; not for the hot path).
    public init?(text: String) {
        var s = text
        guard let id = s.withUTF8({ RequestID(clientValue: Array($0)[...]) }) else { return nil }
        self = id
    }

    @inline(__always)
    static func allowed(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true  // 0-9 A-Z a-z
        case 0x2D, 0x5F, 0x2E, 0x3A, 0x2B, 0x2F, 0x3D, 0x7E: return true  // - _ . : + / = ~
        default: return false
        }
    }

    public var isEmpty: Bool { count == 0 }

    /// The inline bytes, written in place (setting a `SIMD32` lane by a variable index byte
    /// by byte was ~25 instructions a byte).
    fileprivate mutating func withStorage(_ body: (UnsafeMutableRawBufferPointer) -> Void) {
        withUnsafeMutableBytes(of: &storage) { body($0) }
    }

    /// The id's bytes, for the time of `body`.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in body(UnsafeRawBufferPointer(rebasing: raw[0..<count])) }
    }

    /// As text (off the hot path: the store's writer, the admin API).
    public var description: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    /// As its text; a value that breaks the rule decodes as no id.
    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        self = RequestID(text: s) ?? RequestID()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public static func == (a: RequestID, b: RequestID) -> Bool {
        a.count == b.count && a.storage.0 == b.storage.0 && a.storage.1 == b.storage.1
    }
}

/// Fresh request ids for one loop: a random prefix drawn once per source (12 hex digits)
/// and a counter (16 hex digits), `3f9a0c21b7e4-000000000000002a`. Owner: one loop.
public struct RequestIDSource: Sendable {
    private let prefix: UInt64
    private var counter: UInt64 = 0

    public init(prefix: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.prefix = prefix & 0xFFFF_FFFF_FFFF
    }

    public mutating func next() -> RequestID {
        counter &+= 1
        var id = RequestID()
        let (prefix, counter) = (self.prefix, self.counter)
        id.withStorage { p in
            Self.writeHex(p, at: 0, prefix, digits: 12)
            p[12] = 0x2D
            Self.writeHex(p, at: 13, counter, digits: 16)
        }
        id.count = 29
        return id
    }

    private static func writeHex(_ p: UnsafeMutableRawBufferPointer, at start: Int, _ v: UInt64, digits: Int) {
        var shift = (digits - 1) * 4
        for i in start..<(start + digits) {
            let d = UInt8((v >> UInt64(shift)) & 0xF)
            p[i] = d < 10 ? 0x30 + d : 0x57 + d
            shift -= 4
        }
    }
}
