import CEpoll
import Foundation

/// The 256-bit key secrets are sealed with at rest (`CCLOAD_SECRET_KEY`, or the key file
/// beside the database). Its text never appears in a description, a log or an error.
public struct SecretKey: Sendable, Equatable, CustomStringConvertible {
    public static let byteCount = 32
    let bytes: [UInt8]

    /// Exactly 32 bytes, else nil.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// 32 bytes written as 64 hex digits or as base64 (standard alphabet, padding optional);
    /// whitespace around it is ignored. Anything else is nil.
    public init?(text: String) {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.utf8.count == 2 * Self.byteCount, let b = Self.hex(t) {
            self.bytes = b
            return
        }
        // Base64 of 32 bytes is 44 characters with its one `=`, 43 without.
        let padded = t.utf8.count == 43 ? t + "=" : t
        guard let d = Data(base64Encoded: padded), d.count == Self.byteCount else { return nil }
        self.bytes = Array(d)
    }

    /// A fresh key from OpenSSL's generator.
    public static func random() -> SecretKey {
        var b = [UInt8](repeating: 0, count: byteCount)
        precondition(RAND_bytes(&b, Int32(byteCount)) == 1, "no randomness for a secret key")
        return SecretKey(bytes: b)!
    }

    /// The key as 64 lowercase hex digits (what a key file holds).
    public var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(2 * bytes.count)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { "SecretKey(32 bytes)" }

    /// What `CCLOAD_SECRET_KEY` and a key file may hold, for error messages.
    public static let formatText = "32 bytes as 64 hex digits or as base64 (make one with `openssl rand -hex 32`)"

    private static func hex(_ t: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        var high: UInt8?
        for c in t.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }
}

/// Why a stored value could not be opened. Its text names no secret and no key.
public struct SecretBoxError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The value is not in a sealed encoding this ccload knows (no `enc1:` prefix).
        case notSealed = "not_sealed"
        /// The encoding is damaged: bad base64, or too short to hold a nonce and a tag.
        case malformed
        /// The tag does not match: another key, or a changed value.
        case wrongKeyOrTampered = "wrong_key_or_tampered"
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var description: String {
        switch kind {
        case .notSealed: return "the stored value is not sealed (no enc1: prefix)"
        case .malformed: return "the sealed value is damaged (not base64 of nonce, ciphertext and tag)"
        case .wrongKeyOrTampered: return "the sealed value does not open with this key (another key, or the value was changed)"
        }
    }
}

/// Seals and opens secrets kept at rest: AES-256-GCM through OpenSSL's EVP, a random 12-byte
/// nonce per value, a 16-byte tag. A sealed value is text, `enc1:` + base64(nonce ‖
/// ciphertext ‖ tag), so a sealed value and a plaintext one are told apart and a later
/// encoding can take `enc2:`. Opening checks the tag: another key or any changed byte is an
/// error, never garbage.
public struct SecretBox: Sendable {
    public static let prefix = "enc1:"
    static let nonceBytes = 12
    static let tagBytes = 16
    /// Bound as additional data: a value sealed for another format or purpose does not open.
    private static let associated = Array("ccload secret v1".utf8)

    let key: SecretKey

    public init(key: SecretKey) { self.key = key }

    /// Whether `stored` is in the sealed encoding (it may still fail to open).
    public static func isSealed(_ stored: String) -> Bool { stored.utf8.starts(with: prefix.utf8) }

    /// `plain` sealed under a fresh nonce: the same text sealed twice gives two values.
    public func seal(_ plain: String) -> String {
        var nonce = [UInt8](repeating: 0, count: Self.nonceBytes)
        precondition(RAND_bytes(&nonce, Int32(Self.nonceBytes)) == 1, "no randomness for a nonce")
        return seal(plain, nonce: nonce)
    }

    /// `seal` with a given nonce (tests; a nonce must never be used twice with one key).
    func seal(_ plain: String, nonce: [UInt8]) -> String {
        precondition(nonce.count == Self.nonceBytes)
        let input = Array(plain.utf8)
        var out = nonce + [UInt8](repeating: 0, count: input.count + Self.tagBytes)
        let ok = Self.run(encrypt: true, key: key.bytes, nonce: nonce, input: input) { ctx, produced in
            out.withUnsafeMutableBufferPointer { o in
                let body = o.baseAddress! + Self.nonceBytes
                var n: Int32 = 0
                guard EVP_EncryptUpdate(ctx, body, &n, input, Int32(input.count)) == 1 else { return false }
                var tail: Int32 = 0
                guard EVP_EncryptFinal_ex(ctx, body + Int(n), &tail) == 1 else { return false }
                produced = Int(n + tail)
                return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagBytes), body + produced) == 1
            }
        }
        precondition(ok, "AES-256-GCM sealing failed in OpenSSL")
        return Self.prefix + Data(out).base64EncodedString()
    }

    /// The plaintext of a sealed value. Throws `.notSealed` without the prefix, `.malformed`
    /// for a damaged encoding, `.wrongKeyOrTampered` when the tag does not match.
    public func open(_ stored: String) throws(SecretBoxError) -> String {
        guard Self.isSealed(stored) else { throw SecretBoxError(.notSealed) }
        let text = stored.utf8.dropFirst(Self.prefix.utf8.count)
        guard let d = Data(base64Encoded: Data(text)), d.count >= Self.nonceBytes + Self.tagBytes else {
            throw SecretBoxError(.malformed)
        }
        let raw = Array(d)
        let nonce = Array(raw[0..<Self.nonceBytes])
        let cipher = Array(raw[Self.nonceBytes..<(raw.count - Self.tagBytes)])
        var tag = Array(raw[(raw.count - Self.tagBytes)...])
        var plain = [UInt8](repeating: 0, count: cipher.count + Self.tagBytes)
        let ok = Self.run(encrypt: false, key: key.bytes, nonce: nonce, input: cipher) { ctx, produced in
            plain.withUnsafeMutableBufferPointer { p in
                var n: Int32 = 0
                guard EVP_DecryptUpdate(ctx, p.baseAddress!, &n, cipher, Int32(cipher.count)) == 1 else { return false }
                guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagBytes), &tag) == 1 else { return false }
                var tail: Int32 = 0
                // The tag is checked here: 0 means another key or a changed byte.
                guard EVP_DecryptFinal_ex(ctx, p.baseAddress! + Int(n), &tail) == 1 else { return false }
                produced = Int(n + tail)
                return true
            }
        }
        guard ok else {
            ERR_clear_error()
            throw SecretBoxError(.wrongKeyOrTampered)
        }
        return String(decoding: plain[0..<cipher.count], as: UTF8.self)
    }

    /// Sets up an AES-256-GCM context (key, 12-byte nonce, the additional data) and runs
    /// `body` with it; false when any step fails.
    private static func run(encrypt: Bool, key: [UInt8], nonce: [UInt8], input: [UInt8],
                            _ body: (OpaquePointer, inout Int) -> Bool) -> Bool {
        guard let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let initial = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        guard initial(ctx, EVP_aes_256_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceBytes), nil) == 1,
              initial(ctx, nil, nil, key, nonce) == 1 else { return false }
        var n: Int32 = 0
        let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
        guard update(ctx, nil, &n, associated, Int32(associated.count)) == 1 else { return false }
        var produced = 0
        guard body(ctx, &produced) else { return false }
        return produced == input.count
    }
}
