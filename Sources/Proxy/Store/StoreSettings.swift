// The stored settings: values over the catalog's defaults, checked against it.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

extension Store {
    /// Settings whose values hold a secret: sealed in the database like channel keys
    /// (`sealSecret`), opened when read. `webhooks`: Slack, DingTalk and WeCom webhook URLs
    /// carry the receiver's token. A value stored before sealing (no `enc1:` prefix) reads
    /// as it is and is sealed at its next write.
    static let sealedSettings: Set<String> = ["webhooks"]

    private func stored(_ key: String, _ value: String) throws -> String {
        guard Self.sealedSettings.contains(key), value.hasPrefix(SecretBox.prefix) else { return value }
        return try openSecret(value)
    }

    /// A setting's stored value, or its default. Unknown keys throw.
    public func setting(_ key: String) throws -> String {
        guard let def = SettingsCatalog.definition(key) else { throw StoreError(.invalid, "unknown setting \(key)") }
        let v = try withConfig { db in
            try db.scalarText("SELECT value FROM settings WHERE key = ?", [.text(key)])
        }
        return try v.map { try stored(key, $0) } ?? def.defaultValue
    }

    public func intSetting(_ key: String) throws -> Int {
        let v = try setting(key)
        guard let i = Int(v) else { throw StoreError(.invalid, "setting \(key) is not an integer: \(v)") }
        return i
    }

    public func doubleSetting(_ key: String) throws -> Double {
        let v = try setting(key)
        guard let d = Double(v) else { throw StoreError(.invalid, "setting \(key) is not a number: \(v)") }
        return d
    }

    public func boolSetting(_ key: String) throws -> Bool { try setting(key) == "true" }

    /// Every known setting: stored values over defaults.
    public func settings() throws -> [String: String] {
        try withConfig { db in
            var out = Dictionary(uniqueKeysWithValues: SettingsCatalog.all.map { ($0.key, $0.defaultValue) })
            let s = try db.cached("SELECT key, value FROM settings")
            defer { s.reset() }
            while try s.step() {
                let k = s.text(0)
                if out[k] != nil { out[k] = try stored(k, s.text(1)) }
            }
            return out
        }
    }

    /// Stores a setting after checking that the key is known and the value has its type
    /// and range.
    public func setSetting(_ key: String, _ value: String) throws {
        try setSettings([key: value])
    }

    /// Stores several settings in one transaction: all of them or, when one is unknown or
    /// out of range, none.
    public func setSettings(_ values: [String: String]) throws {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let def = SettingsCatalog.definition(key) else { throw StoreError(.invalid, "unknown setting \(key)") }
            if let why = SettingsCatalog.problem(value, def) { throw StoreError(.invalid, "setting \(key) \(why)") }
        }
        let now = Int64(options.wallClock())
        try withConfig { db in
            try db.transaction {
                for (key, value) in values {
                    let v = Self.sealedSettings.contains(key) ? sealSecret(value) : value
                    try db.run("INSERT INTO settings(key, value, updated_ms) VALUES(?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_ms=excluded.updated_ms",
                               [.text(key), .text(v), .int(now)])
                }
            }
        }
    }

    /// Forgets a stored value (the default applies again).
    public func resetSetting(_ key: String) throws {
        try withConfig { db in _ = try db.run("DELETE FROM settings WHERE key = ?", [.text(key)]) }
    }
}
