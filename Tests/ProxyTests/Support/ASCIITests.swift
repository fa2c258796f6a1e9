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

    /// The word-at-a-time comparison gives what `equalsIgnoringCase` gives for every byte a
    /// parsed head's name or value may hold (HTAB, and 0x20 through 0xFF), at every offset of
    /// literals shorter than, as long as and longer than a word.
    func testLowercaseTokenMatchesEqualsIgnoringCase() {
        let literals: [StaticString] = ["te", "host", "x-api-key", "connection", "x-request-id", "content-length",
                                        "proxy-authorization", "chatgpt-account-id", "a1-b2-c3-d4-e5-f6-g7"]
        let bytes: [UInt8] = [0x09] + Array(0x20...0xFF)
        var checked = 0
        for lit in literals {
            let base = lit.withUTF8Buffer { Array($0) }
            XCTAssertTrue(ASCII.equalsLowercaseToken(ArraySlice(base), lit))
            XCTAssertTrue(ASCII.equalsLowercaseToken(ArraySlice(base.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }), lit))
            for at in base.indices {
                for b in bytes {
                    var v = base
                    v[at] = b
                    XCTAssertEqual(ASCII.equalsLowercaseToken(ArraySlice(v), lit), ASCII.equalsIgnoringCase(ArraySlice(v), lit),
                                   "\(lit) with 0x\(String(b, radix: 16)) at \(at)")
                    checked += 1
                }
            }
            XCTAssertFalse(ASCII.equalsLowercaseToken(ArraySlice(base.dropLast()), lit))
            XCTAssertFalse(ASCII.equalsLowercaseToken(ArraySlice(base + [0x61]), lit))
        }
        XCTAssertGreaterThan(checked, 20_000)
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
