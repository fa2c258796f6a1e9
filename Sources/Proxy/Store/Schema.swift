import Glibc

/// One schema step. Versions are 1, 2, 3, … in order; a database records every version
/// applied in `schema_migrations`.
public struct Migration: Sendable {
    public var version: Int
    public var summary: String
    public var sql: String

    public init(version: Int, summary: String, sql: String) {
        self.version = version
        self.summary = summary
        self.sql = sql
    }
}

/// Time to first byte, kept per hour as counts in fixed log-spaced buckets so that
/// hours, channels and models add up exactly and percentiles come from the sums.
/// Bucket 0 is [0, 1 ms); bucket i (1…34) is [1 ms·2^((i-1)/2), 1 ms·2^(i/2)); bucket 35 is
/// everything from 2^17 ms (131 s) up. Neighbouring bounds differ by √2, so an estimate
/// taken inside a bucket is within about ±19 % of the true value.
public enum TTFBBuckets {
    public static let count = 36

    /// Upper bound of bucket `i` in microseconds (`UInt64.max` for the last).
    public static func upperBound(_ i: Int) -> UInt64 {
        if i >= count - 1 { return UInt64.max }
        return UInt64((1000.0 * pow(2.0, Double(i) / 2)).rounded())
    }

    /// Lower bound of bucket `i` in microseconds.
    public static func lowerBound(_ i: Int) -> UInt64 { i == 0 ? 0 : upperBound(i - 1) }

    public static func index(ofMicros v: UInt64) -> Int {
        if v < 1000 { return 0 }
        var i = Int((2 * log2(Double(v) / 1000)).rounded(.down)) + 1
        // Guard against rounding at the exact bounds.
        while i > 1 && v < lowerBound(i) { i -= 1 }
        while i < count - 1 && v >= upperBound(i) { i += 1 }
        return min(i, count - 1)
    }

    /// The `p`-quantile (0…1) of a histogram, in microseconds; nil when it is empty.
    /// Interpolates geometrically inside the bucket holding the rank (linearly in bucket 0).
    public static func quantile(_ p: Double, _ counts: [Int64]) -> UInt64? {
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(1, Int64((p * Double(total)).rounded(.up)))
        var seen: Int64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            if seen + c >= rank {
                let frac = (Double(rank - seen) - 0.5) / Double(c)
                if i == 0 { return UInt64(1000 * frac) }
                let lo = Double(lowerBound(i))
                if i == count - 1 { return UInt64(lo) }
                let hi = Double(upperBound(i))
                return UInt64(lo * pow(hi / lo, frac))
            }
            seen += c
        }
        return nil
    }

    /// `h0, h1, …` (for SQL).
    static func columns(prefix: String = "") -> [String] { (0..<count).map { "\(prefix)h\($0)" } }
}

/// The tables, as migrations.
public enum Schema {
    public static let migrations: [Migration] = [
        Migration(version: 1, summary: "configuration: channels, keys, models, cooldowns, tokens, settings, admin sessions", sql: """
            CREATE TABLE channels(
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                urls TEXT NOT NULL,               -- JSON array of base URLs
                key_strategy TEXT NOT NULL DEFAULT 'sequential',
                priority INTEGER NOT NULL DEFAULT 0,
                weight INTEGER,
                enabled INTEGER NOT NULL DEFAULT 1,
                proxy TEXT,
                first_byte_timeout_s REAL,
                cost_multiplier REAL NOT NULL DEFAULT 1,
                daily_cost_limit_usd REAL,
                max_concurrency INTEGER,
                insecure_skip_verify INTEGER NOT NULL DEFAULT 0,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            );
            CREATE TABLE channel_keys(
                channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                secret TEXT NOT NULL,
                PRIMARY KEY(channel_id, idx)
            ) WITHOUT ROWID;
            -- One row per model name a channel knows: listed (in its model list) and/or
            -- redirected (requested name -> upstream name).
            CREATE TABLE channel_models(
                channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
                model TEXT NOT NULL,
                position INTEGER NOT NULL,
                listed INTEGER NOT NULL DEFAULT 1,
                redirect TEXT,
                PRIMARY KEY(channel_id, model)
            ) WITHOUT ROWID;
            -- Cooldowns as wall-clock times (monotonic clocks do not survive a restart).
            -- No foreign key: channels may come from a seed file and not be in this table.
            CREATE TABLE cooldowns(
                scope TEXT NOT NULL CHECK(scope IN ('channel','key','model')),
                channel_id INTEGER NOT NULL,
                key_index INTEGER NOT NULL DEFAULT -1,
                model TEXT NOT NULL DEFAULT '',
                until_ms INTEGER NOT NULL,
                duration_ms INTEGER NOT NULL,
                consecutive_failures INTEGER NOT NULL,
                last_class TEXT NOT NULL,
                explicit INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY(scope, channel_id, key_index, model)
            ) WITHOUT ROWID;
            CREATE TABLE auth_tokens(
                id INTEGER PRIMARY KEY,
                hash BLOB NOT NULL UNIQUE,        -- SHA-256 of the secret
                prefix TEXT NOT NULL,             -- for display only
                name TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                last_used_ms INTEGER,
                enabled INTEGER NOT NULL DEFAULT 1,
                expires_ms INTEGER,
                allowed_models TEXT,              -- JSON array; NULL = any model
                daily_cost_cap_micro INTEGER,
                total_cost_cap_micro INTEGER,
                rpm_limit INTEGER,
                concurrency_limit INTEGER,
                total_cost_micro INTEGER NOT NULL DEFAULT 0,  -- maintained by the writer
                total_requests INTEGER NOT NULL DEFAULT 0     -- maintained by the writer
            );
            CREATE TABLE settings(
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE admin_sessions(
                token_hash BLOB PRIMARY KEY,
                created_ms INTEGER NOT NULL,
                expires_ms INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX admin_sessions_expires ON admin_sessions(expires_ms);
            """),
        Migration(version: 2, summary: "request logs and hourly statistics", sql: """
            CREATE TABLE request_logs(
                id INTEGER PRIMARY KEY,           -- keyset pagination key (insertion order)
                request_id INTEGER NOT NULL,      -- RequestRecord.id
                time_ms INTEGER NOT NULL,
                token_id INTEGER,
                channel_id INTEGER,
                channel_name TEXT,
                key_index INTEGER,
                protocol TEXT NOT NULL,
                path TEXT NOT NULL,
                requested_model TEXT NOT NULL,
                upstream_model TEXT NOT NULL,
                stream INTEGER NOT NULL,
                status INTEGER NOT NULL,
                attempts TEXT NOT NULL,           -- JSON array of AttemptNote
                ttfb_us INTEGER,
                duration_us INTEGER NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cache_read_tokens INTEGER NOT NULL,
                cache_write_5m_tokens INTEGER NOT NULL,
                cache_write_1h_tokens INTEGER NOT NULL,
                usage_known INTEGER NOT NULL,
                cost_micro INTEGER NOT NULL,
                priced INTEGER NOT NULL,
                client_address TEXT NOT NULL,
                user_agent TEXT NOT NULL,
                error TEXT
            );
            CREATE INDEX request_logs_time ON request_logs(time_ms);
            CREATE INDEX request_logs_channel ON request_logs(channel_id, id);
            CREATE INDEX request_logs_model ON request_logs(requested_model, id);
            CREATE INDEX request_logs_status ON request_logs(status, id);
            CREATE INDEX request_logs_token ON request_logs(token_id, id);
            -- One row per (hour, channel, model, token); 0 stands for "none" in the key.
            CREATE TABLE stats_hourly(
                hour_ms INTEGER NOT NULL,
                channel_id INTEGER NOT NULL,
                model TEXT NOT NULL,
                token_id INTEGER NOT NULL,
                \(Schema.valueColumnsSQL)
                ,PRIMARY KEY(hour_ms, channel_id, model, token_id)
            ) WITHOUT ROWID;
            -- The same sums rolled up per hour along one dimension at a time (dim 'all' with
            -- key '', 'channel' with the channel id as text, 'model', 'token'): a trend or a
            -- per-dimension breakdown reads at most (keys x hours) short rows.
            CREATE TABLE stats_rollup(
                dim TEXT NOT NULL,
                key TEXT NOT NULL,
                hour_ms INTEGER NOT NULL,
                \(Schema.valueColumnsSQL)
                ,PRIMARY KEY(dim, key, hour_ms)
            ) WITHOUT ROWID;
            CREATE INDEX stats_rollup_hour ON stats_rollup(hour_ms);
            CREATE INDEX stats_hourly_channel ON stats_hourly(channel_id, hour_ms);
            CREATE INDEX stats_hourly_model ON stats_hourly(model, hour_ms);
            CREATE INDEX stats_hourly_token ON stats_hourly(token_id, hour_ms);
            """),
        Migration(version: 3, summary: "channel groups and their member channels", sql: """
            -- "groups" is an SQL keyword: the table is channel_groups.
            CREATE TABLE channel_groups(
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                remark TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            );
            -- No foreign key to channels: a channel import replaces the channel rows and keeps
            -- the ids it names; the store drops a deleted channel's memberships itself.
            CREATE TABLE channel_group_members(
                group_id INTEGER NOT NULL REFERENCES channel_groups(id) ON DELETE CASCADE,
                channel_id INTEGER NOT NULL,
                PRIMARY KEY(group_id, channel_id)
            ) WITHOUT ROWID;
            CREATE INDEX channel_group_members_channel ON channel_group_members(channel_id);
            """),
        Migration(version: 4, summary: "a client token's group", sql: """
            ALTER TABLE auth_tokens ADD COLUMN group_id INTEGER REFERENCES channel_groups(id);
            """),
        Migration(version: 5, summary: "request ids (x-request-id) in the request log", sql: """
            ALTER TABLE request_logs ADD COLUMN request_key TEXT;
            CREATE INDEX request_logs_request_key ON request_logs(request_key);
            """),
        // Users and what they own. A step of their own after the groups' (3–5).
        Migration(version: 6, summary: "users; token owners, weekly and monthly cost caps, client restriction; sessions know their user", sql: """
            CREATE TABLE users(
                id INTEGER PRIMARY KEY,
                username TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,      -- AdminPassword's encoding (PBKDF2, salted)
                role TEXT NOT NULL CHECK(role IN ('admin','user')),
                email TEXT,
                enabled INTEGER NOT NULL DEFAULT 1,
                approved INTEGER NOT NULL DEFAULT 1,  -- 0: self-registered, awaiting the admin
                allowed_group_ids TEXT NOT NULL DEFAULT '[]',  -- JSON array of group ids
                -- The loosest limits the user may give their own tokens; NULL = no limit.
                daily_cost_cap_micro INTEGER,
                weekly_cost_cap_micro INTEGER,
                monthly_cost_cap_micro INTEGER,
                total_cost_cap_micro INTEGER,
                rpm_limit INTEGER,
                concurrency_limit INTEGER,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            );
            ALTER TABLE auth_tokens ADD COLUMN owner_user_id INTEGER;  -- NULL: made by the admin
            ALTER TABLE auth_tokens ADD COLUMN weekly_cost_cap_micro INTEGER;
            ALTER TABLE auth_tokens ADD COLUMN monthly_cost_cap_micro INTEGER;
            ALTER TABLE auth_tokens ADD COLUMN allowed_clients INTEGER;  -- ClientKinds bits; NULL = any client
            CREATE INDEX auth_tokens_owner ON auth_tokens(owner_user_id);
            ALTER TABLE admin_sessions ADD COLUMN user_id INTEGER;  -- NULL: the CCLOAD_PASS admin
            CREATE INDEX admin_sessions_user ON admin_sessions(user_id);
            """),
        // Usage per user and group: the request log knows its token's owner and group, and
        // `stats_rollup` gains the dims 'user' and 'group' (key: the id as text, 0 = none).
        // A token's owner never changes, so the rows and hours already kept get their user
        // from the tokens table; a token's group may have changed, so earlier rows keep none.
        Migration(version: 7, summary: "request logs and hourly rollups by user and group", sql: """
            ALTER TABLE request_logs ADD COLUMN user_id INTEGER;   -- the token's owner; NULL: none
            ALTER TABLE request_logs ADD COLUMN group_id INTEGER;  -- the token's group then; NULL: none
            -- Partial: the admin's tokens (no owner) add no index entry per row (a user's query
            -- names a user_id, which implies the index's condition).
            CREATE INDEX request_logs_user ON request_logs(user_id, id) WHERE user_id IS NOT NULL;
            UPDATE request_logs SET user_id = (SELECT owner_user_id FROM auth_tokens t WHERE t.id = request_logs.token_id)
                WHERE token_id IN (SELECT id FROM auth_tokens WHERE owner_user_id IS NOT NULL);
            INSERT INTO stats_rollup(dim, key, hour_ms, \(Schema.valueColumns.joined(separator: ", ")))
                SELECT 'user', CAST(COALESCE(t.owner_user_id, 0) AS TEXT), h.hour_ms, \(Schema.valueColumns.map { "SUM(h.\($0))" }.joined(separator: ", "))
                FROM stats_hourly h LEFT JOIN auth_tokens t ON t.id = h.token_id
                GROUP BY COALESCE(t.owner_user_id, 0), h.hour_ms;
            """),
        Migration(version: 8, summary: "subscription accounts: a channel's OAuth tokens, sign-in status, refresh lease and rate-limit windows", sql: """
            CREATE TABLE accounts(
                channel_id INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,                 -- claude | codex
                access_token TEXT NOT NULL DEFAULT '',   -- sealed (Store.sealSecret)
                refresh_token TEXT NOT NULL DEFAULT '',  -- sealed
                expires_ms INTEGER NOT NULL DEFAULT 0,   -- wall clock; 0: no token
                account_id TEXT NOT NULL DEFAULT '',     -- Codex: the ChatGPT account id
                status TEXT NOT NULL DEFAULT 'needs_sign_in',  -- ok | needs_sign_in
                error TEXT NOT NULL DEFAULT '',          -- the last refresh failure (no secret)
                lease_owner TEXT NOT NULL DEFAULT '',    -- the process refreshing now
                lease_until_ms INTEGER NOT NULL DEFAULT 0,
                windows TEXT NOT NULL DEFAULT '',        -- the last rate-limit windows (JSON)
                updated_ms INTEGER NOT NULL DEFAULT 0
            );
            """),
        Migration(version: 9, summary: "channel health probes: interval and model", sql: """
            -- A row only for a channel that is probed or names a probe model.
            CREATE TABLE channel_probes(
                channel_id INTEGER PRIMARY KEY REFERENCES channels(id) ON DELETE CASCADE,
                interval_s INTEGER,  -- NULL: never probed
                model TEXT           -- NULL: the channel's first model
            );
            """),
    ]

    /// The summed columns of `stats_hourly` and `stats_rollup`, in order.
    static let valueColumns = ["requests", "successes", "errors_4xx", "errors_5xx", "errors_other", "rate_limited",
                               "failovers", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens",
                               "cache_write_1h_tokens", "cost_micro", "duration_sum_us", "ttfb_count", "ttfb_sum_us"]
        + TTFBBuckets.columns()

    static var valueColumnsSQL: String {
        valueColumns.map { "\($0) INTEGER NOT NULL DEFAULT 0" }.joined(separator: ",\n    ")
    }

    public static var latestVersion: Int { migrations.last?.version ?? 0 }
}

/// Applies migrations at open.
enum Migrator {
    /// Brings `db` to the last of `migrations` inside one transaction; refuses a database
    /// whose version is newer than the newest known. Returns the version now applied.
    @discardableResult
    static func migrate(_ db: any SQLConnection, _ migrations: [Migration], nowMillis: UInt64) throws -> Int {
        let latest = migrations.last?.version ?? 0
        return try db.transaction {
            try db.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL, summary TEXT NOT NULL)")
            let current = Int(try db.scalarInt("SELECT MAX(version) FROM schema_migrations") ?? 0)
            if current > latest {
                throw StoreError(.newerSchema, "database \(db.path) has schema version \(current), newer than this ccload knows (\(latest)); use a newer ccload or another SQLITE_PATH")
            }
            for m in migrations where m.version > current {
                do {
                    try db.exec(m.sql)
                } catch let e as StoreError {
                    throw StoreError(e.kind, "migration \(m.version) (\(m.summary)) failed: \(e.message)", code: e.code)
                }
                try db.run("INSERT INTO schema_migrations(version, applied_ms, summary) VALUES(?, ?, ?)",
                           [.int(Int64(m.version)), .int(Int64(nowMillis)), .text(m.summary)])
            }
            return max(current, latest)
        }
    }
}
