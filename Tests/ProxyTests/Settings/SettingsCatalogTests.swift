import Foundation
import Reactor
import XCTest

@testable import Proxy

/// The catalog is the one declaration of every setting: its entries are whole and agree
/// with themselves, `--help` lists each of them, and the README's table says what it says.
final class SettingsCatalogTests: XCTestCase {
    func testEveryEntryIsWholeAndItsDefaultHolds() {
        let every = SettingsCatalog.every
        XCTAssertEqual(Set(every.map(\.key)).count, every.count, "a key is declared twice")
        let flags = every.compactMap(\.flag), envs = every.compactMap(\.environment)
        XCTAssertEqual(Set(flags).count, flags.count, "a flag is declared twice")
        XCTAssertEqual(Set(envs).count, envs.count, "an environment variable is declared twice")
        XCTAssertTrue(SettingsCatalog.all.allSatisfy(\.live))
        XCTAssertTrue(SettingsCatalog.startUp.allSatisfy { !$0.live })
        XCTAssertEqual(every.count, SettingsCatalog.all.count + SettingsCatalog.startUp.count)
        for def in every {
            XCTAssertFalse(def.summary.isEmpty, def.key)
            XCTAssertTrue(def.flag != nil || def.environment != nil || def.live, "\(def.key) cannot be given at all")
            if def.defaultValue.isEmpty {
                XCTAssertNotEqual(def.type, .bool, "\(def.key): a bool needs a default")
                XCTAssertFalse(def.live, "\(def.key): a live setting needs a default")
            } else {
                XCTAssertNil(SettingsCatalog.problem(def.defaultValue, def), "\(def.key)'s default \(def.defaultValue) breaks its own rule")
            }
            if def.unit == .seconds { XCTAssertEqual(def.type, .double, "\(def.key): durations take fractions") }
        }
        // The live defaults hold together, and the types built from them agree.
        XCTAssertNoThrow(try RuntimeSettings(values: [:]))
        XCTAssertEqual(RuntimeSettings(), RuntimeSettings.defaults)
    }

    /// The types that hold a setting take their defaults from the catalog: one home.
    func testTheTypesDefaultsAreTheCatalogs() {
        let nanos = { (key: String) in Saturating.nanos(seconds: Double(SettingsCatalog.named(key).defaultValue)!) }
        XCTAssertEqual(ProxyConfig().firstByteTimeoutNanos, nanos("first_byte_timeout_seconds"))
        XCTAssertEqual(ProxyConfig().firstByteTimeoutNanos, 300 * nanosPerSecond)
        XCTAssertEqual(ProxyConfig().pool.connectTimeoutNanos, nanos("connect_timeout_seconds"))
        XCTAssertEqual(StreamTimeouts().upstreamIdleNanos, nanos("upstream_idle_timeout_seconds"))
        XCTAssertEqual(StreamTimeouts().clientWriteNanos, nanos("client_write_timeout_seconds"))
        XCTAssertEqual(StreamTimeouts().keepAliveOnlyNanos, 0, "keep-alive stalls are off by default")
        let c = CooldownSettings()
        XCTAssertEqual(c.authNanos, nanos("cooldown_auth_seconds"))
        XCTAssertEqual(c.notFoundNanos, nanos("cooldown_auth_seconds"))
        XCTAssertEqual(c.serverNanos, nanos("cooldown_server_seconds"))
        XCTAssertEqual(c.connectionNanos, nanos("cooldown_server_seconds"))
        XCTAssertEqual(c.rateLimitNanos, nanos("cooldown_rate_limit_seconds"))
        XCTAssertEqual(c.timeoutNanos, nanos("cooldown_timeout_seconds"))
        XCTAssertEqual(c.minimumNanos, nanos("cooldown_min_seconds"))
        XCTAssertEqual(c.maximumNanos, nanos("cooldown_max_seconds"))
        XCTAssertEqual(SelectorSettings().maxKeyRetries, 3)
        XCTAssertEqual(SelectorSettings().maxChannels, 8)
        XCTAssertTrue(SelectorSettings().fallbackToSoonest)
        XCTAssertEqual(SessionAffinitySettings().ttlNanos, nanos("affinity_ttl_seconds"))
        XCTAssertTrue(SessionAffinitySettings().enabled)
        XCTAssertEqual(StoreOptions().logRetentionDays, 30)
        XCTAssertEqual(StoreOptions().statsRetentionDays, 365)
        XCTAssertEqual(SettingsCatalog.named("header_timeout_seconds").defaultValue, "15")
        XCTAssertEqual(SettingsCatalog.named("idle_timeout_seconds").defaultValue, "120")
        XCTAssertEqual(SettingsCatalog.named("max_body_bytes").defaultValue, "33554432")
        XCTAssertEqual(SettingsCatalog.named("sqlite_path").defaultValue, Store.defaultPath)
        XCTAssertEqual(RuntimeSettings.firstByteTimeoutSeconds, 0.01...3600)
    }

    // MARK: --help

    func testHelpListsEverySettingWithItsNamesDefaultBoundsAndUnit() {
        let help = SettingsHelp.text(command: "ccload", abstract: "x")
        for def in SettingsCatalog.every {
            let block = SettingsHelp.entry(def)
            XCTAssertTrue(help.contains(block), "\(def.key) is not in --help")
            if let flag = def.flag { XCTAssertTrue(block.contains("--\(flag) <"), block) }
            if let env = def.environment { XCTAssertTrue(block.contains("env \(env)"), block) }
            if def.live { XCTAssertTrue(block.contains("setting \(def.key)"), block) }
            XCTAssertTrue(block.contains("default \(def.defaultText)"), block)
            if !def.boundsText.isEmpty { XCTAssertTrue(block.contains(def.boundsText), block) }
            if def.unit != .none { XCTAssertTrue(block.contains(" \(def.unit.rawValue)"), block) }
            XCTAssertTrue(block.contains(def.plainSummary), block)
            XCTAssertFalse(block.contains("`"), "Markdown in --help: \(block)")
        }
        XCTAssertTrue(help.contains("START-UP SETTINGS"))
        XCTAssertTrue(help.contains("LIVE SETTINGS"))
        XCTAssertTrue(help.contains("--help"))
        // The facts line of two settings, whole.
        XCTAssertTrue(help.contains("  --first-byte-timeout <seconds>, env CCLOAD_FIRST_BYTE_TIMEOUT, setting first_byte_timeout_seconds\n"
            + "      default 300 seconds; 0.01–3600 seconds. a try must reach"), help)
        XCTAssertTrue(help.contains("  env CCLOAD_PASS\n      default generated. the admin password"), help)
    }

    // MARK: the README

    /// The README's configuration table, row by row, is what the catalog declares.
    func testTheREADMETableIsTheCatalog() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
        let rows = try Self.configurationTable(String(contentsOf: readme, encoding: .utf8))
        XCTAssertEqual(rows.first, ["variable", "flag", "live setting", "default", "bounds", "unit", "meaning"], "the header changed")
        let body = Array(rows.dropFirst())
        let expected = SettingsCatalog.every.map(Self.row)
        for (i, want) in expected.enumerated() {
            let have = body.first { $0.first == want.first && $0[2] == want[2] }
            XCTAssertEqual(have, want, "README row \(i + 1) should read:\n| \(want.joined(separator: " | ")) |")
        }
        XCTAssertEqual(body.count, expected.count, "the README lists a setting the catalog does not (or one twice)")
        XCTAssertEqual(body, expected, "the README's rows are out of the catalog's order")
    }

    /// The cells of the first table under `## Configuration`, header included.
    static func configurationTable(_ text: String) throws -> [[String]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: "## Configuration") else { throw TestError("no Configuration section") }
        let tail = lines[(start + 1)...]
        guard let first = tail.firstIndex(where: { $0.hasPrefix("|") }) else { throw TestError("no table") }
        let table = tail[first...].prefix { $0.hasPrefix("|") }
        return table.filter { !$0.hasPrefix("|---") }.map { line in
            var cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            cells.removeFirst()
            cells.removeLast()
            return cells
        }
    }

    /// A catalog entry as its README row.
    static func row(_ def: SettingDefinition) -> [String] {
        let code = { (s: String?) in s.map { "`\($0)`" } ?? "" }
        let noted = def.defaultNote != nil || def.defaultValue.isEmpty
        return [code(def.environment), code(def.flag.map { "--" + $0 }), def.live ? code(def.key) : "",
                noted ? def.defaultText : code(def.defaultText), def.boundsText, def.unit.rawValue, def.summary]
    }

    struct TestError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
