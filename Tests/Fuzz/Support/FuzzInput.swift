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

/// `bytes` cut at `pieces`, each piece fed from its own place in one scratch buffer that
/// AddressSanitizer sees as poisoned everywhere except the piece being fed: a read before or
/// past a piece, or of an earlier piece after its call returned, is a use-after-poison ASan
/// reports (as a heap overflow or use-after-free was when each piece had its own
/// allocation), without an allocation and its recorded stack per piece.
func feedPieces(_ bytes: [UInt8], _ pieces: [Range<Int>], _ body: (UnsafeRawBufferPointer) -> Bool) {
    // Every piece starts 16-byte aligned with at least 16 poisoned bytes before it; ASan
    // poisons in 8-byte granules, so a piece's own last granule is exact and the bytes
    // before its start are a whole poisoned granule.
    var need = 16
    for r in pieces { need += ((r.count + 15) & ~15) + 16 }
    let base = PoisonedScratch.reserve(need)
    var at = 16
    bytes.withUnsafeBytes { src in
        for r in pieces {
            let p = base + at
            asanUnpoison(p, r.count)
            p.copyMemory(from: src.baseAddress! + r.lowerBound, byteCount: r.count)
            let go = body(UnsafeRawBufferPointer(start: p, count: r.count))
            asanPoison(p, r.count)
            if !go { return }
            at += ((r.count + 15) & ~15) + 16
        }
    }
}

@_silgen_name("__asan_poison_memory_region") private func asanPoison(_ addr: UnsafeRawPointer, _ size: Int)
@_silgen_name("__asan_unpoison_memory_region") private func asanUnpoison(_ addr: UnsafeRawPointer, _ size: Int)

/// The buffer `feedPieces` copies pieces into: allocated once (grown when an input needs
/// more) and poisoned whole between pieces. One fuzzer process runs one input at a time.
private enum PoisonedScratch {
    nonisolated(unsafe) static var buffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    static func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if buffer.count < bytes {
            if let old = buffer.baseAddress {
                asanUnpoison(old, buffer.count)
                buffer.deallocate()
            }
            buffer = .allocate(byteCount: max(bytes, 2 * buffer.count, 64 * 1024), alignment: 16)
            asanPoison(buffer.baseAddress!, buffer.count)
        }
        return buffer.baseAddress!
    }
}

/// A harness's assertion: the message names what disagreed; the trap makes libFuzzer keep
/// the input as a crash.
/// Inlined, so a check on every piece or event costs a compare, not a call (the message is
/// built only on failure).
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fail(message(), file: file, line: line) }
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
