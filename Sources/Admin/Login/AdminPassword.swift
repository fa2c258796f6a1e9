import CEpoll
import Foundation
import Proxy

/// The admin password as a salted PBKDF2-HMAC-SHA256 hash, encoded
/// `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`. New hashes use OWASP's figure for
/// SHA-256 (600,000 iterations); a stored hash with fewer still checks (its count is in
/// its encoding) and is re-hashed at the next successful login. Checking costs a few
/// hundred milliseconds by design: it runs on a thread of its own (`LoginCheck`), never
/// on a reactor or store thread.
public struct AdminPassword: Sendable {
    public static let iterations = 600_000
    /// The most iterations a stored hash may name (a larger count would hold a thread for minutes).
    public static let maxIterations = 10_000_000
    public let encoded: String
    private let iterations: Int
    private let salt: [UInt8]
    private let hash: [UInt8]

    /// Hashes `password` with a fresh salt.
    public init(hashing password: String, iterations: Int = AdminPassword.iterations) {
        let salt = AdminPassword.random(16)
        let hash = AdminPassword.derive(password, salt, iterations)
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
        encoded = "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// Parses a stored hash; nil when it is not one this ccload wrote.
    public init?(encoded: String) {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let n = Int(parts[1]), (1...AdminPassword.maxIterations).contains(n),
              let salt = Data(base64Encoded: String(parts[2])), let hash = Data(base64Encoded: String(parts[3])),
              hash.count == 32 else { return nil }
        self.encoded = encoded
        iterations = n
        self.salt = Array(salt)
        self.hash = Array(hash)
    }

    /// Whether this hash has fewer iterations than new hashes get (re-hash it at the next
    /// successful login).
    public var needsRehash: Bool { iterations < AdminPassword.iterations }

    /// Constant-time check of a presented password.
    public func matches(_ password: String) -> Bool {
        let got = AdminPassword.derive(password, salt, iterations)
        return got.withUnsafeBytes { a in hash.withUnsafeBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, 32) == 0 } }
    }

    /// A strong password for first start: 20 random bytes, base64url (27 characters).
    public static func generate() -> String { base64url(random(20)) }

    static func base64url(_ b: [UInt8]) -> String {
        Data(b).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func random(_ n: Int) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: n)
        precondition(RAND_bytes(&b, Int32(n)) == 1, "no randomness")
        return b
    }

    static func derive(_ password: String, _ salt: [UInt8], _ iterations: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let pw = Array(password.utf8)
        let rc = pw.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { pc in
                PKCS5_PBKDF2_HMAC(pc.baseAddress, Int32(pc.count), salt, Int32(salt.count), Int32(iterations),
                                  EVP_sha256(), 32, &out)
            }
        }
        precondition(rc == 1, "PBKDF2 failed")
        return out
    }
}

// MARK: storage

extension AdminPassword {
    /// The store's hidden value that holds the encoded hash (not a setting: the settings
    /// API never shows or takes it).
    static let storeName = "_admin_password"

    /// The stored hash; nil when none was stored or it is not one this ccload wrote.
    public static func stored(in store: Store) throws -> AdminPassword? {
        try store.hiddenValue(storeName).flatMap(AdminPassword.init(encoded:))
    }

    /// Stores this hash of the same password (first start, or a re-hash with more
    /// iterations); the sessions stay.
    public func save(in store: Store) throws {
        try store.setHiddenValue(Self.storeName, encoded)
    }

    /// Stores this hash of a new password and ends every stored admin session, in one
    /// transaction; returns how many ended.
    @discardableResult
    public func saveAsNewPassword(in store: Store) throws -> Int {
        try store.setHiddenValue(Self.storeName, encoded, endingSessions: true)
    }
}
