import XCTest

@testable import Proxy

/// The one set of field pieces every cluster body is built from (`ClusterText`).
final class ClusterTextTests: XCTestCase {

    private func u(_ s: String) -> Substring.UTF8View { Substring(s).utf8 }

    func testDecimalsHaveOneSpellingAndABoundedWidth() {
        XCTAssertEqual(ClusterText.decimal(u("0")), 0)
        XCTAssertEqual(ClusterText.decimal(u("9999999999999999999")), 9_999_999_999_999_999_999, "19 digits fit")
        for bad in ["", "01", "00", "-1", "+1", "1 ", "1a", "99999999999999999999"] {
            XCTAssertNil(ClusterText.decimal(u(bad)), bad)
        }
        XCTAssertNil(ClusterText.decimal(u("123"), maxDigits: 2))
        XCTAssertEqual(ClusterText.number(u(String(ClusterText.maxNumber))), ClusterText.maxNumber)
        XCTAssertNil(ClusterText.number(u(String(ClusterText.maxNumber + 1))), "past the limit")
        XCTAssertNil(ClusterText.number(u("12345678901234567")), "17 digits")
        XCTAssertEqual(ClusterText.int(u("7"), max: 7), 7)
        XCTAssertNil(ClusterText.int(u("8"), max: 7))
    }

    func testEachAlphabetEscapesWhatItDoesNotKeep() {
        XCTAssertEqual(ClusterText.escape("a b%c,d", .printable), "a%20b%25c,d", "a field of its own keeps the comma")
        XCTAssertEqual(ClusterText.escape("a b%c,d"), "a%20b%25c%2Cd", "a part of a comma list escapes it")
        XCTAssertEqual(ClusterText.escape("é", .printable), "%C3%A9")
        XCTAssertEqual(ClusterText.escape("abcdef", limit: 3), "abc")
    }

    func testUnescapeRefusesEverySecondSpelling() {
        XCTAssertNil(ClusterText.unescape(u("%41"), limit: 8), "A is kept, so %41 is not its spelling")
        XCTAssertNil(ClusterText.unescape(u("%2C"), .printable, limit: 8), "a field keeps the comma")
        XCTAssertNil(ClusterText.unescape(u(","), limit: 8), "a list part escapes the comma")
        XCTAssertNil(ClusterText.unescape(u("%2c"), limit: 8), "lowercase hex")
        for bad in ["%", "%2", "%G0", "a%2"] { XCTAssertNil(ClusterText.unescape(u(bad), limit: 8), bad) }
        XCTAssertNil(ClusterText.unescape(u("abcd"), limit: 3), "longer than the limit")
        XCTAssertEqual(ClusterText.unescape(u("abc"), limit: 3), "abc")
    }

    func testWholeTextsMustBeValidUTF8AndCutOnesNeedNotBe() {
        XCTAssertNil(ClusterText.unescape(u("%FF"), .printable, limit: 8, whole: true))
        XCTAssertEqual(ClusterText.unescape(u("%FF"), .printable, limit: 8), "\u{FFFD}")
        XCTAssertNil(ClusterText.unescape(u(""), .printable, limit: 8, whole: true), "a whole text is never empty")
        // A text cut inside a character comes back with U+FFFD where the cut fell.
        let cut = ClusterText.escape("aé", limit: 2)
        XCTAssertEqual(cut, "a%C3")
        XCTAssertEqual(ClusterText.unescape(u(cut), limit: 2), "a\u{FFFD}")
    }

    func testEveryTextRoundTripsInBothAlphabets() {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "0", " ", "%", ",", ":", "/", "~", "é", "✓", "\u{7F}", "\u{0}", "\n", "-", "_", "@", "+"]
        for _ in 0..<500 {
            let text = (0..<Int.random(in: 1...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            for alphabet in [ClusterText.Alphabet.printable, .plain] {
                let e = ClusterText.escape(text, alphabet)
                XCTAssertTrue(e.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }, "escaped text is printable: \(e)")
                if alphabet == .plain { XCTAssertFalse(e.contains(","), e) }
                XCTAssertEqual(ClusterText.unescape(Substring(e).utf8, alphabet, limit: 64, whole: true), text)
            }
        }
    }
}
