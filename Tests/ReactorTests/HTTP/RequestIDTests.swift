import XCTest

@testable import Reactor

/// The `x-request-id` rule: a client's value is taken when it is 1…64 bytes of letters,
/// digits and `-_.:+/=~`; anything else is replaced by a fresh id.
final class RequestIDTests: XCTestCase {
    func id(_ s: String) -> RequestID? { RequestID(clientValue: Array(s.utf8)[...]) }

    func testLengthLimitsOnBothSides() {
        XCTAssertNil(id(""), "empty")
        XCTAssertEqual(id("a")?.description, "a")
        let max = String(repeating: "x", count: RequestID.maxLength)
        XCTAssertEqual(RequestID.maxLength, 64)
        XCTAssertEqual(id(max)?.description, max, "exactly the limit is taken whole")
        XCTAssertEqual(id(max)?.count, 64)
        XCTAssertNil(id(max + "x"), "one byte over the limit")
        let mixed = String((0..<64).map { i in Array("Ab3-_.:+/=~")[i % 11] })
        XCTAssertEqual(id(mixed)?.description, mixed, "bytes past 32 land in the second half of the storage")
    }

    func testCharacterRuleOnBothSides() {
        for ok in ["0", "9", "A", "Z", "a", "z", "-", "_", ".", ":", "+", "/", "=", "~",
                   "6f1e2a40-7b3c-4d5e-9f00-112233445566", "01HZX3K8Y2Q7", "Root=1-5759e988-bd862e3fe1be46a994272793"] {
            XCTAssertEqual(id(ok)?.description, ok, ok)
        }
        // Neighbours of the allowed ranges, separators, controls, quotes and non-ASCII.
        for bad: UInt8 in [0x2A, 0x2C, 0x3B, 0x3C, 0x3E, 0x5C, 0x5E, 0x7C, 0x7D, 0x40, 0x5B, 0x60, 0x7B, 0x7F, 0x20, 0x09, 0x22, 0x2C, 0x00, 0x0D, 0x0A, 0x80, 0xFF] {
            XCTAssertNil(RequestID(clientValue: [0x61, bad, 0x62][...]), "byte \(bad) must not be taken")
        }
        XCTAssertNil(id("a b"))
        XCTAssertNil(id("é"))
        XCTAssertEqual(RequestID(text: "abc"), id("abc"))
        XCTAssertNil(RequestID(text: "a\u{7F}"))
    }

    func testFreshIDsAreUniquePerSourceAndHaveAFixedShape() {
        var source = RequestIDSource(prefix: 0xABCDEF012345)
        let a = source.next(), b = source.next()
        XCTAssertEqual(a.description, "abcdef012345-0000000000000001")
        XCTAssertEqual(b.description, "abcdef012345-0000000000000002")
        XCTAssertNotEqual(a, b)
        XCTAssertNotNil(RequestID(text: a.description), "a fresh id passes the client rule too")
        var other = RequestIDSource()
        var again = RequestIDSource()
        XCTAssertNotEqual(other.next(), again.next(), "two sources draw different prefixes")
        XCTAssertEqual(RequestIDSource(prefix: UInt64.max).prefixText, "ffffffffffff", "the prefix keeps 48 bits")
    }

    func testCodableAsText() throws {
        let v = try XCTUnwrap(id("req-1"))
        let data = try JSONEncoder().encode([v])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["req-1"]"#)
        XCTAssertEqual(try JSONDecoder().decode([RequestID].self, from: data), [v])
        XCTAssertEqual(try JSONDecoder().decode([RequestID].self, from: Data(#"["a b"]"#.utf8)), [RequestID()])
    }

    func testWriterAppendsTheHeader() {
        var out: [UInt8] = []
        HTTP1Writer.appendHeader(&out, name: "x-request-id", id("r-9")!)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "x-request-id: r-9\r\n")
    }
}

extension RequestIDSource {
    /// The prefix as written (tests).
    var prefixText: String {
        var s = self
        return String(s.next().description.prefix(12))
    }
}
