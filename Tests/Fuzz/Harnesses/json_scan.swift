// JSONScan against Foundation's JSONSerialization. When Foundation accepts a UTF-8
// document, JSONScan accepts it too and agrees on the whole tree: each value's kind, every
// string (keys included, escapes and surrogate pairs decoded), every integer, the members
// of each object (and `value(forKey:)` finds each unique one), the elements of each array.
// When JSONScan accepts a plain-ASCII document without number edge cases, Foundation
// accepts it too. Nothing traps for any bytes.

import Foundation
@testable import Proxy

private func compare(_ buf: UnsafeRawBufferPointer, _ v: JSONScan.Value, _ f: Any, depth: Int) {
    let at = "\(show(UnsafeRawBufferPointer(rebasing: buf[v.range]).prefix(80)))"
    switch v.kind {
    case .object:
        guard let dict = f as? [String: Any] else { fail("object \(at), Foundation has \(type(of: f))") }
        var keys: [String] = []
        var members: [(Range<Int>, JSONScan.Value)] = []
        let whole = JSONScan.forEachMember(in: buf, object: v.range) { k, m in
            members.append((k, m))
            return true
        }
        check(whole, "forEachMember failed on an object Foundation read: \(at)")
        for (k, _) in members {
            guard let key = JSONScan.decodeString(buf, k) else { fail("undecodable key \(show(UnsafeRawBufferPointer(rebasing: buf[k])))") }
            keys.append(key)
        }
        check(Set(keys) == Set(dict.keys), "keys \(keys) vs Foundation \(dict.keys.sorted()) in \(at)")
        for (i, (_, m)) in members.enumerated() where keys.firstIndex(of: keys[i]) == keys.lastIndex(of: keys[i]) {
            guard let fv = dict[keys[i]] else { continue }
            compare(buf, m, fv, depth: depth + 1)
            let found = Array(keys[i].utf8).withUnsafeBytes { JSONScan.value(forKey: $0, in: buf, object: v.range) }
            check(found == m, "value(forKey: \(keys[i])) found \(String(describing: found)), member is \(m)")
        }
    case .array:
        guard let array = f as? [Any] else { fail("array \(at), Foundation has \(type(of: f))") }
        var elements: [JSONScan.Value] = []
        check(JSONScan.forEachElement(in: buf, array: v.range) { elements.append($0); return true },
              "forEachElement failed on an array Foundation read: \(at)")
        check(elements.count == array.count, "\(elements.count) elements vs Foundation \(array.count) in \(at)")
        for (e, fe) in zip(elements, array) { compare(buf, e, fe, depth: depth + 1) }
    case .string:
        guard let s = f as? String else { fail("string \(at), Foundation has \(type(of: f))") }
        check(JSONScan.string(buf, v) == s, "string \(at) decodes to \(String(describing: JSONScan.string(buf, v))), Foundation \(s.debugDescription)")
    case .number:
        guard let n = f as? NSNumber else { fail("number \(at), Foundation has \(type(of: f))") }
        if let i = JSONScan.int(buf, v) {
            // Foundation reads integers exactly while they fit 64 bits.
            check(n.int64Value == Int64(i) || abs(i) > 1 << 53, "integer \(at) reads \(i), Foundation \(n)")
        } else {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: buf[v.range]), as: UTF8.self)
            let integral = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            check(!integral || text.count >= 19, "integer \(at) not read by JSONScan.int")
        }
    case .bool:
        guard let n = f as? NSNumber else { fail("bool \(at), Foundation has \(type(of: f))") }
        check(JSONScan.bool(buf, v) == n.boolValue, "bool \(at) vs Foundation \(n)")
    case .null:
        check(f is NSNull, "null \(at), Foundation has \(type(of: f))")
    }
}

/// Documents whose acceptance may differ between the two for reasons outside JSONScan's
/// contract: Foundation's own number range, escapes of lone surrogates, deep nesting.
private func plain(_ b: [UInt8]) -> Bool {
    guard b.allSatisfy({ $0 < 0x80 }) else { return false }
    let s = String(decoding: b, as: UTF8.self)
    if s.contains("\\u") { return false }
    var digits = 0
    var prevDigit = false
    for c in b {
        if c >= 0x30 && c <= 0x39 { digits += 1; if digits > 15 { return false } } else { digits = 0 }
        if prevDigit && (c == 0x65 || c == 0x45 || c == 0x2E) { return false }
        prevDigit = c >= 0x30 && c <= 0x39
    }
    return depth(b) <= 64
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    bytes.withUnsafeBytes { buf in
        let doc = JSONScan.document(buf)
        if let doc { check(doc.range.upperBound <= buf.count, "value range past the buffer") }
        // Every entry point on arbitrary bytes: no trap, no read outside the buffer.
        _ = JSONScan.forEachMember(in: buf) { _, _ in true }
        _ = JSONScan.value(atPath: ["usage", "input_tokens"], in: buf)
        guard foundationComparable(bytes) else { return }
        let foundation = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        if let f = foundation {
            if trailingComma(bytes) { return }
            guard let doc else { fail("Foundation reads \(show(bytes.prefix(200))), JSONScan does not") }
            compare(buf, doc, f, depth: 0)
        } else if doc != nil {
            check(!plain(bytes), "JSONScan reads \(show(bytes.prefix(200))), Foundation does not")
        }
    }
    return 0
}
