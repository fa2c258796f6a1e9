import XCTest

@testable import Reactor

final class HTTP1RequestParserTests: XCTestCase {

    // MARK: - Whole, byte by byte, random splits

    func testSimpleGetWholeBytewiseAndRandomSplitsAgree() {
        let input = bytes("GET /v1/models?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \r\nAccept: */*\r\n\r\n")
        let expected: [Transcript.Item] = [
            .head("GET /v1/models?x=1 1.1 cl=nil chunked=false ka=true expect=false "
                + "[Host=example.com|User-Agent=curl/8|Accept=*/*]"),
            .end,
        ]
        assertAllSplits(input, expected)
    }

    /// Field values read eight bytes at a time give what a byte-at-a-time reading gives:
    /// every byte class (visible, SP, HTAB, obs-text, DEL, each other control byte) at every
    /// offset of a word, with OWS around the value, for the value kept and for the error.
    func testFieldValuesMatchAByteAtATimeReading() {
        var seed: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ n: Int) -> Int { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return Int(seed % UInt64(n)) }
        let plain: [UInt8] = [0x61, 0x7A, 0x21, 0x7E, 0x2C, 0x3B, 0x80, 0xFF, 0xC3, 0x20, 0x09]
        let odd: [UInt8] = [0x7F, 0x00, 0x01, 0x08, 0x0A, 0x0B, 0x1F, 0x0D]
        var kept = 0, refused = 0
        for round in 0..<3000 {
            var value: [UInt8] = []
            let len = next(40)
            for _ in 0..<len { value.append(plain[next(plain.count)]) }
            if round % 3 == 0 && len > 0 { value[next(len)] = odd[next(odd.count)] }
            let lead = [UInt8](repeating: next(2) == 0 ? 0x20 : 0x09, count: next(3))
            let head = Array("GET / HTTP/1.1\r\nHost: h\r\nX-V:".utf8) + lead + value + Array("\r\n\r\n".utf8)
            // The reference: value bytes after OWS up to CR; SP/HTAB/visible/obs-text allowed;
            // trailing SP/HTAB trimmed; a lone CR or any other control byte or DEL refused.
            var j = 0
            while j < value.count && (value[j] == 0x20 || value[j] == 0x09) { j += 1 }
            var body: [UInt8] = []
            var ok = true
            while j < value.count {
                let v = value[j]
                if v == 0x0D { ok = false; break }
                if v == 0x09 || v == 0x20 || (v > 0x20 && v != 0x7F) { body.append(v); j += 1; continue }
                ok = false; break
            }
            while let l = body.last, l == 0x20 || l == 0x09 { body.removeLast() }
            let ref: [UInt8]? = ok ? body : nil
            var parser = HTTP1RequestParser(maxBodyBytes: 0)
            var got: [UInt8]?? = .none
            head.withUnsafeBytes { buf in
                var offset = 0
                switch parser.next(buf, &offset) {
                case .head: got = .some(parser.head.flatMap { h in h.value("x-v").map(Array.init) })
                case .error: got = .some(nil)
                default: XCTFail("neither a head nor an error for \(head)")
                }
            }
            XCTAssertEqual(got, .some(ref), "value \(value) after \(lead.count) OWS")
            if ref == nil { refused += 1 } else { kept += 1 }
        }
        XCTAssertGreaterThan(kept, 1000)
        XCTAssertGreaterThan(refused, 300)
    }

    func testContentLengthBodyAllSplits() {
        let input = bytes("POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        assertAllSplits(input, [
            .head("POST /v1/messages 1.1 cl=11 chunked=false ka=true expect=false [Host=h|Content-Length=11]"),
            .body(bytes("hello world")), .end,
        ])
    }

    func testPipelinedRequestsInOneBuffer() {
        let input = bytes(
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                + "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
                + "GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assertAllSplits(input, [
            .head("GET /a 1.1 cl=nil chunked=false ka=true expect=false [Host=h]"), .end,
            .head("POST /b 1.1 cl=3 chunked=false ka=true expect=false [Host=h|Content-Length=3]"),
            .body(bytes("abc")), .end,
            .head("POST /c 1.1 cl=nil chunked=true ka=true expect=false [Host=h|Transfer-Encoding=chunked]"),
            .body(bytes("xy")), .end,
            .head("GET /d 1.1 cl=nil chunked=false ka=false expect=false [Host=h|Connection=close]"), .end,
        ])
    }

    func testChunkedWithExtensionsAndTrailers() {
        let input = bytes(
            "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                + "5;name=value;q=\"a b\"\r\nhello\r\n"
                + "1A \t;ext\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                + "0;last\r\nX-Checksum: abc\r\nX-Other:  1 \r\n\r\n"
                + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        assertAllSplits(input, [
            .head("POST /up 1.1 cl=nil chunked=true ka=true expect=false [Host=h|Transfer-Encoding=Chunked]"),
            .body(bytes("helloabcdefghijklmnopqrstuvwxyz")), .end,
            .head("GET /next 1.1 cl=nil chunked=false ka=true expect=false [Host=h]"), .end,
        ])
    }

    func testChunkedBodyRangesAreDechunkedDataOnly() {
        var parser = HTTP1RequestParser(maxBodyBytes: 1000)
        let input = bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        var ranges: [Range<Int>] = []
        input.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .head)
            while case .body(let r) = parser.next(buf, &offset) { ranges.append(r) }
        }
        let headEnd = input.count - "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".utf8.count
        XCTAssertEqual(ranges, [(headEnd + 3)..<(headEnd + 6), (headEnd + 11)..<(headEnd + 13)])
    }

    func testLeadingEmptyLinesAreSkipped() {
        let input = bytes("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assertAllSplits(input, [.head("GET / 1.1 cl=nil chunked=false ka=true expect=false [Host=h]"), .end])
        // Between pipelined requests too (clients may send CRLF after a body).
        let two = bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        assertAllSplits(two, [
            .head("POST / 1.1 cl=1 chunked=false ka=true expect=false [Host=h|Content-Length=1]"),
            .body(bytes("x")), .end,
            .head("GET / 1.1 cl=nil chunked=false ka=true expect=false [Host=h]"), .end,
        ])
    }

    func testHeadValidAfterHeadEventAndIdleBetweenMessages() {
        var parser = HTTP1RequestParser(maxBodyBytes: 100)
        XCTAssertTrue(parser.isIdle)
        let part1 = bytes("POST /x HTTP/1.1\r\nHost: h\r\nContent-")
        let part2 = bytes("Length: 2\r\n\r\nok")
        part1.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .needMore)
            XCTAssertEqual(offset, buf.count)
        }
        XCTAssertFalse(parser.isIdle)
        XCTAssertNil(parser.head)
        part2.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .head)
            XCTAssertEqual(parser.head?.contentLength, 2)
            XCTAssertTrue(parser.head?.methodIs("POST") ?? false)
            XCTAssertFalse(parser.head?.methodIs("POS") ?? true)
            XCTAssertFalse(parser.head?.methodIs("post") ?? true)
            XCTAssertEqual(parser.head.map { Array($0.targetBytes) }, bytes("/x"))
            XCTAssertFalse(parser.isIdle)
            XCTAssertEqual(parser.next(buf, &offset), .body(13..<15))
            XCTAssertEqual(parser.next(buf, &offset), .end)
            XCTAssertEqual(parser.next(buf, &offset), .needMore)
        }
        XCTAssertTrue(parser.isIdle)
        XCTAssertNotNil(parser.head)
    }

    // MARK: - Field helpers, Expect, keep-alive

    func testFieldHelpers() throws {
        let head = try parseHead(
            "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\nx-a: two\r\nConnection: Upgrade, \tKeep-Alive\r\n"
                + "connection: ,x-custom,\r\nEmpty:\r\n\r\n")
        XCTAssertEqual(head.value("x-a").map(Array.init), bytes("one"))
        XCTAssertEqual(head.value("X-A").map(Array.init), bytes("one"))
        XCTAssertEqual(head.value("empty").map(Array.init), [])
        XCTAssertNil(head.value("missing"))
        XCTAssertTrue(head.hasToken("connection", "keep-alive"))
        XCTAssertTrue(head.hasToken("Connection", "UPGRADE"))
        XCTAssertTrue(head.hasToken("connection", "x-custom"))
        XCTAssertFalse(head.hasToken("connection", "close"))
        XCTAssertFalse(head.hasToken("connection", "keep"))
        XCTAssertEqual(head.connectionTokens().map(Array.init), [bytes("Upgrade"), bytes("Keep-Alive"), bytes("x-custom")])
        XCTAssertEqual(head.fields.count, 6)
        XCTAssertEqual(Array(head.name(of: head.fields[2])), bytes("x-a"))
        XCTAssertEqual(Array(head.value(of: head.fields[2])), bytes("two"))
    }

    func testExpectContinue() throws {
        XCTAssertTrue(try parseHead("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectContinue)
        XCTAssertFalse(try parseHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n").expectContinue)
        XCTAssertFalse(try parseHead("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n").expectContinue)
        // RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
        XCTAssertFalse(try parseHead("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").expectContinue)
    }

    func testKeepAliveRules() throws {
        XCTAssertTrue(try parseHead("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keepAlive)
        XCTAssertFalse(try parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keepAlive)
        XCTAssertFalse(try parseHead("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n").keepAlive)
        XCTAssertFalse(try parseHead("GET / HTTP/1.0\r\n\r\n").keepAlive)
        XCTAssertTrue(try parseHead("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive)
        XCTAssertFalse(try parseHead("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keepAlive)
        XCTAssertEqual(try parseHead("GET / HTTP/1.0\r\n\r\n").versionMinor, 0)
    }

    // MARK: - Rejections: request line

    func testRejectsInvalidMethodChar() { assertMalformed("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid method") }
    func testRejectsEmptyMethod() { assertMalformed(" / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid method") }
    func testRejectsTwoSpacesAfterMethod() { assertMalformed("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "invalid request target") }
    func testRejectsTabAsSeparator() { assertMalformed("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", "invalid method") }
    func testRejectsControlInTarget() { assertMalformed("GET /a\u{01}b HTTP/1.1\r\nHost: h\r\n\r\n", "invalid request target") }
    func testRejectsNonASCIITarget() {
        assertMalformed(bytes("GET /") + [0xC3, 0xA9] + bytes(" HTTP/1.1\r\nHost: h\r\n\r\n"), "invalid request target")
    }
    func testRejectsTwoSpacesBeforeVersion() { assertMalformed("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", "invalid HTTP version") }
    func testRejectsMissingVersion() { assertMalformed("GET /\r\nHost: h\r\n\r\n", "invalid request target") }
    func testRejectsHTTP2Version() { assertMalformed("GET / HTTP/2.0\r\nHost: h\r\n\r\n", "unsupported HTTP version") }
    func testRejectsHTTP12Version() { assertMalformed("GET / HTTP/1.2\r\nHost: h\r\n\r\n", "unsupported HTTP version") }
    func testRejectsLowercaseVersion() { assertMalformed("GET / http/1.1\r\nHost: h\r\n\r\n", "invalid HTTP version") }
    func testRejectsTrailingBytesAfterVersion() { assertMalformed("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "invalid request line") }
    func testRejectsBareLFInRequestLine() { assertMalformed("GET / HTTP/1.1\nHost: h\r\n\r\n", "bare LF") }
    func testRejectsBareLFAtStart() { assertMalformed("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "bare LF") }
    func testRejectsBareCRInRequestLine() { assertMalformed("GET / HTTP/1.1\rHost: h\r\n\r\n", "invalid request line") }

    // MARK: - Rejections: header fields

    func testRejectsBareLFInHeaders() { assertMalformed("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", "bare LF") }
    func testRejectsBareLFEndingHead() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\n\n", "bare LF") }
    func testRejectsBareCRInValue() { assertMalformed("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", "bare CR in header section") }
    func testRejectsBareCRLine() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\n\rX: y\r\n\r\n", "bare CR in header section") }
    func testRejectsEmptyHeaderName() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\n: y\r\n\r\n", "invalid header name") }
    func testRejectsSpaceBeforeColon() { assertMalformed("GET / HTTP/1.1\r\nHost : h\r\n\r\n", "invalid header name") }
    func testRejectsInvalidNameChar() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n", "invalid header name") }
    func testRejectsLineWithoutColon() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n", "invalid header name") }
    func testRejectsNULInValue() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", "invalid header value") }
    func testRejectsControlInValue() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1B}b\r\n\r\n", "invalid header value") }
    func testRejectsDELInValue() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n", "invalid header value") }
    func testAcceptsObsTextAndTabInValue() throws {
        let head = try parseHead(bytes("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb ") + [0x80, 0xFF] + bytes("\r\n\r\n"))
        XCTAssertEqual(head.value("x").map(Array.init), bytes("a\tb ") + [0x80, 0xFF])
    }
    func testRejectsObsFold() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n", "obsolete header line folding") }
    func testRejectsObsFoldWithTab() { assertMalformed("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", "obsolete header line folding") }
    func testRejectsFoldedFirstHeader() { assertMalformed("GET / HTTP/1.1\r\n Host: h\r\n\r\n", "obsolete header line folding") }

    // MARK: - Rejections: framing (request smuggling)

    func testRejectsNonDigitContentLength() { assertMalformed(cl("5a"), "invalid Content-Length") }
    func testRejectsSignedContentLength() { assertMalformed(cl("+5"), "invalid Content-Length") }
    func testRejectsNegativeContentLength() { assertMalformed(cl("-1"), "invalid Content-Length") }
    func testRejectsHexContentLength() { assertMalformed(cl("0x5"), "invalid Content-Length") }
    func testRejectsEmptyContentLength() { assertMalformed(cl(""), "invalid Content-Length") }
    func testRejectsInnerSpaceContentLength() { assertMalformed(cl("1 2"), "invalid Content-Length") }
    func testRejectsEmptyListElementContentLength() { assertMalformed(cl("5,,5"), "invalid Content-Length") }
    func testRejectsOverflowingContentLength() { assertMalformed(cl("99999999999999999999"), "Content-Length overflow") }
    func testRejectsDifferingContentLengthFields() {
        assertMalformed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "conflicting Content-Length")
    }
    func testRejectsDifferingContentLengthList() { assertMalformed(cl("5, 6"), "conflicting Content-Length") }
    func testAcceptsIdenticalRepeatedContentLength() throws {
        XCTAssertEqual(try parseHead(cl(" 5 , 5 ")).contentLength, 5)
        XCTAssertEqual(
            try parseHead("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n").contentLength, 5)
        XCTAssertEqual(try parseHead(cl("007")).contentLength, 7)
        XCTAssertEqual(try parseHead(bytes(cl("9223372036854775807")), maxBodyBytes: Int.max).contentLength, Int.max)
    }
    func testRejectsContentLengthWithTransferEncoding() {
        assertMalformed(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "conflicting Content-Length and Transfer-Encoding")
    }
    func testRejectsTransferEncodingWithContentLengthAfter() {
        assertMalformed(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "conflicting Content-Length and Transfer-Encoding")
    }
    func testRejectsGzipChunked() { assertMalformed(te("gzip, chunked"), "unsupported Transfer-Encoding") }
    func testRejectsChunkedChunked() { assertMalformed(te("chunked, chunked"), "unsupported Transfer-Encoding") }
    func testRejectsXChunked() { assertMalformed(te("xchunked"), "unsupported Transfer-Encoding") }
    func testRejectsIdentity() { assertMalformed(te("identity"), "unsupported Transfer-Encoding") }
    func testRejectsChunkedWithControl() { assertMalformed(te("chunked\u{0B}"), "invalid header value") }
    func testRejectsTwoTransferEncodingFields() {
        assertMalformed(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "unsupported Transfer-Encoding")
    }
    func testAcceptsChunkedWithOWS() throws {
        XCTAssertTrue(try parseHead(te(" \tCHUNKED \t")).chunked)
    }
    func testRejectsTransferEncodingInHTTP10() {
        assertMalformed("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding in HTTP/1.0 request")
    }
    func testRejectsMissingHost() { assertMalformed("GET / HTTP/1.1\r\nX: y\r\n\r\n", "missing Host header") }
    func testRejectsTwoHosts() { assertMalformed("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "multiple Host headers") }
    func testHTTP10WithoutHostIsAccepted() throws {
        XCTAssertNil(try parseHead("GET / HTTP/1.0\r\n\r\n").value("host"))
    }

    // MARK: - Rejections: chunked body

    func testRejectsNonHexChunkSize() { assertChunkedMalformed("zz\r\n", "invalid chunk size") }
    func testRejectsEmptyChunkSize() { assertChunkedMalformed("\r\nabc\r\n", "invalid chunk size") }
    func testRejectsExtensionWithoutSize() { assertChunkedMalformed(";x\r\n", "invalid chunk size") }
    func testRejects17HexDigits() { assertChunkedMalformed("00000000000000001\r\nx\r\n0\r\n\r\n", "invalid chunk size") }
    func testAccepts16HexDigits() {
        assertAllSplits(chunkedRequest("0000000000000001\r\nx\r\n0\r\n\r\n"), [chunkedHead, .body(bytes("x")), .end])
    }
    func testRejectsChunkSizeOverflowingInt() { assertChunkedMalformed("8000000000000000\r\n", "invalid chunk size") }
    func testRejectsBareLFAfterChunkSize() { assertChunkedMalformed("3\nabc\r\n0\r\n\r\n", "invalid chunk size") }
    func testRejectsJunkAfterChunkSize() { assertChunkedMalformed("3x\r\nabc\r\n0\r\n\r\n", "invalid chunk size") }
    func testRejectsMissingCRLFAfterChunkData() { assertChunkedMalformed("3\r\nabcd\r\n0\r\n\r\n", "invalid chunk") }
    func testRejectsBareLFAfterChunkData() { assertChunkedMalformed("3\r\nabc\n0\r\n\r\n", "invalid chunk") }
    func testRejectsControlInChunkExtension() { assertChunkedMalformed("3;a\u{0}\r\nabc\r\n0\r\n\r\n", "invalid chunk extension") }
    func testRejectsLongChunkExtension() {
        let ext = String(repeating: "a", count: HTTP1BodyDecoder.maxChunkExtensionBytes + 1)
        assertChunkedMalformed("3;" + ext + "\r\nabc\r\n0\r\n\r\n", "chunk extension too long")
    }
    func testAcceptsChunkExtensionAtBound() {
        let ext = String(repeating: "a", count: HTTP1BodyDecoder.maxChunkExtensionBytes)
        assertAllSplits(chunkedRequest("3;" + ext + "\r\nabc\r\n0\r\n\r\n"), [chunkedHead, .body(bytes("abc")), .end], random: 20)
    }
    func testRejectsInvalidTrailer() { assertChunkedMalformed("0\r\nBad Name: x\r\n\r\n", "invalid header name") }
    func testRejectsFoldedTrailer() { assertChunkedMalformed("0\r\nX: a\r\n b\r\n\r\n", "obsolete header line folding") }
    func testRejectsBareLFInTrailer() { assertChunkedMalformed("0\r\nX: a\n\r\n", "bare LF") }
    func testTrailerSectionLimit() {
        // A trailer section is bounded like a head: exactly maxHeadBytes is fine, one more is not.
        let maxHead = 200
        let trailerAtLimit = "X: " + String(repeating: "t", count: maxHead - 7) + "\r\n\r\n"
        XCTAssertEqual(trailerAtLimit.utf8.count, maxHead)
        assertAllSplits(
            chunkedRequest("1\r\nz\r\n0\r\n" + trailerAtLimit), [chunkedHead, .body(bytes("z")), .end],
            maxHeadBytes: maxHead)
        let trailerOver = "X: " + String(repeating: "t", count: maxHead - 6) + "\r\n\r\n"
        assertAllSplits(
            chunkedRequest("1\r\nz\r\n0\r\n" + trailerOver), [chunkedHead, .body(bytes("z")), .error(.headTooLarge)],
            maxHeadBytes: maxHead)
    }

    func testParserStaysDeadAfterError() {
        var parser = HTTP1RequestParser(maxBodyBytes: 10)
        let bad = bytes("GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        let good = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        bad.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .error(.malformed("invalid header name")))
        }
        good.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .error(.malformed("invalid header name")))
            XCTAssertEqual(offset, 0)
        }
        XCTAssertFalse(parser.isIdle)
    }

    // MARK: - Limits, both sides

    func testHeadExactlyAtLimitIsAccepted() {
        let input = headOfLength(300)
        XCTAssertEqual(input.count, 300)
        assertAllSplits(input, [.head(describeFiller(300)), .end], maxHeadBytes: 300)
    }

    func testHeadOneByteOverLimitIsRejected() {
        assertAllSplits(headOfLength(301), [.error(.headTooLarge)], maxHeadBytes: 300)
    }

    func testHeadTooLargeReportedBeforeTheEndArrives() {
        // maxHeadBytes bytes without the end of the head: known too large now, without more input.
        let prefix = Array(headOfLength(301).prefix(300))
        for split in [prefix.count, 1, 7] {
            var parser = HTTP1RequestParser(maxHeadBytes: 300, maxBodyBytes: 0)
            var events: [HTTPParseEvent] = []
            var start = 0
            while start < prefix.count {
                let chunk = Array(prefix[start..<min(prefix.count, start + split)])
                start += chunk.count
                chunk.withUnsafeBytes { buf in
                    var offset = 0
                    events.append(parser.next(buf, &offset))
                }
            }
            XCTAssertEqual(events.last, .error(.headTooLarge), "split \(split)")
            XCTAssertEqual(events.dropLast().filter { $0 != .needMore }, [], "split \(split)")
        }
        // One byte fewer is still undecided.
        var parser = HTTP1RequestParser(maxHeadBytes: 300, maxBodyBytes: 0)
        Array(prefix.prefix(299)).withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .needMore)
        }
    }

    func testLeadingEmptyLinesDoNotCountTowardHeadLimit() {
        let input = bytes("\r\n\r\n") + headOfLength(300)
        assertAllSplits(input, [.head(describeFiller(300)), .end], maxHeadBytes: 300)
    }

    func testContentLengthAtBodyLimitIsAccepted() {
        let input = bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
        assertAllSplits(input, [
            .head("POST / 1.1 cl=10 chunked=false ka=true expect=false [Host=h|Content-Length=10]"),
            .body(bytes("0123456789")), .end,
        ], maxBodyBytes: 10)
    }

    func testContentLengthOverBodyLimitIsRejectedRightAfterHead() {
        // Only the head is sent: the error must not wait for the body.
        var parser = HTTP1RequestParser(maxBodyBytes: 10)
        let head = bytes("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
        head.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .error(.bodyTooLarge))
        }
        XCTAssertEqual(parser.head?.contentLength, 11)
        XCTAssertEqual(parser.head?.expectContinue, true)
        assertAllSplits(head + bytes("01234567890"), [.error(.bodyTooLarge)], maxBodyBytes: 10)
    }

    func testChunkedBodyAtLimitIsAccepted() {
        assertAllSplits(
            chunkedRequest("4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n"),
            [chunkedHead, .body(bytes("0123456789")), .end], maxBodyBytes: 10)
    }

    func testChunkedBodyOverLimitIsRejected() {
        assertAllSplits(
            chunkedRequest("4\r\n0123\r\n7\r\n456789A\r\n0\r\n\r\n"),
            [chunkedHead, .body(bytes("0123")), .error(.bodyTooLarge)], maxBodyBytes: 10)
    }

    func testBodyLimitLoweredAtTheHead() {
        // A handler lowers the cap once the head is in (e.g. 16 KiB for /login): exactly at
        // the cap passes, one byte over is refused.
        func run(_ text: String, limit: Int) -> (Bool, [HTTPParseEvent]) {
            var p = HTTP1RequestParser(maxBodyBytes: 100)
            var events: [HTTPParseEvent] = []
            var accepted = true
            let input = bytes(text)
            input.withUnsafeBytes { buf in
                var offset = 0
                while events.count < 20 {
                    let e = p.next(buf, &offset)
                    events.append(e)
                    if case .head = e, !p.limitBody(to: limit) { accepted = false; break }
                    if case .needMore = e { break }
                    if case .error = e { break }
                }
            }
            return (accepted, events)
        }
        let at = run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", limit: 10)
        XCTAssertTrue(at.0)
        XCTAssertEqual(at.1, [.head, .body(48..<58), .end, .needMore])
        let over = run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789A", limit: 10)
        XCTAssertFalse(over.0)
        let chunkedAt = run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", limit: 10)
        XCTAssertTrue(chunkedAt.1.contains(.end), "\(chunkedAt.1)")
        XCTAssertFalse(chunkedAt.1.contains(.error(.bodyTooLarge)))
        let chunkedOver = run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n0123456789A\r\n0\r\n\r\n", limit: 10)
        XCTAssertEqual(chunkedOver.1.last, .error(.bodyTooLarge))
    }

    func testZeroBodyLimit() {
        assertAllSplits(
            bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
            [.head("POST / 1.1 cl=0 chunked=false ka=true expect=false [Host=h|Content-Length=0]"), .end],
            maxBodyBytes: 0)
        assertAllSplits(chunkedRequest("0\r\n\r\n"), [chunkedHead, .end], maxBodyBytes: 0)
        assertAllSplits(chunkedRequest("1\r\nx\r\n0\r\n\r\n"), [chunkedHead, .error(.bodyTooLarge)], maxBodyBytes: 0)
    }

    // MARK: - Grammar

    func testTokenByteTableMatchesRFC9110() {
        let specials = Set("!#$%&'*+-.^_`|~".utf8)
        for c in 0...255 {
            let b = UInt8(c)
            let expected = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || specials.contains(b)
            XCTAssertEqual(HTTPGrammar.isTokenByte(b), expected, "byte \(c)")
        }
    }

    /// The word-at-a-time `equalsIgnoringCase` agrees with lowering each byte, for every
    /// byte value at every position of names shorter than, as long as and longer than a word
    /// (and of one word and a bit, where the last word overlaps the first), in either case,
    /// and with the name at an offset inside a bigger buffer.
    func testEqualsIgnoringCaseMatchesABytewiseReference() {
        func reference(_ a: [UInt8], _ b: [UInt8]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { HTTPGrammar.lower($0) == HTTPGrammar.lower($1) }
        }
        let names = ["te", "host", "x-api-key", "connection", "content-type", "x-request-id", "content-length",
                     "transfer-encoding", "chatgpt-account-id", "Session_Id", "a1-b2-c3-d4-e5-f6-g7"].map { Array($0.utf8) }
        var checked = 0
        for name in names {
            let upper = name.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            for at in name.indices {
                for c in 0...255 {
                    var v = upper
                    v[at] = UInt8(c)
                    // The name at offset 3 of a buffer with bytes on both sides.
                    let buf: [UInt8] = [0x41, 0x5A, 0x20] + v + [0x61, 0x7A]
                    let got = buf.withUnsafeBufferPointer { p in
                        name.withUnsafeBufferPointer { HTTPGrammar.equalsIgnoringCase(p, 3..<(3 + v.count), $0) }
                    }
                    XCTAssertEqual(got, reference(v, name), "\(String(decoding: name, as: UTF8.self)) with 0x\(String(c, radix: 16)) at \(at)")
                    checked += 1
                }
            }
            let shorter = Array(name.dropLast()), longer = name + [0x61]
            for other in [shorter, longer] {
                let got = other.withUnsafeBufferPointer { p in name.withUnsafeBufferPointer { HTTPGrammar.equalsIgnoringCase(p, 0..<other.count, $0) } }
                XCTAssertFalse(got)
            }
        }
        XCTAssertGreaterThan(checked, 30_000)
    }

    // MARK: - Helpers

    private let chunkedHead = Transcript.Item.head(
        "POST /c 1.1 cl=nil chunked=true ka=true expect=false [Host=h|Transfer-Encoding=chunked]")

    private func chunkedRequest(_ body: String) -> [UInt8] {
        bytes("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    }

    private func cl(_ value: String) -> String {
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(value)\r\n\r\n"
    }

    private func te(_ value: String) -> String {
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \(value)\r\n\r\n"
    }

    /// "GET / HTTP/1.1\r\nHost: h\r\nX: ttt...\r\n\r\n" of exactly `length` bytes.
    private func headOfLength(_ length: Int) -> [UInt8] {
        let fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".utf8.count
        return bytes("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "t", count: length - fixed) + "\r\n\r\n")
    }

    private func describeFiller(_ length: Int) -> String {
        let fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".utf8.count
        return "GET / 1.1 cl=nil chunked=false ka=true expect=false [Host=h|X=\(String(repeating: "t", count: length - fixed))]"
    }

    private func parseHead(_ text: String) throws -> HTTPRequestHead {
        try parseHead(bytes(text))
    }

    private func parseHead(_ input: [UInt8], maxBodyBytes: Int = 1 << 20) throws -> HTTPRequestHead {
        var parser = HTTP1RequestParser(maxBodyBytes: maxBodyBytes)
        let event = input.withUnsafeBytes { buf in
            var offset = 0
            return parser.next(buf, &offset)
        }
        guard event == .head, let head = parser.head else {
            throw ParseFailure(event: event)
        }
        return head
    }

    private struct ParseFailure: Error { var event: HTTPParseEvent }

    private func assertMalformed(_ text: String, _ reason: String, line: UInt = #line) {
        assertMalformed(bytes(text), reason, line: line)
    }

    private func assertMalformed(_ input: [UInt8], _ reason: String, line: UInt = #line) {
        assertAllSplits(input, [.error(.malformed(reason))], random: 30, line: line)
    }

    private func assertChunkedMalformed(_ body: String, _ reason: String, line: UInt = #line) {
        let transcript = Transcript.run(chunkedRequest(body), chunks: [Int.max], makeParser())
        XCTAssertEqual(transcript.first, chunkedHead, line: line)
        XCTAssertEqual(transcript.last, .error(.malformed(reason)), line: line)
        assertAllSplits(chunkedRequest(body), transcript, random: 30, line: line)
    }

    private func makeParser(maxHeadBytes: Int = 65536, maxBodyBytes: Int = 1 << 20) -> Transcript.Parser {
        var parser = HTTP1RequestParser(maxHeadBytes: maxHeadBytes, maxBodyBytes: maxBodyBytes)
        return Transcript.Parser(
            next: { buf, offset in parser.next(buf, &offset) },
            describeHead: { parser.head.map(Self.describe) ?? "no head" },
            isIdle: { parser.isIdle })
    }

    /// Feeds `input` whole, byte by byte and in seeded random splits; all must give `expected`.
    private func assertAllSplits(
        _ input: [UInt8], _ expected: [Transcript.Item], maxHeadBytes: Int = 65536, maxBodyBytes: Int = 1 << 20,
        random: Int = 200, line: UInt = #line
    ) {
        let make = { self.makeParser(maxHeadBytes: maxHeadBytes, maxBodyBytes: maxBodyBytes) }
        XCTAssertEqual(Transcript.run(input, chunks: [Int.max], make()), expected, "whole", line: line)
        XCTAssertEqual(Transcript.run(input, chunks: [1], make()), expected, "byte by byte", line: line)
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(input.count))
        for i in 0..<random {
            let chunks = (0..<16).map { _ in 1 + Int(rng.next() % UInt64(i % 3 == 0 ? 5 : 64)) }
            let got = Transcript.run(input, chunks: chunks, make())
            if got != expected {
                XCTFail("random split #\(i) \(chunks): \(got)", line: line)
                return
            }
        }
        // A complete, successful stream leaves the parser idle.
        if expected.last == .end {
            let parser = make()
            _ = Transcript.run(input, chunks: [Int.max], parser)
            XCTAssertTrue(parser.isIdle(), "idle after the last message", line: line)
        }
    }

    private static func describe(_ head: HTTPRequestHead) -> String {
        let fields = head.fields.map { str(head.bytes[$0.name]) + "=" + str(head.bytes[$0.value]) }.joined(separator: "|")
        return "\(str(head.bytes[head.method])) \(str(head.targetBytes)) 1.\(head.versionMinor) "
            + "cl=\(head.contentLength.map(String.init) ?? "nil") chunked=\(head.chunked) ka=\(head.keepAlive) "
            + "expect=\(head.expectContinue) [\(fields)]"
    }
}

// MARK: - Shared by the parser tests

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func str(_ b: ArraySlice<UInt8>) -> String { String(decoding: b, as: UTF8.self) }

/// Deterministic PRNG for reproducible random splits.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a parser reports for an input, independent of how the input was split: heads as
/// descriptions, consecutive body pieces joined.
enum Transcript {
    enum Item: Equatable, CustomStringConvertible {
        case head(String)
        case body([UInt8])
        case end
        case error(HTTPParseError)

        var description: String {
            switch self {
            case .head(let s): return "head(\(s))"
            case .body(let b): return "body(\(str(b[...])))"
            case .end: return "end"
            case .error(let e): return "error(\(e))"
            }
        }
    }

    /// A parser under test, behind closures so one driver serves requests and responses.
    struct Parser {
        var next: (UnsafeRawBufferPointer, inout Int) -> HTTPParseEvent
        var describeHead: () -> String
        var isIdle: () -> Bool
    }

    /// Feeds `input` in pieces whose sizes cycle through `chunks`, through one reused read
    /// buffer that is scribbled over between reads (a parser keeping pointers into it fails).
    static func run(_ input: [UInt8], chunks: [Int], _ parser: Parser) -> [Item] {
        var items: [Item] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(input.count, 1), alignment: 8)
        defer { buffer.deallocate() }
        var start = 0
        var k = 0
        while start < input.count {
            let n = min(chunks[k % chunks.count], input.count - start)
            k += 1
            buffer.initializeMemory(as: UInt8.self, repeating: 0xEE)
            for i in 0..<n { buffer[i] = input[start + i] }
            start += n
            let buf = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            var offset = 0
            var guardCount = 0
            while true {
                guardCount += 1
                if guardCount > 100_000 {
                    items.append(.head("parser loops"))
                    return items
                }
                let before = offset
                let event = parser.next(buf, &offset)
                switch event {
                case .needMore:
                    if offset != n { items.append(.head("needMore at \(offset) of \(n)")) }
                case .head:
                    items.append(.head(parser.describeHead()))
                case .body(let r):
                    if r.isEmpty || r.lowerBound < before || r.upperBound != offset || r.upperBound > n {
                        items.append(.head("bad body range \(r) from \(before) to \(offset)"))
                    }
                    let piece = Array(buf[r])
                    if case .body(let previous)? = items.last {
                        items[items.count - 1] = .body(previous + piece)
                    } else {
                        items.append(.body(piece))
                    }
                case .end:
                    items.append(.end)
                case .error(let e):
                    items.append(.error(e))
                    return items
                }
                if event == .needMore { break }
            }
        }
        return items
    }
}
