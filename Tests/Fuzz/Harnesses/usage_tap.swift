// UsageTap, built once per protocol (-D USAGE_ANTHROPIC / _OPENAI / _CODEX / _GEMINI). The
// payload is read as an SSE stream and as a whole JSON body. Checked: the same usage and
// model for any split; counts are never negative and their sums never trap (hostile
// upstream numbers); memory stays within the caps; and a body that is one JSON object gives
// the same usage as the stream event that carries it (the two code paths agree); and a body
// with its declared length (read in place when whole) reads as one without; and the tap's one
// walk over a body reads what checking the whole document first and then reading it reads.

@testable import Proxy

#if USAGE_ANTHROPIC
private let kind = ProtocolKind.anthropic
#elseif USAGE_OPENAI
private let kind = ProtocolKind.openai
#elseif USAGE_CODEX
private let kind = ProtocolKind.codex
#elseif USAGE_GEMINI
private let kind = ProtocolKind.gemini
#endif

/// `body` as the stream event of `kind` that carries a whole body's object.
private func wrap(_ body: [UInt8]) -> [UInt8] {
    let (head, tail): (StaticString, StaticString)
    switch kind {
    case .anthropic: (head, tail) = ("event: message_start\ndata: {\"type\":\"message_start\",\"message\":", "}\n\n")
    case .openai: (head, tail) = ("data: ", "\n\ndata: [DONE]\n\n")
    case .codex: (head, tail) = ("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":", "}\n\n")
    case .gemini: (head, tail) = ("data: ", "\r\n\r\n")
    }
    var out: [UInt8] = []
    out.reserveCapacity(head.utf8CodeUnitCount + body.count + tail.utf8CodeUnitCount)
    head.withUTF8Buffer { out.append(contentsOf: $0) }
    out += body
    tail.withUTF8Buffer { out.append(contentsOf: $0) }
    return out
}

private struct Outcome: Equatable {
    var usage: Usage
    var model: String?
}

private func tap(_ payload: [UInt8], _ pieces: [Range<Int>], streaming: Bool, maxBody: Int, maxEvent: Int,
                 bodyLength: Int? = nil) -> Outcome {
    var t = UsageTap(kind: kind, streaming: streaming, bodyLength: bodyLength, maxBodyBytes: maxBody, maxEventBytes: maxEvent, readsModel: true)
    feedPieces(payload, pieces) { buf in
        t.feed(buf)
        check(t.bufferedBytes <= (streaming ? maxEvent + 256 : maxBody), "\(t.bufferedBytes) bytes held")
        return true
    }
    let u = t.finish()
    check(t.bufferedBytes == 0, "bytes held after finish")
    check(t.usage == u, "usage changed after finish")
    check(u.input >= 0 && u.output >= 0 && u.cacheRead >= 0 && u.cacheWrite5m >= 0 && u.cacheWrite1h >= 0,
          "a negative count in \(u)")
    // The sums the pricing and the record use must not trap either.
    check(u.cacheWrite >= 0 && u.totalInput >= 0, "sums \(u.cacheWrite) \(u.totalInput)")
    return Outcome(usage: u, model: t.responseModel)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let limit = input.byte()
    var rng = input.rng()
    let payload = input.rest()
    let whole = payload.isEmpty ? [] : [0..<payload.count]
    let big = payload.count + 1024
    let small = limit < 128 ? 1 + Int(limit) * 4 : big

    var wholeBody: Outcome?
    for streaming in [true, false] {
        let a = tap(payload, whole, streaming: streaming, maxBody: big, maxEvent: big)
        let b = tap(payload, rng.pieces(payload.count), streaming: streaming, maxBody: big, maxEvent: big)
        check(a == b, "streaming=\(streaming): whole \(a), split \(b)")
        if small < big { _ = tap(payload, rng.pieces(payload.count), streaming: streaming, maxBody: small, maxEvent: small) }
        if !streaming {
            wholeBody = a
            // The one walk against the two passes it replaced (document, then read).
            let twoPass = payload.withUnsafeBytes { data -> Usage in
                guard let doc = JSONScan.document(data) else { return .unknown }
                var c = UsageCounts()
                kind.wire.readUsage(body: data, doc: doc, into: &c)
                return c.reported ? kind.wire.usage(c) : .unknown
            }
            check(a.usage == twoPass, "one walk \(a.usage), two passes \(twoPass)")
            // With its Content-Length, a body in one piece is read where it lies (not
            // gathered), in pieces it is gathered: either way the usage is the same, and a
            // cap holds alike.
            let inPlace = tap(payload, whole, streaming: false, maxBody: big, maxEvent: big, bodyLength: payload.count)
            check(inPlace == a, "read in place \(inPlace), gathered \(a)")
            let split = tap(payload, rng.pieces(payload.count), streaming: false, maxBody: big, maxEvent: big,
                            bodyLength: payload.count)
            check(split == a, "with its length in pieces \(split), gathered \(a)")
            if small < big {
                let capped = tap(payload, whole, streaming: false, maxBody: small, maxEvent: small)
                let cappedInPlace = tap(payload, whole, streaming: false, maxBody: small, maxEvent: small, bodyLength: payload.count)
                check(capped == cappedInPlace, "capped: gathered \(capped), in place \(cappedInPlace)")
            }
        }
    }
    // A body that is one object: its stream event gives the same usage.
    if let body = wholeBody, !payload.contains(0x0A), !payload.contains(0x0D),
       let doc = payload.withUnsafeBytes({ JSONScan.document($0) }), doc.kind == .object {
        let stream = wrap(payload)
        let event = tap(stream, rng.pieces(stream.count), streaming: true, maxBody: big, maxEvent: stream.count + 64)
        check(body == event, "body \(body), as an event \(event), for \(show(payload.prefix(300)))")
    }
    return 0
}
