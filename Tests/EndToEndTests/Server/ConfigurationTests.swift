import Foundation
import Glibc
import XCTest

/// The command line and environment, read by the settings catalog: `--help` lists every
/// setting the README's table lists, an unknown flag is refused, flags work, and a live
/// setting resolves flag > variable > stored value > default across restarts.
final class ConfigurationTests: AdminDataCase {
    /// Runs ccload with `arguments` (and a clean environment plus `environment`) until it exits.
    func run(_ arguments: [String], _ environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"), arguments: arguments, environment: environment)
        track(p)
        guard let status = p.waitForExit(timeout: 20) else { throw TestFailure("ccload \(arguments) did not exit") }
        return (status, p.stdoutText, p.stderrText)
    }

    /// ccload on `db`, routing `channels`, set up by flags only (except the admin password).
    func startWithFlags(db: String, channels: String, _ flags: [String], _ environment: [String: String] = [:]) throws -> CcloadProcess {
        var env = ["CCLOAD_PASS": CcloadProcess.adminPassword]
        for (k, v) in environment { env[k] = v }
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     arguments: ["--port", "0", "--listen", "127.0.0.1", "--threads", "1", "--drain-seconds", "5",
                                                 "--sqlite-path", db, "--channels-file", channels] + flags,
                                     environment: env)
        track(p)
        return try CcloadProcess(started: p)
    }

    func value(_ ccload: CcloadProcess, _ key: String) throws -> Any? {
        let rows = try adminOK(ccload, "GET", "/admin/settings")["data"] as? [[String: Any]]
        return rows?.first { $0["key"] as? String == key }?["value"]
    }

    /// The README's configuration table: (variable, flag, live setting) of each row, without backticks.
    func readmeRows() throws -> [(env: String, flag: String, key: String)] {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        guard let start = text.range(of: "## Configuration\n") else { throw TestFailure("no Configuration section") }
        let lines = text[start.upperBound...].split(separator: "\n").map(String.init)
        guard let first = lines.firstIndex(where: { $0.hasPrefix("| variable") }) else { throw TestFailure("no table") }
        return lines[(first + 2)...].prefix { $0.hasPrefix("|") }.map { line in
            let c = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
            return (c[1], c[2], c[3])
        }
    }

    func testHelpListsEverySettingOfTheREADME() throws {
        let (status, out, err) = try run(["--help"])
        XCTAssertEqual(status, 0, err)
        let rows = try readmeRows()
        XCTAssertGreaterThan(rows.count, 30, "the README table was not found whole")
        for row in rows {
            var names: [String] = []
            if !row.flag.isEmpty { names.append(row.flag + " <") }
            if !row.env.isEmpty { names.append("env " + row.env) }
            if !row.key.isEmpty { names.append("setting " + row.key) }
            XCTAssertFalse(names.isEmpty)
            let line = out.split(separator: "\n").first { l in names.allSatisfy { l.contains($0) } }
            XCTAssertNotNil(line, "--help has no line naming \(names.joined(separator: ", "))\n\(out)")
        }
        XCTAssertTrue(out.contains("default 300 seconds; 0.01–3600 seconds."), out)
        XCTAssertEqual(try run(["-h"]).out, out)
    }

    func testUnknownFlagsAndBadValuesStopStartUpClearly() throws {
        for (args, env, message) in [(["--no-such-flag", "1"], [:], "Error: unknown option '--no-such-flag'"),
                                     (["--port"], [:], "Error: missing value for '--port'"),
                                     (["extra"], [:], "Error: unexpected argument 'extra'"),
                                     (["--port", "70000"], [:], "Error: --port must be at most 65535, not 70000"),
                                     ([], ["PORT": "x"], "Error: PORT=x is not a valid number"),
                                     (["--threads", "0"], [:], "Error: --threads must be at least 1, not 0"),
                                     ([], ["CCLOAD_REQUEST_LOG": "maybe"], "Error: CCLOAD_REQUEST_LOG=maybe is not 1 or 0"),
                                     ([], ["CCLOAD_DATABASE_URL": "mysql://u:p@h/db"], "Error: CCLOAD_DATABASE_URL must be a PostgreSQL URL"),
                                     (["--instance-name", "a b"], [:], "Error: CCLOAD_INSTANCE_NAME must be letters, digits"),
                                     ([], ["CCLOAD_REQUEST_LOG_PACKING": "sometimes"], "Error: CCLOAD_REQUEST_LOG_PACKING must be busy, always or never"),
                                     (["--request-log-packing", "Busy"], [:], "Error: CCLOAD_REQUEST_LOG_PACKING must be busy, always or never")] {
            let (status, _, err) = try run(args, env)
            XCTAssertEqual(status, 64, "\(args) \(env): \(err)")
            XCTAssertTrue(err.contains(message), "\(args) \(env): \(err)")
            XCTAssertTrue(err.contains("ccload --help"), err)
        }
    }

    /// PostgreSQL that cannot be reached at start: a clear error naming the server (never its
    /// password), and a non-zero exit; without CCLOAD_SECRET_KEY a PostgreSQL store is refused.
    func testAnUnreachablePostgreSQLStopsStartUpClearly() throws {
        let url = "postgres://ccload:sekrit-pw@127.0.0.1:1/ccload"
        let (status, out, err) = try run(["--port", "0", "--listen", "127.0.0.1"],
                                         ["CCLOAD_DATABASE_URL": url, "CCLOAD_SECRET_KEY": String(repeating: "ab", count: 32),
                                          "CCLOAD_PASS": CcloadProcess.adminPassword])
        XCTAssertEqual(status, 1, err)
        XCTAssertTrue(err.contains("cannot open the PostgreSQL database"), err)
        XCTAssertTrue(err.contains("127.0.0.1"), err)
        XCTAssertFalse((err + out).contains("sekrit-pw"), "the password reached the output: \(err)")
    }

    /// A live setting: the flag over the variable over the stored value over the default,
    /// through restarts on one database; what is given is stored, so it stays.
    func testALiveSettingResolvesFlagThenVariableThenStoredThenDefault() throws {
        let db = tempDatabase()
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("a", url: mock.url)])

        let plain = try startWithFlags(db: db, channels: channels, [])
        XCTAssertEqual(try value(plain, "max_key_retries") as? Int, 3, "the default")
        try adminOK(plain, "PUT", "/admin/settings", #"{"max_key_retries":6,"cooldown_server_seconds":7}"#)
        stopGracefully(plain)

        let stored = try startWithFlags(db: db, channels: channels, [])
        XCTAssertEqual(try value(stored, "max_key_retries") as? Int, 6, "the stored value over the default")
        stopGracefully(stored)

        let byVariable = try startWithFlags(db: db, channels: channels, [], ["CCLOAD_MAX_KEY_RETRIES": "2"])
        XCTAssertEqual(try value(byVariable, "max_key_retries") as? Int, 2, "the variable over the stored value")
        stopGracefully(byVariable)

        let byFlag = try startWithFlags(db: db, channels: channels, ["--max-key-retries", "5", "--cooldown-min=0.5"],
                                        ["CCLOAD_MAX_KEY_RETRIES": "2"])
        XCTAssertEqual(try value(byFlag, "max_key_retries") as? Int, 5, "the flag over the variable")
        XCTAssertEqual(try value(byFlag, "cooldown_min_seconds") as? Double, 0.5)
        XCTAssertEqual(try value(byFlag, "cooldown_server_seconds") as? Int, 7, "a setting not given keeps its stored value")
        XCTAssertEqual(try proxy(byFlag, token: nil).status, 200)
        stopGracefully(byFlag)

        let again = try startWithFlags(db: db, channels: channels, [])
        XCTAssertEqual(try value(again, "max_key_retries") as? Int, 5, "a given value was stored")
        stopGracefully(again)
    }

    /// The given live settings are checked together with the stored ones before any is
    /// written: a shortest cooldown over the longest stops start-up and changes nothing.
    func testGivenSettingsThatBreakTheStoredOnesAreRefusedAndNotWritten() throws {
        let db = tempDatabase()
        let mock = try startMock()
        let channels = try writeChannelsFile([channel("a", url: mock.url)])
        let (status, _, err) = try run(["--sqlite-path", db, "--channels-file", channels, "--port", "0", "--listen", "127.0.0.1",
                                        "--cooldown-min", "2000", "--max-key-retries", "4"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(err.contains("cooldown_min_seconds must not exceed cooldown_max_seconds"), err)
        let after = try startWithFlags(db: db, channels: channels, [])
        XCTAssertEqual(try value(after, "max_key_retries") as? Int, 3, "a refused start wrote a setting")
        XCTAssertEqual(try value(after, "cooldown_min_seconds") as? Int, 10)
        // With a longer stored maximum the same shortest cooldown holds: the stored value counts.
        try adminOK(after, "PUT", "/admin/settings", #"{"cooldown_max_seconds":3000}"#)
        stopGracefully(after)
        let raised = try startWithFlags(db: db, channels: channels, ["--cooldown-min", "2000"])
        XCTAssertEqual(try value(raised, "cooldown_min_seconds") as? Int, 2000)
        XCTAssertEqual(try value(raised, "cooldown_max_seconds") as? Int, 3000)
    }

    /// Start-up flags reach what they set: here the body limit and the pass-through upstream.
    func testStartUpFlagsApply() throws {
        let mock = try startMock()
        let p = try ProcessUnderTest(executable: try BinaryDirectory.binary("ccload"),
                                     arguments: ["--port", "0", "--listen", "127.0.0.1", "--threads", "1",
                                                 "--max-body-bytes", "1000", "--upstream", mock.url, "--drain-seconds", "5"],
                                     environment: ["CCLOAD_PASS": CcloadProcess.adminPassword])
        track(p)
        let ccload = try CcloadProcess(started: p)
        let small = try ccload.post("/v1/messages", #"{"model":"m"}"#)
        XCTAssertEqual(small.status, 200, small.bodyText)
        let big = try ccload.post("/v1/messages", #"{"model":"m","x":""# + String(repeating: "a", count: 1000) + #""}"#)
        XCTAssertEqual(big.status, 413, big.bodyText)
    }
}
