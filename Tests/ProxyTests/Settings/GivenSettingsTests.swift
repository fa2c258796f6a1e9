import Reactor
import XCTest

@testable import Proxy

/// Flags and environment variables, read by the catalog: a flag wins over its variable,
/// a variable over the stored value, a stored value over the default.
final class GivenSettingsTests: StoreTestCase {
    func given(_ arguments: [String], _ environment: [String: String] = [:]) throws -> GivenSettings {
        guard case .settings(let g) = try GivenSettings.parse(arguments: arguments, environment: environment) else {
            throw GivenSettings.Problem("asked for help")
        }
        return g
    }

    func problem(_ arguments: [String], _ environment: [String: String] = [:]) -> String {
        do {
            _ = try GivenSettings.parse(arguments: arguments, environment: environment)
            return "accepted"
        } catch {
            return error.description
        }
    }

    func testAFlagWinsOverItsVariableWhichWinsOverTheDefault() throws {
        XCTAssertEqual(try given([]).int("port"), 8080)
        XCTAssertEqual(try given([], ["PORT": "9000"]).int("port"), 9000)
        XCTAssertEqual(try given(["--port", "9100"], ["PORT": "9000"]).int("port"), 9100)
        XCTAssertEqual(try given(["--port=9200"], ["PORT": "9000"]).int("port"), 9200)
        XCTAssertEqual(try given([], ["PORT": ""]).int("port"), 8080, "an empty variable is unset")
        XCTAssertEqual(try given(["--port", "1", "--port", "2"]).int("port"), 2, "the last flag wins")
        XCTAssertNil(try given([]).int("threads"), "no literal default: worked out at start")
        XCTAssertNil(try given([]).string("upstream"))
        XCTAssertEqual(try given([]).string("sqlite_path"), Store.defaultPath)
        XCTAssertEqual(try given(["--listen", "::1"]).string("listen"), "::1")
        XCTAssertEqual(try given([], ["CCLOAD_PASS": "pw"]).string("admin_password"), "pw")
        XCTAssertEqual(try given(["--first-byte-timeout", "2.5"], ["CCLOAD_FIRST_BYTE_TIMEOUT": "9"]).double("first_byte_timeout_seconds"), 2.5)
    }

    func testHelpIsAskedFor() throws {
        for args in [["--help"], ["-h"], ["--port", "1", "--help"]] {
            guard case .help = try GivenSettings.parse(arguments: args, environment: [:]) else { return XCTFail("\(args)") }
        }
    }

    func testUnknownFlagsAndMissingValuesFailClearly() {
        XCTAssertEqual(problem(["--no-such-flag", "1"]), "unknown option '--no-such-flag'")
        XCTAssertEqual(problem(["--no-such-flag=1"]), "unknown option '--no-such-flag'")
        XCTAssertEqual(problem(["--port"]), "missing value for '--port'")
        XCTAssertEqual(problem(["8080"]), "unexpected argument '8080' (every setting is a --flag with a value)")
        XCTAssertEqual(problem(["--"]), "unexpected argument '--' (every setting is a --flag with a value)")
        // A variable only setting has no flag; a live setting without a flag neither.
        XCTAssertEqual(problem(["--admin-password", "x"]), "unknown option '--admin-password'")
        XCTAssertEqual(problem(["--max-channels-per-request", "3"]), "unknown option '--max-channels-per-request'")
    }

    /// Every bound, both sides, from a flag and from a variable.
    func testNumbersAreCheckedAgainstTheirBoundsOnBothSides() throws {
        for def in SettingsCatalog.every where def.type == .int || def.type == .double {
            let step = def.type == .int ? 1.0 : 0.001
            var sources: [(args: (String) -> [String], env: (String) -> [String: String], name: String)] = []
            if let flag = def.flag { sources.append(({ ["--\(flag)", $0] }, { _ in [:] }, "--\(flag)")) }
            if let env = def.environment { sources.append(({ _ in [] }, { [env: $0] }, env)) }
            for s in sources {
                if let lo = def.minimum {
                    let at = SettingsCatalog.format(lo)
                    XCTAssertEqual(try given(s.args(at), s.env(at))[def.key], at, "\(s.name) at its minimum")
                    let below = SettingsCatalog.format(lo - step)
                    XCTAssertEqual(problem(s.args(below), s.env(below)), "\(s.name) must be at least \(at), not \(below)")
                }
                if let hi = def.maximum {
                    let at = SettingsCatalog.format(hi)
                    XCTAssertEqual(try given(s.args(at), s.env(at))[def.key], at, "\(s.name) at its maximum")
                    let above = SettingsCatalog.format(hi + step)
                    XCTAssertEqual(problem(s.args(above), s.env(above)), "\(s.name) must be at most \(at), not \(above)")
                }
                let sep = s.name.hasPrefix("--") ? " " : "="
                for bad in ["abc", "nan", "inf", "1e400", ""] where !(bad.isEmpty && !s.name.hasPrefix("--")) {
                    XCTAssertEqual(problem(s.args(bad), s.env(bad)), "\(s.name)\(sep)\(bad) is not a valid number")
                }
            }
        }
        XCTAssertEqual(problem([], ["CCLOAD_MAX_CONNECTIONS": "0"]), "CCLOAD_MAX_CONNECTIONS must be at least 1, not 0")
        XCTAssertEqual(problem([], ["CCLOAD_MAX_CONNECTIONS": "abc"]), "CCLOAD_MAX_CONNECTIONS=abc is not a valid number")
        XCTAssertEqual(problem(["--max-key-retries", "2.5"]), "--max-key-retries 2.5 is not a valid number")
    }

    func testBoolsTakeOneOrZero() throws {
        XCTAssertEqual(try given([], ["CCLOAD_REQUEST_LOG": "0"])["log_request_records"], "false")
        XCTAssertEqual(try given([], ["CCLOAD_REQUEST_LOG": "1"])["log_request_records"], "true")
        XCTAssertEqual(try given(["--request-log", "2"])["log_request_records"], "true")
        XCTAssertEqual(try given(["--session-affinity", "FALSE"])["session_affinity"], "false")
        XCTAssertTrue(try given([], ["CCLOAD_METRICS": "1"]).bool("metrics"))
        XCTAssertFalse(try given([]).bool("metrics"))
        XCTAssertFalse(try given([], ["CCLOAD_METRICS": "0"]).bool("metrics"))
        XCTAssertEqual(problem(["--keepalive-stall", "yes"]), "--keepalive-stall yes is not 1 or 0")
        XCTAssertEqual(problem([], ["CCLOAD_KEEPALIVE_STALL": "on"]), "CCLOAD_KEEPALIVE_STALL=on is not 1 or 0")
    }

    func testStringsAreTakenAsTheyAre() throws {
        // Only their own checks (in the binary: URLs, files, the key rule) judge them.
        let g = try given(["--upstream-key", "sk-secret"], ["CCLOAD_AUTH": " t1, t2 "])
        XCTAssertEqual(g.string("upstream_key"), "sk-secret")
        XCTAssertEqual(g.string("auth"), " t1, t2 ")
        XCTAssertEqual(g.liveSeeds, [:])
    }

    func testOnlyLiveSettingsAreSeeds() throws {
        let g = try given(["--port", "0", "--cooldown-min", "2"], ["CCLOAD_REQUEST_LOG": "0", "CCLOAD_LISTEN": "127.0.0.1"])
        XCTAssertEqual(g.liveSeeds, ["cooldown_min_seconds": "2", "log_request_records": "false"])
    }

    /// The one resolution order, through the store: flag > environment > stored > default.
    func testGivenSettingsGoOverStoredOnesAndStoredOnesOverDefaults() throws {
        func resolve(_ arguments: [String], _ environment: [String: String]) throws -> RuntimeSettings {
            try store.setSettings(try given(arguments, environment).liveSeeds)
            return try RuntimeSettings(values: try store.settings())
        }
        XCTAssertEqual(try resolve([], [:]).selector.maxKeyRetries, 3, "the default")
        try store.setSettings(["max_key_retries": "5", "cooldown_server_seconds": "7"])
        XCTAssertEqual(try resolve([], [:]).selector.maxKeyRetries, 5, "the stored value over the default")
        XCTAssertEqual(try resolve([], ["CCLOAD_MAX_KEY_RETRIES": "2"]).selector.maxKeyRetries, 2, "the variable over the stored value")
        let both = try resolve(["--max-key-retries", "4"], ["CCLOAD_MAX_KEY_RETRIES": "2"])
        XCTAssertEqual(both.selector.maxKeyRetries, 4, "the flag over the variable")
        XCTAssertEqual(both.cooldowns.serverNanos, 7 * nanosPerSecond, "a setting not given keeps its stored value")
        XCTAssertEqual(both.cooldowns.connectionNanos, 7 * nanosPerSecond)
        XCTAssertEqual(try resolve([], [:]).selector.maxKeyRetries, 4, "a given value is stored: it stays without the flag")
    }
}
