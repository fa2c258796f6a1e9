import XCTest
import Reactor
@testable import Proxy

/// The stall clock of a response after its head, and the settings that drive it.
final class StallWatchTests: XCTestCase {
    let s = nanosPerSecond

    func testIdleDeadlineMovesWithReadsButTheTimerOnlyWhenItFires() {
        var w = StallWatch(idleNanos: 10 * s, keepAliveOnlyNanos: 0)
        XCTAssertEqual(w.start(now: 100 * s, eventStream: true), 110 * s)
        w.read(now: 105 * s)
        // The timer fires at the first deadline: not stalled, look again at the moved one.
        XCTAssertEqual(w.check(now: 110 * s, paused: false), .wait(until: 115 * s))
        XCTAssertEqual(w.check(now: 115 * s - 1, paused: false), .wait(until: 115 * s))
        XCTAssertEqual(w.check(now: 115 * s, paused: false), .idle)
    }

    func testPausedUpstreamNeverCountsAsIdle() {
        var w = StallWatch(idleNanos: 10 * s, keepAliveOnlyNanos: 0)
        _ = w.start(now: 0, eventStream: false)
        // The client is congested: the upstream is not read, which is not the upstream's stall.
        XCTAssertEqual(w.check(now: 50 * s, paused: true), .wait(until: 60 * s))
        XCTAssertEqual(w.check(now: 60 * s, paused: false), .idle)
    }

    func testKeepAlivesOnlyIsAStallWhenTurnedOn() {
        var w = StallWatch(idleNanos: 100 * s, keepAliveOnlyNanos: 5 * s)
        XCTAssertEqual(w.start(now: 0, eventStream: true), 5 * s)
        let ping = Array("event: ping\ndata: {\"type\": \"ping\"}\n\n: keep-alive\n\n".utf8)
        let delta = Array("event: content_block_delta\ndata: {\"type\":\"content_block_delta\"}\n\n".utf8)
        w.read(now: 3 * s)
        ping.withUnsafeBytes { w.data($0, now: 3 * s) }
        XCTAssertEqual(w.check(now: 5 * s, paused: false), .keepAliveOnly)
        delta.withUnsafeBytes { w.data($0, now: 5 * s) }
        XCTAssertEqual(w.check(now: 5 * s, paused: false), .wait(until: 10 * s))
        // An event split across reads counts when it completes.
        let half = delta.count / 2
        Array(delta[..<half]).withUnsafeBytes { w.data($0, now: 8 * s) }
        XCTAssertEqual(w.check(now: 10 * s, paused: false), .keepAliveOnly)
        Array(delta[half...]).withUnsafeBytes { w.data($0, now: 9 * s) }
        XCTAssertEqual(w.check(now: 10 * s, paused: false), .wait(until: 14 * s))
    }

    func testKeepAliveCheckIsOffByDefaultAndForNonStreams() {
        var off = StallWatch(idleNanos: 10 * s, keepAliveOnlyNanos: 0)
        _ = off.start(now: 0, eventStream: true)
        XCTAssertEqual(off.check(now: 9 * s, paused: false), .wait(until: 10 * s))
        var json = StallWatch(idleNanos: 10 * s, keepAliveOnlyNanos: 1 * s)
        XCTAssertEqual(json.start(now: 0, eventStream: false), 10 * s)
        XCTAssertEqual(json.check(now: 9 * s, paused: false), .wait(until: 10 * s))
    }

    func testPingEventsAreKeepAlives() {
        XCTAssertTrue(StallWatch.isKeepAlive(SSEEvent(name: Array("ping".utf8)[...], data: Array("{}".utf8)[...])))
        XCTAssertTrue(StallWatch.isKeepAlive(SSEEvent(name: [], data: Array(#"{"type":"ping"}"#.utf8)[...])))
        XCTAssertFalse(StallWatch.isKeepAlive(SSEEvent(name: [], data: Array(#"{"choices":[]}"#.utf8)[...])))
        XCTAssertFalse(StallWatch.isKeepAlive(SSEEvent(name: Array("message_start".utf8)[...], data: Array("{}".utf8)[...])))
    }

    func testStreamTimeoutSettingsOnBothSidesOfTheirBounds() throws {
        let d = try RuntimeSettings(values: [:]).stream
        XCTAssertEqual(d.upstreamIdleNanos, 300 * s)
        XCTAssertEqual(d.keepAliveOnlyNanos, 0)
        XCTAssertEqual(d.clientWriteNanos, 60 * s)
        for (key, ok, bad) in [("upstream_idle_timeout_seconds", ["1", "3600"], ["0.99", "3600.5", "1e300", "nan"]),
                               ("keepalive_only_timeout_seconds", ["1", "3600"], ["0.99", "3601"]),
                               ("keepalive_stall", ["true", "false"], ["1", "yes"]),
                               ("client_write_timeout_seconds", ["1", "3600"], ["0", "3601"])] {
            for v in ok { XCTAssertNoThrow(try RuntimeSettings(values: [key: v]), "\(key)=\(v)") }
            for v in bad { XCTAssertThrowsError(try RuntimeSettings(values: [key: v]), "\(key)=\(v)") }
        }
        XCTAssertEqual(try RuntimeSettings(values: ["keepalive_only_timeout_seconds": "7"]).stream.keepAliveOnlyNanos, 0,
                       "the keep-alive check is off until keepalive_stall is on")
        let set = try RuntimeSettings(values: ["upstream_idle_timeout_seconds": "2.5", "keepalive_only_timeout_seconds": "7",
                                               "keepalive_stall": "true", "client_write_timeout_seconds": "3"]).stream
        XCTAssertEqual(set.upstreamIdleNanos, 2_500_000_000)
        XCTAssertEqual(set.keepAliveOnlyNanos, 7 * s)
        XCTAssertEqual(set.clientWriteNanos, 3 * s)
    }
}
