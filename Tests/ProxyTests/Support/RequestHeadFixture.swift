import XCTest
@testable import Reactor

extension XCTestCase {
    /// `lines` (request line and fields, each ending in CRLF) parsed as one request head.
    func parsedRequestHead(_ lines: String, file: StaticString = #filePath, line: UInt = #line) -> HTTPRequestHead {
        var p = HTTP1RequestParser(maxBodyBytes: 1 << 20)
        let bytes = Array((lines + "\r\n").utf8)
        return bytes.withUnsafeBytes { raw -> HTTPRequestHead in
            var off = 0
            XCTAssertEqual(p.next(raw, &off), .head, file: file, line: line)
            return p.head!
        }
    }
}
