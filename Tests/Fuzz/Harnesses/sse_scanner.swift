// SSEScanner against a slow line-based reference of the WHATWG event-stream rules as the
// scanner documents them (CR, LF and CRLF line ends, `data` joined by LF, comments, one
// leading space stripped, dispatch on a blank line, an unterminated last event dispatched
// at the end, an `event` name over 256 bytes marks the event too large). With a cap above
// the input the events must be equal for any split; with a small cap, memory stays within
// the cap and every event delivered whole is the reference's, in order.

@testable import Proxy

private struct Event: Equatable {
    var name: [UInt8]
    var data: [UInt8]
    var tooLarge: Bool
}

private func reference(_ b: [UInt8]) -> [Event] {
    var events: [Event] = []
    var name: [UInt8] = []
    var data: [UInt8] = []
    var hasData = false
    var tooLarge = false
    func dispatch() {
        if tooLarge {
            events.append(Event(name: name, data: [], tooLarge: true))
        } else if hasData {
            events.append(Event(name: name, data: Array(data.dropLast()), tooLarge: false))
        }
        name = []; data = []; hasData = false; tooLarge = false
    }
    func line(_ l: ArraySlice<UInt8>) {
        if l.isEmpty { return dispatch() }
        if l.first == UInt8(ascii: ":") { return }
        let colon = l.firstIndex(of: UInt8(ascii: ":")) ?? l.endIndex
        let field = l[..<colon]
        var value = colon < l.endIndex ? l[(colon + 1)...] : l[l.endIndex...]
        if value.first == 0x20 { value = value.dropFirst() }
        if field.elementsEqual("data".utf8) {
            hasData = true
            if !tooLarge { data += value; data.append(0x0A) }
        } else if field.elementsEqual("event".utf8) {
            if value.count <= 256 { name = Array(value) } else { name = []; tooLarge = true; data = [] }
        }
    }
    var start = 0
    var i = 0
    while i < b.count {
        let c = b[i]
        if c == 0x0A || c == 0x0D {
            line(b[start..<i])
            i += (c == 0x0D && i + 1 < b.count && b[i + 1] == 0x0A) ? 2 : 1
            start = i
        } else {
            i += 1
        }
    }
    if start < b.count { line(b[start...]) }
    dispatch()
    return events
}

private func scan(_ stream: [UInt8], _ pieces: [Range<Int>], cap: Int, bound: Int) -> [Event] {
    var scanner = SSEScanner(maxEventBytes: cap)
    var events: [Event] = []
    let collect = { (e: SSEEvent) in
        check(!e.isTooLarge || e.data.isEmpty, "a too-large event carries data")
        check(e.data.count <= cap, "event data of \(e.data.count) bytes over the \(cap) cap")
        events.append(Event(name: Array(e.name), data: Array(e.data), tooLarge: e.isTooLarge))
    }
    feedPieces(stream, pieces) { buf in
        scanner.feed(buf, collect)
        check(scanner.bufferedBytes <= bound, "\(scanner.bufferedBytes) bytes buffered, bound \(bound)")
        return true
    }
    scanner.finish(collect)
    check(scanner.bufferedBytes == 0, "\(scanner.bufferedBytes) bytes left after finish")
    return events
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let small = 1 + Int(input.byte())
    var rng = input.rng()
    let stream = input.rest()
    let expected = reference(stream)
    let big = stream.count + 1024
    for pieces in [stream.isEmpty ? [] : [0..<stream.count], rng.pieces(stream.count)] {
        let got = scan(stream, pieces, cap: big, bound: big)
        check(got == expected, "events differ (\(pieces.count) pieces) for \(show(stream)):\n got \(got)\n ref \(expected)")
    }
    // A small cap: bounded memory, and what is delivered whole is the reference's, in order.
    let capped = scan(stream, rng.pieces(stream.count), cap: small, bound: small + 256)
    var next = 0
    for e in capped where !e.tooLarge {
        while next < expected.count && expected[next] != e { next += 1 }
        check(next < expected.count, "capped event \(e) is not among the reference's \(expected)")
        next += 1
    }
    return 0
}
