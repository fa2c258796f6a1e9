import Foundation
import XCTest
@testable import Proxy

/// Deterministic generator for the randomised tests (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Splits `bytes` at random points (seeded), including empty pieces.
func randomSplits(_ bytes: [UInt8], _ rng: inout SeededRandom, maxPiece: Int = 17) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var i = 0
    while i < bytes.count {
        let n = Int.random(in: 0...maxPiece, using: &rng)
        let e = min(bytes.count, i + n)
        out.append(Array(bytes[i..<e]))
        i = e
    }
    return out
}

final class ProtocolJSONScanTests: XCTestCase {
    func str(_ json: String, _ key: StaticString) -> String? {
        let b = Array(json.utf8)
        guard let v = JSONScan.value(forKey: key, in: b) else { return nil }
        return JSONScan.string(b, v)
    }

    /// A byte-at-a-time reading of the same string grammar, to check the word-at-a-time scan.
    static func referenceSkipString(_ b: [UInt8], _ start: Int, _ end: Int) -> Int? {
        var i = start + 1
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < end else { return nil }
                switch b[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 6 <= end else { return nil }
                    for j in (i + 2)..<(i + 6) where !((0x30...0x39).contains(b[j]) || (0x41...0x46).contains(b[j]) || (0x61...0x66).contains(b[j])) { return nil }
                    i += 6
                default:
                    return nil
                }
                continue
            }
            if c < 0x20 { return nil }
            i += 1
        }
        return nil
    }

    /// Every special byte (quote, backslash, each control byte) at every offset of a word and of
    /// the 16-byte vector blocks a long run of text is passed in (up to 70 plain bytes before
    /// it), after plain ASCII and UTF-8 bytes (0x80 and up, which neither test may mark), with
    /// and without the buffer ending inside the next word: the skip ends where the
    /// byte-at-a-time reading does, or fails where it fails.
    func testSkipStringMatchesByteAtATimeReading() {
        var rng = SeededRandom(seed: 0x5eed_0012)
        let fillers: [UInt8] = [0x61, 0x20, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x21, 0x5B, 0x5D, 0x2F, 0x75]
        let specials: [UInt8] = [0x22, 0x5C] + Array(0x00..<0x20)
        var checked = 0, ended = 0
        for special in specials {
            for before in 0..<70 {
                for after in [0, 1, 3, 7, 8, 9, 15] {
                    var b: [UInt8] = [0x22]
                    for _ in 0..<before { b.append(fillers[Int.random(in: 0..<fillers.count, using: &rng)]) }
                    b.append(special)
                    for _ in 0..<after {
                        let r = Int.random(in: 0..<6, using: &rng)
                        b.append(r == 0 ? 0x22 : r == 1 ? 0x5C : r == 2 ? 0x75 : fillers[Int.random(in: 0..<fillers.count, using: &rng)])
                    }
                    let want = Self.referenceSkipString(b, 0, b.count)
                    let got = b.withUnsafeBytes { JSONScan.skipString($0, 0, b.count) }
                    XCTAssertEqual(got, want, "special 0x\(String(special, radix: 16)) after \(before) bytes, \(after) after: \(b)")
                    checked += 1
                    if want != nil { ended += 1 }
                }
            }
        }
        XCTAssertEqual(checked, specials.count * 70 * 7)
        XCTAssertGreaterThan(ended, 100, "the cases must include strings that end")
        // The plain strings the request path meets most: short keys and values end at their quote.
        for key in ["model", "role", "content", "hello", "a", "", "max_tokens", "stream_options_x"] {
            let b = Array("\"\(key)\":1}".utf8)
            XCTAssertEqual(b.withUnsafeBytes { JSONScan.skipString($0, 0, b.count) }, key.utf8.count + 2, key)
        }
    }

    /// `keyEquals` gives what decoding the string and comparing the bytes gives, for raw and
    /// escaped spellings shorter than, as long as and longer than the key, whatever the
    /// first byte (its early exits must never refuse a real match).
    func testKeyEqualsMatchesDecodingThenComparing() {
        let keys = ["model", "m", "", "x\\y", "ab", "stream", "e"]
        var spellings = [
            "model", "mode", "models", "Model", "mod\\u0065l", "\\u006dodel", "\\u006Dodel", "m", "\\u006d",
            "", "x\\\\y", "x\\y", "xy", "x\\u005cy", "ab", "a\\u0062", "\\u0061\\u0062", "a\\/b", "stream",
            "stre\\u0061m", "e", "\\u0065", "\\\"", "\\n", "\\/", "ba", "abc", "\\u0061", "mod\\u0065",
        ]
        for k in keys { spellings.append(k); spellings.append(k + "x"); spellings.append("x" + k) }
        var matches = 0
        for key in keys {
            for spelling in spellings {
                let doc = Array("\"\(spelling)\"".utf8)
                let range = 0..<doc.count
                let got = doc.withUnsafeBytes { b in
                    key.utf8.withContiguousStorageIfAvailable { JSONScan.keyEquals(b, range, UnsafeRawBufferPointer($0)) }!
                }
                let decoded = doc.withUnsafeBytes { JSONScan.decodeBytes($0, range) }
                XCTAssertEqual(got, decoded == Array(key.utf8), "key \(key) against \(spelling)")
                if got { matches += 1 }
            }
        }
        XCTAssertGreaterThan(matches, keys.count, "escaped spellings must match too")
    }

    func testTopLevelKeyOnly() {
        let json = #"""
        {"messages":[{"role":"user","content":"{\"model\": \"fake\"}"},{"model":"inner"}],
         "metadata":{"model":"meta","user_id":"u1"},
         "system":"model",
         "model":"claude-sonnet-4-5"}
        """#
        XCTAssertEqual(str(json, "model"), "claude-sonnet-4-5")
        XCTAssertNil(str(#"{"messages":[{"model":"inner"}],"metadata":{"model":"m"}}"#, "model"))
        XCTAssertNil(str(#"{"a":"\"model\":\"x\""}"#, "model"))
        XCTAssertNil(str(#"{"a":{"b":{"model":"deep"}}}"#, "model"))
    }

    func testEscapesAndWhitespace() {
        XCTAssertEqual(str(#"{"a":"he said \"model\": \"bad\"\\","model" : "good"}"#, "model"), "good")
        XCTAssertEqual(str(" \n\t{ \r\n \"model\" \t:\n \"x\" \n}\n", "model"), "x")
        // A key spelled with an escape still is that key.
        XCTAssertEqual(str(#"{"mod\u0065l":"escaped-key"}"#, "model"), "escaped-key")
        // A value with every escape kind.
        XCTAssertEqual(str(#"{"model":"a\"b\\c\/d\b\f\n\r\te"}"#, "model"), "a\"b\\c/d\u{08}\u{0C}\n\r\te")
    }

    /// Found by the json_scan fuzz harness: a key was matched on its raw bytes even when they
    /// hold escapes, so looking up the key x\\y (two backslashes) found the member written
    /// "x\\y" in the JSON, which is the key x\y (one backslash).
    func testRawBytesWithEscapesDoNotMatchALiteralKey() {
        let body = Array(#"{"x\\y":1,"x\\\\y":2}"#.utf8)
        let key = Array(#"x\\y"#.utf8)  // x, \, \, y
        XCTAssertEqual(key.count, 4)
        let found = body.withUnsafeBytes { buf in
            key.withUnsafeBytes { k in JSONScan.value(forKey: k, in: buf, object: nil) }
        }
        XCTAssertEqual(found.map { Array(body[$0.range]) }, Array("2".utf8))
        let one = Array(#"x\y"#.utf8)  // x, \, y
        let first = body.withUnsafeBytes { buf in
            one.withUnsafeBytes { k in JSONScan.value(forKey: k, in: buf, object: nil) }
        }
        XCTAssertEqual(first.map { Array(body[$0.range]) }, Array("1".utf8))
    }

    func testUnicode() {
        XCTAssertEqual(str(#"{"model":"\u00e9\ud83d\ude00-ü"}"#, "model"), "é😀-ü")
        XCTAssertEqual(str(#"{"model":"x\ud83dy"}"#, "model"), "x\u{FFFD}y")
        XCTAssertEqual(str(#"{"model":"\udc00"}"#, "model"), "\u{FFFD}")
        XCTAssertEqual(str("{\"modèle\":\"fr\",\"model\":\"ok\"}", "model"), "ok")
        // Invalid UTF-8 inside a string value is not a string we hand out.
        let bad: [UInt8] = Array(#"{"model":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
        let v = JSONScan.value(forKey: "model", in: bad)
        XCTAssertNotNil(v)
        XCTAssertNil(JSONScan.string(bad, v!))
    }

    func testValueKindsAndRanges() {
        let json = Array(#"{"n": -12, "f": 1.5e3, "t": true, "x": false, "z": null, "o": {"k": [1, {"a": 2}]}, "s": "v"}"#.utf8)
        let n = JSONScan.value(forKey: "n", in: json)!
        XCTAssertEqual(n.kind, .number)
        XCTAssertEqual(String(decoding: json[n.range], as: UTF8.self), "-12")
        XCTAssertEqual(JSONScan.int(json, n), -12)
        let f = JSONScan.value(forKey: "f", in: json)!
        XCTAssertEqual(f.kind, .number)
        XCTAssertNil(JSONScan.int(json, f))
        XCTAssertEqual(JSONScan.value(forKey: "t", in: json)?.kind, .bool)
        XCTAssertEqual(json.withUnsafeBytes { JSONScan.bool($0, JSONScan.value(forKey: "t", in: $0)!) }, true)
        XCTAssertEqual(json.withUnsafeBytes { JSONScan.bool($0, JSONScan.value(forKey: "x", in: $0)!) }, false)
        XCTAssertEqual(JSONScan.value(forKey: "z", in: json)?.kind, .null)
        let o = JSONScan.value(forKey: "o", in: json)!
        XCTAssertEqual(String(decoding: json[o.range], as: UTF8.self), #"{"k": [1, {"a": 2}]}"#)
        let s = JSONScan.value(forKey: "s", in: json)!
        XCTAssertEqual(String(decoding: json[s.range], as: UTF8.self), #""v""#)
        XCTAssertNil(JSONScan.value(forKey: "missing", in: json))
    }

    func testNestedPathInsideObjectRange() {
        let json = Array(#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1,"cache_creation":{"ephemeral_1h_input_tokens":7}}},"usage":{"input_tokens":99}}"#.utf8)
        let message = JSONScan.value(forKey: "message", in: json)!
        let input = JSONScan.value(atPath: ["usage", "input_tokens"], in: json, object: message.range)!
        XCTAssertEqual(JSONScan.int(json, input), 25)
        let top = JSONScan.value(atPath: ["usage", "input_tokens"], in: json)!
        XCTAssertEqual(JSONScan.int(json, top), 99)
        let h = JSONScan.value(atPath: ["usage", "cache_creation", "ephemeral_1h_input_tokens"], in: json, object: message.range)!
        XCTAssertEqual(JSONScan.int(json, h), 7)
        XCTAssertNil(JSONScan.value(atPath: ["usage", "input_tokens", "x"], in: json))
        XCTAssertNil(JSONScan.value(atPath: ["id", "x"], in: json, object: message.range))
    }

    func testMalformedIsNil() {
        let cases = [
            "", "   ", "{", "}", "[", #"{"model""#, #"{"model":}"#, #"{"model" "x"}"#, #"{"a":1,}"#,
            #"{"a":[1,2}"#, #"{"a":tru}"#, #"{"a":nul,"model":"x"}"#, #"{"a":"unterminated"#,
            #"{"a":"bad \q escape","model":"x"}"#, #"{"a":"\u12G4","model":"x"}"#, #"{"a":01,"model":"x"}"#,
            #"{"a":-,"model":"x"}"#, #"{"a":1.,"model":"x"}"#, #"{"a":1e,"model":"x"}"#,
            "{\"a\":\"raw\ncontrol\",\"model\":\"x\"}", #"{a:1,"model":"x"}"#, #"{"a":{]},"model":"x"}"#,
            #"{"a":[}],"model":"x"}"#,
        ]
        XCTAssertNil(JSONScan.value(forKey: "model", in: Array(#"["model","x"]"#.utf8)))
        for c in cases {
            XCTAssertNil(JSONScan.value(forKey: "model", in: Array(c.utf8)), c)
            XCTAssertNil(JSONScan.document(Array(c.utf8)), c)
        }
        XCTAssertNil(JSONScan.document(Array(#"{"model":"x"} trailing"#.utf8)))
        XCTAssertNotNil(JSONScan.document(Array(" {\"model\":\"x\"} \n".utf8)))
    }

    func testDeepNestingIsBoundedAndIterative() {
        let deep = Array(("{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + ",\"model\":\"m\"}").utf8)
        XCTAssertNil(JSONScan.value(forKey: "model", in: deep))
        let ok = Array(("{\"a\":" + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + ",\"model\":\"m\"}").utf8)
        XCTAssertEqual(JSONScan.string(ok, JSONScan.value(forKey: "model", in: ok)!), "m")
    }

    func testLargeDocumentSkipsFast() {
        // A 4 MB messages array before the model: found, and validated as one pass.
        let text = String(repeating: #"lorem \"ipsum\" \\ dolor \u00e9 "#, count: 100_000)
        let json = Array((#"{"messages":[{"role":"user","content":""# + text + #""}],"model":"gpt-5"}"#).utf8)
        let v = JSONScan.value(forKey: "model", in: json)
        XCTAssertEqual(v.flatMap { JSONScan.string(json, $0) }, "gpt-5")
    }

    /// 10k seeded iterations of random and mutated input: never a trap or a hang, results
    /// stay in bounds, and acceptance agrees with Foundation's parser.
    func testFuzz() throws {
        var rng = SeededRandom(seed: 0xC0FFEE)
        let seeds = [
            #"{"model":"claude-sonnet-4-5","stream":true,"metadata":{"user_id":"u"},"messages":[{"role":"user","content":[{"type":"text","text":"hi \"x\" \u00e9"}]}],"max_tokens":1024}"#,
            #"{"a":[1,-2.5e3,true,false,null,{"b":{}}],"model":"m","c":"\\\/"}"#,
            #"{"usage":{"input_tokens":12,"cache_creation":{"ephemeral_5m_input_tokens":3}},"model":"x"}"#,
        ].map { Array($0.utf8) }
        let alphabet = Array(#"{}[]":,\ tfnrue0123456789-+.eEmodl"#.utf8) + [0x0A, 0x5C, 0x75, 0xC3, 0xA9, 0xFF, 0x00]
        var accepted = 0
        for iteration in 0..<10_000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = seeds[iteration % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let op = Int.random(in: 0..<3, using: &rng)
                    let at = Int.random(in: 0...bytes.count, using: &rng)
                    let b = alphabet.randomElement(using: &rng)!
                    switch op {
                    case 0: bytes.insert(b, at: at)
                    case 1: if at < bytes.count { bytes.remove(at: at) }
                    default: if at < bytes.count { bytes[at] = b }
                    }
                }
            } else {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            }
            let found = JSONScan.value(forKey: "model", in: bytes)
            if let f = found {
                XCTAssertTrue(f.range.lowerBound >= 0 && f.range.upperBound <= bytes.count)
                _ = JSONScan.string(bytes, f)
            }
            _ = JSONScan.value(atPath: ["usage", "cache_creation", "ephemeral_5m_input_tokens"], in: bytes)
            let doc = JSONScan.document(bytes)
            let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
            if doc != nil { accepted += 1 }
            // Foundation is lenient about a few things JSON forbids; JSONScan is strict only
            // where RFC 8259 is. Compare only where the input is plain ASCII without NUL.
            // Foundation also rejects numbers beyond Double's range (`1e400`), which JSON allows.
            if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x0A }) && !hasLongExponent(bytes) {
                XCTAssertEqual(doc != nil, foundation, "iteration \(iteration): \(String(decoding: bytes, as: UTF8.self))")
            }
            if doc != nil, let obj = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? [String: Any],
               let model = obj["model"] as? String, found != nil {
                XCTAssertEqual(JSONScan.string(bytes, found!), model)
            }
        }
        XCTAssertGreaterThan(accepted, 100)
    }

    func hasLongExponent(_ b: [UInt8]) -> Bool {
        for i in b.indices where b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            var j = i + 1
            if j < b.count && (b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-")) { j += 1 }
            var digits = 0
            while j < b.count && b[j] >= 0x30 && b[j] <= 0x39 { digits += 1; j += 1 }
            if digits >= 3 { return true }
        }
        return false
    }
}
