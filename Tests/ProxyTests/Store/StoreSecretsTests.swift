import Foundation
import Glibc
import XCTest

@testable import Proxy

/// Secrets at rest in the store: sealed channel keys and proxy URLs, the key check at open,
/// the key file beside the database, and the sealing of a plaintext database at open.
final class StoreSecretsTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/ccload.db" }
    var keyFile: String { path + ".key" }
    let secrets = ["sk-ant-rest-AAAA-0000-secret-1", "sk-ant-rest-BBBB-1111-secret-2", "proxy-pass-rest-Zq8"]

    override func setUp() { dir = StoreTest.tempDir() }
    override func tearDown() { StoreTest.remove(dir) }

    func channel(_ name: String = "a") -> Channel {
        var c = Channel(id: 0, name: name, kind: .anthropic, urls: ["https://example.com"],
                        keys: [ChannelKey(index: 0, secret: secrets[0]), ChannelKey(index: 1, secret: secrets[1])])
        c.proxy = "http://user:\(secrets[2])@127.0.0.1:3128"
        return c
    }

    func open(_ change: (inout StoreOptions) -> Void = { _ in }) throws -> Store {
        try Store.open(path: path, options: StoreTest.options(change))
    }

    /// The database's bytes, its write-ahead log's included.
    func fileBytes() -> Data {
        var all = Data()
        for s in ["", "-wal"] { all.append(FileManager.default.contents(atPath: path + s) ?? Data()) }
        return all
    }

    func assertNoSecretInTheFile(file: StaticString = #filePath, line: UInt = #line) {
        let bytes = fileBytes()
        XCTAssertGreaterThan(bytes.count, 0, file: file, line: line)
        for s in secrets {
            XCTAssertNil(bytes.range(of: Data(s.utf8)), "\(s) is in the database file", file: file, line: line)
        }
    }

    func rawValues(_ store: Store) throws -> [String] {
        try store.withConfig { db in
            var out: [String] = []
            let s = try db.prepare("SELECT secret FROM channel_keys UNION ALL SELECT proxy FROM channels WHERE proxy IS NOT NULL")
            while try s.step() { out.append(s.text(0)) }
            s.finalize()
            return out
        }
    }

    func mode(_ p: String) -> mode_t {
        var st = stat()
        XCTAssertEqual(stat(p, &st), 0, p)
        return st.st_mode & 0o777
    }

    func testChannelSecretsAreSealedInTheFileAndOpenWhenRead() throws {
        let store = try open()
        XCTAssertEqual(store.createdKeyFile, keyFile)
        try store.createChannel(channel())
        let raw = try rawValues(store)
        XCTAssertEqual(raw.count, 3)
        XCTAssertTrue(raw.allSatisfy { $0.hasPrefix("enc1:") }, "\(raw)")
        let c = try XCTUnwrap(try store.channel(id: 1))
        XCTAssertEqual(c.keys.map(\.secret), [secrets[0], secrets[1]])
        XCTAssertEqual(c.proxy, channel().proxy)
        // Edits go through the same path.
        try store.editChannels { current in
            var c = current[0]
            c.keys = [ChannelKey(index: 0, secret: self.secrets[1])]
            return ChannelEdit(upserts: [c])
        }
        XCTAssertEqual(try store.channels()[0].keys.map(\.secret), [secrets[1]])
        store.close()
        assertNoSecretInTheFile()
        XCTAssertEqual(mode(keyFile), 0o600)
        let reopened = try open()
        defer { reopened.close() }
        XCTAssertNil(reopened.createdKeyFile, "the key file was made again")
        XCTAssertEqual(try reopened.channels()[0].keys.map(\.secret), [secrets[1]])
    }

    func testSealAndOpenSecretForOtherTables() throws {
        let store = try open()
        defer { store.close() }
        let sealed = store.sealSecret("oauth-refresh-token-xyz")
        XCTAssertTrue(sealed.hasPrefix("enc1:"))
        XCTAssertNotEqual(sealed, store.sealSecret("oauth-refresh-token-xyz"))
        XCTAssertEqual(try store.openSecret(sealed), "oauth-refresh-token-xyz")
        XCTAssertThrowsError(try store.openSecret("oauth-refresh-token-xyz")) { XCTAssertEqual(($0 as? StoreError)?.kind, .corrupt) }
        var changed = Array(sealed.utf8)
        changed[10] = changed[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        XCTAssertThrowsError(try store.openSecret(String(decoding: changed, as: UTF8.self)))
        // The empty text holds no secret (an account not signed in): stored and read as it is.
        XCTAssertEqual(store.sealSecret(""), "")
        XCTAssertEqual(try store.openSecret(""), "")
    }

    /// A webhook URL carries its receiver's token: the `webhooks` setting is sealed in the
    /// file and opens when read, whichever way it is read; a value stored before sealing
    /// reads as it is.
    func testTheWebhooksSettingIsSealedAtRest() throws {
        let token = "T0AAAA/B0BBBB/webhook-token-\(UInt32.random(in: 0...UInt32.max))"
        let value = "slack=https://hooks.slack.com/services/\(token)"
        let store = try open()
        try store.setSetting("webhooks", value)
        try store.setSetting("log_retention_days", "9")
        XCTAssertEqual(try store.setting("webhooks"), value)
        XCTAssertEqual(try store.settings()["webhooks"], value)
        let raw = try store.withConfig { try $0.scalarText("SELECT value FROM settings WHERE key = 'webhooks'") }
        XCTAssertTrue(raw?.hasPrefix("enc1:") == true, "\(raw ?? "nil")")
        XCTAssertEqual(try store.withConfig { try $0.scalarText("SELECT value FROM settings WHERE key = 'log_retention_days'") }, "9",
                       "other settings stay readable in the file")
        store.close()
        XCTAssertNil(fileBytes().range(of: Data(token.utf8)), "the webhook token is in the database file")
        // Written before sealing (plain): read as it is.
        let db = try Database(path: path)
        try db.run("UPDATE settings SET value = ? WHERE key = 'webhooks'", [.text("https://example.com/hook")])
        db.close()
        let again = try open()
        defer { again.close() }
        XCTAssertEqual(try again.setting("webhooks"), "https://example.com/hook")
    }

    /// An empty value in a sealed column (an account row not signed in; an old channel with an
    /// empty proxy) is left as it is at open and reads back empty: sealing it would change
    /// nothing a reader needs, and opening it must not fail the start.
    func testEmptyValuesAreLeftAndReadBackEmpty() throws {
        try makePlaintextDatabase(migrations: Schema.latestVersion)
        let db = try Database(path: path)
        try db.exec("UPDATE channels SET proxy = '' WHERE name = 'old'")
        db.close()
        let store = try open()
        defer { store.close() }
        XCTAssertEqual(try store.channels().first { $0.name == "old" }?.proxy, "")
        XCTAssertEqual(try store.withConfig { try $0.scalarText("SELECT proxy FROM channels WHERE name = 'old'") }, "")
        XCTAssertTrue(try rawValues(store).filter { !$0.isEmpty }.allSatisfy { $0.hasPrefix("enc1:") })
    }

    func testAChangedValueInTheFileIsAnErrorNotGarbage() throws {
        let store = try open()
        defer { store.close() }
        try store.createChannel(channel())
        try store.withConfig { db in
            try db.run("UPDATE channel_keys SET secret = ? WHERE idx = 1", [.text(store.sealSecret("x").replacingOccurrences(of: "enc1:", with: "enc1:AAAA"))])
        }
        XCTAssertThrowsError(try store.channels()) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .corrupt)
            XCTAssertTrue(e.message.contains("channel 1's key 2"), e.message)
        }
    }

    /// A database as ccload before sealing wrote it: the schema migrations, then plaintext rows.
    func makePlaintextDatabase(migrations: Int) throws {
        let db = try Database(path: path)
        try Migrator.migrate(db, Array(Schema.migrations.prefix(migrations)), nowMillis: 1)
        try db.run("INSERT INTO channels(id, name, kind, urls, key_strategy, priority, enabled, proxy, cost_multiplier, insecure_skip_verify, created_ms, updated_ms) VALUES(1, 'old', 'anthropic', '[\"https://example.com\"]', 'sequential', 0, 1, ?, 1, 0, 1, 1)",
                   [.text("http://user:\(secrets[2])@127.0.0.1:3128")])
        try db.run("INSERT INTO channels(id, name, kind, urls, key_strategy, priority, enabled, cost_multiplier, insecure_skip_verify, created_ms, updated_ms) VALUES(2, 'direct', 'anthropic', '[\"https://example.com\"]', 'sequential', 0, 1, 1, 0, 1, 1)")
        try db.run("INSERT INTO channel_keys(channel_id, idx, secret) VALUES(1, 0, ?), (1, 1, ?), (2, 0, ?)",
                   [.text(secrets[0]), .text(secrets[1]), .text(secrets[0])])
        db.close()
        XCTAssertNotNil(fileBytes().range(of: Data(secrets[0].utf8)), "the plaintext database holds no plaintext")
    }

    func testAPlaintextDatabaseIsSealedAtOpenOnceAndForAll() throws {
        for migrations in [1, Schema.latestVersion] {
            StoreTest.remove(dir)
            dir = StoreTest.tempDir()
            try makePlaintextDatabase(migrations: migrations)
            let store = try open()
            XCTAssertEqual(store.createdKeyFile, keyFile, "a database without sealed values gets a key file")
            // While it runs (a copy taken now): the plaintext pages were checkpointed over, and
            // freed space is zeroed whatever SQLite's build default.
            assertNoSecretInTheFile()
            XCTAssertEqual(try store.withConfig { try $0.scalarInt("PRAGMA secure_delete") }, 1)
            let channels = try store.channels()
            XCTAssertEqual(channels.map(\.name), ["old", "direct"])
            XCTAssertEqual(channels[0].keys.map(\.secret), [secrets[0], secrets[1]])
            XCTAssertEqual(channels[0].proxy, "http://user:\(secrets[2])@127.0.0.1:3128")
            XCTAssertNil(channels[1].proxy)
            XCTAssertEqual(channels[1].keys.map(\.secret), [secrets[0]])
            let raw = try rawValues(store)
            XCTAssertEqual(raw.count, 4)
            XCTAssertTrue(raw.allSatisfy { $0.hasPrefix("enc1:") }, "\(raw)")
            store.close()
            assertNoSecretInTheFile()
            // Idempotent: a second open seals nothing again (the stored values stay as they are).
            let again = try open()
            XCTAssertEqual(try rawValues(again), raw)
            XCTAssertEqual(try again.channels().map { $0.keys.map(\.secret) }, channels.map { $0.keys.map(\.secret) })
            again.close()
        }
    }

    func testPrepareSecretsSealsOnlyPlaintext() throws {
        try makePlaintextDatabase(migrations: Schema.latestVersion)
        let db = try Database(path: path)
        defer { db.close() }
        let box = SecretBox(key: SecretKey.random())
        XCTAssertEqual(try Store.prepareSecrets(db, box, path: path, keyGiven: true, nowMillis: 1), 4)
        XCTAssertEqual(try Store.prepareSecrets(db, box, path: path, keyGiven: true, nowMillis: 1), 0)
    }

    func testAWrongGivenKeyIsRefusedWithoutShowingAKey() throws {
        let right = SecretKey.random(), wrong = SecretKey.random()
        let store = try open { $0.secretKey = right }
        XCTAssertNil(store.createdKeyFile)
        try store.createChannel(channel())
        store.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "a key file beside a database with a given key")
        XCTAssertThrowsError(try open { $0.secretKey = wrong }) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .secretKey)
            XCTAssertTrue(e.message.contains("CCLOAD_SECRET_KEY does not match the key database \(path) was sealed with"), e.message)
            for k in [right, wrong] {
                XCTAssertFalse(e.message.contains(k.hexText) || e.message.contains(Data(k.bytes).base64EncodedString()), e.message)
            }
        }
        // Without the key at all: refused, and no new key file is made for it.
        XCTAssertThrowsError(try open()) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .secretKey)
            XCTAssertTrue(e.message.contains("holds sealed secrets but its key file \(keyFile) is missing"), e.message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: keyFile), "a key file was made for a sealed database")
        let back = try open { $0.secretKey = right }
        defer { back.close() }
        XCTAssertEqual(try back.channels()[0].keys.map(\.secret), [secrets[0], secrets[1]])
    }

    func testAnotherKeyFileIsRefused() throws {
        let store = try open()
        try store.createChannel(channel())
        store.close()
        FileManagerLite.write(keyFile, Array((SecretKey.random().hexText + "\n").utf8))
        chmod(keyFile, 0o600)
        XCTAssertThrowsError(try open()) { error in
            let e = error as! StoreError
            XCTAssertEqual(e.kind, .secretKey)
            XCTAssertTrue(e.message.contains("the key file \(keyFile) does not match"), e.message)
        }
    }

    func testSealedValuesWithoutACheckValueStillCheckTheKey() throws {
        let store = try open()
        try store.createChannel(channel())
        try store.withConfig { db in _ = try db.run("DELETE FROM settings WHERE key = '_secret_check'") }
        store.close()
        XCTAssertThrowsError(try open { $0.secretKey = SecretKey.random() }) { XCTAssertEqual(($0 as? StoreError)?.kind, .secretKey) }
        let again = try open()
        defer { again.close() }
        XCTAssertEqual(try again.channels()[0].keys.count, 2)
        XCTAssertNotNil(try again.withConfig { try $0.scalarText("SELECT value FROM settings WHERE key = '_secret_check'") })
    }

    func testTheKeyFileMustBePrivateAndHoldAKey() throws {
        try open().close()
        XCTAssertEqual(mode(keyFile), 0o600)
        for loose: mode_t in [0o640, 0o604, 0o644, 0o660] {
            chmod(keyFile, loose)
            XCTAssertThrowsError(try open(), "mode \(String(loose, radix: 8))") { error in
                let e = error as! StoreError
                XCTAssertEqual(e.kind, .secretKey)
                XCTAssertTrue(e.message.contains("may be read or written by others"), e.message)
                XCTAssertTrue(e.message.contains("chmod 600 \(keyFile)"), e.message)
            }
        }
        chmod(keyFile, 0o400)
        try open().close()
        chmod(keyFile, 0o600)
        for bad in ["", "not a key", String(repeating: "ab", count: 31), String(repeating: "z", count: 300)] {
            FileManagerLite.write(keyFile, Array(bad.utf8))
            chmod(keyFile, 0o600)
            XCTAssertThrowsError(try open(), bad) { error in
                let e = error as! StoreError
                XCTAssertEqual(e.kind, .secretKey)
                XCTAssertTrue(e.message.contains("does not hold a key"), e.message)
                XCTAssertFalse(bad.count > 3 && e.message.contains(bad), e.message)
            }
        }
        // A base64 key file is read too.
        let key = SecretKey.random()
        FileManagerLite.write(keyFile, Array(Data(key.bytes).base64EncodedString().utf8))
        chmod(keyFile, 0o600)
        XCTAssertEqual(try SecretKeyFile.read(keyFile), key)
    }

    func testTheKeyFileIsMadeWithoutAWindowAndNeverReplaced() throws {
        let file = dir + "/made.key"
        let old = umask(0)
        defer { umask(old) }
        let first = try SecretKeyFile.create(file)
        XCTAssertEqual(mode(file), 0o600, "a umask of 0 widened the key file")
        XCTAssertEqual(try SecretKeyFile.read(file), first)
        // A second maker (another process at the same first start) gets the first key.
        XCTAssertEqual(try SecretKeyFile.create(file), first)
        XCTAssertEqual(try SecretKeyFile.read(file), first)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["made.key"], "a temporary file was left")
        XCTAssertNil(try SecretKeyFile.read(dir + "/absent.key"))
        XCTAssertThrowsError(try SecretKeyFile.read(dir)) { XCTAssertEqual(($0 as? StoreError)?.kind, .secretKey) }
    }
}
