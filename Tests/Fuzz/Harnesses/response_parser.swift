// HTTP1ResponseParser: any bytes (interim 1xx, HEAD answers, every framing, pipelined
// responses, EOF anywhere), fed whole and in random splits, give the same heads, body
// bytes, ends, error and end-of-file verdict; nothing traps or spins.

@testable import Reactor

private func run(_ stream: [UInt8], _ pieces: [Range<Int>], maxHead: Int, headMask: UInt8) -> Transcript {
    var parser = HTTP1ResponseParser(maxHeadBytes: maxHead)
    var t = Transcript()
    var responses = 0
    parser.expect(requestMethodHEAD: headMask & 1 != 0)
    var alive = true
    feedPieces(stream, pieces) { buf in
        alive = drain(buf, { parser.next($0, &$1) }) { event, buf, _ in
            switch event {
            case .head:
                guard let h = parser.head else { fail(".head without a head") }
                let s = HeadSummary(h, untilClose: parser.bodyIsUntilClose)
                s.checkShape()
                check((101...999).contains(h.status) && (h.status >= 200 || h.status == 101), "final head with status \(h.status)")
                check(h.bytes.count <= maxHead, "head of \(h.bytes.count) bytes over the \(maxHead) limit")
                check(!(h.chunked && h.contentLength != nil), "chunked with a Content-Length")
                check(!(h.status == 101 && h.keepAlive), "101 kept alive")
                check(!(parser.bodyIsUntilClose && h.keepAlive), "body until close on a kept-alive connection")
                t.append(.head(s))
            case .body(let r): t.appendBody(UnsafeRawBufferPointer(rebasing: buf[r]))
            case .end:
                t.append(.end)
                responses += 1
                parser.expect(requestMethodHEAD: headMask >> (responses & 7) & 1 != 0)
            case .error(let e): t.append(.error(e))
            case .needMore: break
            }
            return true
        }
        return alive
    }
    // The connection closes after the last byte.
    let eof = parser.finishOnEOF()
    t.tail = .eof(eof, again: parser.finishOnEOF())
    if case .error = eof { check(alive ? true : TranscriptItem.error(errorOf(eof)) == t.items.last, "EOF changed the error: \(eof)") }
    return t
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let maxHead = input.headLimit()
    let mask = input.byte()
    var rng = input.rng()
    let stream = input.rest()
    checkSplitInvariance(stream, &rng) { run(stream, $0, maxHead: maxHead, headMask: mask) }
    return 0
}
