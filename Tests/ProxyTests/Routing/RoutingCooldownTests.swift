import Reactor
import XCTest

@testable import Proxy

final class RoutingCooldownTests: XCTestCase {
    let s = nanosPerSecond
    let t0: UInt64 = 1_000 * nanosPerSecond

    func testFirstDurationByClass() {
        let expected: [(FailureClass, UInt64)] = [
            (.auth, 300), (.server, 120), (.timeout, 60), (.rateLimit, 60), (.connection, 120), (.notFound, 300),
        ]
        for (c, secs) in expected {
            let book = CooldownBook()
            let until = book.record(failure: c, scope: .channel(1), now: t0)
            XCTAssertEqual(until - t0, secs * s, "\(c)")
            XCTAssertEqual(book.remaining(.channel(1), now: t0), secs * s)
        }
    }

    func testDoublesOnConsecutiveFailuresUpToTheMaximum() {
        let book = CooldownBook()
        var now = t0
        var got: [UInt64] = []
        for _ in 0..<7 {
            let until = book.record(failure: .server, scope: .model(channelID: 3, model: "m"), now: now)
            got.append((until - now) / s)
            now = until  // the next failure comes right after the cooldown ends
        }
        XCTAssertEqual(got, [120, 240, 480, 960, 1800, 1800, 1800])
    }

    func testMinimumClamp() {
        var settings = CooldownSettings()
        settings.timeoutNanos = 1 * s
        let book = CooldownBook(settings: settings)
        XCTAssertEqual(book.record(failure: .timeout, scope: .channel(1), now: t0) - t0, 10 * s)
        // The minimum applies to doubled values too: 1, 2, 4, 8 → 10; 16 stays.
        XCTAssertEqual(settings.duration(.timeout, consecutive: 4), 10 * s)
        XCTAssertEqual(settings.duration(.timeout, consecutive: 5), 16 * s)
        XCTAssertEqual(settings.duration(.timeout, consecutive: 500), 1800 * s)
    }

    func testSuccessResets() {
        let book = CooldownBook()
        let scope = CooldownScope.key(channelID: 1, keyIndex: 2)
        var u = book.record(failure: .auth, scope: scope, now: t0)
        u = book.record(failure: .auth, scope: scope, now: u)
        XCTAssertEqual(book.snapshot(now: u).first?.consecutiveFailures, 2)
        book.recordSuccess(scope)
        XCTAssertNil(book.remaining(scope, now: u))
        XCTAssertEqual(book.count, 0)
        XCTAssertEqual(book.record(failure: .auth, scope: scope, now: u + s) - (u + s), 300 * s)
    }

    func testSuccessOfAnAttemptResetsItsThreeScopes() {
        let book = CooldownBook()
        book.record(failure: .server, scope: .channel(1), now: t0)
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 0), now: t0)
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 1), now: t0)
        book.record(failure: .rateLimit, scope: .model(channelID: 1, model: "m"), now: t0)
        book.record(failure: .rateLimit, scope: .model(channelID: 2, model: "m"), now: t0)
        book.recordSuccess(channelID: 1, keyIndex: 0, model: "m")
        XCTAssertNil(book.remaining(.channel(1), now: t0))
        XCTAssertNil(book.remaining(.key(channelID: 1, keyIndex: 0), now: t0))
        XCTAssertNil(book.remaining(.model(channelID: 1, model: "m"), now: t0))
        XCTAssertNotNil(book.remaining(.key(channelID: 1, keyIndex: 1), now: t0))
        XCTAssertNotNil(book.remaining(.model(channelID: 2, model: "m"), now: t0))
        XCTAssertEqual(book.count, 2)
    }

    func testExplicitResetWins() {
        let book = CooldownBook()
        let scope = CooldownScope.model(channelID: 1, model: "m")
        // Longer than computed (60 s) and longer than the computed maximum (30 min).
        XCTAssertEqual(book.record(failure: .rateLimit, scope: scope, now: t0, explicitResetAt: t0 + 7200 * s) - t0, 7200 * s)
        // Shorter than computed and than the computed minimum.
        let b2 = CooldownBook()
        XCTAssertEqual(b2.record(failure: .rateLimit, scope: scope, now: t0, explicitResetAt: t0 + 3 * s) - t0, 3 * s)
        // Clamped to [1 s, 6 h].
        let b3 = CooldownBook()
        XCTAssertEqual(b3.record(failure: .rateLimit, scope: scope, now: t0, explicitResetAt: t0) - t0, 1 * s)
        let b4 = CooldownBook()
        XCTAssertEqual(b4.record(failure: .rateLimit, scope: scope, now: t0, explicitResetAt: t0 + 48 * 3600 * s) - t0, 6 * 3600 * s)
        // It still counts as a failure: the next computed one doubles.
        let b5 = CooldownBook()
        let u = b5.record(failure: .rateLimit, scope: scope, now: t0, explicitResetAt: t0 + 5 * s)
        XCTAssertEqual(b5.record(failure: .rateLimit, scope: scope, now: u) - u, 120 * s)
    }

    func testFailureWhileCoolingDoesNotDoubleButLaterExplicitExtends() {
        let book = CooldownBook()
        let scope = CooldownScope.channel(7)
        let u1 = book.record(failure: .server, scope: scope, now: t0)
        XCTAssertEqual(book.record(failure: .server, scope: scope, now: t0 + 5 * s), u1)
        XCTAssertEqual(book.snapshot(now: t0).first?.consecutiveFailures, 1)
        XCTAssertEqual(book.record(failure: .rateLimit, scope: scope, now: t0 + 5 * s, explicitResetAt: t0 + 600 * s), t0 + 600 * s)
        // An earlier explicit time does not shorten it.
        XCTAssertEqual(book.record(failure: .rateLimit, scope: scope, now: t0 + 6 * s, explicitResetAt: t0 + 60 * s), t0 + 600 * s)
    }

    func testLongHealthyGapForgetsTheCount() {
        let book = CooldownBook()
        let scope = CooldownScope.channel(1)
        let u = book.record(failure: .server, scope: scope, now: t0)
        let later = u + 3601 * s
        XCTAssertEqual(book.record(failure: .server, scope: scope, now: later) - later, 120 * s)
        let u2 = later + 120 * s
        XCTAssertEqual(book.record(failure: .server, scope: scope, now: u2 + 3600 * s) - (u2 + 3600 * s), 240 * s)
    }

    func testRemainingIsPerScopeAndEnds() {
        let book = CooldownBook()
        book.record(failure: .auth, scope: .key(channelID: 1, keyIndex: 0), now: t0)
        XCTAssertNil(book.remaining(.channel(1), now: t0))
        XCTAssertNil(book.remaining(.key(channelID: 1, keyIndex: 1), now: t0))
        XCTAssertNil(book.remaining(.key(channelID: 2, keyIndex: 0), now: t0))
        XCTAssertEqual(book.remaining(.key(channelID: 1, keyIndex: 0), now: t0 + 100 * s), 200 * s)
        XCTAssertNil(book.remaining(.key(channelID: 1, keyIndex: 0), now: t0 + 300 * s))
    }

    func testAllKeysCooling() {
        let book = CooldownBook()
        let ch = Channel(id: 4, name: "c", kind: .anthropic, urls: ["https://x"],
                         keys: [ChannelKey(index: 0, secret: "a"), ChannelKey(index: 1, secret: "b")])
        XCTAssertFalse(book.allKeysCooling(channel: ch, now: t0))
        book.record(failure: .auth, scope: .key(channelID: 4, keyIndex: 0), now: t0)
        XCTAssertFalse(book.allKeysCooling(channel: ch, now: t0))
        book.record(failure: .timeout, scope: .key(channelID: 4, keyIndex: 1), now: t0)
        XCTAssertTrue(book.allKeysCooling(channel: ch, now: t0))
        XCTAssertFalse(book.allKeysCooling(channel: ch, now: t0 + 61 * s))
    }

    func testSnapshotAndPrune() {
        let book = CooldownBook()
        book.record(failure: .auth, scope: .key(channelID: 2, keyIndex: 1), now: t0)
        book.record(failure: .server, scope: .channel(1), now: t0, explicitResetAt: t0 + 30 * s)
        book.record(failure: .rateLimit, scope: .model(channelID: 1, model: "m"), now: t0)
        let snap = book.snapshot(now: t0 + 10 * s)
        XCTAssertEqual(snap.map(\.scope), [.channel(1), .model(channelID: 1, model: "m"), .key(channelID: 2, keyIndex: 1)])
        XCTAssertEqual(snap[0].remainingNanos, 20 * s)
        XCTAssertTrue(snap[0].explicit)
        XCTAssertEqual(snap[1].lastClass, .rateLimit)
        // Expired entries stay (for doubling) until forgotten.
        book.prune(now: t0 + 400 * s)
        XCTAssertEqual(book.count, 3)
        book.prune(now: t0 + 300 * s + 3601 * s)
        XCTAssertEqual(book.count, 0)
        XCTAssertTrue(book.snapshot(now: t0).isEmpty)
    }

    func testSettingsAreSettable() {
        let book = CooldownBook()
        var st = book.settings
        st.serverNanos = 30 * s
        st.maximumNanos = 50 * s
        book.settings = st
        var now = t0
        var got: [UInt64] = []
        for _ in 0..<3 {
            let u = book.record(failure: .server, scope: .channel(1), now: now)
            got.append((u - now) / s)
            now = u
        }
        XCTAssertEqual(got, [30, 50, 50])
    }
}
