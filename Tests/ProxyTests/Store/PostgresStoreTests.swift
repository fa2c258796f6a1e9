import Glibc
import Reactor
import XCTest

@testable import Proxy

/// The store on PostgreSQL where it differs from SQLite: instances that start together
/// migrate one at a time, a PostgreSQL store needs the secret key given, and its secrets
/// are sealed in the server's rows. (The store's other tests run on PostgreSQL too, with
/// `CCLOAD_TEST_STORE=postgres`.)
final class PostgresStoreTests: XCTestCase {
    func options() -> StoreOptions {
        StoreTest.options { $0.secretKey = StoreTest.postgresKey }
    }

    /// Four instances opening one empty database at once: the advisory lock lets one
    /// migrate while the others wait, and each then finds the schema whole (every step
    /// recorded once, no "already exists" failure).
    func testInstancesStartingTogetherMigrateOneAtATime() throws {
        let url = try PGTestCluster.shared.freshDatabase()
        let results = Lock<[String]>([])
        let opts = options()
        let threads = (0..<4).map { _ in
            Thread {
                do {
                    let s = try Store.open(.postgres(url: url), options: opts)
                    s.close()
                    results.withLock { $0.append("ok") }
                } catch {
                    results.withLock { $0.append("\(error)") }
                }
            }
        }
        threads.forEach { $0.start() }
        let deadline = monotonicNanos() + 60_000_000_000
        while results.withLock({ $0.count }) < 4 && monotonicNanos() < deadline { usleep(10_000) }
        XCTAssertEqual(results.withLock { $0 }, ["ok", "ok", "ok", "ok"])
        let store = try Store.open(.postgres(url: url), options: opts)
        defer { store.close() }
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(*) FROM schema_migrations"), Int64(Schema.migrations.count))
        XCTAssertEqual(try StoreTest.count(store, "SELECT count(DISTINCT version) FROM schema_migrations"), Int64(Schema.migrations.count))
        XCTAssertEqual(store.dialect, .postgres)
        // postgres://ccload:PASSWORD@host:port/db
        let password = url.split(separator: "@")[0].split(separator: ":").last.map(String.init) ?? ""
        XCTAssertFalse(password.isEmpty)
        XCTAssertFalse(store.path.contains(password), "the password is not in the store's path: \(store.path)")
    }

    /// No key, no store: several instances must share one key, so there is no key file.
    func testAPostgreSQLStoreNeedsTheSecretKey() throws {
        let url = try PGTestCluster.shared.freshDatabase()
        XCTAssertThrowsError(try Store.open(.postgres(url: url), options: StoreTest.options())) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .secretKey)
            XCTAssertTrue(e?.message.contains("CCLOAD_SECRET_KEY") == true, "\(error)")
        }
        // Another key than the database was sealed with is refused too.
        try Store.open(.postgres(url: url), options: options()).close()
        var other = StoreTest.options()
        other.secretKey = SecretKey(text: String(repeating: "7b", count: 32))!
        XCTAssertThrowsError(try Store.open(.postgres(url: url), options: other)) { error in
            XCTAssertEqual((error as? StoreError)?.kind, .secretKey, "\(error)")
        }
    }

    /// A channel's key is sealed in PostgreSQL's row, and opens again on reopen.
    func testChannelKeysAreSealedInTheServersRows() throws {
        let url = try PGTestCluster.shared.freshDatabase()
        var store = try Store.open(.postgres(url: url), options: options())
        let made = try store.createChannel(Channel(id: 0, name: "c", kind: .anthropic, urls: ["https://a.example"],
                                                   keys: [ChannelKey(index: 0, secret: "sk-pg-sealed-0123456789")]))
        let stored = try store.withConfig { try $0.scalarText("SELECT secret FROM channel_keys WHERE channel_id = ?", [.int(Int64(made.id))]) }
        XCTAssertTrue(stored?.hasPrefix("enc1:") == true, stored ?? "none")
        XCTAssertFalse(stored?.contains("sk-pg-sealed") == true)
        store.close()
        store = try Store.open(.postgres(url: url), options: options())
        defer { store.close() }
        XCTAssertEqual(try store.channels().first?.keys.first?.secret, "sk-pg-sealed-0123456789")
    }
}
