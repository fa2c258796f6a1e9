import XCTest
@testable import LoadGen

final class BodyMatchTests: XCTestCase {
    /// Feeds `pieces` in order; returns the index of the piece in which the match completed.
    private func matchIndex(_ needle: String, _ pieces: [String]) -> Int? {
        var m = BodyMatch(Array(needle.utf8))
        for (i, p) in pieces.enumerated() {
            let hit = Array(p.utf8).withUnsafeBytes { m.feed($0) }
            if hit { return i }
        }
        return nil
    }

    func testFindsNeedleInOnePiece() {
        XCTAssertEqual(matchIndex("content_block_delta", ["event: content_block_delta\ndata: {}\n\n"]), 0)
    }

    func testAbsentNeedleIsNotFound() {
        XCTAssertNil(matchIndex("content_block_delta", ["event: message_start\n", "event: content_block_start\n"]))
    }

    func testFindsNeedleSplitAcrossEveryBoundary() {
        let needle = "content_block_delta"
        let text = "event: ping\n\nevent: content_block_delta\ndata: {}"
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            let a = String(decoding: bytes[..<cut], as: UTF8.self)
            let b = String(decoding: bytes[cut...], as: UTF8.self)
            let end = text.utf8.count - "\ndata: {}".utf8.count   // the needle ends here
            XCTAssertEqual(matchIndex(needle, [a, b]), cut >= end ? 0 : 1, "cut at \(cut)")
        }
    }

    func testFindsNeedleFedOneByteAtATime() {
        let pieces = "xx content_block_start content_block_delta".map { String($0) }
        XCTAssertEqual(matchIndex("content_block_delta", pieces), pieces.count - 1)
    }

    /// A partial match that fails must fall back to the longest border, not to zero:
    /// "aab" in "aaab" (naive restart misses it), and a near-miss across pieces.
    func testPartialMatchFallsBackToBorder() {
        XCTAssertEqual(matchIndex("aab", ["aa", "ab"]), 1)
        XCTAssertEqual(matchIndex("abab", ["aba", "bab"]), 1)
        XCTAssertEqual(matchIndex("content_block_delta", ["content_block_", "content_block_delta"]), 1)
        XCTAssertEqual(matchIndex("content_block_delta", ["content_block_", "delt", "a"]), 2)
    }

    func testAPrefixThatStopsShortIsNotAMatch() {
        XCTAssertNil(matchIndex("content_block_delta", ["content_block_", "delt"]))
    }

    func testStaysFoundAndResetStartsOver() {
        var m = BodyMatch(Array("abc".utf8))
        XCTAssertTrue(Array("zabc".utf8).withUnsafeBytes { m.feed($0) })
        XCTAssertTrue(Array("zzz".utf8).withUnsafeBytes { m.feed($0) })
        XCTAssertTrue(m.found)
        m.reset()
        XCTAssertFalse(m.found)
        XCTAssertFalse(Array("ab".utf8).withUnsafeBytes { m.feed($0) })
        XCTAssertTrue(Array("c".utf8).withUnsafeBytes { m.feed($0) })
    }

    func testEmptyPieceChangesNothing() {
        var m = BodyMatch(Array("ab".utf8))
        XCTAssertFalse(Array("a".utf8).withUnsafeBytes { m.feed($0) })
        XCTAssertFalse([UInt8]().withUnsafeBytes { m.feed($0) })
        XCTAssertTrue(Array("b".utf8).withUnsafeBytes { m.feed($0) })
    }

    func testOneByteNeedle() {
        XCTAssertEqual(matchIndex("x", ["abc", "dxe"]), 1)
        XCTAssertNil(matchIndex("x", ["abc"]))
    }
}
