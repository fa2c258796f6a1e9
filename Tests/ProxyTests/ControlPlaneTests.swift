import Reactor
import XCTest

@testable import Proxy

final class RuntimeSettingsTests: XCTestCase {
    func testDefaultsComeFromTheCatalog() throws {
        let s = try RuntimeSettings(values: [:])
        XCTAssertEqual(s, RuntimeSettings(), "the catalog's defaults and the struct's agree")
        XCTAssertEqual(s.cooldowns.authNanos, 300 * nanosPerSecond)
        XCTAssertEqual(s.selector.maxKeyRetries, 3)
        XCTAssertEqual(s.firstByteTimeoutNanos, 300 * nanosPerSecond)
    }

    func testValuesAreTyped() throws {
        let s = try RuntimeSettings(values: ["cooldown_server_seconds": "2.5", "max_key_retries": "5",
                                             "fallback_to_soonest": "false", "session_affinity": "false",
                                             "log_retention_days": "7", "connect_timeout_seconds": "0.25"])
        XCTAssertEqual(s.cooldowns.serverNanos, 2_500_000_000)
        XCTAssertEqual(s.cooldowns.connectionNanos, 2_500_000_000, "connection failures cool like server errors")
        XCTAssertEqual(s.selector.maxKeyRetries, 5)
        XCTAssertFalse(s.selector.fallbackToSoonest)
        XCTAssertFalse(s.affinityEnabled)
        XCTAssertEqual(s.logRetentionDays, 7)
        XCTAssertEqual(s.connectTimeoutNanos, 250_000_000)
    }

    func testBadValuesNameTheSetting() {
        for (values, expected) in [(["max_key_retries": "9"], "max_key_retries must be at most 8"),
                                   (["max_key_retries": "two"], "max_key_retries must be an integer"),
                                   (["session_affinity": "yes"], "session_affinity must be true or false"),
                                   (["cooldown_min_seconds": "100", "cooldown_max_seconds": "50"], "cooldown_min_seconds must not exceed"),
                                   (["first_byte_timeout_seconds": "nan"], "first_byte_timeout_seconds must be a number")] {
            XCTAssertThrowsError(try RuntimeSettings(values: values), "\(values)") {
                XCTAssertTrue("\($0)".contains(expected), "\($0)")
            }
        }
    }
}

final class ControlPlaneTests: StoreTestCase {

    func channel(_ name: String) -> Channel {
        Channel(id: 0, name: name, kind: .anthropic, urls: ["http://127.0.0.1:9"], keys: [ChannelKey(index: 0, secret: "sk-\(name)-0123456789")])
    }

    func testSettingsApplyToTheSharedStateLive() throws {
        let shared = ProxyShared(store: store)
        let control = try ControlPlane(store: store, shared: shared)
        XCTAssertEqual(shared.cooldowns.settings.serverNanos, 120 * nanosPerSecond)
        try store.setSettings(["cooldown_server_seconds": "7", "max_key_retries": "2", "log_request_records": "false",
                               "affinity_ttl_seconds": "30", "fallback_to_soonest": "false"])
        XCTAssertEqual(shared.cooldowns.settings.serverNanos, 120 * nanosPerSecond, "stored, not applied yet")
        let applied = try control.reloadSettings()
        XCTAssertEqual(applied.selector.maxKeyRetries, 2)
        XCTAssertEqual(shared.cooldowns.settings.serverNanos, 7 * nanosPerSecond)
        XCTAssertEqual(shared.selector.settings.maxKeyRetries, 2)
        XCTAssertFalse(shared.selector.settings.fallbackToSoonest)
        XCTAssertFalse(shared.logRequests)
        XCTAssertEqual(shared.selector.affinity?.settings.ttlNanos, 30 * nanosPerSecond)
        XCTAssertEqual(control.live.settings.selector.maxKeyRetries, 2)
    }

    func testSettingsAreAllOrNothing() throws {
        XCTAssertThrowsError(try store.setSettings(["max_key_retries": "4", "log_retention_days": "0"])) {
            XCTAssertTrue("\($0)".contains("log_retention_days must be at least 1"), "\($0)")
        }
        XCTAssertEqual(try store.intSetting("max_key_retries"), 3, "the valid one was not written either")
    }

    func testChannelsAndTokensArePublishedFromTheStore() throws {
        let shared = ProxyShared(store: store)
        let control = try ControlPlane(store: store, shared: shared)
        XCTAssertNil(control.live.table, "no channels yet")
        _ = try store.createChannel(channel("a"))
        XCTAssertNil(control.live.table, "not published until reloaded")
        let t = try control.reloadChannels()
        XCTAssertEqual(t?.channels.map(\.name), ["a"])
        XCTAssertEqual(control.live.table?.count, 1)

        XCTAssertEqual(shared.auth.tokenCount, 0)
        let created = try store.createToken(AuthToken(name: "t"))
        try control.reloadTokens()
        XCTAssertEqual(shared.auth.tokenCount, 1)
        XCTAssertEqual(control.live.auth.token(id: created.token.id)?.name, "t")
    }

    func testAnInvalidStoredTablePublishesNothing() throws {
        let shared = ProxyShared(store: store)
        _ = try store.createChannel(channel("a"))
        let control = try ControlPlane(store: store, shared: shared)
        // A channel whose URL cannot be routed makes the table invalid.
        var bad = channel("b")
        bad.urls = ["ftp://nowhere"]
        _ = try store.createChannel(bad)
        XCTAssertThrowsError(try control.reloadChannels())
        XCTAssertEqual(control.live.table?.channels.map(\.name), ["a"], "the running table stays")
    }
}
