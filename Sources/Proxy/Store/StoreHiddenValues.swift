// Hidden values: state a module keeps for itself in the settings table under a name the
// settings catalog does not list (Admin keeps its password hash so). The settings API never
// shows or accepts them, and a hidden name can never be a setting's: it starts with `_`.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

extension Store {
    /// The value stored under `name`, if any. Throws `.invalid` for a name without the `_`.
    public func hiddenValue(_ name: String) throws -> String? {
        try Self.checkHidden(name)
        return try withConfig { db in try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(name)]) }
    }

    /// Stores `value` under `name`. With `endingSessions`, every stored session is deleted
    /// in the same transaction (a new password ends every login); returns how many were.
    /// Throws `.invalid` for a name without the `_`.
    @discardableResult
    public func setHiddenValue(_ name: String, _ value: String, endingSessions: Bool = false) throws -> Int {
        try Self.checkHidden(name)
        let now = Int64(clamping: options.wallClock())
        return try withConfig { db in
            try db.transaction {
                try db.run("INSERT INTO settings(key, value, updated_ms) VALUES(?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ms=excluded.updated_ms",
                           [.text(name), .text(value), .int(now)])
                return endingSessions ? try db.run("DELETE FROM admin_sessions") : 0
            }
        }
    }

    static func checkHidden(_ name: String) throws {
        guard name.count > 1, name.hasPrefix("_") else {
            throw StoreError(.invalid, "a hidden value's name starts with _ (\(name) could be a setting's)")
        }
    }
}
