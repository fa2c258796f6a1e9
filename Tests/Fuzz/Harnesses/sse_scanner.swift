// SSEScanner against a slow line-based reference of the WHATWG event-stream rules as the
// scanner documents them (CR, LF and CRLF line ends, `data` joined by LF, comments, one
// leading space stripped, dispatch on a blank line, an unterminated last event dispatched
// at the end, an `event` name over 256 bytes marks the event too large). With a cap above
// the input the events must be equal for any split; with a small cap, memory stays within
// the cap and every event delivered whole is the reference's, in order.

@testable import Proxy

/// The events of one run, all in one byte log (no array per event): each event is its
/// entry in `shape` (name length, data length, too large) and its name then data in `log`.
private struct Events: Equatable {
    struct Shape: Equatable {
        var name: Int
        var data: Int
        var tooLarge: Bool
    }

    var shape: [Shape] = []
    var log: [UInt8] = []
    /// Where each event's bytes start in `log`.
    var starts: [Int] = []

    init(reserve bytes: Int) { log.reserveCapacity(bytes) }

    mutating func add(name: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer, tooLarge: Bool) {
        starts.append(log.count)
        shape.append(Shape(name: name.count, data: data.count, tooLarge: tooLarge))
        log.append(contentsOf: name)
        log.append(contentsOf: data)
    }

    mutating func add(name: ArraySlice<UInt8>, data: ArraySlice<UInt8>, tooLarge: Bool) {
        name.withUnsafeBytes { n in data.withUnsafeBytes { d in add(name: n, data: d, tooLarge: tooLarge) } }
    }

    /// Event `i` here is event `j` of `other`.
    func same(_ i: Int, as other: Events, _ j: Int) -> Bool {
        let a = shape[i]
        guard a == other.shape[j] else { return false }
        let n = a.name + a.data
        return log[starts[i]..<(starts[i] + n)].elementsEqual(other.log[other.starts[j]..<(other.starts[j] + n)])
    }

    static func == (a: Events, b: Events) -> Bool { a.shape == b.shape && a.log == b.log }

    var description: String {
        (0..<shape.count).map { i in
            let s = shape[i], at = starts[i]
            return "(\(show(log[at..<(at + s.name)])) | \(show(log[(at + s.name)..<(at + s.name + s.data)]))\(s.tooLarge ? " too large" : ""))"
        }.joined(separator: " ")
    }
}

/// The reference: the rules applied one whole line at a time.
private struct Reference {
    var events: Events
    var name: [UInt8] = []
    var data: [UInt8] = []
    var hasData = false
    var tooLarge = false

    init(_ b: [UInt8]) {
        events = Events(reserve: b.count)
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
    }

    mutating func dispatch() {
        if tooLarge {
            events.add(name: name[...], data: [], tooLarge: true)
        } else if hasData {
            events.add(name: name[...], data: data.dropLast(), tooLarge: false)
        }
        name.removeAll(keepingCapacity: true); data.removeAll(keepingCapacity: true); hasData = false; tooLarge = false
    }

    mutating func line(_ l: ArraySlice<UInt8>) {
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
            name.removeAll(keepingCapacity: true)
            if value.count <= 256 { name += value } else { tooLarge = true; data.removeAll(keepingCapacity: true) }
        }
    }
}

private func scan(_ stream: [UInt8], _ pieces: [Range<Int>], cap: Int, bound: Int) -> Events {
    var scanner = SSEScanner(maxEventBytes: cap)
    var events = Events(reserve: stream.count)
    let collect = { (e: SSEEvent) in
        check(!e.isTooLarge || e.data.isEmpty, "a too-large event carries data")
        check(e.data.count <= cap, "event data of \(e.data.count) bytes over the \(cap) cap")
        events.add(name: e.name, data: e.data, tooLarge: e.isTooLarge)
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
    let expected = Reference(stream).events
    let big = stream.count + 1024
    for pieces in [stream.isEmpty ? [] : [0..<stream.count], rng.pieces(stream.count)] {
        let got = scan(stream, pieces, cap: big, bound: big)
        check(got == expected, "events differ (\(pieces.count) pieces) for \(show(stream)):\n got \(got.description)\n ref \(expected.description)")
    }
    // A small cap: bounded memory, and what is delivered whole is the reference's, in order.
    let capped = scan(stream, rng.pieces(stream.count), cap: small, bound: small + 256)
    var next = 0
    for i in 0..<capped.shape.count where !capped.shape[i].tooLarge {
        while next < expected.shape.count && !capped.same(i, as: expected, next) { next += 1 }
        check(next < expected.shape.count, "capped event \(i) of \(capped.description) is not among the reference's \(expected.description)")
        next += 1
    }
    return 0
}
