import Glibc
import Reactor
import XCTest

@testable import Proxy

/// The placeholder rewrite and the URL redaction: no server needed.
final class PGTextTests: XCTestCase {
    private func rewrite(_ sql: String) throws -> String { try PGConnection.rewritePlaceholders(sql).sql }

    func testPlaceholdersFollowSQLiteNumbering() throws {
        XCTAssertEqual(try rewrite("SELECT 1"), "SELECT 1")
        XCTAssertEqual(try rewrite("SELECT ?"), "SELECT $1")
        XCTAssertEqual(try rewrite("VALUES(?,?,?)"), "VALUES($1,$2,$3)")
        XCTAssertEqual(try rewrite("VALUES(?, ?, ?7, ?)"), "VALUES($1, $2, $7, $8)")
        XCTAssertEqual(try rewrite("WHERE a = ?2 AND b = ?1 OR c = ?"), "WHERE a = $2 AND b = $1 OR c = $3")
        XCTAssertEqual(try rewrite("SET x = ?14, y = ?14"), "SET x = $14, y = $14")
        XCTAssertEqual(try PGConnection.rewritePlaceholders("VALUES(?, ?, ?7, ?)").parameterCount, 8)
        XCTAssertEqual(try PGConnection.rewritePlaceholders("WHERE a = ?3").parameterCount, 3)
        XCTAssertEqual(try PGConnection.rewritePlaceholders("SELECT 'x?'").parameterCount, 0)
    }

    func testPlaceholdersSkipStringsIdentifiersAndComments() throws {
        XCTAssertEqual(try rewrite("SELECT '?', ? FROM t"), "SELECT '?', $1 FROM t")
        XCTAssertEqual(try rewrite("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1")
        XCTAssertEqual(try rewrite(#"SELECT "a?b", ?"#), #"SELECT "a?b", $1"#)
        XCTAssertEqual(try rewrite("SELECT ? -- why?\n, ?"), "SELECT $1 -- why?\n, $2")
        XCTAssertEqual(try rewrite("SELECT ? /* ?, ?2 */ + ?"), "SELECT $1 /* ?, ?2 */ + $2")
        XCTAssertEqual(try rewrite("SELECT $$ ? $$, ?"), "SELECT $$ ? $$, $1")
        XCTAssertEqual(try rewrite("SELECT $q$ it's ? $q$, ?"), "SELECT $q$ it's ? $q$, $1")
        XCTAssertEqual(try rewrite("SELECT $1::bigint"), "SELECT $1::bigint")
        XCTAssertEqual(try PGConnection.rewritePlaceholders("SELECT pg_notify($1, $2)").parameterCount, 2)
        XCTAssertEqual(try PGConnection.rewritePlaceholders("SELECT '$3', a$1").parameterCount, 0)
        XCTAssertEqual(try rewrite("SELECT 10 - ?"), "SELECT 10 - $1")
        XCTAssertEqual(try rewrite("SELECT 'unterminated ?"), "SELECT 'unterminated ?")
        XCTAssertEqual(try rewrite("SELECT 'é', ?"), "SELECT 'é', $1")
    }

    func testBadPlaceholderNumbersAreInvalid() {
        XCTAssertThrowsError(try rewrite("SELECT ?0")) { XCTAssertEqual(($0 as? StoreError)?.kind, .invalid) }
        XCTAssertThrowsError(try rewrite("SELECT ?70000")) { XCTAssertEqual(($0 as? StoreError)?.kind, .invalid) }
    }

    func testRedactHidesThePassword() {
        XCTAssertEqual(PGConnection.redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db")
        XCTAssertEqual(PGConnection.redact("postgresql://u:s%40c@h/db?sslmode=require"), "postgresql://u:***@h/db?sslmode=require")
        XCTAssertEqual(PGConnection.redact("postgres://u:p@ss/w@h/db"), "postgres://u:***@h/db")
        XCTAssertEqual(PGConnection.redact("postgres://u@h/db"), "postgres://u@h/db")
        XCTAssertEqual(PGConnection.redact("postgres://h/db"), "postgres://h/db")
        XCTAssertEqual(PGConnection.redact("postgres://h/db?user=u&password=secret&sslmode=disable"),
                       "postgres://h/db?user=u&password=***&sslmode=disable")
        XCTAssertEqual(PGConnection.redact("host=h password=secret dbname=d"), "host=h password=*** dbname=d")
    }

    func testSQLStateInAVerboseMessage() {
        XCTAssertEqual(PGConnection.sqlState(inMessage: #"connection to server at "127.0.0.1", port 54321 failed: FATAL:  28P01: password authentication failed for user "u""#), "28P01")
        XCTAssertNil(PGConnection.sqlState(inMessage: #"connection to server at "127.0.0.1", port 54321 failed: Connection refused"#))
        XCTAssertEqual(PGConnection.kind(sqlState: "23505"), .constraint)
        XCTAssertEqual(PGConnection.kind(sqlState: "08006"), .unavailable)
        XCTAssertEqual(PGConnection.kind(sqlState: "57P01"), .unavailable)
        XCTAssertEqual(PGConnection.kind(sqlState: "53100"), .full)
        XCTAssertEqual(PGConnection.kind(sqlState: "3D000"), .cannotOpen)
        XCTAssertEqual(PGConnection.kind(sqlState: "28000"), .cannotOpen)
        XCTAssertEqual(PGConnection.kind(sqlState: "22P02"), .invalid)
        XCTAssertEqual(PGConnection.kind(sqlState: "42601"), .other)
        XCTAssertEqual(PGConnection.kind(sqlState: nil), .other)
    }

    func testURLWithAnotherDatabase() {
        XCTAssertEqual(PGTestCluster.url("postgres://u:p@h:1/ccload", database: "t1"), "postgres://u:p@h:1/t1")
        XCTAssertEqual(PGTestCluster.url("postgres://u:p@h:1/ccload?sslmode=disable", database: "t1"), "postgres://u:p@h:1/t1?sslmode=disable")
        XCTAssertEqual(PGTestCluster.url("postgres://u:p@h:1", database: "t1"), "postgres://u:p@h:1/t1")
    }
}

/// The PostgreSQL connection against a real server (the test cluster).
final class PGConnectionTests: XCTestCase {
    private var url = ""
    private var open: [PGConnection] = []

    override func setUpWithError() throws {
        url = try PGTestCluster.shared.freshDatabase()
    }

    override func tearDown() {
        for c in open { c.close() }
        open = []
    }

    private func connect(_ name: String = "ccload-test") throws -> PGConnection {
        let c = try PGConnection.connect(url: url, applicationName: name)
        open.append(c)
        return c
    }

    private func password(of url: String) -> String {
        PGConnection.passwordInUserPart(url)?.text ?? "(none)"
    }

    func testPathAndDialect() throws {
        let c = try connect()
        XCTAssertEqual(c.dialect, .postgres)
        XCTAssertFalse(c.path.contains(password(of: url)))
        XCTAssertTrue(c.path.contains(":***@127.0.0.1:"), c.path)
        XCTAssertTrue(c.target.hasPrefix("127.0.0.1:"), c.target)
    }

    func testRoundTripsEveryType() throws {
        let c = try connect()
        try c.exec("CREATE TABLE v (id BIGSERIAL PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA)")
        let blob: [UInt8] = [0, 1, 0, 255, 0x5C, 0x78, 0]
        let rows: [(Int64?, Double?, String?, [UInt8]?)] = [
            (Int64.max, 1.5, "", []),
            (Int64.min, -0.1, "héllo wörld ✓ 🚀", blob),
            (-42, 1e300, "a'b\"c\\d?", [0]),
            (0, .infinity, "x", Array(0...255)),
            (nil, nil, nil, nil),
        ]
        let ins = try c.cached("INSERT INTO v(i, d, t, b) VALUES(?, ?, ?, ?) RETURNING id")
        var ids: [Int64] = []
        for r in rows {
            try ins.bind(1, r.0)
            try ins.bind(2, r.1)
            try ins.bind(3, r.2)
            if let b = r.3 { try ins.bind(4, b) } else { try ins.bindNull(4) }
            XCTAssertTrue(try ins.step())
            ids.append(ins.int64(0))
            XCTAssertFalse(try ins.step())
            ins.reset()
        }
        let sel = try c.cached("SELECT i, d, t, b FROM v WHERE id = ?")
        for (id, r) in zip(ids, rows) {
            try sel.bind(1, id)
            XCTAssertTrue(try sel.step())
            XCTAssertEqual(sel.isNull(0), r.0 == nil)
            XCTAssertEqual(sel.optionalInt64(0), r.0)
            XCTAssertEqual(sel.optionalDouble(1), r.1)
            XCTAssertEqual(sel.optionalText(2), r.2)
            XCTAssertEqual(sel.isNull(3), r.3 == nil)
            XCTAssertEqual(sel.blob(3), r.3 ?? [])
            XCTAssertFalse(try sel.step())
            sel.reset()
        }
        // Empty text is not NULL; NULL reads as 0 and "".
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM v WHERE t = ''"), 1)
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM v WHERE t IS NULL"), 1)
        XCTAssertEqual(try c.scalarText("SELECT t FROM v WHERE t IS NULL"), "")
        // bindStatic copies: the buffer may change once bound.
        var bytes = Array("static".utf8)
        let st = try c.cached("SELECT CAST(? AS TEXT)")
        try bytes.withUnsafeBufferPointer { try st.bindStatic(1, $0) }
        bytes[0] = UInt8(ascii: "X")
        XCTAssertTrue(try st.step())
        XCTAssertEqual(st.text(0), "static")
        st.reset()
        // Integers read from numeric, double and boolean columns, as SQLite would.
        XCTAssertEqual(try c.scalarInt("SELECT SUM(i) FROM v WHERE i BETWEEN -100 AND 100"), -42)
        XCTAssertEqual(try c.scalarInt("SELECT CAST(2.9 AS DOUBLE PRECISION)"), 2)
        XCTAssertEqual(try c.scalarInt("SELECT 1 = 1"), 1)
        XCTAssertEqual(try c.scalarInt("SELECT 1 = 2"), 0)
        XCTAssertEqual(try c.scalarInt("SELECT CAST(? AS BIGINT) + 1", [.int(41)]), 42)
        let nan = try c.cached("SELECT CAST('NaN' AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION)")
        try nan.bind(1, -Double.infinity)
        XCTAssertTrue(try nan.step())
        XCTAssertTrue(nan.double(0).isNaN)
        XCTAssertEqual(nan.double(1), -.infinity)
    }

    func testStepWalksRowsAndRunsAgainAfterDone() throws {
        let c = try connect()
        let s = try c.prepare("SELECT g FROM generate_series(1, CAST(? AS INTEGER)) AS g")
        defer { s.finalize() }
        try s.bind(1, 3)
        var got: [Int64] = []
        while try s.step() { got.append(s.int64(0)) }
        XCTAssertEqual(got, [1, 2, 3])
        // Bindings kept: the next step runs it again.
        s.resetKeepingBindings()
        XCTAssertTrue(try s.step())
        XCTAssertEqual(s.int64(0), 1)
        // Reset clears the bindings: NULL, no rows.
        s.reset()
        XCTAssertFalse(try s.step())
        // Out-of-range bind indexes fail.
        XCTAssertThrowsError(try s.bind(2, 1))
        XCTAssertThrowsError(try s.bind(0, 1))
        s.finalize()
        XCTAssertThrowsError(try s.step())
    }

    func testUnboundParametersAreNull() throws {
        let c = try connect()
        let s = try c.cached("SELECT CASE WHEN CAST(? AS TEXT) IS NULL THEN 1 ELSE 0 END, CAST(? AS BIGINT)")
        try s.bind(2, 7)
        XCTAssertTrue(try s.step())
        XCTAssertEqual(s.int64(0), 1)
        XCTAssertEqual(s.int64(1), 7)
    }

    func testFinalizedStatementsAreDeallocatedOnTheServer() throws {
        let c = try connect()
        let prepared = "SELECT count(*) FROM pg_prepared_statements"
        XCTAssertEqual(try c.scalarInt(prepared), 1)
        for k in 0..<5 {
            let s = try c.prepare("SELECT \(k) + CAST(? AS INTEGER)")
            try s.bind(1, k)
            XCTAssertTrue(try s.step())
            XCTAssertEqual(s.int64(0), Int64(2 * k))
            s.finalize()
        }
        // The next prepare outside a transaction deallocates the five.
        let t = try c.prepare("SELECT 1")
        defer { t.finalize() }
        XCTAssertEqual(try c.scalarInt(prepared), 2)
    }

    func testNulInTextIsInvalidNotACrash() throws {
        let c = try connect()
        let s = try c.cached("SELECT CAST(? AS TEXT)")
        XCTAssertThrowsError(try s.bind(1, "a\u{0}b")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .invalid)
        }
        // A NUL inside a blob is fine.
        try s.bind(1, "fine")
        XCTAssertTrue(try s.step())
        XCTAssertEqual(s.text(0), "fine")
    }

    func testErrorKindsAndMessages() throws {
        let c = try connect()
        try c.exec("CREATE TABLE u (name TEXT PRIMARY KEY, n INTEGER CHECK (n >= 0)); INSERT INTO u VALUES ('a', 1)")
        XCTAssertThrowsError(try c.run("INSERT INTO u(name, n) VALUES(?, ?)", [.text("a"), .int(2)])) { e in
            let e = e as? StoreError
            XCTAssertEqual(e?.kind, .constraint)
            XCTAssertTrue(e?.message.hasPrefix("INSERT INTO u(name, n) VALUES(?, ?): duplicate key") == true, e?.message ?? "")
        }
        XCTAssertThrowsError(try c.run("INSERT INTO u(name, n) VALUES(?, ?)", [.text("b"), .int(-1)])) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .constraint)
        }
        XCTAssertThrowsError(try c.run("UPDATE u SET n = ? WHERE name = 'a'", [.text("not a number")])) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .invalid)
        }
        XCTAssertThrowsError(try c.prepare("SELEC 1")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .other)
            XCTAssertTrue((e as? StoreError)?.message.contains("syntax error") == true)
        }
        XCTAssertThrowsError(try c.exec("SELECT * FROM missing_table")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .other)
        }
        // The connection is still usable after errors outside a transaction.
        XCTAssertEqual(try c.scalarInt("SELECT n FROM u WHERE name = ?", [.text("a")]), 1)
    }

    func testChangesCountsTheLastWrite() throws {
        let c = try connect()
        try c.exec("CREATE TABLE w (k INTEGER PRIMARY KEY, v INTEGER)")
        XCTAssertEqual(try c.run("INSERT INTO w VALUES (1, 0), (2, 0), (3, 0)"), 3)
        XCTAssertEqual(try c.run("UPDATE w SET v = 1 WHERE k >= ?", [.int(2)]), 2)
        // A SELECT leaves the count of the last write, as sqlite3_changes does.
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM w"), 3)
        XCTAssertEqual(c.changes, 2)
        XCTAssertEqual(try c.run("INSERT INTO w VALUES (1, 0) ON CONFLICT DO NOTHING"), 0)
        XCTAssertEqual(try c.run("DELETE FROM w"), 3)
        XCTAssertEqual(try c.insertReturningID("INSERT INTO w VALUES (?, 5) RETURNING k", [.int(9)]), 9)
        XCTAssertEqual(c.changes, 1)
    }

    func testTransactionCommitsAndRollsBackOnThrow() throws {
        let c = try connect()
        try c.exec("CREATE TABLE x (k INTEGER PRIMARY KEY)")
        struct Boom: Error {}
        XCTAssertThrowsError(try c.transaction {
            XCTAssertTrue(c.inTransaction)
            try c.run("INSERT INTO x VALUES (1)")
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertFalse(c.inTransaction)
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM x"), 0)

        _ = try c.transaction { try c.run("INSERT INTO x VALUES (2)") }
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM x"), 1)

        // An error swallowed inside aborts the transaction: the commit fails, nothing is kept.
        XCTAssertThrowsError(try c.transaction {
            try c.run("INSERT INTO x VALUES (3)")
            XCTAssertThrowsError(try c.run("INSERT INTO x VALUES (2)"))
        })
        XCTAssertFalse(c.inTransaction)
        XCTAssertEqual(try c.scalarInt("SELECT count(*) FROM x"), 1)

        // Nested transactions are refused, as SQLite refuses them.
        try c.transaction {
            XCTAssertThrowsError(try c.transaction {})
        }

        try c.exec("BEGIN")
        XCTAssertTrue(c.inTransaction)
        c.rollbackQuietly()
        XCTAssertFalse(c.inTransaction)
    }

    func testWrongPasswordIsCannotOpenAndNeverShown() throws {
        let secret = "Wr0ngPassw0rdXYZ"
        guard let pw = PGConnection.passwordInUserPart(url) else { return XCTFail("no password in \(PGConnection.redact(url))") }
        var bad = url
        bad.replaceSubrange(pw.range, with: secret)
        XCTAssertThrowsError(try PGConnection.connect(url: bad, applicationName: "t")) { e in
            let e = e as? StoreError
            XCTAssertEqual(e?.kind, .cannotOpen, e?.message ?? "")
            XCTAssertFalse(e?.message.contains(secret) ?? true)
            XCTAssertFalse(e?.message.contains(pw.text) ?? true)
            XCTAssertTrue(e?.message.contains("127.0.0.1:") == true, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("password authentication failed") == true, e?.message ?? "")
        }
    }

    func testMissingDatabaseIsCannotOpen() throws {
        let missing = PGTestCluster.url(url, database: "no_such_db")
        XCTAssertThrowsError(try PGConnection.connect(url: missing, applicationName: "t")) { e in
            let e = e as? StoreError
            XCTAssertEqual(e?.kind, .cannotOpen, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("/no_such_db") == true, e?.message ?? "")
            XCTAssertFalse(e?.message.contains(self.password(of: self.url)) ?? true)
        }
    }

    func testRefusedPortIsUnavailableQuickly() throws {
        // A port nobody listens on: bind one, note it, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let port = UInt16(bigEndian: addr.sin_port)
        Glibc.close(fd)
        let dead = "postgres://ccload:SecretPw123@127.0.0.1:\(port)/ccload"
        let t0 = monotonicNanos()
        XCTAssertThrowsError(try PGConnection.connect(url: dead, applicationName: "t")) { e in
            let e = e as? StoreError
            XCTAssertEqual(e?.kind, .unavailable, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("127.0.0.1:\(port)/ccload") == true, e?.message ?? "")
            XCTAssertFalse(e?.message.contains("SecretPw123") ?? true)
        }
        XCTAssertLessThan(monotonicNanos() - t0, 5_000_000_000)
        XCTAssertThrowsError(try PGConnection.connect(url: "mysql://x@y/z", applicationName: "t")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .invalid)
        }
    }

    func testNotificationsBetweenTwoConnections() throws {
        let a = try connect("a")
        let b = try connect("b")
        try b.listen("cfg")
        XCTAssertEqual(try b.waitForNotifications(timeoutMillis: 50), [])
        try a.notify("cfg", "channels:7")
        try a.notify("other", "not for b")
        let got = try b.waitForNotifications(timeoutMillis: 2000)
        XCTAssertEqual(got, [PGNotification(channel: "cfg", payload: "channels:7", senderPID: a.backendPID)])
        // Sent in a transaction: delivered at the commit, not before.
        try a.transaction {
            try a.notify("cfg", "in tx")
            XCTAssertEqual(try b.waitForNotifications(timeoutMillis: 100), [])
        }
        XCTAssertEqual(try b.waitForNotifications(timeoutMillis: 2000).map(\.payload), ["in tx"])
        XCTAssertThrowsError(try a.notify("cfg", String(repeating: "x", count: 7901))) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .invalid)
        }
        try a.notify("cfg", String(repeating: "y", count: 7900))
        XCTAssertEqual(try b.waitForNotifications(timeoutMillis: 2000).first?.payload.count, 7900)
        try b.unlisten("cfg")
        try a.notify("cfg", "after unlisten")
        XCTAssertEqual(try b.waitForNotifications(timeoutMillis: 200), [])
    }

    func testAdvisoryLockIsExclusiveAcrossSessions() throws {
        let a = try connect("a")
        let b = try connect("b")
        try a.advisoryLock(1515)
        XCTAssertEqual(try b.scalarInt("SELECT CASE WHEN pg_try_advisory_lock(CAST(? AS BIGINT)) THEN 1 ELSE 0 END", [.int(1515)]), 0)
        XCTAssertTrue(try a.advisoryUnlock(1515))
        XCTAssertFalse(try a.advisoryUnlock(1515))
        XCTAssertEqual(try b.scalarInt("SELECT CASE WHEN pg_try_advisory_lock(CAST(? AS BIGINT)) THEN 1 ELSE 0 END", [.int(1515)]), 1)
    }

    func testRecoversAfterTheServerRestarts() throws {
        let c = try connect("recover")
        let listener = try connect("listener")
        try listener.listen("cfg")
        try c.exec("CREATE TABLE r (k INTEGER PRIMARY KEY)")
        XCTAssertEqual(try c.run("INSERT INTO r VALUES (?)", [.int(1)]), 1)
        let count = "SELECT count(*) FROM r WHERE k >= ?"
        XCTAssertEqual(try c.scalarInt(count, [.int(0)]), 1)

        try PGTestCluster.shared.restart()

        // The first call finds the connection gone.
        XCTAssertThrowsError(try c.scalarInt(count, [.int(0)])) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .unavailable, (e as? StoreError)?.message ?? "\(e)")
        }
        XCTAssertThrowsError(try listener.waitForNotifications(timeoutMillis: 1000)) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .unavailable)
        }
        // A later one reconnects (at most one attempt a second); the cached statement works
        // again (prepared anew), and LISTEN is issued again.
        let deadline = monotonicNanos() + 10_000_000_000
        var value: Int64?
        var failures = 0
        while value == nil && monotonicNanos() < deadline {
            do {
                value = try c.scalarInt(count, [.int(0)])
            } catch let e as StoreError {
                if e.kind != .unavailable { return XCTFail("\(e.kind): \(e.message)") }
                failures += 1
                usleep(100_000)
            }
        }
        XCTAssertEqual(value, 1)
        XCTAssertLessThan(failures, 40, "reconnect attempts are spaced a second apart, each call failing fast")
        XCTAssertEqual(try c.run("INSERT INTO r VALUES (?)", [.int(2)]), 1)

        var delivered: [PGNotification] = []
        while delivered.isEmpty && monotonicNanos() < deadline {
            do {
                delivered = try listener.waitForNotifications(timeoutMillis: 100)
                if delivered.isEmpty { try c.notify("cfg", "after restart") }
            } catch let e as StoreError {
                if e.kind != .unavailable { return XCTFail("\(e.kind): \(e.message)") }
                usleep(100_000)
            }
        }
        XCTAssertEqual(delivered.first?.payload, "after restart")
        XCTAssertEqual(delivered.first?.channel, "cfg")
    }

    func testRecoversAfterTheServerIsKilled() throws {
        let c = try connect("crash")
        let generation = c.generation
        XCTAssertEqual(try c.scalarInt("SELECT 1"), 1)
        try PGTestCluster.shared.kill()
        XCTAssertThrowsError(try c.scalarInt("SELECT 1")) { e in
            XCTAssertEqual((e as? StoreError)?.kind, .unavailable, (e as? StoreError)?.message ?? "\(e)")
        }
        try PGTestCluster.shared.start()
        let deadline = monotonicNanos() + 10_000_000_000
        var value: Int64?
        while value == nil && monotonicNanos() < deadline {
            do {
                value = try c.scalarInt("SELECT 1")
            } catch let e as StoreError {
                if e.kind != .unavailable { return XCTFail("\(e.kind): \(e.message)") }
                usleep(100_000)
            }
        }
        XCTAssertEqual(value, 1)
        XCTAssertEqual(c.generation, generation + 1)
    }

    func testCallsFailFastWhileTheServerIsDown() throws {
        let c = try connect("down")
        XCTAssertEqual(try c.scalarInt("SELECT 1"), 1)
        try PGTestCluster.shared.stop()
        defer { XCTAssertNoThrow(try PGTestCluster.shared.start()) }
        let t0 = monotonicNanos()
        for _ in 0..<20 {
            XCTAssertThrowsError(try c.scalarInt("SELECT 1")) { e in
                XCTAssertEqual((e as? StoreError)?.kind, .unavailable)
                XCTAssertFalse((e as? StoreError)?.message.contains(self.password(of: self.url)) ?? true)
            }
        }
        XCTAssertFalse(c.inTransaction)
        XCTAssertLessThan(monotonicNanos() - t0, 3_000_000_000, "20 calls against a stopped server")
    }
}
