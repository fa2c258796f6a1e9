import Reactor
import XCTest

@testable import Proxy

final class RoutingAffinityTests: XCTestCase {
    let s = nanosPerSecond
    let t0: UInt64 = 10 * nanosPerSecond

    func settings(capacity: Int = 100_000, ttl: UInt64 = 3600 * nanosPerSecond) -> SessionAffinitySettings {
        var st = SessionAffinitySettings()
        st.capacity = capacity
        st.ttlNanos = ttl
        return st
    }

    func testSessionKeyHashesBytes() {
        XCTAssertEqual(SessionKey("abc"), SessionKey(bytes: Array("abc".utf8)))
        XCTAssertNotEqual(SessionKey("abc"), SessionKey("abd"))
        XCTAssertEqual(SessionKey("").hash, 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(SessionKey("a").hash, 0xaf63_dc4c_8601_ec8c)  // FNV-1a 64 test vector
    }

    func testDefaults() {
        let st = SessionAffinitySettings()
        XCTAssertTrue(st.enabled)
        XCTAssertEqual(st.ttlNanos, 3600 * s)
        XCTAssertEqual(st.capacity, 100_000)
    }

    func testRecordLookupAndOverwrite() {
        let a = SessionAffinity()
        XCTAssertNil(a.lookup(SessionKey("x"), now: t0))
        a.record(session: SessionKey("x"), channel: 3, key: 1, now: t0)
        XCTAssertEqual(a.lookup(SessionKey("x"), now: t0), AffinityTarget(channelID: 3, keyIndex: 1))
        a.record(session: SessionKey("x"), channel: 4, key: 0, now: t0)
        XCTAssertEqual(a.lookup(SessionKey("x"), now: t0), AffinityTarget(channelID: 4, keyIndex: 0))
        XCTAssertEqual(a.count, 1)
        a.forget(SessionKey("x"))
        XCTAssertNil(a.lookup(SessionKey("x"), now: t0))
        XCTAssertEqual(a.count, 0)
    }

    func testLRUEvictsTheLeastRecentlyRecorded() {
        let a = SessionAffinity(settings: settings(capacity: 3))
        for (i, n) in ["s1", "s2", "s3"].enumerated() { a.record(session: SessionKey(n), channel: i, key: 0, now: t0) }
        a.record(session: SessionKey("s1"), channel: 9, key: 0, now: t0 + s)  // s1 is now the most recent
        a.record(session: SessionKey("s4"), channel: 4, key: 0, now: t0 + 2 * s)
        XCTAssertEqual(a.count, 3)
        XCTAssertNil(a.lookup(SessionKey("s2"), now: t0 + 2 * s))
        XCTAssertEqual(a.lookup(SessionKey("s1"), now: t0 + 2 * s)?.channelID, 9)
        XCTAssertNotNil(a.lookup(SessionKey("s3"), now: t0 + 2 * s))
        XCTAssertNotNil(a.lookup(SessionKey("s4"), now: t0 + 2 * s))
        a.record(session: SessionKey("s5"), channel: 5, key: 0, now: t0 + 3 * s)
        XCTAssertNil(a.lookup(SessionKey("s3"), now: t0 + 3 * s))
        // Lowering the capacity evicts the oldest.
        var st = a.settings
        st.capacity = 1
        a.settings = st
        XCTAssertEqual(a.count, 1)
        XCTAssertNotNil(a.lookup(SessionKey("s5"), now: t0 + 3 * s))
    }

    func testManyEntriesStayBounded() {
        let a = SessionAffinity(settings: settings(capacity: 1000))
        for i in 0..<10_000 { a.record(session: SessionKey("session-\(i)"), channel: i, key: 0, now: t0) }
        XCTAssertEqual(a.count, 1000)
        XCTAssertNil(a.lookup(SessionKey("session-8999"), now: t0))
        XCTAssertEqual(a.lookup(SessionKey("session-9000"), now: t0)?.channelID, 9000)
        XCTAssertEqual(a.lookup(SessionKey("session-9999"), now: t0)?.channelID, 9999)
    }

    func testTTLExpiry() {
        let a = SessionAffinity(settings: settings(ttl: 3600 * s))
        a.record(session: SessionKey("x"), channel: 1, key: 0, now: t0)
        XCTAssertNotNil(a.lookup(SessionKey("x"), now: t0 + 3600 * s))
        // A new success refreshes it.
        a.record(session: SessionKey("x"), channel: 1, key: 0, now: t0 + 3000 * s)
        XCTAssertNotNil(a.lookup(SessionKey("x"), now: t0 + 6600 * s))
        XCTAssertNil(a.lookup(SessionKey("x"), now: t0 + 6600 * s + 1))
        XCTAssertEqual(a.count, 0)
    }

    func testSwitchedOff() {
        var st = SessionAffinitySettings()
        st.enabled = false
        let a = SessionAffinity(settings: st)
        a.record(session: SessionKey("x"), channel: 1, key: 0, now: t0)
        XCTAssertEqual(a.count, 0)
        XCTAssertNil(a.lookup(SessionKey("x"), now: t0))
        // Switching off forgets what was held.
        let b = SessionAffinity()
        b.record(session: SessionKey("x"), channel: 1, key: 0, now: t0)
        var off = b.settings
        off.enabled = false
        b.settings = off
        XCTAssertEqual(b.count, 0)
    }
}
