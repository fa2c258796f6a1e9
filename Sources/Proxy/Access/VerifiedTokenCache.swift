import CEpoll

/// One loop's memory of the client secrets it has already verified against one token set,
/// so a keep-alive client is not hashed with SHA-256 on every request.
///
/// A presented secret is looked up by a keyed hash (Swift's `Hasher`, seeded at random per
/// process, so its buckets tell an observer nothing about a secret), and an entry counts
/// only when the whole secret matches in constant time (`CRYPTO_memcmp`). Only secrets that
/// matched a token are kept (an invalid one is hashed again each time, so a flood of
/// guesses cannot fill the cache); it holds at most `capacity` of them and starts over when
/// full. `reset` forgets everything: call it when the token set changes.
///
/// Owner: one loop (`ProxyHandler`); not thread-safe.
struct VerifiedTokenCache {
    struct Entry {
        var secret: [UInt8]
        var tokenID: Int
    }

    let capacity: Int
    /// Keyed by the secret's keyed hash (`bucket`), itself not hashed again with SipHash.
    private var entries = IDMap<Entry>()

    init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    var count: Int { entries.count }

    /// The token id `secret` was verified as, or nil when it was not (or not yet).
    func tokenID(for secret: ArraySlice<UInt8>) -> Int? {
        guard let e = entries[Self.bucket(secret)], e.secret.count == secret.count else { return nil }
        let same = e.secret.withUnsafeBytes { a in
            secret.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
        return same ? e.tokenID : nil
    }

    /// Remembers that `secret` verified as token `id`.
    mutating func remember(_ secret: ArraySlice<UInt8>, as id: Int) {
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[Self.bucket(secret)] = Entry(secret: Array(secret), tokenID: id)
    }

    mutating func reset() { entries.removeAll() }

    private static func bucket(_ secret: ArraySlice<UInt8>) -> Int {
        var h = Hasher()
        secret.withUnsafeBytes { h.combine(bytes: $0) }
        return h.finalize()
    }
}
