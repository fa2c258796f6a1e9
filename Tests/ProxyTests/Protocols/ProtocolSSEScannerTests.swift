import XCTest
@testable import Proxy

final class ProtocolSSEScannerTests: XCTestCase {
    struct Got: Equatable, CustomStringConvertible {
        var name: String
        var data: String
        var tooLarge = false
        var description: String { "\(name)|\(data)\(tooLarge ? "|TOO LARGE" : "")" }
    }

    func collect(_ pieces: [[UInt8]], cap: Int = 1 << 20, finish: Bool = false, maxBuffered: inout Int) -> [Got] {
        var s = SSEScanner(maxEventBytes: cap)
        var out: [Got] = []
        let sink: (SSEEvent) -> Void = { e in
            out.append(Got(name: String(decoding: e.name, as: UTF8.self), data: String(decoding: e.data, as: UTF8.self), tooLarge: e.isTooLarge))
        }
        for p in pieces {
            s.feed(p, sink)
            maxBuffered = max(maxBuffered, s.bufferedBytes)
        }
        if finish { s.finish(sink) }
        return out
    }

    func collect(_ pieces: [[UInt8]], cap: Int = 1 << 20, finish: Bool = false) -> [Got] {
        var m = 0
        return collect(pieces, cap: cap, finish: finish, maxBuffered: &m)
    }

    /// The same stream written with each line ending; the events must not depend on it.
    static let lines: [String] = [
        ": comment to ignore",
        "event: message_start",
        #"data: {"type":"message_start"}"#,
        "",
        "event: ping",
        "id: 7",
        "retry: 1000",
        #"data:{"type": "ping"}"#,
        "",
        "data: first line",
        "data:",
        "data:  two spaces",
        "",
        "event: no-data-so-not-dispatched",
        "",
        "data",
        "",
        "data: [DONE]",
        "",
    ]
    static let expected: [Got] = [
        Got(name: "message_start", data: #"{"type":"message_start"}"#),
        Got(name: "ping", data: #"{"type": "ping"}"#),
        Got(name: "", data: "first line\n\n two spaces"),
        Got(name: "", data: ""),
        Got(name: "", data: "[DONE]"),
    ]

    func testEveryLineEndingWholeByteByByteAndRandomSplits() {
        var rng = SeededRandom(seed: 42)
        for ending in ["\n", "\r\n", "\r"] {
            let bytes = Array(Self.lines.map { $0 + ending }.joined().utf8)
            XCTAssertEqual(collect([bytes]), Self.expected, "whole, ending \(ending.debugDescription)")
            XCTAssertEqual(collect(bytes.map { [$0] }), Self.expected, "byte by byte, ending \(ending.debugDescription)")
            for _ in 0..<300 {
                XCTAssertEqual(collect(randomSplits(bytes, &rng)), Self.expected, "random, ending \(ending.debugDescription)")
            }
        }
    }

    func testMixedLineEndingsAndCRLFSplitAcrossFeeds() {
        let s1 = Array("data: a\r".utf8), s2 = Array("\ndata: b\r\n\r".utf8), s3 = Array("\n\ndata: c\n\n".utf8)
        // "\r" | "\n" is one line end; "\r\n\r" | "\n" is end + blank line; the extra "\n" after
        // it is another blank line, which dispatches nothing (no data yet).
        XCTAssertEqual(collect([s1, s2, s3]), [Got(name: "", data: "a\nb"), Got(name: "", data: "c")])
        XCTAssertEqual(collect([Array("data: x\r\rdata: y\n\r\n".utf8)]), [Got(name: "", data: "x"), Got(name: "", data: "y")])
    }

    func testUnterminatedEventOnlyOnFinish() {
        let bytes = Array("event: e\ndata: tail".utf8)
        XCTAssertEqual(collect([bytes]), [])
        XCTAssertEqual(collect([bytes], finish: true), [Got(name: "e", data: "tail")])
        XCTAssertEqual(collect([Array("data: z\n".utf8)], finish: true), [Got(name: "", data: "z")])
    }

    func testOversizeEventIsReportedSkippedAndBounded() {
        let cap = 1 << 20
        var stream = Array("event: big\n".utf8)
        // 3 MiB of data in 64 KiB lines, then a normal event.
        let line = Array(("data: " + String(repeating: "x", count: 64 * 1024) + "\n").utf8)
        for _ in 0..<48 { stream += line }
        stream += Array("\nevent: small\ndata: ok\n\n".utf8)
        var maxBuffered = 0
        let pieces = stride(from: 0, to: stream.count, by: 1000).map { Array(stream[$0..<min(stream.count, $0 + 1000)]) }
        let got = collect(pieces, cap: cap, maxBuffered: &maxBuffered)
        XCTAssertEqual(got, [Got(name: "big", data: "", tooLarge: true), Got(name: "small", data: "ok")])
        XCTAssertLessThanOrEqual(maxBuffered, cap)
    }

    func testOneHugeLineInOneFeedOrManyIsBounded() {
        let cap = 4096
        let huge = Array(("data: " + String(repeating: "y", count: 100_000) + "\n\ndata: after\n\n").utf8)
        XCTAssertEqual(collect([huge], cap: cap), [Got(name: "", data: "", tooLarge: true), Got(name: "", data: "after")])
        var maxBuffered = 0
        var rng = SeededRandom(seed: 9)
        let got = collect(randomSplits(huge, &rng, maxPiece: 700), cap: cap, maxBuffered: &maxBuffered)
        XCTAssertEqual(got, [Got(name: "", data: "", tooLarge: true), Got(name: "", data: "after")])
        XCTAssertLessThanOrEqual(maxBuffered, cap)
    }

    func testEventJustUnderTheCapIsDelivered() {
        let cap = 1024
        let payload = String(repeating: "z", count: 1000)
        let got = collect([Array("data: \(payload)\n\n".utf8)], cap: cap)
        XCTAssertEqual(got, [Got(name: "", data: payload)])
    }
}
