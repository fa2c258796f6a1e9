import Reactor
import XCTest

@testable import Proxy

final class StoreConfigTests: StoreTestCase {

    func reopen() throws {
        store.close()
        store = try StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options())
    }

    func testChannelRoundTrip() throws {
        let full = fullChannel()
        try store.createChannel(full)
        let minimal = try store.createChannel(Channel(id: 0, name: "plain", kind: .anthropic, urls: ["https://api.anthropic.com"], keys: []))
        XCTAssertEqual(minimal.id, 8)
        try reopen()
        let all = try store.channels()
        XCTAssertEqual(all.count, 2)
        assertSame(all[0], full)
        assertSame(all[1], minimal)
        XCTAssertTrue(all[0].serves("alias"))
        XCTAssertEqual(all[0].upstreamModel(for: "alias"), "o3")

        var changed = full
        changed.name = "renamed"
        changed.keys = [ChannelKey(index: 0, secret: "sk-new")]
        changed.models = []
        changed.redirects = ["x": "y"]
        changed.weight = nil
        changed.proxy = nil
        try store.updateChannel(changed)
        assertSame(try store.channel(id: 7)!, changed)
        XCTAssertThrowsError(try store.createChannel(changed)) { XCTAssertEqual(($0 as! StoreError).kind, .constraint) }
        var ghost = changed
        ghost.id = 99
        XCTAssertThrowsError(try store.updateChannel(ghost)) { XCTAssertEqual(($0 as! StoreError).kind, .notFound) }

        XCTAssertTrue(try store.deleteChannel(id: 7))
        XCTAssertFalse(try store.deleteChannel(id: 7))
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM channel_keys WHERE channel_id = 7"), 0)
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM channel_models WHERE channel_id = 7"), 0)
        XCTAssertEqual(try store.channels().map(\.id), [8])

        try store.replaceChannels([full, minimal])
        XCTAssertEqual(try store.channels().map(\.id), [7, 8])
    }

    func testTokenLifecycle() throws {
        var t = AuthToken(name: "ci")
        t.expiresAtMillis = 1_900_000_000_000
        t.allowedModels = ["claude-sonnet-4", "gpt-5"]
        t.dailyCostCapMicroUSD = 5_000_000
        t.totalCostCapMicroUSD = 100_000_000
        t.requestsPerMinute = 60
        t.maxConcurrency = 4
        let created = try store.createToken(t)
        XCTAssertTrue(created.secret.hasPrefix("ccl-"))
        XCTAssertEqual(created.secret.count, 4 + 43)
        XCTAssertEqual(created.token.prefix, String(created.secret.prefix(8)))
        XCTAssertEqual(created.token.hash, TokenDigest(of: Array(created.secret.utf8)).bytes)
        // Only the hash and prefix are kept.
        let kept = try store.withConfig { db -> [[UInt8]] in
            let st = try db.prepare("SELECT hash, prefix FROM auth_tokens")
            defer { st.finalize() }
            var rows: [[UInt8]] = []
            while try st.step() { rows.append(st.blob(0)); rows.append(Array(st.text(1).utf8)) }
            return rows
        }
        let secretBytes = Array(created.secret.utf8)
        XCTAssertFalse(kept.contains { row in row.count >= secretBytes.count && (0...(row.count - secretBytes.count)).contains { Array(row[$0..<($0 + secretBytes.count)]) == secretBytes } },
                       "the secret is stored nowhere")

        let other = try store.createToken(AuthToken(name: "seed"), secret: "my-seed-secret")
        try reopen()
        let found = try store.token(secret: created.secret)
        XCTAssertEqual(found, created.token)
        XCTAssertEqual(try store.token(hash: TokenDigest(of: Array("my-seed-secret".utf8)).bytes)?.id, other.token.id)
        XCTAssertNil(try store.token(secret: "wrong"))
        XCTAssertEqual(try store.tokens().map(\.name), ["ci", "seed"])

        var edit = created.token
        edit.name = "ci-2"
        edit.enabled = false
        edit.allowedModels = nil
        edit.requestsPerMinute = nil
        try store.updateToken(edit)
        XCTAssertEqual(try store.token(id: edit.id), edit)
        XCTAssertThrowsError(try store.createToken(AuthToken(name: "dup"), secret: "my-seed-secret")) {
            XCTAssertEqual(($0 as! StoreError).kind, .constraint)
        }
        XCTAssertTrue(try store.deleteToken(id: edit.id))
        XCTAssertNil(try store.token(secret: created.secret))
        var gone = edit
        gone.id = 12345
        XCTAssertThrowsError(try store.updateToken(gone))
    }

    func testWriterMaintainsTokenTotals() throws {
        let t = try store.createToken(AuthToken(name: "user"), secret: "s1")
        for i in 0..<10 { store.writer.enqueue(StoreTest.record(i, time: 1_700_000_000_000 + UInt64(i), token: t.token.id, cost: 250)) }
        store.writer.enqueue(StoreTest.record(99, token: 4242))  // an unmanaged token id: no row, no error
        store.writer.flush()
        let back = try store.token(id: t.token.id)!
        XCTAssertEqual(back.totalCostMicroUSD, 2500)
        XCTAssertEqual(back.totalRequests, 10)
        XCTAssertEqual(back.lastUsedMillis, 1_700_000_000_009)
        XCTAssertEqual(try store.tokenCostsSince(1_700_000_000_000), [t.token.id: 2500, 4242: 1000])
        XCTAssertEqual(store.writer.snapshot().written, 11)
    }

    func testSettings() throws {
        XCTAssertEqual(try store.intSetting("log_retention_days"), 30)
        XCTAssertEqual(try store.boolSetting("log_request_records"), true)
        try store.setSetting("log_retention_days", "7")
        try store.setSetting("log_request_records", "false")
        try store.setSetting("first_byte_timeout_seconds", "2.5")
        XCTAssertThrowsError(try store.setSetting("log_retention_days", "seven")) {
            XCTAssertEqual(($0 as! StoreError).kind, .invalid)
            XCTAssertTrue("\($0)".contains("integer"), "\($0)")
        }
        XCTAssertThrowsError(try store.setSetting("nope", "1"))
        XCTAssertThrowsError(try store.setting("nope"))
        try reopen()
        XCTAssertEqual(try store.intSetting("log_retention_days"), 7)
        XCTAssertEqual(try store.boolSetting("log_request_records"), false)
        XCTAssertEqual(try store.doubleSetting("first_byte_timeout_seconds"), 2.5)
        let all = try store.settings()
        XCTAssertEqual(all["max_key_retries"], "3")
        XCTAssertEqual(all["log_retention_days"], "7")
        try store.resetSetting("log_retention_days")
        XCTAssertEqual(try store.intSetting("log_retention_days"), 30)
    }

    func testSessions() throws {
        let clock = Lock<UInt64>(1_000_000)
        store.close()
        store = try StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options { $0.wallClock = { clock.withLock { $0 } } })
        func digest(_ secret: String) -> [UInt8] { TokenDigest(of: Array(secret.utf8)).bytes }
        func live(_ secret: String) throws -> Bool { try store.liveSessions().contains { $0.digest == digest(secret) } }
        let s = "session-one"
        try store.addSession(StoredSession(digest: digest(s), expiresMillis: 1_060_000))
        XCTAssertTrue(try live(s))
        XCTAssertFalse(try live(s + "x"))
        XCTAssertEqual(try store.liveSessions(), [StoredSession(digest: digest(s), expiresMillis: 1_060_000)])
        clock.withLock { $0 += 60_001 }
        XCTAssertFalse(try live(s), "expired by the store's clock")
        let s2 = "session-two"
        try store.addSession(StoredSession(digest: digest(s2), expiresMillis: clock.withLock { $0 } + 60_000))
        XCTAssertTrue(try store.deleteSession(digest: digest(s2)))
        XCTAssertFalse(try store.deleteSession(digest: digest(s2)), "already gone")
        XCTAssertFalse(try live(s2))
        // Retention purges expired sessions (this one is not read back before it runs).
        try store.addSession(StoredSession(digest: digest("session-three"), expiresMillis: clock.withLock { $0 } + 10))
        clock.withLock { $0 += 11 }
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM admin_sessions"), 1)
        store.writer.runRetention()
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM admin_sessions"), 0)
    }

    func testHiddenValuesAreNotSettingsAndCanEndEverySession() throws {
        XCTAssertNil(try store.hiddenValue("_secret_thing"))
        XCTAssertEqual(try store.setHiddenValue("_secret_thing", "v1"), 0)
        XCTAssertEqual(try store.hiddenValue("_secret_thing"), "v1")
        XCTAssertNil(try store.settings()["_secret_thing"], "the settings never list a hidden value")
        XCTAssertThrowsError(try store.setting("_secret_thing"))
        XCTAssertThrowsError(try store.setSetting("_secret_thing", "v2"), "nor take one")
        // A hidden name can never be a setting's.
        for bad in ["max_key_retries", "", "_"] {
            XCTAssertThrowsError(try store.hiddenValue(bad), bad) { e in XCTAssertEqual((e as? StoreError)?.kind, .invalid) }
            XCTAssertThrowsError(try store.setHiddenValue(bad, "x"), bad) { e in XCTAssertEqual((e as? StoreError)?.kind, .invalid) }
        }
        XCTAssertEqual(try store.setting("max_key_retries"), "3", "the refused write changed nothing")
        let far = wallClockMillis() + 3_600_000
        try store.addSession(StoredSession(digest: [1, 2, 3], expiresMillis: far))
        try store.addSession(StoredSession(digest: [4, 5, 6], expiresMillis: far))
        XCTAssertEqual(try store.setHiddenValue("_secret_thing", "v2"), 0, "sessions stay unless asked")
        XCTAssertEqual(try store.liveSessions().count, 2)
        XCTAssertEqual(try store.setHiddenValue("_secret_thing", "v3", endingSessions: true), 2)
        XCTAssertEqual(try store.hiddenValue("_secret_thing"), "v3")
        XCTAssertEqual(try store.liveSessions(), [])
        try reopen()
        XCTAssertEqual(try store.hiddenValue("_secret_thing"), "v3", "durable")
    }

    func testCooldownsSurviveRestart() throws {
        let book = CooldownBook()
        let mono0: UInt64 = 5_000 * 1_000_000_000
        book.record(failure: .server, scope: .channel(3), now: mono0)
        book.record(failure: .server, scope: .channel(3), now: mono0 + 200 * 1_000_000_000)  // second failure: doubles
        book.record(failure: .auth, scope: .key(channelID: 3, keyIndex: 1), now: mono0)
        book.record(failure: .rateLimit, scope: .model(channelID: 4, model: "opus"), now: mono0,
                    explicitResetAt: mono0 + 3600 * 1_000_000_000)
        let now1 = mono0 + 210 * 1_000_000_000
        let wall1: UInt64 = 1_700_000_000_000
        let before = book.snapshot(now: now1)
        try store.saveCooldowns(book, nowMonotonic: now1, nowWallMillis: wall1)
        try reopen()

        // A restart: the monotonic clock starts over; 30 s of wall time have passed.
        let now2: UInt64 = 100 * 1_000_000_000
        let wall2 = wall1 + 30_000
        let restored = CooldownBook()
        XCTAssertEqual(try store.restoreCooldowns(into: restored, nowMonotonic: now2, nowWallMillis: wall2), 3)
        let after = restored.snapshot(now: now2)
        XCTAssertEqual(after.count, before.count)
        for (a, b) in zip(before, after) {
            XCTAssertEqual(a.scope, b.scope)
            XCTAssertEqual(a.consecutiveFailures, b.consecutiveFailures)
            XCTAssertEqual(a.lastClass, b.lastClass)
            XCTAssertEqual(a.explicit, b.explicit)
            XCTAssertEqual(a.durationNanos / 1_000_000, b.durationNanos / 1_000_000)
            // 30 s less remain, to the millisecond.
            let expected = Int64(a.remainingNanos / 1_000_000) - 30_000
            XCTAssertEqual(Int64(b.remainingNanos / 1_000_000), max(0, expected), accuracy: 1, "\(a.scope)")
        }
        XCTAssertEqual(restored.count, 3)
        XCTAssertNotNil(restored.remaining(.channel(3), now: now2))
        XCTAssertEqual(before.first { $0.scope == .channel(3) }?.consecutiveFailures, 2)
        // The restored book keeps doubling: the channel's next failure after it ends is the third.
        let end = now2 + restored.remaining(.channel(3), now: now2)!
        let until = restored.record(failure: .server, scope: .channel(3), now: end + 1)
        XCTAssertEqual(until - (end + 1), CooldownSettings().duration(.server, consecutive: 3))

        // Saving an empty book clears the table.
        try store.saveCooldowns(CooldownBook(), nowMonotonic: now2, nowWallMillis: wall2)
        XCTAssertEqual(try store.loadCooldowns(nowMonotonic: now2, nowWallMillis: wall2).count, 0)
    }

    /// Stored times and durations may be anything (a hand-edited or damaged database):
    /// reading them back saturates instead of trapping at start-up.
    func testExtremeStoredTimesAreReadBackClamped() throws {
        let book = CooldownBook()
        let mono: UInt64 = 5_000 * 1_000_000_000
        book.record(failure: .server, scope: .channel(1), now: mono)
        book.record(failure: .server, scope: .channel(2), now: mono)
        try store.saveCooldowns(book, nowMonotonic: mono, nowWallMillis: 1_700_000_000_000)
        _ = try store.createToken(AuthToken(name: "t"), secret: "secret-extreme")
        try store.withConfig { db in
            _ = try db.run("UPDATE cooldowns SET until_ms = 9223372036854775807, duration_ms = 9223372036854775807 WHERE channel_id = 1")
            _ = try db.run("UPDATE cooldowns SET until_ms = -9223372036854775808, duration_ms = -5 WHERE channel_id = 2")
            _ = try db.run("UPDATE auth_tokens SET created_ms = -1, expires_ms = -9223372036854775808, last_used_ms = -2")
        }
        store.close()
        store = try StoreTest.open(path: dir + "/ccload.db", options: StoreTest.options())
        let loaded = try store.loadCooldowns(nowMonotonic: mono, nowWallMillis: 1_700_000_000_000)
        XCTAssertEqual(loaded.first { $0.scope == .channel(1) }?.until, mono + UInt64(Int64.max), "the saturated delta, from now")
        XCTAssertEqual(loaded.first { $0.scope == .channel(1) }?.durationNanos, UInt64.max)
        XCTAssertEqual(loaded.first { $0.scope == .channel(2) }?.until, 0)
        XCTAssertEqual(loaded.first { $0.scope == .channel(2) }?.durationNanos, 0)
        let t = try XCTUnwrap(try store.tokens().first)
        XCTAssertEqual(t.createdMillis, 0)
        XCTAssertEqual(t.expiresAtMillis, 0)
        XCTAssertEqual(t.lastUsedMillis, 0)
    }

    func testDeletingAChannelDropsItsCooldowns() throws {
        try store.createChannel(Channel(id: 3, name: "c", kind: .openai, urls: ["https://x"], keys: []))
        let book = CooldownBook()
        book.record(failure: .server, scope: .channel(3), now: 1_000_000_000)
        try store.saveCooldowns(book, nowMonotonic: 1_000_000_000, nowWallMillis: 1_700_000_000_000)
        try store.deleteChannel(id: 3)
        XCTAssertEqual(try store.loadCooldowns(nowMonotonic: 0, nowWallMillis: 0).count, 0)
    }
}
