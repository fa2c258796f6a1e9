import XCTest
@testable import Proxy

final class ASCIITests: XCTestCase {
    func testEqualsIsByteExact() {
        let cases: [(String, Bool)] = [
            ("POST", true), ("POS", false), ("POSTS", false), ("post", false), ("PoST", false),
            ("", false), ("POSU", false), ("QOST", false),
        ]
        for (s, want) in cases {
            let slice = ArraySlice(Array(s.utf8))
            XCTAssertEqual(ASCII.equals(slice, "POST"), want, s)
        }
        XCTAssertTrue(ASCII.equals([], ""))
        XCTAssertFalse(ASCII.equals(ArraySlice(Array("x".utf8)), ""))
        // A slice that does not start at index 0 compares its own bytes, not its base's.
        let whole = Array("GET /v1/messages HTTP/1.1".utf8)
        XCTAssertTrue(ASCII.equals(whole[4..<16], "/v1/messages"))
        XCTAssertFalse(ASCII.equals(whole[3..<15], "/v1/messages"))
        // Bytes past the slice's end never count.
        XCTAssertFalse(ASCII.equals(whole[4..<15], "/v1/messages"))
    }

    func testPrefixAndCaseHelpers() {
        let s = ArraySlice(Array("Content-Type".utf8))
        XCTAssertTrue(ASCII.equalsIgnoringCase(s, "content-type"))
        XCTAssertFalse(ASCII.equalsIgnoringCase(s, "content-typ"))
        XCTAssertTrue(ASCII.hasPrefix(s, "Content-"))
        XCTAssertFalse(ASCII.hasPrefix(s, "content-"))
        XCTAssertTrue(ASCII.hasPrefixIgnoringCase(s, "content-"))
    }
}
