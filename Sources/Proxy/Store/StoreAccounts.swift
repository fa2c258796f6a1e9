// Subscription accounts: each account channel's OAuth token pair, sign-in status, refresh
// lease and last rate-limit windows. Every read and write of token text is in this file and
// goes through `sealSecret` / `openSecret`. Every method is synchronous on the configuration
// connection: never call these on a reactor thread (start-up, a `Store.query` body, the
// refresher's thread).

/// One account as stored, its tokens opened.
public struct AccountRow: Sendable, Equatable {
    public var channelID: Int
    public var kind: AccountKind
    public var accessToken: String
    public var refreshToken: String
    /// Wall clock; 0: no token.
    public var expiresMillis: UInt64
    /// Codex: the ChatGPT account id sent as `chatgpt-account-id`.
    public var accountID: String
    public var status: AccountStatus
    /// The last refresh failure (never a secret).
    public var error: String
    /// The last rate-limit windows as JSON text (`RateLimitWindows.json`), or "".
    public var windows: String
    public var updatedMillis: UInt64

    public init(channelID: Int, kind: AccountKind, accessToken: String = "", refreshToken: String = "", expiresMillis: UInt64 = 0,
                accountID: String = "", status: AccountStatus = .needsSignIn, error: String = "", windows: String = "",
                updatedMillis: UInt64 = 0) {
        self.channelID = channelID
        self.kind = kind
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresMillis = expiresMillis
        self.accountID = accountID
        self.status = status
        self.error = error
        self.windows = windows
        self.updatedMillis = updatedMillis
    }
}

/// A fresh token pair from a code exchange or a refresh.
public struct AccountTokens: Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String
    public var expiresMillis: UInt64
    /// Empty: keep the stored one.
    public var accountID: String

    public init(accessToken: String, refreshToken: String, expiresMillis: UInt64, accountID: String) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresMillis = expiresMillis
        self.accountID = accountID
    }
}

extension Store {
    private static let accountColumns = "channel_id, kind, access_token, refresh_token, expires_ms, account_id, status, error, windows, updated_ms"

    private func accountRow(_ s: any SQLStatement) throws -> AccountRow {
        AccountRow(channelID: s.int(0), kind: AccountKind(rawValue: s.text(1)) ?? .claude,
                   accessToken: try openSecret(s.text(2)), refreshToken: try openSecret(s.text(3)),
                   expiresMillis: UInt64(clamping: max(0, s.int64(4))), accountID: s.text(5),
                   status: AccountStatus(rawValue: s.text(6)) ?? .needsSignIn, error: s.text(7), windows: s.text(8),
                   updatedMillis: UInt64(clamping: max(0, s.int64(9))))
    }

    /// Every account, by channel id.
    public func accounts() throws -> [AccountRow] {
        try withConfig { db in
            let s = try db.cached("SELECT \(Self.accountColumns) FROM accounts ORDER BY channel_id")
            defer { s.reset() }
            var out: [AccountRow] = []
            while try s.step() { out.append(try accountRow(s)) }
            return out
        }
    }

    public func account(channelID: Int) throws -> AccountRow? {
        try withConfig { db in
            let s = try db.cached("SELECT \(Self.accountColumns) FROM accounts WHERE channel_id = ?")
            defer { s.reset() }
            try s.bind([.int(Int64(channelID))])
            return try s.step() ? try accountRow(s) : nil
        }
    }

    /// Makes channel `channelID` an account of `kind` (no token yet: needs sign-in); an
    /// account of another kind starts over. False when the channel does not exist.
    @discardableResult
    public func makeAccount(channelID: Int, kind: AccountKind) throws -> Bool {
        let now = Int64(options.wallClock())
        return try withConfig { db in
            try db.transaction {
                guard try db.scalarInt("SELECT COUNT(*) FROM channels WHERE id = ?", [.int(Int64(channelID))]) == 1 else { return false }
                try db.run("DELETE FROM accounts WHERE channel_id = ? AND kind <> ?", [.int(Int64(channelID)), .text(kind.rawValue)])
                try db.run("INSERT INTO accounts(channel_id, kind, updated_ms) VALUES(?,?,?) ON CONFLICT DO NOTHING",
                           [.int(Int64(channelID)), .text(kind.rawValue), .int(now)])
                return true
            }
        }
    }

    /// Stores a token pair (a sign-in or a refresh): status ok, error cleared, lease released.
    public func saveAccountTokens(channelID: Int, _ t: AccountTokens) throws {
        let now = Int64(options.wallClock())
        try withConfig { db in
            _ = try db.run("""
                UPDATE accounts SET access_token = ?, refresh_token = ?, expires_ms = ?,
                    account_id = CASE WHEN ? = '' THEN account_id ELSE ? END,
                    status = 'ok', error = '', lease_owner = '', lease_until_ms = 0, updated_ms = ?
                WHERE channel_id = ?
                """, [.text(sealSecret(t.accessToken)), .text(sealSecret(t.refreshToken)), .int(Int64(clamping: t.expiresMillis)),
                      .text(t.accountID), .text(t.accountID), .int(now), .int(Int64(channelID))])
        }
    }

    /// Records a refresh failure (the lease is released). `needsSignIn`: the tokens are
    /// dropped and routing skips the account until an admin signs in again.
    public func markAccountFailure(channelID: Int, error: String, needsSignIn: Bool) throws {
        let now = Int64(options.wallClock())
        try withConfig { db in
            if needsSignIn {
                _ = try db.run("""
                    UPDATE accounts SET status = 'needs_sign_in', error = ?, access_token = '', refresh_token = '', expires_ms = 0,
                        lease_owner = '', lease_until_ms = 0, updated_ms = ? WHERE channel_id = ?
                    """, [.text(error), .int(now), .int(Int64(channelID))])
            } else {
                _ = try db.run("UPDATE accounts SET error = ?, lease_owner = '', lease_until_ms = 0, updated_ms = ? WHERE channel_id = ?",
                               [.text(error), .int(now), .int(Int64(channelID))])
            }
        }
    }

    /// Signs the account out: its tokens are dropped, it needs sign-in.
    public func signOutAccount(channelID: Int) throws -> Bool {
        let now = Int64(options.wallClock())
        return try withConfig { db in
            try db.run("""
                UPDATE accounts SET status = 'needs_sign_in', error = '', access_token = '', refresh_token = '', expires_ms = 0,
                    lease_owner = '', lease_until_ms = 0, updated_ms = ? WHERE channel_id = ?
                """, [.int(now), .int(Int64(channelID))]) > 0
        }
    }

    /// Turns the account back into a key channel (its row goes).
    public func deleteAccount(channelID: Int) throws -> Bool {
        try withConfig { db in try db.run("DELETE FROM accounts WHERE channel_id = ?", [.int(Int64(channelID))]) > 0 }
    }

    /// Claims the right to spend the account's refresh token: succeeds (one UPDATE, so one
    /// process of all that share the database wins) only when no other lease is live and
    /// the stored expiry is still `seenExpiresMillis` (nobody refreshed since it was read).
    public func claimRefreshLease(channelID: Int, owner: String, seenExpiresMillis: UInt64, leaseMillis: UInt64) throws -> Bool {
        let now = options.wallClock()
        return try withConfig { db in
            try db.run("""
                UPDATE accounts SET lease_owner = ?, lease_until_ms = ?
                WHERE channel_id = ? AND status = 'ok' AND expires_ms = ? AND (lease_owner = '' OR lease_until_ms <= ?)
                """, [.text(owner), .int(Int64(clamping: now &+ leaseMillis)), .int(Int64(channelID)),
                      .int(Int64(clamping: seenExpiresMillis)), .int(Int64(clamping: now))]) == 1
        }
    }

    /// Stores the last rate-limit windows (JSON text, no secret).
    public func saveAccountWindows(channelID: Int, json: String) throws {
        try withConfig { db in
            _ = try db.run("UPDATE accounts SET windows = ? WHERE channel_id = ?", [.text(json), .int(Int64(channelID))])
        }
    }
}
