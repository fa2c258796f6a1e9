// The cluster bus's message bodies (`ConfigWire`, `CooldownWire`, `AffinityWire`: a peer's
// bytes, untrusted): any bytes either fail to parse or parse to a message whose encoding is
// exactly those bytes (the encodings are canonical), printable ASCII with no line break.
// A parsed message is then applied to a book or table at a fuzzed clock, which must not trap
// (saturating arithmetic on every number).

@testable import Proxy
@testable import Reactor

private let hub = LoopbackClusterHub()
private let bus = ClusterBus(instance: "fuzz", transport: hub.transport())
private let book = CooldownBook()
private let cooldowns = CooldownSync(book: book, bus: bus, store: nil)
private let table = SessionAffinity()
private let affinity = AffinitySync(affinity: table, bus: bus)

private func printable(_ s: String) -> Bool {
    s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    var clock: UInt64 = 0
    for _ in 0..<8 { clock = clock << 8 | UInt64(input.byte()) }
    var wall: UInt64 = 0
    for _ in 0..<8 { wall = wall << 8 | UInt64(input.byte()) }
    // Mostly a realistic wall clock, sometimes any 64-bit value.
    if mode & 0x80 == 0 { wall = 1_700_000_000_000 + wall % 400_000_000_000 }
    let bytes = input.rest()
    let body = String(decoding: bytes, as: UTF8.self)
    // Invalid UTF-8 is repaired by the decoding: compare with what the parser saw.
    let seen = Array(body.utf8)

    switch mode % 3 {
    case 0:
        if let part = ConfigWire.parse(body[...]) {
            let text = ConfigWire.encode(part)
            check(Array(text.utf8) == seen, "config \(part) encodes as \(show(text.utf8)), parsed from \(show(seen))")
        }
    case 1:
        if let m = CooldownWire.parse(body[...]) {
            let text = m.encode()
            check(printable(text), "cooldown encoding \(show(text.utf8)) is not printable")
            check(Array(text.utf8) == seen, "cooldown \(m) encodes as \(show(text.utf8)), parsed from \(show(seen))")
            check(CooldownWire.parse(text[...]) == m, "cooldown \(show(text.utf8)) does not parse back")
            _ = cooldowns.apply(m, nowMono: clock, nowWall: wall)
            _ = book.snapshot(now: clock)
            book.clearAll()
        }
    default:
        if let m = AffinityWire.parse(body[...]) {
            let text = m.encode()
            check(printable(text), "affinity encoding \(show(text.utf8)) is not printable")
            check(Array(text.utf8) == seen, "affinity \(m) encodes as \(show(text.utf8)), parsed from \(show(seen))")
            _ = affinity.apply(m, nowMono: clock, nowWall: wall)
            _ = table.lookup(SessionKey(hash: m.session), now: clock)
            table.forget(SessionKey(hash: m.session))
        }
    }
    return 0
}
