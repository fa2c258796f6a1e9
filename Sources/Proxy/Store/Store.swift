import CEpoll
import Glibc
import Reactor

/// How the store opens and runs. The lead fills it from the environment and settings.
public struct StoreOptions: Sendable {
    /// Records the writer's queue holds before it drops.
    public var queueCapacity = 65_536
    /// Most rows per write transaction.
    public var batchSize = 1_000
    /// Longest a record waits in the queue before its batch is written.
    public var batchIntervalNanos: UInt64 = 100 * 1_000_000
    /// When a batch's log rows are stored whole as a pending segment (`StoreWriter`).
    public var logPacking = LogPacking.whenBusy
    /// Pending log rows past which the writer moves segments even while busy (about 200
    /// bytes each: 1,048,576 is about 25 s of a relay at 40k requests a second).
    public var maxPendingLogRows = 1_048_576
    /// How long closing goes on moving pending segments before it leaves the rest for the
    /// next start.
    public var stopMoveNanos: UInt64 = 2_000_000_000
    /// Request logs older than this are deleted (`CCLOAD_LOG_RETENTION_DAYS`).
    public var logRetentionDays = SettingsCatalog.defaultInteger("log_retention_days")
    /// Hourly statistics older than this are deleted.
    public var statsRetentionDays = SettingsCatalog.defaultInteger("stats_retention_days")
    /// Rows per retention DELETE statement.
    public var retentionChunkRows = 5_000
    /// How often retention runs (it also runs once shortly after open).
    public var retentionIntervalNanos: UInt64 = 24 * 3600 * 1_000_000_000
    /// Delay before the first retention pass after open.
    public var firstRetentionDelayNanos: UInt64 = 60 * 1_000_000_000
    /// Reader threads for admin queries.
    public var readerThreads = 2
    public var busyTimeoutMillis: Int32 = 5_000
    /// Run `PRAGMA quick_check` at open (reads the whole file: seconds on a large database).
    public var quickCheckAtOpen = false
    /// The schema steps (tests pass a prefix to build an older database).
    public var migrations: [Migration] = Schema.migrations
    /// The key secrets are sealed with (`CCLOAD_SECRET_KEY`); nil: the key file beside the
    /// database (`<path>.key`, made with mode 0600 when the database holds no sealed value yet).
    public var secretKey: SecretKey?
    /// Wall clock in milliseconds (tests drive it).
    public var wallClock: @Sendable () -> UInt64 = { wallClockMillis() }

    public init() {}
}

/// When the writer stores a batch's log rows as one pending segment instead of as rows.
public enum LogPacking: Sendable {
    /// While the relay is busy (the last batch was full). The default.
    case whenBusy
    /// Every batch (tests).
    case always
    /// Never: every batch goes straight into `request_logs`.
    case never
}

/// Where the store keeps its tables: an SQLite file (the embedded default) or a PostgreSQL
/// database that several ccload instances share.
public enum StoreLocation: Sendable, Equatable {
    case sqlite(path: String)
    /// A `postgres://` or `postgresql://` URL (libpq's form).
    case postgres(url: String)

    /// PostgreSQL when `databaseURL` is given (and not empty), else the SQLite file.
    public static func from(databaseURL: String?, sqlitePath: String) -> StoreLocation {
        if let u = databaseURL, !u.isEmpty { return .postgres(url: u) }
        return .sqlite(path: sqlitePath)
    }

    /// Whether `url` names PostgreSQL (the only server backend).
    public static func isPostgresURL(_ url: String) -> Bool {
        url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
    }
}

/// ccload's store: configuration (channels, tokens, settings, cooldowns, login sessions),
/// request logs and hourly statistics, in an embedded SQLite file or in PostgreSQL. The two
/// backends run the same queries through `SQLConnection`; nothing outside this folder knows
/// which one is open.
///
/// Threads: no method here may be called on a reactor thread except `writer.enqueue` (never
/// blocks) and `query` (hands work to a reader thread and the result back with
/// `loop.submit`). The configuration methods are synchronous: call them at start-up or from
/// inside a `query` body. They use one connection guarded by a lock (SQLite: with
/// `synchronous=FULL`), so a configuration write is durable when the call returns. The
/// writer thread and each reader thread own their own connections.
public final class Store: Sendable {
    public static let defaultPath = "data/ccload.db"

    /// The SQLite file, or the PostgreSQL URL without its password.
    public let path: String
    public let location: StoreLocation
    public let dialect: SQLDialect
    public let options: StoreOptions
    public let writer: StoreWriter
    let config: Lock<(any SQLConnection)?>
    let readers: ReaderPool
    /// Seals and opens the secrets the store keeps (`StoreSecrets.swift`).
    let secrets: SecretBox
    /// The key file this open created (the first start of a database without
    /// `CCLOAD_SECRET_KEY`), for the start-up log; nil otherwise.
    public let createdKeyFile: String?

    /// Opens (creating the file and its folder when missing) and migrates the SQLite database
    /// at `path`, then starts the writer and reader threads. Throws a `StoreError` whose
    /// message says what is wrong: an unwritable path, a file that is not a database, a
    /// damaged database, a schema newer than this ccload, a secret key that is missing or not
    /// the one the database was sealed with (`.secretKey`). Plaintext secrets of an older
    /// database are sealed here, in one transaction.
    public static func open(path: String = Store.defaultPath, options: StoreOptions = StoreOptions()) throws -> Store {
        try Store(location: .sqlite(path: path), options: options)
    }

    /// Opens the store at `location`. PostgreSQL: connects (`.unavailable` when the server
    /// cannot be reached, `.cannotOpen` when it refuses the login or has no such database),
    /// migrates under an advisory lock (one instance at a time), and needs the secret key
    /// given (`options.secretKey`): instances that share a database share its key, so there
    /// is no key file.
    public static func open(_ location: StoreLocation, options: StoreOptions = StoreOptions()) throws -> Store {
        try Store(location: location, options: options)
    }

    /// The connections a store opens, one per role.
    enum Role: String { case config, writer, reader }

    private init(location: StoreLocation, options: StoreOptions) throws {
        self.location = location
        self.options = options
        let connect: (Role) throws -> any SQLConnection
        switch location {
        case .sqlite(let path):
            try Store.makeFolder(for: path)
            connect = { role in try Store.connectSQLite(path, options, role) }
        case .postgres(let url):
            connect = { role in try Store.connectPostgres(url, role) }
        }
        let db = try connect(.config)
        path = db.path
        dialect = db.dialect
        // A failed open closes the connection (its statements go with it).
        var opened = false
        defer { if !opened { db.close() } }
        do {
            try Migrator.migrate(db, options.migrations, nowMillis: options.wallClock())
        } catch let e as StoreError {
            throw Store.explain(e, path)
        }
        if dialect == .sqlite {
            if options.quickCheckAtOpen {
                let r = try db.scalarText("PRAGMA quick_check") ?? "?"
                if r != "ok" {
                    throw StoreError(.corrupt, "database \(path) is damaged (quick_check: \(r)); restore a backup or move it aside")
                }
            }
            // Freed space is zeroed, so a replaced secret leaves no old bytes in the file.
            try db.exec("PRAGMA secure_delete=ON")
        }
        let (box, created) = try Store.secretBox(for: location, options, db)
        try Store.prepareSecrets(db, box, path: path, keyGiven: options.secretKey != nil, nowMillis: options.wallClock())
        secrets = box
        createdKeyFile = created
        config = Lock(db)
        let writerDB = try connect(.writer)
        var readerDBs: [any SQLConnection] = []
        for _ in 0..<max(1, options.readerThreads) { readerDBs.append(try connect(.reader)) }
        writer = try StoreWriter(db: writerDB, options: options)
        readers = ReaderPool(databases: readerDBs)
        readers.store = self
        opened = true
    }

    /// Flushes the writer (everything queued is written), then stops every store thread and
    /// closes the connections. Further calls fail with `.closed`. Call it before dropping
    /// the store: the threads keep it alive until then.
    public func close() {
        writer.close()
        readers.close()
        config.withLock { db in
            db?.close()
            db = nil
        }
    }

    /// Runs `body` with the configuration connection, holding its lock.
    @discardableResult
    public func withConfig<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try config.withLock { db in
            guard let db else { throw StoreError(.closed, "the store is closed") }
            return try body(db)
        }
    }

    /// Runs `body` on a reader thread and hands its result back on `loop`. `completion`
    /// runs on `loop`'s thread; `body` must not touch loop-owned state.
    public func query<T: Sendable>(_ body: @escaping @Sendable (StoreReader) -> T, on loop: Loop,
                                   completion: @escaping (T) -> Void) {
        let done = LoopBound(completion)
        readers.submit { reader in
            let value = body(reader)
            loop.submit { done.value(value) }
        }
    }

    /// `query` for a body that throws: the completion gets a `Result`.
    public func tryQuery<T: Sendable>(_ body: @escaping @Sendable (StoreReader) throws -> T, on loop: Loop,
                                      completion: @escaping (Result<T, StoreError>) -> Void) {
        query({ reader in
            do { return Result<T, StoreError>.success(try body(reader)) } catch let e as StoreError {
                return .failure(e)
            } catch {
                return .failure(StoreError(.other, "\(error)"))
            }
        }, on: loop, completion: completion)
    }

    /// Runs `body` synchronously on the calling thread with a reader over the configuration
    /// connection (start-up, tests, tools; never a reactor thread). The body holds the
    /// configuration lock: it must not call the store's configuration methods (that would
    /// deadlock); `query` bodies may.
    public func read<T>(_ body: (StoreReader) throws -> T) throws -> T {
        try withConfig { db in try body(StoreReader(db: db, store: self)) }
    }

    // MARK: opening

    static func makeFolder(for path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let dir = String(path[..<slash])
        if dir.isEmpty { return }
        var built = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o755) != 0 {
                let e = errno
                if e == EEXIST {
                    var st = stat()
                    if stat(built, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { continue }
                    throw StoreError(.cannotOpen, "cannot create the folder for database \(path): \(built) exists and is not a folder")
                }
                throw StoreError(.cannotOpen, "cannot create the folder for database \(path): \(built): \(String(cString: strerror(e)))")
            }
        }
    }

    /// An SQLite connection for `role`: the configuration connection writes with
    /// `synchronous=FULL`, the writer with `NORMAL` (WAL), readers are query-only.
    static func connectSQLite(_ path: String, _ options: StoreOptions, _ role: Role) throws -> Database {
        let db = try connect(path, options, synchronous: role == .config ? "FULL" : "NORMAL")
        if role == .reader { try db.exec("PRAGMA query_only=1") }
        return db
    }

    static func connect(_ path: String, _ options: StoreOptions, synchronous: String) throws -> Database {
        let db = try Database(path: path)
        db.setBusyTimeout(millis: options.busyTimeoutMillis)
        do {
            // The first statement reads the file header: a file that is not a database or a
            // damaged first page fails here.
            let mode = try db.scalarText("PRAGMA journal_mode=WAL")
            if mode?.lowercased() != "wal" {
                throw StoreError(.cannotOpen, "database \(path) cannot use WAL mode (journal_mode is \(mode ?? "?"))")
            }
            try db.exec("PRAGMA synchronous=\(synchronous); PRAGMA foreign_keys=ON")
            // Reads the schema: a damaged schema page fails here.
            _ = try db.scalarInt("SELECT count(*) FROM sqlite_master")
        } catch let e as StoreError {
            throw explain(e, path)
        }
        return db
    }

    /// Rewords an open-time SQLite error so that it names the file and the way out.
    static func explain(_ e: StoreError, _ path: String) -> StoreError {
        switch e.kind {
        case .notADatabase:
            return StoreError(.notADatabase, "\(path) is not an SQLite database (\(e.message)); move it aside or set SQLITE_PATH to another file", code: e.code)
        case .corrupt:
            return StoreError(.corrupt, "database \(path) is damaged (\(e.message)); restore a backup or move it aside", code: e.code)
        case .cannotOpen, .io:
            return StoreError(e.kind, "cannot use database \(path): \(e.message)", code: e.code)
        default:
            return e
        }
    }
}

/// A value created on a loop and used only on that loop, carried through another thread.
final class LoopBound<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
