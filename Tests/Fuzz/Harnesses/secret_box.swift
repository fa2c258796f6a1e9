// The stored-value decoder (`SecretBox.open`, `enc1:` + base64(nonce ‖ ciphertext ‖ tag)) and
// the key spellings (`SecretKey(text:)`) on any bytes. Never traps; nothing but a value this
// box sealed opens (a forged or changed value is an error, never garbage); a sealed value
// opens to its plaintext; an accepted key reads back from its own hex.

import Foundation
@testable import Proxy

private let box = SecretBox(key: SecretKey(bytes: Array(0..<32))!)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte()
    let where_ = input.word()
    let flip = input.byte() | 1
    let payload = input.rest()
    let text = String(decoding: payload, as: UTF8.self)
    switch mode % 4 {
    case 0:
        // Any text as a stored value: it cannot open (it was never sealed by this box, and a
        // 128-bit tag is not forged by chance) and must be refused without a trap.
        if let opened = try? box.open(text) { fail("an unsealed input opened: \(show(payload)) -> \(show(opened.utf8))") }
    case 1:
        // Well-formed base64 of any bytes: reaches the tag check, which refuses it.
        let stored = SecretBox.prefix + Data(payload).base64EncodedString()
        do {
            _ = try box.open(stored)
            fail("forged bytes opened: \(show(payload))")
        } catch {
            check(error.kind == (payload.count < 28 ? .malformed : .wrongKeyOrTampered), "\(error.kind) for \(payload.count) bytes")
        }
    case 2:
        // A sealed value opens to its text; with any one byte changed it does not open.
        let sealed = box.seal(text)
        check((try? box.open(sealed)) == text, "a sealed value did not open to its text: \(show(payload))")
        var raw = Array(Data(base64Encoded: String(sealed.dropFirst(SecretBox.prefix.count)))!)
        raw[where_ % raw.count] ^= flip
        if (try? box.open(SecretBox.prefix + Data(raw).base64EncodedString())) != nil {
            fail("a changed byte \(where_ % raw.count) still opened")
        }
        // Cut short anywhere: refused.
        let cut = where_ % sealed.utf8.count
        if (try? box.open(String(sealed.prefix(cut)))) != nil { fail("a sealed value cut to \(cut) opened") }
    default:
        if let k = SecretKey(text: text) {
            check(SecretKey(text: k.hexText) == k, "an accepted key does not read back from its hex: \(show(payload))")
            check(!"\(k)".contains(k.hexText), "a key's description shows it")
        }
    }
    return 0
}
