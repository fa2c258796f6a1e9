// Secrets at rest: every upstream secret the store keeps (channel keys, channel egress proxy
// URLs with their passwords, and whatever else `SealedColumn.all` lists) is written sealed by
// the store's `SecretBox` and opened when read. The key comes from `StoreOptions.secretKey`
// (`CCLOAD_SECRET_KEY`) or the key file beside the database; it never enters the database.
// A sealed check value (the hidden value `_secret_check`) tells at open whether the key is
// the one the database was sealed with.

/// A column whose values the store keeps sealed. Open-time sealing of plaintext values (a
/// database written before secrets were sealed) walks this list; a table that holds a new
/// kind of secret adds its column here. Its key columns must be integers.
struct SealedColumn: Sendable {
    var table: String
    var column: String
    var keys: [String]

    static let all: [SealedColumn] = [
        SealedColumn(table: "channel_keys", column: "secret", keys: ["channel_id", "idx"]),
        SealedColumn(table: "channels", column: "proxy", keys: ["id"]),
        SealedColumn(table: "accounts", column: "access_token", keys: ["channel_id"]),
        SealedColumn(table: "accounts", column: "refresh_token", keys: ["channel_id"]),
    ]
}

extension Store {
    /// The hidden value that holds a sealed known text: a key that opens it is this database's key.
    static let secretCheckName = "_secret_check"
    static let secretCheckText = "ccload secret check v1"

    /// `plain` sealed for storage (`enc1:…`, a fresh nonce each call). The empty text is no
    /// secret (an account not signed in holds no token) and is stored as it is.
    public func sealSecret(_ plain: String) -> String { plain.isEmpty ? "" : secrets.seal(plain) }

    /// The plaintext of a value `sealSecret` made ("" for ""). Throws a `StoreError`
    /// (`.corrupt`) for a value that is not sealed or does not open with this store's key
    /// (the value was changed).
    public func openSecret(_ stored: String) throws -> String {
        try Self.open(stored, with: secrets, what: "a stored secret")
    }

    static func open(_ stored: String, with box: SecretBox, what: @autoclosure () -> String) throws(StoreError) -> String {
        if stored.isEmpty { return "" }
        do { return try box.open(stored) } catch {
            throw StoreError(.corrupt, "\(what()) does not open: \(error)")
        }
    }

    // MARK: opening

    /// The box for this database: the given key, or the key file beside the database (made
    /// when the database holds no sealed value yet). Returns the key file's path when it was
    /// created now. Throws `.secretKey` for a missing key (sealed values but no key file) or
    /// an unusable key file.
    static func secretBox(for location: StoreLocation, _ options: StoreOptions, _ db: any SQLConnection) throws -> (SecretBox, created: String?) {
        if let given = options.secretKey { return (SecretBox(key: given), nil) }
        guard case .sqlite(let path) = location else {
            throw StoreError(.secretKey, "a PostgreSQL store needs CCLOAD_SECRET_KEY: every instance on database \(db.path) seals and opens secrets with the same key, so there is no key file (make one with `openssl rand -hex 32`)")
        }
        let file = SecretKeyFile.path(forDatabase: path)
        if let key = try SecretKeyFile.read(file) { return (SecretBox(key: key), nil) }
        if try holdsSealedValues(db) {
            throw StoreError(.secretKey, "database \(path) holds sealed secrets but its key file \(file) is missing; restore the key file kept with the database, or set CCLOAD_SECRET_KEY to its key")
        }
        return (SecretBox(key: try SecretKeyFile.create(file)), file)
    }

    /// Checks the key against the database's check value (writing one when there is none) and
    /// seals every plaintext value of `SealedColumn.all`, in one transaction. Returns how
    /// many values were sealed. Throws `.secretKey` when the key is not the database's.
    @discardableResult
    static func prepareSecrets(_ db: any SQLConnection, _ box: SecretBox, path: String, keyGiven: Bool, nowMillis now: UInt64) throws -> Int {
        let mismatch = keyGiven
            ? "CCLOAD_SECRET_KEY does not match the key database \(path) was sealed with; start with that key"
            : "the key file \(SecretKeyFile.path(forDatabase: path)) does not match the key database \(path) was sealed with; restore the key file kept with the database, or set CCLOAD_SECRET_KEY to its key"
        let sealed: Int = try db.transaction {
            if let check = try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(secretCheckName)]) {
                guard (try? box.open(check)) == secretCheckText else { throw StoreError(.secretKey, mismatch) }
            } else {
                // Sealed values without a check value (written by a store that had not made
                // one yet): one of them must open.
                if let sample = try firstSealedValue(db), (try? box.open(sample)) == nil {
                    throw StoreError(.secretKey, mismatch)
                }
                // Instances starting together on one PostgreSQL database may both get here:
                // the first check value written stands, and each checks its key against it.
                try db.run("INSERT INTO settings(key, value, updated_ms) VALUES(?,?,?) ON CONFLICT(key) DO NOTHING",
                           [.text(secretCheckName), .text(box.seal(secretCheckText)), .int(Int64(clamping: now))])
                if let check = try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(secretCheckName)]),
                   (try? box.open(check)) != secretCheckText {
                    throw StoreError(.secretKey, mismatch)
                }
            }
            return try sealPlaintext(db, box)
        }
        if sealed > 0 {
            // The plaintext pages are gone from the file (secure_delete zeroes freed space);
            // a truncating checkpoint drops the write-ahead log's copies of the old pages.
            if db.dialect == .sqlite { try? db.exec("PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        return sealed
    }

    /// Seals the plaintext values of `SealedColumn.all` in place (a value already `enc1:` is
    /// left, and so is the empty text, which holds no secret); tables that do not exist are
    /// skipped.
    static func sealPlaintext(_ db: any SQLConnection, _ box: SecretBox) throws -> Int {
        var count = 0
        for c in SealedColumn.all where try tableExists(db, c.table) {
            let keyList = c.keys.joined(separator: ", ")
            let s = try db.prepare("""
                SELECT \(keyList), \(c.column) FROM \(c.table)
                WHERE \(c.column) IS NOT NULL AND \(c.column) <> '' AND substr(\(c.column), 1, \(SecretBox.prefix.utf8.count)) <> '\(SecretBox.prefix)'
                """)
            var rows: [([SQLValue], String)] = []
            while try s.step() {
                let keys = (0..<c.keys.count).map { SQLValue.int(s.int64(Int32($0))) }
                rows.append((keys, s.text(Int32(c.keys.count))))
            }
            s.finalize()
            let condition = c.keys.map { "\($0) = ?" }.joined(separator: " AND ")
            for (keys, plain) in rows {
                count += try db.run("UPDATE \(c.table) SET \(c.column) = ? WHERE \(condition)", [.text(box.seal(plain))] + keys)
            }
        }
        return count
    }

    /// Whether the database holds any sealed value (or a check value).
    static func holdsSealedValues(_ db: any SQLConnection) throws -> Bool {
        if try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(secretCheckName)]) != nil { return true }
        return try firstSealedValue(db) != nil
    }

    private static func firstSealedValue(_ db: any SQLConnection) throws -> String? {
        for c in SealedColumn.all where try tableExists(db, c.table) {
            if let v = try db.scalarText("""
                SELECT \(c.column) FROM \(c.table)
                WHERE substr(\(c.column), 1, \(SecretBox.prefix.utf8.count)) = '\(SecretBox.prefix)' LIMIT 1
                """) { return v }
        }
        return nil
    }

    private static func tableExists(_ db: any SQLConnection, _ name: String) throws -> Bool {
        let sql = db.dialect == .sqlite
            ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
            : "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
        return try db.scalarInt(sql, [.text(name)]) != nil
    }
}
