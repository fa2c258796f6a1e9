import Foundation
import Glibc
import XCTest

/// The hostile-upstream campaign (issue 10): channel 1 sends whatever bytes the case
/// scripts, channel 2 is a healthy mock. For every case ccload stays up, the client gets
/// a failover before the commit point or a visibly broken answer after it (never a hang,
/// never a truncated answer that looks whole), the record says which, no fd leaks and no
/// secret shows.
final class HostileUpstreamTests: HostileCase {
    /// What one cut produced, by offset class.
    private struct CutTally: CustomStringConvertible {
        var offsets = 0, failovers = 0, broken = 0, whole = 0
        var description: String { "\(offsets) offsets: \(failovers) failovers, \(broken) broken after commit, \(whole) whole" }
    }

    private func ask(_ ccload: CcloadProcess, _ d: ClientDialect, stream: Bool) throws -> HTTPResponse {
        let r = try ccload.post(d.path, d.body(stream), headers: [authHeader], timeout: 15)
        keep(r)
        return r
    }

    /// The healthy mock's answer in any protocol: whole, its tokens, no error event.
    private func isHealthy(_ r: HTTPResponse, _ d: ClientDialect) -> Bool {
        r.status == 200 && r.complete && !r.bodyText.contains("hostile-token") && !d.hasErrorEvent(r)
            && (r.bodyText.contains("token0 ") || r.bodyText.contains("msg_mock"))
    }

    /// Cuts `canned` after every `step`-th byte offset (0 through its full length) with
    /// `ending`, one request per offset on one ccload, and checks each outcome.
    private func cutEverywhere(_ ccload: CcloadProcess, _ hostile: HostileUpstream, _ canned: (bytes: [UInt8], commitAt: Int),
                               _ dialect: ClientDialect = .anthropic, stream: Bool, ending: HostileUpstream.Ending, step: Int = 1) throws -> CutTally {
        var tally = CutTally()
        var last = try newestRecordID(ccload)
        let n = canned.bytes.count
        var offsets = Array(stride(from: 0, to: n, by: step))
        // The boundaries always: just before and at the commit point, the full answer.
        offsets += [canned.commitAt - 1, canned.commitAt, n - 1, n]
        for offset in Set(offsets).sorted() where offset >= 0 {
            hostile.set(.init(bytes: canned.bytes, cut: offset, ending: ending))
            let context = "cut at \(offset)/\(n) (commit at \(canned.commitAt)) by \(ending), stream \(stream)"
            let r: HTTPResponse
            do { r = try ask(ccload, dialect, stream: stream) } catch {
                XCTFail("\(context): \(error)")
                assertUp(ccload, context)
                throw error
            }
            let rec = try recordAfter(ccload, last)
            last = rec["id"] as? Int ?? last
            tally.offsets += 1
            // A failed try cooled channel 1: the next offset must reach it again.
            if !(rec["attempts"] as? [Any] ?? []).isEmpty { try clearCooldowns(ccload) }
            let attempts = rec["attempts"] as? [[String: Any]] ?? []
            let error = rec["error"] as? String
            let hostileBody = r.bodyText.contains("hostile-token")
            if offset == n {
                // The whole answer: passed on as it came.
                XCTAssertEqual(r.status, 200, context)
                XCTAssertTrue(r.complete && hostileBody && !dialect.hasErrorEvent(r), "\(context): \(r.bodyText)")
                XCTAssertEqual(rec["channel_id"] as? Int, 1, "\(context): \(rec)")
                XCTAssertNil(error, "\(context): \(rec)")
                tally.whole += 1
            } else if isHealthy(r, dialect) {
                // A failover: only possible before the commit point (an RST may drop bytes
                // ccload had not read, so it can fail over later than a FIN would).
                XCTAssertTrue(offset < canned.commitAt || ending == .reset, "\(context): failed over after the commit point")
                XCTAssertEqual(rec["channel_id"] as? Int, 2, "\(context): \(rec)")
                XCTAssertEqual(rec["status"] as? Int, 200, "\(context): \(rec)")
                XCTAssertEqual(attempts.first?["channel_id"] as? Int, 1, "\(context): the failed try is not recorded: \(rec)")
                XCTAssertNotNil(attempts.first?["failure"] as? String, "\(context): \(rec)")
                tally.failovers += 1
            } else {
                // Committed, then cut: the client must see that the answer broke.
                XCTAssertGreaterThanOrEqual(offset, canned.commitAt, "\(context): no failover before the commit point: \(r.status) \(r.bodyText)")
                XCTAssertEqual(r.status, 200, "\(context): \(r.bodyText)")
                XCTAssertTrue(hostileBody || !stream, "\(context): \(r.bodyText)")
                if stream && dialect.errorEvent != nil {
                    XCTAssertTrue(dialect.hasErrorEvent(r), "\(context): a cut stream ended without an error event: \(r.bodyText)")
                } else {
                    XCTAssertFalse(r.complete, "\(context): a cut body passed for a whole one: \(r.bodyText)")
                }
                XCTAssertEqual(rec["channel_id"] as? Int, 1, "\(context): \(rec)")
                XCTAssertNotNil(error, "\(context): the record does not say the answer broke: \(rec)")
                tally.broken += 1
            }
            guard ccload.process.isRunning else {
                XCTFail("ccload died: \(context)")
                break
            }
        }
        return tally
    }

    /// The fd baseline after one whole exchange with each channel (their pooled connections
    /// included).
    private func warmUp(_ ccload: CcloadProcess, _ hostile: HostileUpstream, _ canned: [UInt8], _ d: ClientDialect, stream: Bool) throws -> Int {
        hostile.set(.init(bytes: canned))
        XCTAssertEqual(try ask(ccload, d, stream: stream).status, 200)
        hostile.set(.init(bytes: canned, cut: 0))
        let r = try ask(ccload, d, stream: stream)
        XCTAssertTrue(isHealthy(r, d), "the healthy channel's answer: \(r.bodyText)")
        try clearCooldowns(ccload)
        usleep(100_000)
        return socketCount(ccload.process.pid)
    }

    private func runCutCampaign(_ canned: (bytes: [UInt8], commitAt: Int), _ d: ClientDialect = .anthropic, stream: Bool, label: String) throws {
        let healthy = try startMock()
        let hostile = try startHostile(.init(bytes: canned.bytes))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, proto: d.proto)
        let baseline = try warmUp(ccload, hostile, canned.bytes, d, stream: stream)
        let started = Date()
        let fin = try cutEverywhere(ccload, hostile, canned, d, stream: stream, ending: .close, step: HostileCase.quick)
        let rst = try cutEverywhere(ccload, hostile, canned, d, stream: stream, ending: .reset, step: HostileCase.quick)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(fin.failovers, canned.commitAt, "every FIN cut before the commit point fails over: \(fin)")
        assertUp(ccload, label)
        // Pooled upstream connections may differ by one per channel from the baseline.
        let after = settleFDs(ccload, atMost: baseline + 2)
        XCTAssertLessThanOrEqual(after, baseline + 2, "fds: \(baseline) before, \(after) after \(fin.offsets + rst.offsets) cuts")
        assertNoSecrets(ccload)
        XCTAssertFalse(hostile.requestHeads.contains { $0.contains(HostileCase.clientToken) }, "the client token reached the upstream")
        print("HOSTILE \(label): \(canned.bytes.count) bytes, commit at \(canned.commitAt); FIN \(fin); RST \(rst); "
              + "fds \(baseline) → \(after); \(String(format: "%.1f", seconds)) s")
    }

    func testCutAtEveryOffsetOfAStream() throws {
        try runCutCampaign(CannedResponse.anthropicStream(), stream: true, label: "stream")
    }

    func testCutAtEveryOffsetOfAnOpenAIChatStream() throws {
        try runCutCampaign(CannedResponse.openAIChatStream(), .openai, stream: true, label: "openai chat stream")
    }

    func testCutAtEveryOffsetOfAResponsesStream() throws {
        try runCutCampaign(CannedResponse.responsesStream(), .codex, stream: true, label: "responses stream")
    }

    func testCutAtEveryOffsetOfAGeminiStream() throws {
        try runCutCampaign(CannedResponse.geminiStream(), .gemini, stream: true, label: "gemini stream")
    }

    func testCutAtEveryOffsetOfAMessage() throws {
        try runCutCampaign(CannedResponse.anthropicMessage(), stream: false, label: "message")
    }

    func testCutAtEveryOffsetOfAChunkedMessage() throws {
        try runCutCampaign(CannedResponse.anthropicMessage(chunked: true), stream: false, label: "chunked message")
    }

    /// Every byte in its own write (one read each on ccload's side): the parsers resume at
    /// every boundary and the client gets every byte.
    func testAResponseDrippedByteByByteArrivesWhole() throws {
        let healthy = try startMock()
        let stream = CannedResponse.anthropicStream()
        let hostile = try startHostile(.init(bytes: stream.bytes, dripMicros: 1_000))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        let r = try ask(ccload, stream: true, timeout: 30)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.complete, r.bodyText)
        let events = r.bodyText.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.count, 4, r.bodyText)
        XCTAssertTrue(r.bodyText.contains("\"text\":\"hostile-token\""), r.bodyText)
        let rec = try ccload.waitForRecords(1).first ?? [:]
        XCTAssertEqual(rec["channel_id"] as? Int, 1, "\(rec)")
        XCTAssertEqual(rec["input_tokens"] as? Int, 11, "usage read across one-byte reads: \(rec)")
        XCTAssertEqual(rec["output_tokens"] as? Int, 7, "\(rec)")

        let message = CannedResponse.anthropicMessage(chunked: true)
        hostile.set(.init(bytes: message.bytes, dripMicros: 1_000))
        let m = try ask(ccload, stream: false, timeout: 30)
        XCTAssertEqual(m.status, 200)
        XCTAssertEqual(m.json?["id"] as? String, "msg_hostile", m.bodyText)
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// A head at one byte a second never completes within the first-byte timeout: the try
    /// fails over, and the slow connection is closed rather than kept.
    func testAHeadAtOneByteASecondFailsOverAtTheFirstByteTimeout() throws {
        let healthy = try startMock()
        let canned = CannedResponse.anthropicMessage()
        let hostile = try startHostile(.init(bytes: canned.bytes, dripMicros: 1_000_000))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["first_byte_timeout": 1.5])
        let baseline = socketCount(ccload.process.pid)
        let r = try ask(ccload, stream: false, timeout: 20)
        XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(r.status) \(r.bodyText)")
        let rec = try ccload.waitForRecords(1).first ?? [:]
        XCTAssertEqual(rec["channel_id"] as? Int, 2, "\(rec)")
        let attempts = rec["attempts"] as? [[String: Any]] ?? []
        XCTAssertEqual(attempts.first?["failure"] as? String, "timeout", "\(rec)")
        // The healthy channel's pooled connection is the only new fd.
        let after = settleFDs(ccload, atMost: baseline + 1)
        XCTAssertLessThanOrEqual(after, baseline + 1, "the dripping upstream's connection is still open")
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// A response head of up to 64 KiB is read; a larger one is a failure of that channel.
    func testResponseHeadSizeLimitOnBothSides() throws {
        let healthy = try startMock()
        func head(padding: Int) -> [UInt8] {
            let body = CannedResponse.anthropicMessage().bytes.split(separator: 10, omittingEmptySubsequences: false).last!
            var h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
            var left = padding
            var i = 0
            while left > 0 {
                let v = String(repeating: "x", count: min(left, 4000))
                h += "x-pad-\(i): \(v)\r\n"
                left -= v.count
                i += 1
            }
            return Array((h + "\r\n").utf8) + body
        }
        let hostile = try startHostile(.init(bytes: head(padding: 60_000)))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        let small = try ask(ccload, stream: false)
        XCTAssertEqual(small.json?["id"] as? String, "msg_hostile", "a 60 KB head was refused: \(small.bodyText.prefix(300))")
        var last = try newestRecordID(ccload)
        for padding in [70_000, 1 << 20] {
            hostile.set(.init(bytes: head(padding: padding), cut: head(padding: padding).count))
            let r = try ask(ccload, stream: false)
            try clearCooldowns(ccload)
            XCTAssertTrue(isHealthyAnswer(r, stream: false), "a \(padding)-byte head: \(r.status) \(r.bodyText.prefix(300))")
            let rec = try recordAfter(ccload, last)
            last = rec["id"] as? Int ?? last
            XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.first?["channel_id"] as? Int, 1, "\(rec)")
            assertUp(ccload)
        }
        assertNoSecrets(ccload)
    }

    /// Broken chunk framing: before the commit point a failover, after it an error event.
    func testBadChunkingFailsOverBeforeTheCommitPointAndBreaksTheStreamAfterIt() throws {
        let healthy = try startMock()
        let stream = CannedResponse.anthropicStream()
        let hostile = try startHostile(.init(bytes: stream.bytes))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let headEnd = head.count
        // (name, bytes, whether the chunk's data is well framed and may reach the client)
        let badChunks: [(String, String, Bool)] = [
            ("non-hex size", "zz\r\nhello\r\n", false),
            ("size overflow", "ffffffffffffffffff\r\nhello\r\n", false),
            ("size beyond Int", "8000000000000000\r\nhello\r\n", false),
            ("negative size", "-5\r\nhello\r\n", false),
            ("bare LF size line", "5\nhello\r\n", false),
            ("empty size line", "\r\nhello\r\n", false),
            ("control byte in extension", "5;\u{01}\r\nhello\r\n", false),
            ("missing CRLF after data", "5\r\nhelloXX5\r\nhello\r\n", true),
            ("huge size then close", "7fffffff\r\nhello", true),
        ]
        var last = try newestRecordID(ccload)
        var cases = 0
        for (name, bad, dataIsFramed) in badChunks {
            // Before the commit point: in place of the first chunk.
            hostile.set(.init(bytes: head + Array(bad.utf8), cut: headEnd + bad.utf8.count))
            let r = try ask(ccload, stream: true)
            try clearCooldowns(ccload)
            XCTAssertTrue(isHealthyAnswer(r, stream: true), "\(name) before commit: \(r.status) \(r.bodyText)")
            var rec = try recordAfter(ccload, last)
            last = rec["id"] as? Int ?? last
            XCTAssertEqual(rec["channel_id"] as? Int, 2, "\(name): \(rec)")
            XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.first?["channel_id"] as? Int, 1, "\(name): \(rec)")
            // After it: right after the content event.
            let prefix = Array(stream.bytes[0..<stream.commitAt]) + [13, 10]
            hostile.set(.init(bytes: prefix + Array(bad.utf8), cut: prefix.count + bad.utf8.count, pause: (prefix.count, 50_000)))
            let s = try ask(ccload, stream: true)
            try clearCooldowns(ccload)
            XCTAssertEqual(s.status, 200)
            XCTAssertTrue(s.bodyText.contains("hostile-token"), "\(name) after commit: \(s.bodyText)")
            XCTAssertTrue(s.bodyText.contains("event: error"), "\(name) after commit: no error event: \(s.bodyText)")
            if !dataIsFramed {
                XCTAssertFalse(s.bodyText.contains("hello"), "\(name): bytes of a bad chunk reached the client: \(s.bodyText)")
            }
            rec = try recordAfter(ccload, last)
            last = rec["id"] as? Int ?? last
            XCTAssertEqual(rec["channel_id"] as? Int, 1, "\(name): \(rec)")
            XCTAssertNotNil(rec["error"] as? String, "\(name): \(rec)")
            assertUp(ccload, name)
            cases += 2
        }
        assertNoSecrets(ccload)
        print("HOSTILE bad chunking: \(cases) cases")
    }

    /// Heads whose framing is ambiguous or broken are a failure of the channel.
    func testBadFramingHeadsFailOver() throws {
        let healthy = try startMock()
        let body = #"{"id":"msg_hostile","type":"message","content":[]}"#
        let heads = [
            "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\nContent-Length: \(body.count + 5)\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: \(body.count)\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\nContent-Length: \(body.count)\r\n\r\n",
            "HTTP/1.1 20 OK\r\nContent-Length: \(body.count)\r\n\r\n",
            "HTTP/9.9 200 OK\r\nContent-Length: \(body.count)\r\n\r\n",
            "\r\n\r\n",
        ]
        let hostile = try startHostile(.init(bytes: []))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        var last = try newestRecordID(ccload)
        for h in heads {
            let bytes = Array((h + body).utf8)
            hostile.set(.init(bytes: bytes, cut: bytes.count))
            let r = try ask(ccload, stream: false)
            try clearCooldowns(ccload)
            XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(h.debugDescription): \(r.status) \(r.bodyText.prefix(200))")
            let rec = try recordAfter(ccload, last)
            last = rec["id"] as? Int ?? last
            XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.first?["channel_id"] as? Int, 1, "\(h.debugDescription): \(rec)")
            assertUp(ccload, h.debugDescription)
        }
        assertNoSecrets(ccload)
    }

    /// A few interim responses before the answer are skipped (the other side of the 1xx
    /// flood limit): the client sees only the final answer.
    func testAFewInterimResponsesBeforeTheAnswerAreSkipped() throws {
        let healthy = try startMock()
        let interim = Array("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n".utf8)
        let hostile = try startHostile(.init(bytes: interim + CannedResponse.anthropicStream().bytes))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        for stream in [true, false] {
            let canned = stream ? CannedResponse.anthropicStream().bytes : CannedResponse.anthropicMessage().bytes
            hostile.set(.init(bytes: interim + canned))
            let c = try ccload.connect()
            try c.send(messagesRequest(headers: [authHeader], body: anthropicBody(stream: stream)))
            let r = try c.readResponse(timeout: 10)
            keep(r)
            XCTAssertEqual(r.status, 200, "stream \(stream): \(r.raw.text.prefix(200))")
            XCTAssertTrue(r.complete && r.bodyText.contains("hostile-token"), r.bodyText)
            XCTAssertFalse(r.raw.text.contains("Early Hints") || r.raw.text.contains("Link:"), "an interim response reached the client")
            let rec = try ccload.waitForRecords(1).first ?? [:]
            XCTAssertEqual(rec["channel_id"] as? Int, 1, "\(rec)")
        }
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// Events far larger than the held-stream cap (256 KiB), before and after the commit
    /// point, pass whole; memory stays bounded.
    func testMegabyteEventsPassWhole() throws {
        let healthy = try startMock()
        let pad = String(repeating: "p", count: 3 << 20)
        let events = [
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_hostile\",\"pad\":\"\(pad)\",\"usage\":{\"input_tokens\":11}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hostile-token\(pad)\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ]
        let stream = CannedResponse.eventStream(events, commitIndex: 1)
        let hostile = try startHostile(.init(bytes: stream.bytes))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        let rss0 = rssKiB(ccload.process.pid)
        for _ in 0..<3 {
            let r = try ask(ccload, stream: true, timeout: 30)
            XCTAssertEqual(r.status, 200)
            XCTAssertTrue(r.complete, "the stream did not end")
            XCTAssertEqual(r.body.count, events.joined().utf8.count, "bytes lost or added")
            XCTAssertTrue(r.bodyText.hasSuffix("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
            XCTAssertFalse(r.bodyText.contains("event: error"))
        }
        let rec = try ccload.waitForRecords(3).first ?? [:]
        XCTAssertEqual(rec["output_tokens"] as? Int, 7, "usage after megabyte events: \(rec)")
        let rss = rssKiB(ccload.process.pid)
        XCTAssertLessThan(rss - rss0, 64 * 1024, "ccload grew \(rss0) → \(rss) KiB passing 3 MB events")
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// An upstream that answers before it read the request body (and then resets, having
    /// left the body unread) gives the client that answer or a failover, never a hang.
    func testAnAnswerBeforeTheRequestBodyIsReadIsNoHang() throws {
        let healthy = try startMock()
        let error = #"{"type":"error","error":{"type":"request_too_large","message":"too big"}}"#
        let tooLarge = Array("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: \(error.utf8.count)\r\nConnection: close\r\n\r\n\(error)".utf8)
        let hostile = try startHostile(.init(bytes: tooLarge, cut: tooLarge.count, answerBeforeBody: true))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        let big = String(repeating: "x", count: 4 << 20)
        var outcomes: [Int: Int] = [:]
        for _ in 0..<5 {
            let body = #"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"\#(big)"}]}"#
            let r = try ccload.post("/v1/messages", body, headers: [authHeader], timeout: 20)
            keep(r)
            XCTAssertTrue(r.status == 413 || isHealthyAnswer(r, stream: false), "\(r.status) \(r.bodyText.prefix(200))")
            outcomes[r.status, default: 0] += 1
            try clearCooldowns(ccload)
        }
        assertUp(ccload)
        assertNoSecrets(ccload)
        print("HOSTILE early answer to a 4 MiB body: \(outcomes)")
    }

    /// Odd but parseable heads: thousands of fields, obs-fold, a bare reason phrase. The
    /// client gets either a failover or an answer whose head is clean (no folded line,
    /// every line `name: value`), never a hang.
    func testOddResponseHeadsGiveACleanHeadOrAFailover() throws {
        let healthy = try startMock()
        let message = CannedResponse.anthropicMessage()
        let body = Array(message.bytes[message.commitAt...])
        func head(_ fields: String, status: String = "200 OK") -> [UInt8] {
            Array("HTTP/1.1 \(status)\r\nContent-Type: application/json\r\n\(fields)Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        let many = (0..<8000).map { "a\($0): b\r\n" }.joined()
        let cases: [(String, [UInt8])] = [
            ("8000 fields", head(many)),
            ("8000 Connection tokens", head("Connection: " + (0..<8000).map { "x\($0)" }.joined(separator: ",") + "\r\n")),
            ("obs-fold", head("X-Folded: a\r\n b\r\n")),
            ("no reason", head("", status: "200")),
            ("empty field value", head("X-Empty:\r\n")),
        ]
        let hostile = try startHostile(.init(bytes: []))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy)
        for (name, bytes) in cases {
            hostile.set(.init(bytes: bytes, cut: bytes.count))
            let c = try ccload.connect()
            try c.send(messagesRequest(headers: [authHeader], body: anthropicBody(stream: false)))
            let r = try c.readResponse(timeout: 15)
            keep(r)
            XCTAssertEqual(r.status, 200, name)
            let lines = r.headBytes.text.components(separatedBy: "\r\n").dropFirst().filter { !$0.isEmpty }
            for l in lines {
                XCTAssertFalse(l.hasPrefix(" ") || l.hasPrefix("\t"), "\(name): a folded line reached the client: \(l)")
                XCTAssertTrue(l.contains(":"), "\(name): not a field line: \(l)")
            }
            XCTAssertTrue(r.complete, "\(name): \(r.bodyText)")
            try clearCooldowns(ccload)
            assertUp(ccload, name)
        }
        assertNoSecrets(ccload)
    }

    /// Issue 10 item 1: an absurd retry-after / reset from a 429 cools the channel for at most the
    /// explicit maximum (6 h) and never takes the process down.
    func testAbsurdRetryAfterValuesFailOverAndCcloadStaysUp() throws {
        let healthy = try startMock()
        let hostile = try startHostile(.init(bytes: []))
        let start = { try self.startHostileRelay(hostileURL: hostile.url, healthy: healthy) }
        var ccload = try start()
        let body = #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        let values = [
            "retry-after: Fri, 01 Jan 2700 00:00:00 GMT",
            "retry-after: Fri, 31 Dec 9999 23:59:59 GMT",
            "retry-after: 99999999999999999999",
            "retry-after: 9223372036854775807",
            "retry-after: 18446744073709551615",
            "retry-after: 1e300",
            "retry-after: -5",
            "retry-after: Thu, 01 Jan 1970 00:00:00 GMT",
            "anthropic-ratelimit-unified-reset: 99999999999999",
            "anthropic-ratelimit-unified-reset: 9223372036854775807",
            "anthropic-ratelimit-unified-reset: -9223372036854775808",
            "anthropic-ratelimit-unified-reset: 2700-01-01T00:00:00Z",
        ]
        var crashed: [String] = []
        for v in values {
            let bytes = Array("HTTP/1.1 429 Too Many Requests\r\n\(v)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            hostile.set(.init(bytes: bytes, cut: bytes.count))
            if let c = try survive(&ccload, v, restart: start, { ccload in
                let last = try newestRecordID(ccload)
                let r = try ask(ccload, stream: false)
                XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(v): \(r.status) \(r.bodyText)")
                let rec = try recordAfter(ccload, last)
                XCTAssertEqual((rec["attempts"] as? [[String: Any]])?.first?["failure"] as? String, "rate_limit", "\(v): \(rec)")
                for c in try ccload.cooldowns() where (c["scope"] as? String ?? "").hasPrefix("channel 1") {
                    let ms = c["remaining_ms"] as? Int ?? -1
                    XCTAssertTrue((0...(6 * 3600 * 1000)).contains(ms), "\(v): cooldown \(ms) ms is outside [0, 6 h]: \(c)")
                }
                try clearCooldowns(ccload)
            }) { crashed.append(c) }
        }
        XCTAssertTrue(crashed.isEmpty, "ccload died on these 429 answers:\n" + crashed.joined(separator: "\n"))
        assertUp(ccload)
        assertNoSecrets(ccload)
    }

    /// Issue 10 item 1 (arithmetic on upstream numbers saturates): usage fields that are huge,
    /// negative or not integers leave the answer intact and the record sane (no negative
    /// tokens or cost), and never trap.
    func testHostileUsageNumbersKeepCcloadUpAndTheRecordSane() throws {
        let max = "9223372036854775807", min = "-9223372036854775807"
        // Anthropic (input in message_start, message_delta usage); the last two land
        // Σ tokens × price within 500,000 of Int.max for claude-sonnet-4-5 ($3 input, $15
        // output, $0.30 cache read per M), where Pricing.cost rounds with `sum + 500_000`.
        let anthropic: [(String, String)] = [
            ("1e300", #"{"output_tokens":1e300}"#),
            ("-5", #"{"output_tokens":-5}"#),
            ("99999999999999999999", #"{"output_tokens":99999999999999999999}"#),
            (min, #"{"output_tokens":\#(min)}"#),
            (max, #"{"output_tokens":\#(max)}"#),
            (max, #"{"output_tokens":1,"cache_read_input_tokens":\#(max),"cache_creation_input_tokens":\#(max)}"#),
            ("0", #"{"output_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":\#(max),"ephemeral_1h_input_tokens":\#(max)}}"#),
            ("3074457345618", #"{"output_tokens":0,"cache_read_input_tokens":1}"#),
            // The same with every count below 2^40: 614891469123 × $15 + 31 × $0.30 per M.
            ("0", #"{"output_tokens":614891469123,"cache_read_input_tokens":31}"#),
        ]
        var answers: [(label: String, stream: Bool, bytes: [UInt8], dialect: String)] = []
        for (input, usage) in anthropic {
            answers.append(("anthropic input \(input) usage \(usage)", true,
                            CannedResponse.anthropicStream(inputTokens: input, usage: usage).bytes, "anthropic"))
            answers.append(("anthropic input \(input) usage \(usage)", false,
                            CannedResponse.anthropicMessage(usage: usage.replacingOccurrences(of: "{", with: "{\"input_tokens\":\(input),", options: .anchored)).bytes, "anthropic"))
        }
        // OpenAI chat and Responses: cached beyond the prompt, and the extremes.
        for usage in [#"{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}"#,
                      #"{"prompt_tokens":\#(min),"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}"#,
                      #"{"prompt_tokens":\#(max),"completion_tokens":\#(max)}"#] {
            answers.append(("openai usage \(usage)", true, CannedResponse.openAIChatStream(usage: usage).bytes, "openai"))
        }
        for usage in [#"{"input_tokens":5,"output_tokens":1,"input_tokens_details":{"cached_tokens":9}}"#,
                      #"{"input_tokens":\#(min),"output_tokens":1,"input_tokens_details":{"cached_tokens":9}}"#,
                      #"{"input_tokens":\#(max),"output_tokens":\#(max)}"#] {
            answers.append(("responses usage \(usage)", true, CannedResponse.responsesStream(usage: usage).bytes, "codex"))
        }
        let healthy = try startMock()
        let hostile = try startHostile(.init(bytes: []))
        var crashed: [String] = []
        for proto in ["anthropic", "openai", "codex"] {
            let start = { try self.startHostileRelay(hostileURL: hostile.url, healthy: healthy, proto: proto) }
            var ccload = try start()
            let d: ClientDialect = proto == "anthropic" ? .anthropic : proto == "openai" ? .openai : .codex
            for a in answers where a.dialect == proto {
                hostile.set(.init(bytes: a.bytes))
                let context = "\(a.label), stream \(a.stream)"
                // Twice: a sum that only overflows once it adds to an earlier request's.
                for round in 0..<2 {
                    if let c = try survive(&ccload, "\(context), round \(round)", restart: start, { ccload in
                        let last = try newestRecordID(ccload)
                        let r = try ccload.post(d.path, d.body(a.stream), headers: [authHeader], timeout: 15)
                        keep(r)
                        XCTAssertEqual(r.status, 200, context)
                        XCTAssertTrue(r.complete && r.bodyText.contains("hostile-token"), "\(context): \(r.bodyText)")
                        XCTAssertFalse(d.hasErrorEvent(r), "\(context): \(r.bodyText)")
                        let rec = try recordAfter(ccload, last)
                        for key in ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write5m_tokens", "cache_write1h_tokens", "cost_micro_usd"] {
                            XCTAssertGreaterThanOrEqual(rec[key] as? Int ?? -1, 0, "\(context): \(key) in \(rec)")
                        }
                        let stats = try ccload.get("/admin/stats", headers: ["Authorization: Bearer \(try ccload.adminToken())"])
                        XCTAssertEqual(stats.status, 200, "\(context): /admin/stats \(stats.bodyText)")
                    }) {
                        crashed.append(c)
                        break
                    }
                }
            }
            assertUp(ccload)
            assertNoSecrets(ccload)
        }
        XCTAssertTrue(crashed.isEmpty, "ccload died on these usage numbers:\n" + crashed.joined(separator: "\n"))
    }

    /// A stream cut in the middle of an event (once got the error event glued to the partial
    /// event, `data: {"type":"message_delevent: error…`: one garbled event and no error for
    /// the client's SSE parser). After the commit point every event the client receives is
    /// whole, and the error event is an event of its own.
    func testACutMidEventStillGivesTheClientWholeEventsAndAnErrorEvent() throws {
        let healthy = try startMock()
        let hostile = try startHostile(.init(bytes: []))
        var garbled: [String] = []
        let cases: [(ClientDialect, (bytes: [UInt8], commitAt: Int), String)] = [
            (.anthropic, CannedResponse.anthropicStream(), "error"),
            (.openai, CannedResponse.openAIChatStream(), "message"),
            (.codex, CannedResponse.responsesStream(), "response.failed"),
        ]
        for (d, canned, errorName) in cases {
            let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, proto: d.proto)
            var bad: [Int] = []
            for offset in stride(from: canned.commitAt, to: canned.bytes.count - 5, by: HostileCase.quick) {
                hostile.set(.init(bytes: canned.bytes, cut: offset))
                let r = try ccload.post(d.path, d.body(true), headers: [authHeader], timeout: 15)
                keep(r)
                let events = SSEParse.events(r.bodyText)
                // OpenAI's `[DONE]` sentinel is a whole event that is not JSON.
                let whole = events.allSatisfy { $0.data == "[DONE]" || (try? JSONSerialization.jsonObject(with: Data($0.data.utf8))) != nil }
                let last = events.last
                if !whole || last?.name != errorName || !(last?.data.contains("\"error\"") ?? false) { bad.append(offset) }
            }
            if !bad.isEmpty { garbled.append("\(d.proto): \(bad.count) cuts, e.g. at \(bad.prefix(5)) of \(canned.bytes.count)") }
            assertUp(ccload)
        }
        XCTAssertEqual(garbled, [], "cuts after which the client's stream had a garbled event or no separate error event")
    }

    /// Sibling of item 4, before the commit point: an error answer whose body trickles
    /// without end was held to be classified until it ended, so the client waited as long
    /// as the upstream liked (the first-byte timer stopped at the head; an idle timeout
    /// never fires while bytes trickle). The first-byte timeout bounds the whole time
    /// before the commit point: it fails over within it.
    func testAnErrorBodyThatTricklesForeverFailsOverInBoundedTime() throws {
        let healthy = try startMock()
        var bytes = Array("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for _ in 0..<3000 { bytes += Array("1\r\n \r\n".utf8) }
        let hostile = try startHostile(.init(bytes: bytes, dripMicros: 2_000))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["first_byte_timeout": 2])
        let started = Date()
        let r = try ask(ccload, stream: false, timeout: 8)
        XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(r.status) \(r.bodyText.prefix(200))")
        print("HOSTILE trickling 500 body: answered after \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        assertUp(ccload)
    }

    /// A 200 event stream of `count` keep-alives (`: ping` comments and `event: ping`), one a chunk.
    static func pingsOnly(_ count: Int) -> [UInt8] {
        var bytes = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        let ping = ": ping\n\n", event = "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        for i in 0..<count {
            let e = i % 2 == 0 ? ping : event
            bytes += Array((String(e.utf8.count, radix: 16) + "\r\n" + e + "\r\n").utf8)
        }
        return bytes
    }

    /// Item 4 (the optional keep-alive rule), before the commit point: a 200 stream that
    /// sends only keep-alives fails over at the keep-alive timeout.
    func testAStreamOfOnlyPingsBeforeContentFailsOver() throws {
        let healthy = try startMock()
        let hostile = try startHostile(.init(bytes: Self.pingsOnly(200), dripMicros: 1_000))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["first_byte_timeout": 2],
                                           ["CCLOAD_KEEPALIVE_STALL": "1", "CCLOAD_KEEPALIVE_ONLY_TIMEOUT": "1"])
        let r = try ask(ccload, stream: true, timeout: 8)
        XCTAssertTrue(isHealthyAnswer(r, stream: true), "\(r.status) \(r.bodyText.prefix(300))")
        assertUp(ccload)
    }

    /// A 200 stream that sends only keep-alives, with the keep-alive rule off (the default):
    /// it never commits, and once held the client got no byte for as long as the pings
    /// lasted (then a 200 of pings only). It fails over within the first-byte timeout.
    func testAStreamOfOnlyPingsBeforeContentFailsOverAtTheFirstByteTimeoutByDefault() throws {
        let healthy = try startMock()
        // About 14 s of pings, a byte a millisecond.
        let hostile = try startHostile(.init(bytes: Self.pingsOnly(500), dripMicros: 1_000))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["first_byte_timeout": 2])
        let last = try newestRecordID(ccload)
        let r = try ask(ccload, stream: true, timeout: 10)
        XCTAssertTrue(isHealthyAnswer(r, stream: true), "\(r.status) \(r.bodyText.prefix(300))")
        let rec = try recordAfter(ccload, last)
        XCTAssertTrue((rec["error"] as? String ?? "").isEmpty, "\(rec)")
        let attempts = rec["attempts"] as? [[String: Any]] ?? []
        XCTAssertEqual(attempts.first?["channel_id"] as? Int, 1, "\(rec)")
        XCTAssertEqual(attempts.first?["failure"] as? String, "timeout", "\(rec)")
        assertUp(ccload)
    }

    /// An error answer is classified once 64 KiB of it are held, however long the rest
    /// would take (the first-byte timeout here is long), and that connection is closed,
    /// not pooled: its unread rest would be taken for the next answer.
    func testAnErrorBodyOver64KiBIsClassifiedAtOnceAndItsConnectionClosed() throws {
        let healthy = try startMock()
        let head = Array("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n".utf8)
        let bytes = head + [UInt8](repeating: UInt8(ascii: " "), count: 70 * 1024)
        let hostile = try startHostile(.init(bytes: bytes, cut: bytes.count, ending: .silence, silenceSeconds: 60))
        let ccload = try startHostileRelay(hostileURL: hostile.url, healthy: healthy, hostileExtra: ["first_byte_timeout": 60])
        let baseline = socketCount(ccload.process.pid)
        let r = try ask(ccload, stream: false, timeout: 20)
        XCTAssertTrue(isHealthyAnswer(r, stream: false), "\(r.status) \(r.bodyText.prefix(200))")
        let rec = try ccload.waitForRecords(1).first ?? [:]
        let attempts = rec["attempts"] as? [[String: Any]] ?? []
        XCTAssertEqual(attempts.first?["status"] as? Int, 500, "\(rec)")
        // The healthy channel's connection may stay pooled; the hostile one must be gone.
        XCTAssertLessThanOrEqual(settleFDs(ccload, atMost: baseline + 1), baseline + 1, "the held 500's connection is still open")
        assertUp(ccload)
    }
}
