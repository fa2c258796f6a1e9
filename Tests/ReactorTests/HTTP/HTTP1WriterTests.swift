import XCTest

@testable import Reactor

final class HTTP1WriterTests: XCTestCase {

    func testStatusLine() {
        var out: [UInt8] = []
        HTTP1Writer.appendStatusLine(&out, status: 200, reason: "OK")
        XCTAssertEqual(text(out), "HTTP/1.1 200 OK\r\n")
        out.removeAll()
        HTTP1Writer.appendStatusLine(&out, status: 431, versionMinor: 0)
        XCTAssertEqual(text(out), "HTTP/1.0 431 Request Header Fields Too Large\r\n")
        out.removeAll()
        HTTP1Writer.appendStatusLine(&out, status: 599, reason: bytes("Odd Reason")[...])
        XCTAssertEqual(text(out), "HTTP/1.1 599 Odd Reason\r\n")
    }

    func testRequestLine() {
        var out: [UInt8] = []
        HTTP1Writer.appendRequestLine(&out, method: bytes("POST")[...], target: bytes("/v1/messages?beta=true")[...])
        XCTAssertEqual(text(out), "POST /v1/messages?beta=true HTTP/1.1\r\n")
        out.removeAll()
        HTTP1Writer.appendRequestLine(&out, method: "GET", target: bytes("/")[...])
        XCTAssertEqual(text(out), "GET / HTTP/1.1\r\n")
    }

    func testHeadersAndEndOfHead() {
        var out: [UInt8] = []
        HTTP1Writer.appendHeader(&out, name: "Content-Type", value: "text/event-stream")
        HTTP1Writer.appendHeader(&out, name: "Content-Length", value: 1234567)
        HTTP1Writer.appendHeader(&out, name: "X-Request-Id", value: bytes("abc")[...])
        HTTP1Writer.appendHeader(&out, name: bytes("x-api-key")[...], value: bytes("sk-1")[...])
        HTTP1Writer.appendHeader(&out, name: "X-Empty", value: "")
        HTTP1Writer.appendEndOfHead(&out)
        XCTAssertEqual(
            text(out),
            "Content-Type: text/event-stream\r\nContent-Length: 1234567\r\nX-Request-Id: abc\r\nx-api-key: sk-1\r\nX-Empty: \r\n\r\n")
    }

    func testWrittenHeadParsesBack() {
        var out: [UInt8] = []
        HTTP1Writer.appendStatusLine(&out, status: 502)
        HTTP1Writer.appendHeader(&out, name: "Content-Length", value: 0)
        HTTP1Writer.appendEndOfHead(&out)
        var parser = HTTP1ResponseParser()
        out.withUnsafeBytes { buf in
            var offset = 0
            XCTAssertEqual(parser.next(buf, &offset), .head)
            XCTAssertEqual(parser.next(buf, &offset), .end)
        }
        XCTAssertEqual(parser.head?.status, 502)
        XCTAssertEqual(parser.head.map { text(Array($0.bytes[$0.reason])) }, "Bad Gateway")
    }

    func testChunkFraming() {
        var out: [UInt8] = []
        HTTP1Writer.appendChunkHeader(&out, size: 1)
        out.append(0x61)
        HTTP1Writer.appendChunkTrailerCRLF(&out)
        HTTP1Writer.appendChunkHeader(&out, size: 0xAB)
        HTTP1Writer.appendChunkHeader(&out, size: 4096)
        HTTP1Writer.appendChunkHeader(&out, size: 15)
        HTTP1Writer.appendChunkHeader(&out, size: 16)
        HTTP1Writer.appendChunkHeader(&out, size: Int.max)
        HTTP1Writer.appendLastChunk(&out)
        XCTAssertEqual(text(out), "1\r\na\r\nab\r\n1000\r\nf\r\n10\r\n7fffffffffffffff\r\n0\r\n\r\n")
    }

    func testChunkedBodyParsesBack() {
        var out = bytes("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        let payload = Array(repeating: UInt8(0x78), count: 300)
        HTTP1Writer.appendChunkHeader(&out, size: payload.count)
        out += payload
        HTTP1Writer.appendChunkTrailerCRLF(&out)
        HTTP1Writer.appendLastChunk(&out)
        var parser = HTTP1RequestParser(maxBodyBytes: 300)
        var body: [UInt8] = []
        var events: [HTTPParseEvent] = []
        out.withUnsafeBytes { buf in
            var offset = 0
            while events.last != .needMore && events.count < 10 {
                let event = parser.next(buf, &offset)
                if case .body(let r) = event { body += buf[r] }
                events.append(event)
            }
        }
        XCTAssertEqual(body, payload)
        XCTAssertEqual(events.last, .needMore)
        XCTAssertEqual(events.dropLast().last, .end)
    }

    func testDecimal() {
        for (value, expected) in [
            (0, "0"), (7, "7"), (10, "10"), (99, "99"), (100, "100"), (65536, "65536"),
            (-1, "-1"), (-120, "-120"), (Int.max, "9223372036854775807"), (Int.min, "-9223372036854775808"),
        ] {
            var out = bytes("x")
            HTTP1Writer.appendDecimal(&out, value)
            XCTAssertEqual(text(out), "x" + expected)
        }
    }

    func testReasonPhrases() {
        let expected: [Int: String] = [
            200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 413: "Content Too Large",
            429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
            299: "Unknown", 0: "Unknown", 999: "Unknown",
        ]
        for (status, phrase) in expected {
            XCTAssertEqual(HTTP1Writer.reasonPhrase(status).description, phrase, "status \(status)")
        }
    }

    private func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
}
