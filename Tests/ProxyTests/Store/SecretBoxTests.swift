import Foundation
import XCTest

@testable import Proxy

/// `SecretBox` (AES-256-GCM, `enc1:` + base64(nonce ‖ ciphertext ‖ tag)) and `SecretKey`'s
/// accepted spellings.
final class SecretBoxTests: XCTestCase {
    let key = SecretKey(bytes: Array(0..<32))!
    var box: SecretBox { SecretBox(key: key) }

    func testRoundTripsAnyText() throws {
        for plain in ["", "a", "sk-ant-api03-0123456789abcdef", "密钥 🔑 with\nlines\0and nul", String(repeating: "x", count: 100_000)] {
            let sealed = box.seal(plain)
            XCTAssertTrue(sealed.hasPrefix("enc1:"), sealed)
            XCTAssertTrue(SecretBox.isSealed(sealed))
            XCTAssertFalse(plain.count > 3 && sealed.contains(plain), "the plaintext shows in the sealed value")
            XCTAssertEqual(try box.open(sealed), plain)
        }
    }

    func testTheLayoutIsNonceCiphertextTag() throws {
        let plain = "twelve bytes"
        let raw = try XCTUnwrap(Data(base64Encoded: String(box.seal(plain).dropFirst(5))))
        XCTAssertEqual(raw.count, 12 + plain.utf8.count + 16)
    }

    func testTheSameTextSealsDifferentlyEachTime() throws {
        var seen = Set<String>()
        var nonces = Set<Data>()
        for _ in 0..<200 {
            let s = box.seal("same secret")
            seen.insert(s)
            nonces.insert(Data(base64Encoded: String(s.dropFirst(5)))!.prefix(12))
        }
        XCTAssertEqual(seen.count, 200)
        XCTAssertEqual(nonces.count, 200, "a nonce came twice")
        // With one nonce the ciphertext is the same: the difference above is the nonce's.
        let n = [UInt8](repeating: 7, count: 12)
        XCTAssertEqual(box.seal("same secret", nonce: n), box.seal("same secret", nonce: n))
    }

    func testAnyChangedByteIsRefused() throws {
        let sealed = box.seal("sk-tamper-me-0123")
        let raw = Array(Data(base64Encoded: String(sealed.dropFirst(5)))!)
        for i in raw.indices {
            for flip: UInt8 in [0x01, 0x80] {
                var t = raw
                t[i] ^= flip
                let changed = "enc1:" + Data(t).base64EncodedString()
                XCTAssertThrowsError(try box.open(changed), "byte \(i) ^ \(flip) opened") { error in
                    XCTAssertEqual(error as? SecretBoxError, SecretBoxError(.wrongKeyOrTampered))
                }
            }
        }
    }

    func testAnotherKeyIsRefused() throws {
        let sealed = box.seal("sk-other-key")
        var other = key.bytes
        other[31] ^= 1
        XCTAssertThrowsError(try SecretBox(key: SecretKey(bytes: other)!).open(sealed)) { error in
            XCTAssertEqual(error as? SecretBoxError, SecretBoxError(.wrongKeyOrTampered))
            XCTAssertFalse("\(error)".contains(self.key.hexText))
        }
        XCTAssertThrowsError(try SecretBox(key: SecretKey.random()).open(sealed))
    }

    func testTruncatedAndGarbageInputIsAnErrorNotACrash() throws {
        let sealed = box.seal("sk-truncate-me")
        let raw = Array(Data(base64Encoded: String(sealed.dropFirst(5)))!)
        for n in 0..<raw.count {
            XCTAssertThrowsError(try box.open("enc1:" + Data(raw.prefix(n)).base64EncodedString()), "\(n) bytes opened")
        }
        for n in 0..<sealed.count {
            XCTAssertThrowsError(try box.open(String(sealed.prefix(n))), "\(n) characters opened")
        }
        let cases: [(String, SecretBoxError.Kind)] = [
            ("", .notSealed), ("sk-plain", .notSealed), ("ENC1:AAAA", .notSealed), ("enc2:AAAA", .notSealed),
            ("enc1:", .malformed), ("enc1:!!!!", .malformed), ("enc1:" + String(repeating: "A", count: 5), .malformed),
            ("enc1:" + Data(count: 27).base64EncodedString(), .malformed),
            ("enc1:" + Data(count: 28).base64EncodedString(), .wrongKeyOrTampered),
            ("enc1:" + Data(count: 4096).base64EncodedString(), .wrongKeyOrTampered),
            ("enc1: " + String(sealed.dropFirst(5)), .malformed),
        ]
        for (text, kind) in cases {
            XCTAssertThrowsError(try box.open(text), text) { XCTAssertEqual(($0 as? SecretBoxError)?.kind, kind, text) }
        }
    }

    func testKeySpellings() throws {
        let hex = key.hexText
        XCTAssertEqual(hex, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        XCTAssertEqual(SecretKey(text: hex), key)
        XCTAssertEqual(SecretKey(text: hex.uppercased()), key)
        XCTAssertEqual(SecretKey(text: "  \(hex)\n"), key)
        let b64 = Data(key.bytes).base64EncodedString()
        XCTAssertEqual(b64.count, 44)
        XCTAssertEqual(SecretKey(text: b64), key)
        XCTAssertEqual(SecretKey(text: String(b64.dropLast())), key, "base64 without its padding")
        for bad in ["", String(hex.dropLast()), hex + "0", hex + "00", String(hex.dropLast()) + "g",
                    Data(key.bytes.dropLast()).base64EncodedString(), Data(key.bytes + [0]).base64EncodedString(),
                    "not a key at all", String(b64.dropLast(2))] {
            XCTAssertNil(SecretKey(text: bad), bad)
        }
        XCTAssertNil(SecretKey(bytes: Array(0..<31)))
        XCTAssertNil(SecretKey(bytes: Array(0..<33)))
        XCTAssertFalse("\(key)".contains(hex), "a key's description shows the key")
        XCTAssertNotEqual(SecretKey.random(), SecretKey.random())
    }
}
