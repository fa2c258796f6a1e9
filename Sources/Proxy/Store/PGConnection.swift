import CPostgres
import Glibc
import Reactor

/// A notification received on a channel the connection listens on (`NOTIFY` or `pg_notify`
/// from any session, this one included).
public struct PGNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The server process of the session that sent it.
    public var senderPID: Int32

    public init(channel: String, payload: String, senderPID: Int32) {
        self.channel = channel
        self.payload = payload
        self.senderPID = senderPID
    }
}

/// One connection to a PostgreSQL server through libpq, behind the store's `SQLConnection`.
/// Not thread-safe: owned by one thread at a time, like SQLite's `Database`, and it blocks
/// that thread on the network (never use it on a reactor thread).
///
/// Statements are named server-side prepared statements; parameters go as text (blobs as
/// binary) and results come as text. A lost connection fails every call with `.unavailable`;
/// a later call reconnects (at most one attempt a second, each waited on for at most half a
/// second per call), then prepares its statements again as they are used and listens again
/// on its channels. Notifications and advisory locks are PostgreSQL-only extras.
public final class PGConnection: SQLConnection, @unchecked Sendable {
    public var dialect: SQLDialect { .postgres }
    /// The URL with its password replaced by `***`.
    public let path: String
    /// `host:port/db`, naming the server in messages.
    public let target: String
    /// The password as written in the URL and as decoded: scrubbed from every message.
    private let secrets: [String]
    private let connectTimeoutNanos: UInt64
    private var conn: OpaquePointer?
    private var closed = false

    /// Set when the connection was found broken; cleared by a successful reset.
    private var lost = false
    private var resetting = false
    private var resetPoll = PGRES_POLLING_WRITING
    private var resetDeadline: UInt64 = 0
    private var lastResetStart: UInt64?
    private var lossReason = ""
    /// How long one call waits for a reconnection in progress before failing `.unavailable`.
    static let reconnectWaitNanos: UInt64 = 500_000_000
    static let reconnectIntervalNanos: UInt64 = 1_000_000_000

    /// Counts successful connections (1 after `connect`, one more after each reconnection):
    /// a statement prepared under an older generation is prepared again before it runs, and
    /// a listener that sees it change knows notifications may have been missed meanwhile.
    public private(set) var generation = 0
    private var nextStatementID = 0
    private var cache: [String: PGStatement] = [:]
    /// Names of finalized statements still prepared on the server, deallocated at the next
    /// prepare outside a transaction.
    private var unusedStatements: [String] = []
    private var channels: [String] = []

    public private(set) var changes = 0

    private init(path: String, target: String, secrets: [String], connectTimeoutNanos: UInt64) {
        self.path = path
        self.target = target
        self.secrets = secrets
        self.connectTimeoutNanos = connectTimeoutNanos
    }

    deinit { close() }

    /// Connects to the server named by `url` (`postgres://` or `postgresql://`, with user,
    /// password, host, port, database and libpq's query parameters such as `sslmode`).
    /// Adds `application_name`, `connect_timeout=5`, TCP keepalives (idle 5 s, then 3 probes
    /// 2 s apart) and `tcp_user_timeout=10000` (ms) unless the URL sets them, so a dead server
    /// cannot hold a store thread for long. Throws `.unavailable` when the server cannot be
    /// reached (refused, unreachable, timed out, starting up), `.cannotOpen` when it refuses
    /// the login (password, user, database), `.invalid` for a malformed URL; the message
    /// names host:port/db, never the password.
    public static func connect(url: String, applicationName: String) throws -> PGConnection {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw StoreError(.invalid, "not a PostgreSQL URL (postgres://user:password@host:port/db): \(redact(url))")
        }
        var secrets: [String] = []
        if let pw = passwordInUserPart(url)?.text, !pw.isEmpty {
            secrets.append(pw)
            let decoded = percentDecoded(pw)
            if decoded != pw { secrets.append(decoded) }
        }
        let options = try parseOptions(url, secrets: secrets)
        if let pw = options["password"], !pw.isEmpty, !secrets.contains(pw) { secrets.append(pw) }
        let host = options["host"] ?? options["hostaddr"] ?? "localhost"
        let db = options["dbname"] ?? options["user"] ?? ""
        let target = "\(host):\(options["port"] ?? "5432")/\(db)"
        let timeout = options["connect_timeout"].flatMap { UInt64($0) }.map { max($0, 2) } ?? 5
        let c = PGConnection(path: redact(url), target: target, secrets: secrets,
                             connectTimeoutNanos: timeout * 1_000_000_000)
        try c.open(url: url, applicationName: applicationName)
        return c
    }

    /// The connection options libpq reads from `url` (keyword → value).
    private static func parseOptions(_ url: String, secrets: [String]) throws -> [String: String] {
        var err: UnsafeMutablePointer<CChar>?
        guard let opts = PQconninfoParse(url, &err) else {
            let msg = err.map { String(cString: $0) } ?? "cannot parse"
            if let err { PQfreemem(err) }
            throw StoreError(.invalid, "invalid PostgreSQL URL \(redact(url)): \(scrub(oneLine(msg), secrets))")
        }
        defer { PQconninfoFree(opts) }
        var out: [String: String] = [:]
        var p = opts
        while let k = p.pointee.keyword {
            if let v = p.pointee.val { out[String(cString: k)] = String(cString: v) }
            p += 1
        }
        return out
    }

    private func open(url: String, applicationName: String) throws {
        // Ours first, then the URL (expanded in place of dbname, so it overrides them), then
        // what must hold whatever the URL says: the name given, and UTF-8 text.
        let pairs: [(String, String)] = [
            ("connect_timeout", "5"), ("keepalives", "1"), ("keepalives_idle", "5"),
            ("keepalives_interval", "2"), ("keepalives_count", "3"), ("tcp_user_timeout", "10000"),
            ("dbname", url), ("application_name", applicationName), ("client_encoding", "UTF8"),
        ]
        let keys = pairs.map { UnsafePointer(strdup($0.0)) } + [nil]
        let values = pairs.map { UnsafePointer(strdup($0.1)) } + [nil]
        defer {
            for k in keys { free(UnsafeMutablePointer(mutating: k)) }
            for v in values { free(UnsafeMutablePointer(mutating: v)) }
        }
        guard let c = PQconnectStartParams(keys, values, 1) else {
            throw StoreError(.other, "cannot connect to PostgreSQL at \(target): out of memory")
        }
        // Verbose: a login refused by the server carries its SQLSTATE in the message.
        PQsetErrorVerbosity(c, PQERRORS_VERBOSE)
        PQsetNoticeProcessor(c, { _, _ in }, nil)
        var status = PGRES_POLLING_WRITING
        let ok = PQstatus(c) != CONNECTION_BAD
            ? drive(c, reset: false, status: &status, until: monotonicNanos() &+ connectTimeoutNanos)
            : false
        guard ok == true else {
            let reason = ok == nil ? "timed out after \(connectTimeoutNanos / 1_000_000_000) s" : rawMessage(c)
            PQfinish(c)
            var kind = PGConnection.kind(sqlState: PGConnection.sqlState(inMessage: reason))
            if kind == .other || kind == .invalid { kind = .unavailable }
            if PGConnection.sqlState(inMessage: reason) == "53300" { kind = .unavailable }
            throw StoreError(kind, "cannot connect to PostgreSQL at \(target): \(reason)")
        }
        conn = c
        generation += 1
    }

    /// Drives a connection attempt (`PQconnectPoll` or `PQresetPoll`) until it succeeds
    /// (true), fails (false), or `deadline` passes (nil: still under way; `status` keeps
    /// where it stands for the next call).
    private func drive(_ c: OpaquePointer, reset: Bool, status: inout PostgresPollingStatusType,
                       until deadline: UInt64) -> Bool? {
        while true {
            switch status {
            case PGRES_POLLING_OK: return true
            case PGRES_POLLING_FAILED: return false
            default: break
            }
            let now = monotonicNanos()
            if now >= deadline { return nil }
            let fd = PQsocket(c)
            if fd >= 0 {
                let read = status == PGRES_POLLING_READING
                var pfd = pollfd(fd: fd, events: Int16(read ? POLLIN : POLLOUT), revents: 0)
                let ms = Int32(min((deadline - now) / 1_000_000 + 1, 60_000))
                let r = poll(&pfd, 1, ms)
                if r < 0 && errno == EINTR { continue }
                if r == 0 { continue }
            }
            status = reset ? PQresetPoll(c) : PQconnectPoll(c)
        }
    }

    /// libpq's current message on one line, without the password.
    private func rawMessage(_ c: OpaquePointer) -> String {
        let m = PQerrorMessage(c).map { String(cString: $0) } ?? ""
        let line = PGConnection.oneLine(m)
        return scrub(line.isEmpty ? "unknown error" : line)
    }

    private func scrub(_ s: String) -> String { PGConnection.scrub(s, secrets) }

    private static func scrub(_ s: String, _ secrets: [String]) -> String {
        var s = s
        for secret in secrets where !secret.isEmpty {
            s = s.replacingAll(secret, with: "***")
        }
        return s
    }

    // MARK: - The live connection

    /// The connection, reconnecting first when it was lost. Throws `.closed` after `close()`
    /// and `.unavailable` while the server cannot be reached.
    private func live() throws -> OpaquePointer {
        guard !closed, let c = conn else {
            throw StoreError(.closed, "the PostgreSQL connection to \(target) is closed")
        }
        if !lost {
            if PQstatus(c) == CONNECTION_OK { return c }
            markLost(rawMessage(c))
        }
        try reconnect(c)
        return c
    }

    private func markLost(_ reason: String) {
        if !lost { lossReason = reason }
        lost = true
    }

    private func unavailable(_ what: String) -> StoreError {
        StoreError(.unavailable, "PostgreSQL at \(target) is unavailable: \(what)")
    }

    /// Starts or continues a reset: a new attempt at most once a second, each call waiting
    /// at most `reconnectWaitNanos` for it. On success the statements are marked for a new
    /// prepare (the generation) and the channels are listened on again.
    private func reconnect(_ c: OpaquePointer) throws {
        let now = monotonicNanos()
        if !resetting {
            if let last = lastResetStart, now &- last < PGConnection.reconnectIntervalNanos {
                throw unavailable("connection lost (\(lossReason)); reconnecting")
            }
            lastResetStart = now
            guard PQresetStart(c) == 1 else {
                throw unavailable("cannot reconnect: \(rawMessage(c))")
            }
            resetting = true
            resetPoll = PGRES_POLLING_WRITING
            resetDeadline = now &+ connectTimeoutNanos
        }
        let ok = drive(c, reset: true, status: &resetPoll, until: min(resetDeadline, now &+ PGConnection.reconnectWaitNanos))
        switch ok {
        case true?:
            resetting = false
            lost = false
            generation += 1
            changes = 0
            unusedStatements.removeAll()
            for ch in channels {
                let res = PQexec(c, "LISTEN \(PGConnection.quotedIdentifier(ch))")
                let good = PQresultStatus(res) == PGRES_COMMAND_OK
                PQclear(res)
                if !good {
                    markLost(rawMessage(c))
                    throw unavailable("reconnected, but LISTEN \(ch) failed: \(rawMessage(c))")
                }
            }
            lastResetStart = nil
        case false?:
            resetting = false
            throw unavailable("cannot reconnect: \(rawMessage(c))")
        case nil:
            if monotonicNanos() >= resetDeadline {
                resetting = false
                throw unavailable("cannot reconnect: timed out after \(connectTimeoutNanos / 1_000_000_000) s")
            }
            throw unavailable("connection lost (\(lossReason)); reconnecting")
        }
    }

    /// `res` when it holds a success; else the error as a `StoreError` (PQclear'ed). A broken
    /// connection is `.unavailable` whatever the server said; else the SQLSTATE decides.
    private func checked(_ res: OpaquePointer?, sql: String, _ c: OpaquePointer) throws -> OpaquePointer {
        let status = res.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        if let res, status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY {
            noteChanges(res)
            return res
        }
        defer { PQclear(res) }
        let head = PGConnection.sqlHead(sql)
        if PQstatus(c) == CONNECTION_BAD {
            markLost(rawMessage(c))
            throw StoreError(.unavailable, "\(head): PostgreSQL at \(target) is unavailable: \(lossReason)")
        }
        func field(_ code: UInt8) -> String? {
            guard let res, let p = PQresultErrorField(res, Int32(code)) else { return nil }
            return String(cString: p)
        }
        let state = field(UInt8(ascii: "C"))
        let primary = field(UInt8(ascii: "M")).map { scrub(PGConnection.oneLine($0)) } ?? rawMessage(c)
        throw StoreError(PGConnection.kind(sqlState: state), "\(head): \(primary)")
    }

    /// SQLite's `changes()`: rows inserted, updated or deleted by the last such statement; a
    /// SELECT or DDL statement leaves the count as it was.
    private func noteChanges(_ res: OpaquePointer) {
        guard let tag = PQcmdStatus(res) else { return }
        let b = UnsafeRawPointer(tag).assumingMemoryBound(to: UInt8.self)
        func starts(_ word: StaticString) -> Bool {
            strncmp(tag, UnsafeRawPointer(word.utf8Start).assumingMemoryBound(to: CChar.self), word.utf8CodeUnitCount) == 0
        }
        guard b.pointee != 0, starts("INSERT ") || starts("UPDATE ") || starts("DELETE ") || starts("MERGE ") else {
            return
        }
        changes = PQcmdTuples(res).map { Int(String(cString: $0)) ?? 0 } ?? 0
    }

    // MARK: - SQLConnection

    /// Runs one or more statements without parameters (`PQexec`: several statements in one
    /// string run as one implicit transaction unless they hold their own BEGIN/COMMIT).
    public func exec(_ sql: String) throws {
        let c = try live()
        PQclear(try checked(PQexec(c, sql), sql: sql, c))
    }

    /// A new prepared statement, owned by the caller (prepared on the server now, so a
    /// syntax error or unknown table fails here, as with SQLite).
    public func prepare(_ sql: String) throws -> any SQLStatement { try preparePG(sql) }

    func preparePG(_ sql: String) throws -> PGStatement {
        let rewritten = try PGConnection.rewritePlaceholders(sql)
        let c = try live()
        nextStatementID += 1
        let s = PGStatement(sql: sql, serverSQL: rewritten.sql, name: "ccload_\(nextStatementID)",
                            parameterCount: rewritten.parameterCount, connection: self)
        try prepareOnServer(s, c)
        return s
    }

    /// A prepared statement kept by the connection for reuse, reset and with its bindings cleared.
    public func cached(_ sql: String) throws -> any SQLStatement { try cachedPG(sql) }

    func cachedPG(_ sql: String) throws -> PGStatement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        let s = try preparePG(sql)
        cache[sql] = s
        return s
    }

    private func prepareOnServer(_ s: PGStatement, _ c: OpaquePointer) throws {
        if !unusedStatements.isEmpty && PQtransactionStatus(c) == PQTRANS_IDLE {
            let sql = unusedStatements.map { "DEALLOCATE \($0)" }.joined(separator: "; ")
            unusedStatements.removeAll()
            PQclear(PQexec(c, sql))
        }
        PQclear(try checked(PQprepare(c, s.name, s.serverSQL, 0, nil), sql: s.sql, c))
        s.generation = generation
    }

    /// Runs `s` with its bound parameters (preparing it again first after a reconnection)
    /// and returns the result, which the statement owns.
    func execute(_ s: PGStatement) throws -> OpaquePointer {
        let c = try live()
        if s.generation != generation { try prepareOnServer(s, c) }
        let res = s.withParameters { count, values, lengths, formats in
            PQexecPrepared(c, s.name, count, values, lengths, formats, 0)
        }
        return try checked(res, sql: s.sql, c)
    }

    /// A finalized statement's server-side name, to deallocate later.
    func forget(_ s: PGStatement) {
        guard !closed, s.generation == generation else { return }
        unusedStatements.append(s.name)
    }

    /// True inside a transaction, including one aborted by an error and not yet rolled back.
    public var inTransaction: Bool {
        guard !closed, let c = conn else { return false }
        let s = PQtransactionStatus(c)
        return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE
    }

    /// Runs `body` in a transaction (BEGIN … COMMIT); rolls back when it throws. An error
    /// inside aborts a PostgreSQL transaction: a body that catches a statement's error and
    /// goes on fails at the commit (`.other`), where SQLite would have committed the rest.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if inTransaction {
            throw StoreError(.other, "BEGIN: cannot start a transaction within a transaction")
        }
        try exec("BEGIN")
        do {
            let r = try body()
            let c = try live()
            if PQtransactionStatus(c) == PQTRANS_INERROR {
                throw StoreError(.other, "COMMIT: the transaction was aborted by an earlier error in it")
            }
            let res = try checked(PQexec(c, "COMMIT"), sql: "COMMIT", c)
            let tag = PQcmdStatus(res).map { String(cString: $0) } ?? ""
            PQclear(res)
            if tag == "ROLLBACK" {
                throw StoreError(.other, "COMMIT: the server rolled the transaction back")
            }
            return r
        } catch {
            rollbackQuietly()
            throw error
        }
    }

    /// Rolls back the open transaction, if any, ignoring errors.
    public func rollbackQuietly() {
        guard inTransaction, let c = conn else { return }
        PQclear(PQexec(c, "ROLLBACK"))
    }

    /// Finalizes the cached statements and closes the connection; idempotent. A statement
    /// still held elsewhere fails `.closed` from then on.
    public func close() {
        if closed { return }
        closed = true
        for s in cache.values { s.finalize() }
        cache.removeAll()
        if let c = conn { PQfinish(c) }
        conn = nil
    }

    // MARK: - PostgreSQL only

    /// The server process serving this connection (`pg_backend_pid()`), or 0 when there is none.
    public var backendPID: Int32 {
        guard !closed, !lost, let c = conn else { return 0 }
        return PQbackendPID(c)
    }

    /// Listens on `channel` from now on, and again after every reconnection.
    public func listen(_ channel: String) throws {
        try exec("LISTEN \(try PGConnection.checkedChannel(channel))")
        if !channels.contains(channel) { channels.append(channel) }
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) throws {
        channels.removeAll { $0 == channel }
        try exec("UNLISTEN \(try PGConnection.checkedChannel(channel))")
    }

    /// The largest payload `notify` sends (PostgreSQL's limit is 8000 bytes).
    public static let maxPayloadBytes = 7_900

    /// Sends `payload` to every session listening on `channel` (`SELECT pg_notify($1, $2)`).
    /// Inside a transaction it is delivered at the commit, and not at all on a rollback.
    /// A payload over `maxPayloadBytes` bytes (UTF-8) is `.invalid`.
    public func notify(_ channel: String, _ payload: String) throws {
        guard payload.utf8.count <= PGConnection.maxPayloadBytes else {
            throw StoreError(.invalid, "notify \(channel): the payload has \(payload.utf8.count) bytes, more than \(PGConnection.maxPayloadBytes)")
        }
        _ = try PGConnection.checkedChannel(channel)
        let s = try cachedPG("SELECT pg_notify($1, $2)")
        try s.bind(1, channel)
        try s.bind(2, payload)
        try s.stepDone()
    }

    /// The notifications that have arrived, waiting up to `timeoutMillis` for the first when
    /// none has: empty on timeout. Throws `.unavailable` when the connection is lost (after a
    /// reconnection the channels are listened on again, but what was sent meanwhile is gone).
    public func waitForNotifications(timeoutMillis: Int) throws -> [PGNotification] {
        let c = try live()
        let deadline = monotonicNanos() &+ UInt64(max(timeoutMillis, 0)) * 1_000_000
        while true {
            if PQconsumeInput(c) == 0 { return try lostWhileWaiting(c) }
            let got = drainNotifications(c)
            if !got.isEmpty { return got }
            let now = monotonicNanos()
            if now >= deadline { return [] }
            var pfd = pollfd(fd: PQsocket(c), events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000)))
            if r < 0 && errno != EINTR {
                return try lostWhileWaiting(c)
            }
        }
    }

    private func lostWhileWaiting(_ c: OpaquePointer) throws -> [PGNotification] {
        markLost(rawMessage(c))
        throw unavailable("connection lost while waiting for notifications (\(lossReason))")
    }

    private func drainNotifications(_ c: OpaquePointer) -> [PGNotification] {
        var out: [PGNotification] = []
        while let n = PQnotifies(c) {
            out.append(PGNotification(
                channel: n.pointee.relname.map { String(cString: $0) } ?? "",
                payload: n.pointee.extra.map { String(cString: $0) } ?? "",
                senderPID: n.pointee.be_pid))
            PQfreemem(n)
        }
        return out
    }

    /// Waits for the session-level advisory lock `key` (`pg_advisory_lock`): one holder
    /// across all sessions, released by `advisoryUnlock` or when the connection ends (a lost
    /// connection releases it too).
    public func advisoryLock(_ key: Int64) throws {
        let s = try cachedPG("SELECT pg_advisory_lock($1::bigint)")
        try s.bind(1, key)
        try s.stepDone()
    }

    /// Releases the advisory lock `key`; false when this session did not hold it.
    @discardableResult
    public func advisoryUnlock(_ key: Int64) throws -> Bool {
        let s = try cachedPG("SELECT pg_advisory_unlock($1::bigint)")
        try s.bind(1, key)
        defer { s.reset() }
        guard try s.step() else { return false }
        return s.bool(0)
    }

    /// `channel` quoted as an identifier; `.invalid` when empty, over 63 bytes, or holding NUL.
    private static func checkedChannel(_ channel: String) throws -> String {
        guard !channel.isEmpty, channel.utf8.count <= 63, !channel.utf8.contains(0) else {
            throw StoreError(.invalid, "not a channel name: \(channel.debugDescription)")
        }
        return quotedIdentifier(channel)
    }

    static func quotedIdentifier(_ s: String) -> String {
        "\"" + s.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    /// Every occurrence of `target` replaced by `replacement`.
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
