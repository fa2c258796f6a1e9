// Shared by every harness: how a fuzz input is cut into parameters and a payload, a
// deterministic generator for split points, and the failure that libFuzzer records.

/// The fuzzer's bytes, read from the front: a few parameter bytes, then the payload.
struct FuzzInput {
    let bytes: [UInt8]
    private(set) var cursor = 0

    init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        bytes = Array(UnsafeBufferPointer(start: data, count: size))
    }

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The next parameter byte (0 once the input is used up).
    mutating func byte() -> UInt8 {
        guard cursor < bytes.count else { return 0 }
        defer { cursor += 1 }
        return bytes[cursor]
    }

    /// Two parameter bytes, little-endian.
    mutating func word() -> Int { Int(byte()) | Int(byte()) << 8 }

    /// Up to `n` bytes.
    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(bytes.count, cursor + max(0, n))
        defer { cursor = end }
        return Array(bytes[cursor..<end])
    }

    /// A generator seeded from the next two bytes.
    mutating func rng() -> SplitMix { SplitMix(seed: UInt64(byte()) | UInt64(byte()) << 8) }

    /// Everything not read yet.
    mutating func rest() -> [UInt8] {
        defer { cursor = bytes.count }
        return Array(bytes[cursor...])
    }
}

/// SplitMix64: split points derived from the input, so a crash reproduces from its file.
struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    /// `count` cut into consecutive non-empty pieces: mostly short, sometimes single bytes,
    /// sometimes long, as reads from a socket come.
    mutating func pieces(_ count: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var at = 0
        let mode = below(4)
        while at < count {
            let len: Int
            switch mode {
            case 0: len = 1
            case 1: len = 1 + below(4)
            case 2: len = 1 + below(64)
            default: len = 1 + below(max(1, count))
            }
            let end = min(count, at + len)
            out.append(at..<end)
            at = end
        }
        return out
    }
}

/// `bytes` cut at `pieces`, each piece in its own allocation (so a read past a piece is a
/// heap overflow ASan reports, not a silent read of the next piece).
func feedPieces(_ bytes: [UInt8], _ pieces: [Range<Int>], _ body: (UnsafeRawBufferPointer) -> Bool) {
    for r in pieces {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: r.count, alignment: 1)
        defer { copy.deallocate() }
        bytes[r].withUnsafeBytes { copy.copyMemory(from: $0) }
        if !body(UnsafeRawBufferPointer(copy)) { return }
    }
}

/// A harness's assertion: the message names what disagreed; the trap makes libFuzzer keep
/// the input as a crash.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz check failed: \(message())", file: file, line: line) }
}

/// An unconditional failure (a path the harness proves unreachable).
func fail(_ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz check failed: \(message())", file: file, line: line)
}

/// Bytes as printable text for failure messages.
func show(_ b: some Sequence<UInt8>) -> String {
    var s = ""
    for c in b {
        if c >= 0x20 && c < 0x7F && c != 0x5C { s.unicodeScalars.append(Unicode.Scalar(c)) }
        else { s += "\\x" + String(c, radix: 16) }
    }
    return s
}
