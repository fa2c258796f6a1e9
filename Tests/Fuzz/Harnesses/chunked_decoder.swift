// HTTP1BodyDecoder (chunked, and Content-Length for contrast) against a slow reference
// written from RFC 9112 7.1 as this relay accepts it: the same de-chunked bytes, the same
// end position, and the same verdict (end / need more / malformed / body too large / trailer
// section too large) for any bytes, under small limits, fed in random splits.

@testable import Reactor

private enum Verdict: Equatable {
    case end(at: Int)
    case needMore
    case malformed
    case headTooLarge
    case bodyTooLarge

    init(_ e: HTTPParseError) {
        switch e {
        case .headTooLarge: self = .headTooLarge
        case .bodyTooLarge: self = .bodyTooLarge
        case .malformed: self = .malformed
        }
    }
}

private func isHex(_ c: UInt8) -> UInt64? {
    switch c {
    case 0x30...0x39: return UInt64(c - 0x30)
    case 0x41...0x46: return UInt64(c - 0x41 + 10)
    case 0x61...0x66: return UInt64(c - 0x61 + 10)
    default: return nil
    }
}

private func isTchar(_ c: UInt8) -> Bool {
    switch c {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
    }
}

/// The reference: the whole stream at once, one rule at a time.
private func referenceChunked(_ b: [UInt8], maxBody: Int, maxTrailer: Int) -> ([UInt8], Verdict) {
    var body: [UInt8] = []
    var i = 0
    let n = b.count
    var total = 0
    while true {
        // chunk-size: 1 to 16 hex digits
        var size: UInt64 = 0
        var digits = 0
        while i < n, let h = isHex(b[i]) {
            if digits == 16 { return (body, .malformed) }
            size = size << 4 | h
            digits += 1
            i += 1
        }
        if i == n { return (body, .needMore) }
        if digits == 0 || size > UInt64(Int.max) { return (body, .malformed) }
        if Int(size) > maxBody - total { return (body, .bodyTooLarge) }
        // BWS, then an optional extension (spaces and extension share the 4096 budget), CRLF
        var budget = 0
        while i < n && (b[i] == 0x20 || b[i] == 0x09) {
            if budget == 4096 { return (body, .malformed) }
            budget += 1
            i += 1
        }
        if i == n { return (body, .needMore) }
        if b[i] == UInt8(ascii: ";") {
            i += 1
            while i < n && b[i] != 0x0D {
                let c = b[i]
                guard c == 0x09 || (c >= 0x20 && c != 0x7F) else { return (body, .malformed) }
                if budget == 4096 { return (body, .malformed) }
                budget += 1
                i += 1
            }
            if i == n { return (body, .needMore) }
        } else if b[i] != 0x0D {
            return (body, .malformed)
        }
        i += 1
        if i == n { return (body, .needMore) }
        if b[i] != 0x0A { return (body, .malformed) }
        i += 1
        total += Int(size)
        if size == 0 { break }
        let take = min(Int(size), n - i)
        body += b[i..<(i + take)]
        i += take
        if take < Int(size) || i == n { return (body, .needMore) }
        if b[i] != 0x0D { return (body, .malformed) }
        i += 1
        if i == n { return (body, .needMore) }
        if b[i] != 0x0A { return (body, .malformed) }
        i += 1
    }
    // Trailer section: lines ending in CRLF up to an empty one, at most `maxTrailer` bytes in
    // all; first delimited, then each line checked as a header field.
    let start = i
    var lines: [ArraySlice<UInt8>] = []
    var lineStart = i
    while true {
        var p = lineStart
        while p < n && p < start + maxTrailer && b[p] != 0x0A { p += 1 }
        if p == start + maxTrailer { return (body, .headTooLarge) }
        if p == n { return (body, .needMore) }
        if p == lineStart || b[p - 1] != 0x0D { return (body, .malformed) }
        let line = b[lineStart..<(p - 1)]
        lineStart = p + 1
        if line.isEmpty { break }
        lines.append(line)
    }
    for line in lines {
        guard let first = line.first, first != 0x20, first != 0x09,
              let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
              line[..<colon].allSatisfy(isTchar),
              line[(colon + 1)...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) })
        else { return (body, .malformed) }
    }
    return (body, .end(at: lineStart))
}

private func referenceFixed(_ b: [UInt8], length: Int) -> ([UInt8], Verdict) {
    b.count >= length ? (Array(b[..<length]), .end(at: length)) : (b, .needMore)
}

private func decode(_ stream: [UInt8], _ pieces: [Range<Int>], chunked: Bool, length: Int, maxBody: Int, maxTrailer: Int) -> ([UInt8], Verdict) {
    var decoder = HTTP1BodyDecoder()
    var reader = HTTP1HeadReader()
    if chunked { decoder.startChunked(maxBodyBytes: maxBody) } else { decoder.startFixed(length) }
    var body: [UInt8] = []
    var verdict = Verdict.needMore
    var base = 0
    if !chunked && length == 0 { return ([], .end(at: 0)) }
    feedPieces(stream, pieces) { buf in
        let more = drain(buf, { decoder.next($0, &$1, trailerReader: &reader, maxTrailerBytes: maxTrailer) }) { event, buf, offset in
            switch event {
            case .body(let r): body += buf[r]
            case .end: verdict = .end(at: base + offset); return false
            case .error(let e): verdict = Verdict(e)
            case .head: fail("a body decoder reported a head")
            case .needMore: break
            }
            return true
        }
        base += buf.count
        return more
    }
    return (body, verdict)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte(), bodyLimit = input.byte(), trailerLimit = input.byte()
    var rng = input.rng()
    let stream = input.rest()
    let chunked = mode < 224
    let length = Int(mode) - 224
    let maxBody = bodyLimit == 255 ? Int.max : Int(bodyLimit) * 4
    let maxTrailer = trailerLimit >= 200 ? 65536 : 1 + Int(trailerLimit)
    let expected = chunked ? referenceChunked(stream, maxBody: maxBody, maxTrailer: maxTrailer) : referenceFixed(stream, length: length)
    for pieces in [stream.isEmpty ? [] : [0..<stream.count], rng.pieces(stream.count)] {
        let got = decode(stream, pieces, chunked: chunked, length: length, maxBody: maxBody, maxTrailer: maxTrailer)
        check(got.1 == expected.1, "verdict \(got.1), reference \(expected.1) (\(pieces.count) pieces) for \(show(stream))")
        check(got.0 == expected.0, "body \(show(got.0)), reference \(show(expected.0)) for \(show(stream))")
    }
    return 0
}
