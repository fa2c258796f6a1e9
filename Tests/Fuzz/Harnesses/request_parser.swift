// HTTP1RequestParser: any bytes, under small and default limits, fed whole and in random
// splits (byte by byte included), give the same heads, body bytes, ends and error; the
// offset and body-range contract holds on every call; nothing traps or spins.

@testable import Reactor

private func run(_ stream: [UInt8], _ pieces: [Range<Int>], maxHead: Int, maxBody: Int) -> Transcript {
    var parser = HTTP1RequestParser(maxHeadBytes: maxHead, maxBodyBytes: maxBody)
    var t = Transcript()
    var dead = false
    feedPieces(stream, pieces) { buf in
        let more = drain(buf, { parser.next($0, &$1) }) { event, buf, _ in
            switch event {
            case .head:
                guard let h = parser.head else { fail(".head without a head") }
                let s = HeadSummary(h)
                s.checkShape()
                check(!(h.chunked && h.contentLength != nil), "chunked with a Content-Length")
                check(h.contentLength.map { $0 <= maxBody } ?? true, "Content-Length \(h.contentLength!) over \(maxBody) accepted")
                check(h.bytes.count <= maxHead, "head of \(h.bytes.count) bytes over the \(maxHead) limit")
                t.append(.head(s))
            case .body(let r): t.appendBody(UnsafeRawBufferPointer(rebasing: buf[r]))
            case .end: t.append(.end)
            case .error(let e): t.append(.error(e))
            case .needMore: break
            }
            return true
        }
        if !more { dead = true }
        return more
    }
    if dead {
        // A dead parser stays dead with the same error.
        var o = 0
        let again = [UInt8]("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8).withUnsafeBytes { parser.next($0, &o) }
        check(TranscriptItem.error(errorOf(again)) == t.items.last, "a dead parser answered \(again)")
    } else {
        t.tail = .idle(parser.isIdle)
    }
    return t
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let maxHead = input.headLimit()
    let b = input.byte()
    let maxBody = b == 255 ? Int.max : Int(b) * 8
    var rng = input.rng()
    let stream = input.rest()
    checkSplitInvariance(stream, &rng) { run(stream, $0, maxHead: maxHead, maxBody: maxBody) }
    return 0
}
