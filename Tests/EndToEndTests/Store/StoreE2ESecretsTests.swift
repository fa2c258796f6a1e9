import Foundation
import Glibc
import Proxy
import XCTest

/// Secrets at rest, with the real binary: channel keys and proxy passwords given through the
/// admin API are not in the database file, a restart on the same key routes with them, and a
/// wrong, malformed or missing key (or a key file others may read) stops the start with a
/// message that shows no key.
final class StoreE2ESecretsTests: AdminChannelsCase {
    let proxyURL = "http://user:proxy-pass-Q7w@127.0.0.1:3128"

    func assertNoSecretInTheFile(_ db: String, file: StaticString = #filePath, line: UInt = #line) {
        let bytes = databaseBytes(db)
        XCTAssertGreaterThan(bytes.count, 0, file: file, line: line)
        for s in secrets {
            XCTAssertNil(bytes.range(of: Data(s.utf8)), "\(s) is in the database file or its WAL", file: file, line: line)
        }
    }

    /// A routed request reaches the mock (which wants `keyA`) with `keyA`.
    func assertRoutesWithKeyA(_ c: CcloadProcess, _ mock: MockUpstream, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try proxied(c)
        XCTAssertEqual(r.status, 200, r.bodyText, file: file, line: line)
        XCTAssertTrue(try mock.lastRequest().head.contains(keyA), "the upstream did not get keyA", file: file, line: line)
    }

    /// ccload on `db` with `env` must refuse to start, saying each of `expect`, showing none
    /// of `hidden` (keys) nor any channel secret.
    @discardableResult
    func assertRefusesToStart(_ db: String, _ env: [String: String], expect: [String], hidden: [String] = [],
                              file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var e = ["SQLITE_PATH": db, "CCLOAD_PASS": CcloadProcess.adminPassword]
        for (k, v) in env { e[k] = v }
        return try assertRefusesToStart(e, expect: expect, hidden: hidden + secrets, file: file, line: line)
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0, path)
        return st.st_mode & 0o777
    }

    /// The stored value opened by another AES-GCM implementation (Python's `cryptography`),
    /// from the documented layout: nonce (12) ‖ ciphertext ‖ tag (16), additional data
    /// "ccload secret v1". Nil when that package is not installed.
    func openedByPython(_ stored: String, keyHex: String) throws -> String? {
        let script = """
            import base64, sys
            try:
                from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            except ImportError:
                print("no-cryptography"); sys.exit(0)
            raw = base64.b64decode(sys.argv[1][len("enc1:"):])
            print("plain:" + AESGCM(bytes.fromhex(sys.argv[2])).decrypt(raw[:12], raw[12:], b"ccload secret v1").decode())
            """
        let p = try ProcessUnderTest(executable: "/usr/bin/python3", arguments: ["-c", script, stored, keyHex])
        defer { p.stop() }
        guard p.waitForExit(timeout: 20) == 0 else { throw TestFailure("python3 failed: \(p.stderrText)") }
        let out = p.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        if out == "no-cryptography" { return nil }
        guard out.hasPrefix("plain:") else { throw TestFailure("python3 printed \(out)") }
        return String(out.dropFirst(6))
    }

    func testSecretsAreSealedAtRestAndOnlyTheirKeyOpensThem() throws {
        let mock = try startMock(["--require-key", keyA])
        let db = tempDatabase()
        let keyFile = db + ".key"
        var ccload = try startEmpty(db: db)
        XCTAssertTrue(ccload.process.waitForOutput("created the secret key file \(keyFile) (mode 0600)"), ccload.process.stderrText)
        XCTAssertEqual(mode(keyFile), 0o600)
        try create(ccload, input("routed", url: mock.url, keys: [keyA], ["priority": 10]))
        // Not routed (its proxy is not there): it only holds secrets.
        try create(ccload, input("spare", url: mock.url, keys: [keyB, keyC], ["proxy": proxyURL, "enabled": false]))
        try assertRoutesWithKeyA(ccload, mock)
        assertSecretsNeverShown(ccload)
        stopGracefully(ccload)

        assertNoSecretInTheFile(db)
        let stored = try rows(db, "SELECT secret FROM channel_keys ORDER BY channel_id, idx").map { $0[0] as? String ?? "" }
        XCTAssertEqual(stored.count, 3)
        XCTAssertTrue(stored.allSatisfy { $0.hasPrefix("enc1:") }, "\(stored)")
        XCTAssertEqual(try storedKeys(db, channel: 2), [keyB, keyC])
        XCTAssertEqual(try storedProxy(db, channel: 2), proxyURL)
        let keyText = String(decoding: FileManager.default.contents(atPath: keyFile) ?? Data(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(keyText.count, 64, "the key file holds 64 hex digits")
        if let plain = try openedByPython(stored[0], keyHex: keyText) { XCTAssertEqual(plain, keyA) }

        // Restarted on the same key file: still routed with the right key.
        ccload = try startEmpty(db: db)
        XCTAssertFalse(ccload.process.stderrText.contains("created the secret key file"))
        try assertRoutesWithKeyA(ccload, mock)
        stopGracefully(ccload)

        // The same key given as CCLOAD_SECRET_KEY (base64 this time), the key file put aside.
        let aside = keyFile + ".aside"
        XCTAssertEqual(rename(keyFile, aside), 0)
        var keyBytes: [UInt8] = []
        var i = keyText.startIndex
        while i < keyText.endIndex {
            let j = keyText.index(i, offsetBy: 2)
            keyBytes.append(UInt8(keyText[i..<j], radix: 16)!)
            i = j
        }
        let base64 = Data(keyBytes).base64EncodedString()
        ccload = try startEmpty(db: db, ["CCLOAD_SECRET_KEY": base64])
        try assertRoutesWithKeyA(ccload, mock)
        stopGracefully(ccload)
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "a key file was made though the key was given")

        // No key at all: refused, and no new key file is made for a sealed database.
        try assertRefusesToStart(db, [:], expect: ["holds sealed secrets but its key file \(keyFile) is missing"], hidden: [keyText])
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "a new key file was made for a sealed database")
        XCTAssertEqual(rename(aside, keyFile), 0)

        // Another key: refused, naming the cause, showing neither key.
        let wrong = SecretKey.random().hexText
        try assertRefusesToStart(db, ["CCLOAD_SECRET_KEY": wrong],
                                 expect: ["CCLOAD_SECRET_KEY does not match the key database \(db) was sealed with"],
                                 hidden: [wrong, keyText, base64])
        // Not a key: refused before the database is touched.
        try assertRefusesToStart(db, ["CCLOAD_SECRET_KEY": "hunter2-is-not-a-key"],
                                 expect: ["CCLOAD_SECRET_KEY must be 32 bytes as 64 hex digits or as base64"],
                                 hidden: ["hunter2-is-not-a-key", keyText])
        // A key file others may read: refused.
        XCTAssertEqual(chmod(keyFile, 0o644), 0)
        try assertRefusesToStart(db, [:], expect: ["may be read or written by others (mode 0644)", "chmod 600 \(keyFile)"],
                                 hidden: [keyText])
        XCTAssertEqual(chmod(keyFile, 0o600), 0)
        // Whatever was refused, the database still opens with its key and routes.
        ccload = try startEmpty(db: db)
        try assertRoutesWithKeyA(ccload, mock)
        stopGracefully(ccload)
        assertNoSecretInTheFile(db)
    }

    func testAPlaintextDatabaseIsSealedAtStart() throws {
        let mock = try startMock(["--require-key", keyA])
        let db = tempDatabase()
        var ccload = try startEmpty(db: db)
        try create(ccload, input("routed", url: mock.url, keys: [keyA]))
        try create(ccload, input("spare", url: mock.url, keys: [keyB], ["proxy": proxyURL, "enabled": false]))
        stopGracefully(ccload)
        // Back to what a ccload before sealing left: plaintext values, no check value, no key file.
        _ = try sql(db, [
            "UPDATE channel_keys SET secret = '\(keyA)' WHERE channel_id = 1",
            "UPDATE channel_keys SET secret = '\(keyB)' WHERE channel_id = 2",
            "UPDATE channels SET proxy = '\(proxyURL)' WHERE id = 2",
            "DELETE FROM settings WHERE key = '_secret_check'",
        ])
        XCTAssertEqual(unlink(db + ".key"), 0)
        XCTAssertNotNil(databaseBytes(db).range(of: Data(keyA.utf8)), "the plaintext database holds no plaintext")

        ccload = try startEmpty(db: db)
        XCTAssertTrue(ccload.process.waitForOutput("created the secret key file"), ccload.process.stderrText)
        try assertRoutesWithKeyA(ccload, mock)
        XCTAssertEqual(try storedKeys(db, channel: 2), [keyB])
        XCTAssertEqual(try storedProxy(db, channel: 2), proxyURL)
        stopGracefully(ccload)
        assertNoSecretInTheFile(db)
    }
}
