// The cooldowns, kept across a restart so one does not hammer a channel that was cooling.
// Every method is synchronous on the configuration connection (`synchronous=FULL`, so a
// write is durable when it returns). Never call these on a reactor thread: call them at
// start-up or inside a `Store.query` body.

extension Store {
    /// Forgets the stored cooldowns of these channels (the in-memory book is the caller's).
    public func deleteStoredCooldowns(channelIDs: [Int]) throws {
        try withConfig { db in
            try db.transaction {
                for id in channelIDs { try db.run("DELETE FROM cooldowns WHERE channel_id = ?", [.int(Int64(id))]) }
            }
        }
    }

    /// Replaces the stored cooldowns with the book's entries. Monotonic times become
    /// wall-clock milliseconds: until_ms = nowWallMillis + (until − nowMonotonic).
    public func saveCooldowns(_ book: CooldownBook, nowMonotonic: UInt64, nowWallMillis: UInt64) throws {
        try saveCooldowns(book.snapshot(now: nowMonotonic), nowMonotonic: nowMonotonic, nowWallMillis: nowWallMillis)
    }

    public func saveCooldowns(_ entries: [CooldownSnapshotEntry], nowMonotonic: UInt64, nowWallMillis: UInt64) throws {
        try withConfig { db in
            try db.transaction {
                try db.run("DELETE FROM cooldowns")
                for e in entries {
                    let delta = Int64(bitPattern: e.until &- nowMonotonic) / 1_000_000
                    let until = Int64(nowWallMillis) + delta
                    let (kind, key, model): (String, Int64, String)
                    switch e.scope {
                    case .channel: (kind, key, model) = ("channel", -1, "")
                    case .key(_, let k): (kind, key, model) = ("key", Int64(k), "")
                    case .model(_, let m): (kind, key, model) = ("model", -1, m)
                    }
                    try db.run("""
                        INSERT INTO cooldowns(scope, channel_id, key_index, model, until_ms, duration_ms,
                            consecutive_failures, last_class, explicit) VALUES(?,?,?,?,?,?,?,?,?)
                        """, [.text(kind), .int(Int64(e.scope.channelID)), .int(key), .text(model), .int(until),
                              .int(Int64(e.durationNanos / 1_000_000)), .int(Int64(e.consecutiveFailures)),
                              .text(e.lastClass.rawValue), .bool(e.explicit)])
                }
            }
        }
    }

    /// The stored cooldowns as book entries on the monotonic clock:
    /// until = nowMonotonic + (until_ms − nowWallMillis), clamped at 0.
    public func loadCooldowns(nowMonotonic: UInt64, nowWallMillis: UInt64) throws -> [CooldownSnapshotEntry] {
        try withConfig { db in
            let s = try db.cached("""
                SELECT scope, channel_id, key_index, model, until_ms, duration_ms, consecutive_failures, last_class, explicit
                FROM cooldowns ORDER BY channel_id, scope, key_index, model
                """)
            defer { s.reset() }
            var out: [CooldownSnapshotEntry] = []
            while try s.step() {
                let channel = s.int(1)
                let scope: CooldownScope
                switch s.text(0) {
                case "channel": scope = .channel(channel)
                case "key": scope = .key(channelID: channel, keyIndex: s.int(2))
                default: scope = .model(channelID: channel, model: s.text(3))
                }
                // Stored times may be anything (a hand-edited database): the arithmetic saturates.
                let deltaNanos = Saturating.multiply(Saturating.subtract(s.int64(4), Int64(clamping: nowWallMillis)), 1_000_000)
                let until: UInt64 = deltaNanos >= 0 ? Saturating.add(nowMonotonic, UInt64(deltaNanos))
                    : Saturating.subtract(nowMonotonic, deltaNanos.magnitude)
                out.append(CooldownSnapshotEntry(
                    scope: scope, until: until, remainingNanos: until > nowMonotonic ? until - nowMonotonic : 0,
                    consecutiveFailures: s.int(6), lastClass: FailureClass(rawValue: s.text(7)) ?? .server,
                    durationNanos: Saturating.multiply(UInt64(clamping: s.int64(5)), 1_000_000), explicit: s.bool(8)))
            }
            return out
        }
    }

    /// Puts the stored cooldowns into `book` (start-up), so a restart does not hammer a
    /// channel that was cooling. Returns how many entries were restored.
    @discardableResult
    public func restoreCooldowns(into book: CooldownBook, nowMonotonic: UInt64, nowWallMillis: UInt64) throws -> Int {
        let entries = try loadCooldowns(nowMonotonic: nowMonotonic, nowWallMillis: nowWallMillis)
        book.restore(entries)
        return entries.count
    }
}
