import XCTest

@testable import Reactor

final class HTTP1ResponseParserTests: XCTestCase {

    func testContentLengthResponse() {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        assertAllSplits(input, [
            .head("200 OK 1.1 cl=7 chunked=false ka=true [Content-Type=application/json|Content-Length=7]"),
            .body(bytes("{\"a\":1}")), .end,
        ])
    }

    func testChunkedResponseSplitEverywhere() {
        let input = bytes(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "d\r\nevent: ping\n\n\r\n"
                + "10;x=y\r\ndata: {\"t\":\"hi\"}\r\n"
                + "0\r\nX-Trailer: 1\r\n\r\n"
                + "HTTP/1.1 204 No Content\r\n\r\n")
        let expected: [Transcript.Item] = [
            .head("200 OK 1.1 cl=nil chunked=true ka=true [Content-Type=text/event-stream|Transfer-Encoding=chunked]"),
            .body(bytes("event: ping\n\ndata: {\"t\":\"hi\"}")), .end,
            .head("204 No Content 1.1 cl=nil chunked=false ka=true []"), .end,
        ]
        assertAllSplits(input, expected)
        // Every two-piece and three-piece split.
        for a in 1..<input.count {
            XCTAssertEqual(run(input, pieces: [a, input.count - a]), expected, "split at \(a)")
            for b in stride(from: a + 1, to: input.count, by: 7) {
                XCTAssertEqual(run(input, pieces: [a, b - a, input.count - b]), expected, "split at \(a), \(b)")
            }
        }
    }

    func testUntilCloseBodyEndsOnEOF() {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed until close")
        for split in [Int.max, 1, 5] {
            var parser = HTTP1ResponseParser()
            let driver = Transcript.Parser(
                next: { buf, offset in parser.next(buf, &offset) },
                describeHead: { parser.head.map(Self.describe) ?? "no head" },
                isIdle: { false })
            let items = Transcript.run(input, chunks: [split], driver)
            XCTAssertEqual(items, [
                .head("200 OK 1.1 cl=nil chunked=false ka=false [Content-Type=text/plain]"),
                .body(bytes("streamed until close")),
            ])
            XCTAssertTrue(parser.bodyIsUntilClose)
            XCTAssertEqual(parser.finishOnEOF(), .end)
            XCTAssertFalse(parser.bodyIsUntilClose)
        }
    }

    func testUntilCloseWithEmptyBody() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.0 200 OK\r\n\r\n"), [.head, .needMore])
        XCTAssertTrue(parser.bodyIsUntilClose)
        XCTAssertEqual(parser.finishOnEOF(), .end)
    }

    func testBodyIsNotUntilCloseForFramedBodies() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"), [.head, .body(38..<40), .needMore])
        XCTAssertFalse(parser.bodyIsUntilClose)
    }

    func testNoBodyFor204And304() {
        let input = bytes(
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                + "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assertAllSplits(input, [
            .head("204 No Content 1.1 cl=5 chunked=false ka=true [Content-Length=5]"), .end,
            .head("304 Not Modified 1.1 cl=100 chunked=false ka=true [Content-Length=100]"), .end,
            .head("200 OK 1.1 cl=2 chunked=false ka=true [Content-Length=2]"), .body(bytes("ok")), .end,
        ])
    }

    func testNoBodyForHEAD() {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        assertAllSplits(input, [.head("200 OK 1.1 cl=1234 chunked=false ka=true [Content-Length=1234]"), .end], head: true)
        // Chunked and until-close responses to HEAD have no body either.
        assertAllSplits(
            bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            [.head("200 OK 1.1 cl=nil chunked=true ka=true [Transfer-Encoding=chunked]"), .end], head: true)
        assertAllSplits(bytes("HTTP/1.1 200 OK\r\n\r\n"), [.head("200 OK 1.1 cl=nil chunked=false ka=true []"), .end], head: true)
        // Without the HEAD flag the same bytes wait for a body.
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), [.head, .needMore])
    }

    func testHEADFlagIsPerResponse() {
        var parser = HTTP1ResponseParser()
        parser.expect(requestMethodHEAD: true)
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"), [.head, .end, .needMore])
        parser.expect(requestMethodHEAD: false)
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), [.head, .body(38..<41), .end, .needMore])
    }

    func testInterimResponsesAreSkipped() {
        let input = bytes(
            "HTTP/1.1 100 Continue\r\n\r\n"
                + "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi")
        assertAllSplits(input, [
            .head("201 Created 1.1 cl=2 chunked=false ka=true [Content-Length=2]"), .body(bytes("hi")), .end,
        ])
    }

    func testUnsolicited101IsAnError() {
        // The proxy never asks to upgrade: a 101 is an upstream fault, never a response to forward.
        assertMalformed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                        "unsolicited 101 Switching Protocols")
        assertMalformed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n",
                        "unsolicited 101 Switching Protocols")
    }

    func testInterimResponsesAreBoundedInNumber() {
        let final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
        let atCap = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: HTTP1ResponseParser.maxInterimResponses)
        assertAllSplits(bytes(atCap + final), [
            .head("200 OK 1.1 cl=2 chunked=false ka=true [Content-Length=2]"), .body(bytes("hi")), .end,
        ])
        let over = String(repeating: "HTTP/1.1 103 Early Hints\r\n\r\n", count: HTTP1ResponseParser.maxInterimResponses + 1)
        assertMalformed(over + final, "more than 8 interim (1xx) responses or 65536 bytes of them")
    }

    func testInterimResponsesAreBoundedInBytes() {
        let final = "HTTP/1.1 204 No Content\r\n\r\n"
        // Four interim heads of 16 KiB each stay within 64 KiB; a fifth byte over does not.
        func interim(_ size: Int) -> String {
            let fixed = "HTTP/1.1 103 Early Hints\r\nLink: \r\n\r\n".utf8.count
            return "HTTP/1.1 103 Early Hints\r\nLink: " + String(repeating: "a", count: size - fixed) + "\r\n\r\n"
        }
        let quarter = HTTP1ResponseParser.maxInterimBytes / 4
        var p1 = HTTP1ResponseParser()
        XCTAssertEqual(feed(&p1, String(repeating: interim(quarter), count: 4) + final), [.head, .end, .needMore])
        var p2 = HTTP1ResponseParser()
        XCTAssertEqual(feed(&p2, String(repeating: interim(quarter), count: 3) + interim(quarter + 1) + final),
                       [.error(.malformed("more than 8 interim (1xx) responses or 65536 bytes of them"))])
        // The count starts again with each response on a kept-alive connection.
        var p3 = HTTP1ResponseParser()
        let six = String(repeating: "HTTP/1.1 100 Continue\r\n\r\n", count: 6)
        XCTAssertEqual(feed(&p3, six + final + six + final), [.head, .end, .head, .end, .needMore])
    }

    func testReasonPhraseTolerance() {
        assertAllSplits(bytes("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), [.head("200  1.1 cl=0 chunked=false ka=true [Content-Length=0]"), .end])
        assertAllSplits(bytes("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), [.head("200  1.1 cl=0 chunked=false ka=true [Content-Length=0]"), .end])
        var parser = HTTP1ResponseParser()
        let odd = bytes("HTTP/1.1 404 Not\tFound ") + [0xC3, 0xA9, 0x21] + bytes("\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(feed(&parser, odd), [.head, .end, .needMore])
        XCTAssertEqual(parser.head.map { Array($0.bytes[$0.reason]) }, bytes("Not\tFound ") + [0xC3, 0xA9, 0x21])
        XCTAssertEqual(parser.head?.status, 404)
    }

    func testResponseKeepAliveRules() {
        assertAllSplits(bytes("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), [.head("200 OK 1.0 cl=0 chunked=false ka=false [Content-Length=0]"), .end])
        assertAllSplits(
            bytes("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
            [.head("200 OK 1.0 cl=0 chunked=false ka=true [Connection=keep-alive|Content-Length=0]"), .end])
        assertAllSplits(
            bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            [.head("200 OK 1.1 cl=0 chunked=false ka=false [Connection=close|Content-Length=0]"), .end])
    }

    func testFieldHelpersOnResponse() {
        var parser = HTTP1ResponseParser()
        _ = feed(&parser, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nConnection: close, x\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(parser.head?.value("retry-after").map(Array.init), bytes("30"))
        XCTAssertEqual(parser.head?.hasToken("connection", "close"), true)
        XCTAssertEqual(parser.head?.connectionTokens().map(Array.init), [bytes("close"), bytes("x")])
    }

    // MARK: - EOF

    func testEOFBeforeResponse() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed before response")))
    }

    func testEOFAfterCompleteResponseIsBeforeNextResponse() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), [.head, .body(38..<39), .end, .needMore])
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed before response")))
    }

    func testEOFMidHead() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-"), [.needMore])
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
    }

    func testEOFAfterInterimResponse() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 100 Continue\r\n\r\n"), [.needMore])
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
    }

    func testEOFMidChunk() {
        let input = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part"
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, input), [.head, .body(51..<60), .needMore])
        XCTAssertFalse(parser.bodyIsUntilClose)
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
        // Dead afterwards.
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
    }

    func testEOFBeforeLastChunk() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"), [.head, .body(50..<52), .needMore])
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
    }

    func testEOFMidContentLengthBody() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(feed(&parser, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), [.head, .body(38..<40), .needMore])
        XCTAssertEqual(parser.finishOnEOF(), .error(.malformed("connection closed mid-message")))
    }

    // MARK: - Rejections

    func testRejectsContentLengthWithTransferEncoding() {
        assertMalformed(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "conflicting Content-Length and Transfer-Encoding")
    }
    func testRejectsConflictingContentLength() {
        assertMalformed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "conflicting Content-Length")
    }
    func testRejectsUnsupportedTransferEncoding() {
        assertMalformed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding")
    }
    func testRejectsShortStatus() { assertMalformed("HTTP/1.1 20 OK\r\n\r\n", "invalid status code") }
    func testRejectsStatusBelow100() { assertMalformed("HTTP/1.1 099 X\r\n\r\n", "invalid status code") }
    func testRejectsJunkAfterStatus() { assertMalformed("HTTP/1.1 2000 OK\r\n\r\n", "invalid status line") }
    func testRejectsControlInReason() { assertMalformed("HTTP/1.1 200 O\u{1}K\r\n\r\n", "invalid status line") }
    func testRejectsHTTP2Response() { assertMalformed("HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version") }
    func testRejectsNonHTTPResponse() { assertMalformed("SSH-2.0-OpenSSH_9.6\r\n\r\n", "invalid HTTP version") }
    func testRejectsBareLFResponse() { assertMalformed("HTTP/1.1 200 OK\nContent-Length: 0\n\n", "bare LF") }
    func testRejectsInvalidChunkInResponse() {
        var parser = HTTP1ResponseParser()
        XCTAssertEqual(
            feed(&parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"),
            [.head, .error(.malformed("invalid chunk size"))])
    }

    func testResponseHeadLimitBothSides() {
        let fixed = "HTTP/1.1 200 OK\r\nX: \r\n\r\n".utf8.count
        let atLimit = bytes("HTTP/1.1 200 OK\r\nX: " + String(repeating: "v", count: 100 - fixed) + "\r\n\r\n")
        XCTAssertEqual(atLimit.count, 100)
        let over = bytes("HTTP/1.1 200 OK\r\nX: " + String(repeating: "v", count: 101 - fixed) + "\r\n\r\n")
        var parser = HTTP1ResponseParser(maxHeadBytes: 100)
        parser.expect(requestMethodHEAD: true)
        XCTAssertEqual(feed(&parser, atLimit), [.head, .end, .needMore])
        assertAllSplits(over, [.error(.headTooLarge)], maxHeadBytes: 100)
    }

    // MARK: - Helpers

    private func makeParser(maxHeadBytes: Int, head: Bool) -> Transcript.Parser {
        var parser = HTTP1ResponseParser(maxHeadBytes: maxHeadBytes)
        parser.expect(requestMethodHEAD: head)
        return Transcript.Parser(
            next: { buf, offset in parser.next(buf, &offset) },
            describeHead: { parser.head.map(Self.describe) ?? "no head" },
            isIdle: { false })
    }

    private func run(_ input: [UInt8], pieces: [Int]) -> [Transcript.Item] {
        Transcript.run(input, chunks: pieces, makeParser(maxHeadBytes: 65536, head: false))
    }

    private func assertAllSplits(
        _ input: [UInt8], _ expected: [Transcript.Item], head: Bool = false, maxHeadBytes: Int = 65536,
        line: UInt = #line
    ) {
        let make = { self.makeParser(maxHeadBytes: maxHeadBytes, head: head) }
        XCTAssertEqual(Transcript.run(input, chunks: [Int.max], make()), expected, "whole", line: line)
        XCTAssertEqual(Transcript.run(input, chunks: [1], make()), expected, "byte by byte", line: line)
        var rng = SplitMix64(seed: 0xC0FFEE &+ UInt64(input.count))
        for i in 0..<200 {
            let chunks = (0..<16).map { _ in 1 + Int(rng.next() % UInt64(i % 3 == 0 ? 5 : 64)) }
            let got = Transcript.run(input, chunks: chunks, make())
            if got != expected {
                XCTFail("random split #\(i) \(chunks): \(got)", line: line)
                return
            }
        }
    }

    private func assertMalformed(_ text: String, _ reason: String, line: UInt = #line) {
        assertAllSplits(bytes(text), [.error(.malformed(reason))], line: line)
    }

    /// Feeds `text` in one buffer and lists every event through the first `.needMore` or error.
    private func feed(_ parser: inout HTTP1ResponseParser, _ text: String) -> [HTTPParseEvent] {
        feed(&parser, bytes(text))
    }

    private func feed(_ parser: inout HTTP1ResponseParser, _ input: [UInt8]) -> [HTTPParseEvent] {
        var events: [HTTPParseEvent] = []
        input.withUnsafeBytes { buf in
            var offset = 0
            while events.count < 100 {
                let event = parser.next(buf, &offset)
                events.append(event)
                if case .needMore = event { break }
                if case .error = event { break }
            }
        }
        return events
    }

    private static func describe(_ head: HTTPResponseHead) -> String {
        let fields = head.fields.map { str(head.bytes[$0.name]) + "=" + str(head.bytes[$0.value]) }.joined(separator: "|")
        return "\(head.status) \(str(head.bytes[head.reason])) 1.\(head.versionMinor) "
            + "cl=\(head.contentLength.map(String.init) ?? "nil") chunked=\(head.chunked) ka=\(head.keepAlive) [\(fields)]"
    }
}
