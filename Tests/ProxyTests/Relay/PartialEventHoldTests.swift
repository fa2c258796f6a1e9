import XCTest
@testable import Proxy

/// An event stream reaches the client at event boundaries: whole events at once, the
/// unfinished last one held until its end (or until it outgrows the hold).
final class PartialEventHoldTests: XCTestCase {
    /// Feeds `parts` and returns what was emitted after each.
    private func run(_ hold: inout PartialEventHold, _ parts: [[UInt8]]) -> [[UInt8]] {
        parts.map { p in
            var out: [UInt8] = []
            p.withUnsafeBytes { hold.feed($0) { out += $0 } }
            return out
        }
    }

    func testAReadOfWholeEventsGoesOutAsItIsAndNothingIsHeld() {
        var h = PartialEventHold()
        let e = Array("event: a\ndata: {\"x\":1}\n\nevent: b\ndata: {}\n\n".utf8)
        XCTAssertEqual(run(&h, [e]), [e])
        XCTAssertTrue(h.held.isEmpty)
        XCTAssertTrue(h.canEndCleanly)
    }

    func testTheUnfinishedEventWaitsForItsEnd() {
        var h = PartialEventHold()
        let out = run(&h, [Array("data: {\"a\":1}\n\ndata: {\"type\":\"message_del".utf8), Array("ta\"}\n".utf8), Array("\ndata: x".utf8)])
        XCTAssertEqual(out.map { String(decoding: $0, as: UTF8.self) },
                       ["data: {\"a\":1}\n\n", "", "data: {\"type\":\"message_delta\"}\n\n"])
        XCTAssertEqual(String(decoding: h.held, as: UTF8.self), "data: x")
        var flushed: [UInt8] = []
        h.flush { flushed += $0 }
        XCTAssertEqual(String(decoding: flushed, as: UTF8.self), "data: x")
        XCTAssertTrue(h.held.isEmpty)
    }

    func testEveryLineEndingEndsAnEventAndACRLFSplitAcrossReadsCountsOnce() {
        for (text, boundary) in [("data: 1\r\n\r\ndata: 2", 11), ("data: 1\r\rdata: 2", 9), ("data: 1\n\r\ndata: 2", 10),
                                 ("data: 1\r\n\ndata: 2", 10), ("data: 1\r\r\ndata: 2", 10)] {
            var h = PartialEventHold()
            let out = run(&h, [Array(text.utf8)])
            XCTAssertEqual(out[0].count, boundary, text.debugDescription)
        }
        // `\r\n` then `\r` | `\n`: the event ends at the second CR; the LF after it is harmless.
        var h = PartialEventHold()
        let out = run(&h, [Array("data: 1\r\n\r".utf8), Array("\ndata: 2\r\n".utf8), Array("\r\n".utf8)])
        XCTAssertEqual(out.map(\.count), [10, 1, 11])
        // A lone `\r\n` is one line ending, not a blank line.
        var one = PartialEventHold()
        XCTAssertEqual(run(&one, [Array("data: 1\r".utf8), Array("\n".utf8)]).map(\.count), [0, 0])
    }

    func testAnEventLargerThanTheHoldGoesOutUnfinishedAndSaysSo() {
        var h = PartialEventHold()
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: PartialEventHold.maxHeldBytes / 2 + 1)
        let out = run(&h, [Array("data: ".utf8), big, big, Array("\n\n".utf8)])
        XCTAssertEqual(out.map(\.count), [0, 0, 6 + 2 * big.count, 2])
        XCTAssertTrue(h.canEndCleanly)
        var mid = PartialEventHold()
        _ = run(&mid, [Array("data: ".utf8), big, big])
        XCTAssertFalse(mid.canEndCleanly, "the client has part of an event")
        XCTAssertTrue(mid.held.isEmpty)
    }

    func testDropForgetsThePartialEvent() {
        var h = PartialEventHold()
        _ = run(&h, [Array("data: {}\n\nevent: x\ndata: {\"par".utf8)])
        h.drop()
        XCTAssertTrue(h.held.isEmpty)
        XCTAssertTrue(h.canEndCleanly)
    }

    /// Against a plain line reader, over random streams of short lines with every line
    /// ending, split at random: nothing is lost or reordered, what went out ends with a
    /// blank line, and every blank line fed so far has gone out.
    func testRandomStreamsAndSplitsAgainstALineReader() {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["data: {}", "event: e", ": c", "", "data: x", "id: 1"]
        let endings = ["\n", "\r\n", "\r"]
        for _ in 0..<2000 {
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &rng) {
                stream += Array((pieces.randomElement(using: &rng)! + endings.randomElement(using: &rng)!).utf8)
            }
            if Bool.random(using: &rng) { stream += Array("data: tail".utf8) }
            var h = PartialEventHold()
            var emitted: [UInt8] = []
            var fed = 0
            while fed < stream.count {
                let n = Int.random(in: 1...(stream.count - fed), using: &rng)
                stream[fed..<(fed + n)].withUnsafeBytes { h.feed($0) { emitted += $0 } }
                fed += n
                let context = String(decoding: stream, as: UTF8.self).debugDescription
                XCTAssertEqual(emitted + h.held, Array(stream[0..<fed]), context)
                if !emitted.isEmpty {
                    XCTAssertTrue(LineReader.endsWithBlankLine(emitted), "\(context) emitted \(emitted.count)")
                }
                XCTAssertGreaterThanOrEqual(emitted.count, LineReader.lastBoundary(stream, upTo: fed), context)
            }
        }
    }
}

/// A plain reading of lines (`\r\n`, `\n`, `\r`) for the comparison above.
private enum LineReader {
    /// The lines of `b` as (start of content, end of content, end of terminator); a last
    /// line without a terminator is left out.
    static func lines(_ b: [UInt8]) -> [(Int, Int, Int)] {
        var out: [(Int, Int, Int)] = []
        var start = 0, i = 0
        while i < b.count {
            if b[i] == 10 || b[i] == 13 {
                let end = b[i] == 13 && i + 1 < b.count && b[i + 1] == 10 ? i + 2 : i + 1
                out.append((start, i, end))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        return out
    }

    /// Whether `b` ends right after the terminator of an empty line (a CR of a CRLF split
    /// after it counts as that terminator).
    static func endsWithBlankLine(_ b: [UInt8]) -> Bool {
        guard let last = lines(b).last, last.2 == b.count else { return false }
        return last.0 == last.1
    }

    /// The end of the last empty line's terminator within `b[..<n]` (stream-wide CRLFs), 0 when none.
    static func lastBoundary(_ b: [UInt8], upTo n: Int) -> Int {
        lines(b).filter { $0.0 == $0.1 && $0.2 <= n }.last?.2 ?? 0
    }
}
